//! `kv`: a key-value store that outlives the sandbox. Every request runs in a fresh sandbox; the data lives in an
//! embedded [redb](https://docs.rs/redb) database on disk, one key space per tenant.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use isobox_capabilities::{CallContext, CallError, Capability, Interface};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const WIT: &str = include_str!("../../../wit/kv.wit");

/// Keys are stored as `tenant NUL key`, so one tenant's keys never reach another's.
const TABLE: TableDefinition<&str, &str> = TableDefinition::new("kv");
const SEPARATOR: char = '\0';
const MAX_KEY_BYTES: usize = 1024;
const MAX_LIST: u32 = 1000;

/// The store behind the `kv` capability. Cheap to clone; every clone shares the database.
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
}

/// The `kv` interface, as declared in `wit/kv.wit`.
pub fn interface() -> Interface {
    Capability::from_wit("wit/kv.wit", WIT, "kv").expect("wit/kv.wit declares `kv`").interface().clone()
}

/// `$ISOBOX_DATA_DIR/kv.redb`, else `$XDG_DATA_HOME/isobox/kv.redb`, else `~/.local/share/isobox/kv.redb`.
pub fn default_path() -> PathBuf {
    let dir = if let Some(dir) = std::env::var_os("ISOBOX_DATA_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(dir).join("isobox")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/share/isobox")
    } else {
        std::env::temp_dir().join("isobox-data")
    };
    dir.join("kv.redb")
}

impl KvStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?;
        txn.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The `kv` capability over this store.
    pub fn capability(&self) -> Capability {
        let capability = Capability::new(interface());
        let [get, set, delete, list, increment] = [(); 5].map(|()| Arc::clone(&self.db));
        capability
            .func("get", move |ctx, (key,): (String,)| {
                blocking(Arc::clone(&get), ctx, move |db, ctx| {
                    let key = scoped(&ctx, &key)?;
                    let table = db.begin_read().map_err(failed)?.open_table(TABLE).map_err(failed)?;
                    Ok(table.get(key.as_str()).map_err(failed)?.map(|value| value.value().to_string()))
                })
            })
            .func("set", move |ctx, (key, value): (String, String)| {
                blocking(Arc::clone(&set), ctx, move |db, ctx| {
                    let key = scoped(&ctx, &key)?;
                    write(db, |table| table.insert(key.as_str(), value.as_str()).map(drop))
                })
            })
            .func("delete", move |ctx, (key,): (String,)| {
                blocking(Arc::clone(&delete), ctx, move |db, ctx| {
                    let key = scoped(&ctx, &key)?;
                    write(db, |table| table.remove(key.as_str()).map(|removed| removed.is_some()))
                })
            })
            .func("list", move |ctx, (prefix, limit): (String, Option<u32>)| {
                blocking(Arc::clone(&list), ctx, move |db, ctx| {
                    let start = scoped(&ctx, &prefix)?;
                    let skip = ctx.tenant.len() + 1;
                    let table = db.begin_read().map_err(failed)?.open_table(TABLE).map_err(failed)?;
                    let mut keys = Vec::new();
                    for entry in table.range(start.as_str()..).map_err(failed)? {
                        let (key, _) = entry.map_err(failed)?;
                        if !key.value().starts_with(&start)
                            || keys.len() as u32 >= limit.unwrap_or(MAX_LIST).min(MAX_LIST)
                        {
                            break;
                        }
                        keys.push(key.value()[skip..].to_string());
                    }
                    Ok(keys)
                })
            })
            .func("increment", move |ctx, (key, delta): (String, i64)| {
                blocking(Arc::clone(&increment), ctx, move |db, ctx| {
                    let key = scoped(&ctx, &key)?;
                    // Read and write in one transaction, so that concurrent increments are never lost.
                    write(db, |table| {
                        let current = match table.get(key.as_str())? {
                            Some(value) => value.value().parse::<i64>().ok(),
                            None => Some(0),
                        };
                        let Some(current) = current else {
                            return Ok(Err(CallError::new(format!(
                                "the value under `{}` is not an integer",
                                unscoped(&key)
                            ))));
                        };
                        let Some(next) = current.checked_add(delta) else {
                            return Ok(Err(CallError::new(format!("incrementing `{}` overflows", unscoped(&key)))));
                        };
                        table.insert(key.as_str(), next.to_string().as_str())?;
                        Ok(Ok(next))
                    })?
                })
            })
    }
}

/// Runs a database operation on tokio's blocking pool: redb's I/O is synchronous.
async fn blocking<T: Send + 'static>(
    db: Arc<Database>,
    ctx: CallContext,
    operation: impl FnOnce(&Database, CallContext) -> Result<T, CallError> + Send + 'static,
) -> Result<T, CallError> {
    tokio::task::spawn_blocking(move || operation(&db, ctx))
        .await
        .map_err(|error| CallError::new(format!("the key-value store failed: {error}")))?
}

fn scoped(ctx: &CallContext, key: &str) -> Result<String, CallError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(CallError::new(format!("keys are at most {MAX_KEY_BYTES} bytes")));
    }
    Ok(format!("{}{SEPARATOR}{key}", ctx.tenant))
}

fn unscoped(key: &str) -> &str {
    key.split_once(SEPARATOR).map_or(key, |(_, key)| key)
}

fn write<T>(
    db: &Database,
    change: impl FnOnce(&mut redb::Table<&str, &str>) -> Result<T, redb::StorageError>,
) -> Result<T, CallError> {
    let txn = db.begin_write().map_err(failed)?;
    let result = {
        let mut table = txn.open_table(TABLE).map_err(failed)?;
        change(&mut table).map_err(failed)?
    };
    txn.commit().map_err(failed)?;
    Ok(result)
}

fn failed(error: impl std::fmt::Display) -> CallError {
    CallError::new(format!("the key-value store failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(tenant: &str) -> CallContext {
        CallContext { tenant: tenant.into() }
    }

    #[tokio::test]
    async fn data_survives_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kv.redb");
        let store = KvStore::open(&path).unwrap();
        let set = |db: &Database, ctx: CallContext| {
            write(db, |t| t.insert(scoped(&ctx, "k").unwrap().as_str(), "v").map(drop))
        };
        blocking(Arc::clone(&store.db), context("t"), set).await.unwrap();
        drop(store);

        let reopened = KvStore::open(&path).unwrap();
        let get = |db: &Database, ctx: CallContext| {
            let table = db.begin_read().map_err(failed)?.open_table(TABLE).map_err(failed)?;
            Ok(table.get(scoped(&ctx, "k")?.as_str()).map_err(failed)?.map(|value| value.value().to_string()))
        };
        assert_eq!(blocking(Arc::clone(&reopened.db), context("t"), get).await.unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn keys_are_scoped_by_tenant() {
        assert_eq!(scoped(&context("a"), "x").unwrap(), "a\0x");
        assert_eq!(unscoped("a\0x"), "x");
        assert!(scoped(&context("a"), &"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }
}
