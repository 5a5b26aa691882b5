//! `kv`: a key-value store that outlives the sandbox. Every request runs in a fresh sandbox; the data lives in an
//! embedded [redb](https://docs.rs/redb) database on disk, one key space per tenant, each within its quotas.
//!
//! Layout: values by `(tenant, key)`, a length-prefixed pair, so no tenant name reaches another tenant's keys; and per
//! tenant its usage (bytes and keys, last write, whether it is temporary), updated in the transaction of every write,
//! so quotas are exact across restarts and never need a scan.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isobox_capabilities::types::MAX_SAFE_INTEGER;
use isobox_capabilities::{CallContext, CallError, Capability, Interface, TenantState};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use tokio::sync::oneshot;

const WIT: &str = include_str!("../../../wit/kv.wit");

/// Values by `(tenant, key)`.
const ENTRIES: TableDefinition<(&str, &str), &str> = TableDefinition::new("kv-entries");
/// Per tenant: bytes of keys and values, number of keys, last write (seconds since the Unix epoch), temporary.
const USAGE: TableDefinition<&str, (u64, u64, u64, bool)> = TableDefinition::new("kv-usage");
/// Databases written before quotas keep values by `tenant NUL key`; opening one moves them to `ENTRIES`.
const LEGACY: TableDefinition<&str, &str> = TableDefinition::new("kv");

const MAX_KEY_BYTES: usize = 1024;
const MAX_LIST: u32 = 1000;
/// How often, at most, a long-running store looks for expired temporary tenants (besides when it is opened).
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Quotas and expiry of a [`KvStore`].
#[derive(Clone, Debug)]
pub struct KvConfig {
    /// Bytes of keys and values one tenant may store. Default 64 MiB.
    pub max_bytes_per_tenant: u64,
    /// Keys one tenant may store. Default 100,000.
    pub max_keys_per_tenant: u64,
    /// A temporary tenant (one per MCP session) is deleted when it ends; if its process stopped first, its data is
    /// deleted once it has had no write for this long. Default 24 hours.
    pub temporary_tenant_expiry: Duration,
}

impl Default for KvConfig {
    fn default() -> Self {
        Self {
            max_bytes_per_tenant: 64 << 20,
            max_keys_per_tenant: 100_000,
            temporary_tenant_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one tenant stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantUsage {
    /// Bytes of keys and values.
    pub bytes: u64,
    pub keys: u64,
}

/// The key-value store failed (I/O, a corrupt database).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

/// The store behind the `kv` capability. Cheap to clone; every clone shares the database.
#[derive(Clone)]
pub struct KvStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    config: KvConfig,
    /// Temporary tenants begun and not yet ended in this process: never expired, however idle.
    live: Mutex<HashSet<String>>,
    next_purge: Mutex<Instant>,
}

/// One tenant's row in `USAGE`.
#[derive(Clone, Copy, Default)]
struct Usage {
    bytes: u64,
    keys: u64,
    last_write: u64,
    temporary: bool,
}

/// The `kv` interface, as declared in `wit/kv.wit`.
pub fn interface() -> Interface {
    Capability::from_wit("wit/kv.wit", WIT, "kv").expect("wit/kv.wit declares `kv`").interface().clone()
}

/// `$ISOBOX_DATA_DIR/kv.redb`, else `$XDG_DATA_HOME/isobox/kv.redb`, else `~/.local/share/isobox/kv.redb`, else a
/// folder of this user's in the temp dir (one another user made first is refused when the store opens).
pub fn default_path() -> PathBuf {
    let dir = if let Some(dir) = std::env::var_os("ISOBOX_DATA_DIR") {
        PathBuf::from(dir)
    } else if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(dir).join("isobox")
    } else if let Some(home) = std::env::var_os("HOME") {
        PathBuf::from(home).join(".local/share/isobox")
    } else {
        isobox_core::private_dir::in_temp_dir("isobox-data")
    };
    dir.join("kv.redb")
}

impl KvStore {
    /// Opens (or creates) the database at `path`, with the default [`KvConfig`].
    pub fn open(path: &Path) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::open_with(path, KvConfig::default())
    }

    /// Opens (or creates) the database at `path`, moves a database of the layout before quotas to the current one,
    /// and deletes the temporary tenants that have expired. The database holds every tenant's data, so its directory
    /// is created with mode 0700 and must be this user's own, with no one else allowed to write to it.
    pub fn open_with(path: &Path, config: KvConfig) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            isobox_core::private_dir::ensure(dir)?;
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.open_table(USAGE)?;
        if txn.list_tables()?.any(|table| table.name() == LEGACY.name()) {
            migrate(&txn)?;
            txn.delete_table(LEGACY)?;
        }
        txn.commit()?;
        let inner = Inner {
            db,
            config,
            live: Mutex::new(HashSet::new()),
            next_purge: Mutex::new(Instant::now() + PURGE_INTERVAL),
        };
        inner.purge_expired().map_err(KvError::from)?;
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The `kv` capability over this store. Its tenant state is this store: ending a tenant deletes its data.
    pub fn capability(&self) -> Capability {
        let [get, set, delete, list, increment] = [(); 5].map(|()| Arc::clone(&self.inner));
        Capability::new(interface())
            .with_tenant_state(Arc::new(self.clone()))
            .func("get", move |ctx: CallContext, (key,): (String,)| {
                call(Arc::clone(&get), move |kv, _| kv.get(&ctx.tenant, &key))
            })
            .func("set", move |ctx: CallContext, (key, value): (String, String)| {
                call(Arc::clone(&set), move |kv, waiting| kv.set(waiting, &ctx.tenant, &key, &value))
            })
            .func("delete", move |ctx: CallContext, (key,): (String,)| {
                call(Arc::clone(&delete), move |kv, waiting| kv.delete(waiting, &ctx.tenant, &key))
            })
            .func("list", move |ctx: CallContext, (prefix, limit): (String, Option<u32>)| {
                call(Arc::clone(&list), move |kv, _| kv.list(&ctx.tenant, &prefix, limit))
            })
            .func("increment", move |ctx: CallContext, (key, delta): (String, i64)| {
                call(Arc::clone(&increment), move |kv, waiting| kv.increment(waiting, &ctx.tenant, &key, delta))
            })
    }

    /// What `tenant` stores.
    pub fn usage(&self, tenant: &str) -> Result<TenantUsage, KvError> {
        let usage = self.inner.usage(tenant).map_err(KvError::from)?;
        Ok(TenantUsage { bytes: usage.bytes, keys: usage.keys })
    }

    /// Deletes every key of `tenant`.
    pub fn clear_tenant(&self, tenant: &str) -> Result<(), KvError> {
        self.inner.write(&|| true, |tables| tables.clear(tenant)).map_err(KvError::from)
    }

    /// Deletes the temporary tenants idle for longer than [`KvConfig::temporary_tenant_expiry`], except those begun
    /// and not ended in this process; returns how many. Done when the store opens, and at most hourly as temporary
    /// tenants begin.
    pub fn purge_expired(&self) -> Result<usize, KvError> {
        self.inner.purge_expired().map_err(KvError::from)
    }
}

impl TenantState for KvStore {
    fn begin_temporary(&self, tenant: &str) -> Result<(), String> {
        let inner = &self.inner;
        inner.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(tenant.to_string());
        inner
            .write(&|| true, |tables| {
                let usage = Usage { temporary: true, last_write: now(), ..tables.usage(tenant)? };
                tables.set_usage(tenant, usage)
            })
            .map_err(|error| error.message)?;
        let due = {
            let mut next = inner.next_purge.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = Instant::now() >= *next;
            if due {
                *next = Instant::now() + PURGE_INTERVAL.min(inner.config.temporary_tenant_expiry);
            }
            due
        };
        if due {
            inner.purge_expired().map_err(|error| error.message)?;
        }
        Ok(())
    }

    fn end(&self, tenant: &str) -> Result<(), String> {
        self.clear_tenant(tenant).map_err(|error| error.0)?;
        self.inner.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(tenant);
        Ok(())
    }
}

impl From<CallError> for KvError {
    fn from(error: CallError) -> Self {
        Self(error.message)
    }
}

/// The tables of one write transaction.
struct Tables<'txn> {
    entries: redb::Table<'txn, (&'static str, &'static str), &'static str>,
    usage: redb::Table<'txn, &'static str, (u64, u64, u64, bool)>,
}

impl Inner {
    fn get(&self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        check_key(key)?;
        let table = self.db.begin_read().map_err(failed)?.open_table(ENTRIES).map_err(failed)?;
        Ok(table.get((tenant, key)).map_err(failed)?.map(|value| value.value().to_string()))
    }

    fn set(&self, waiting: &dyn Fn() -> bool, tenant: &str, key: &str, value: &str) -> Result<(), CallError> {
        check_key(key)?;
        self.write(waiting, |tables| tables.store(&self.config, tenant, key, value))
    }

    fn delete(&self, waiting: &dyn Fn() -> bool, tenant: &str, key: &str) -> Result<bool, CallError> {
        check_key(key)?;
        self.write(waiting, |tables| tables.remove(tenant, key))
    }

    fn list(&self, tenant: &str, prefix: &str, limit: Option<u32>) -> Result<Vec<String>, CallError> {
        check_key(prefix)?;
        let limit = limit.unwrap_or(MAX_LIST).min(MAX_LIST) as usize;
        let table = self.db.begin_read().map_err(failed)?.open_table(ENTRIES).map_err(failed)?;
        let mut keys = Vec::new();
        for entry in table.range((tenant, prefix)..).map_err(failed)? {
            let (entry, _) = entry.map_err(failed)?;
            let (owner, key) = entry.value();
            if owner != tenant || !key.starts_with(prefix) || keys.len() >= limit {
                break;
            }
            keys.push(key.to_string());
        }
        Ok(keys)
    }

    /// Reads and writes in one transaction, so that concurrent increments are never lost; a result JavaScript cannot
    /// hold exactly is refused before anything is written.
    fn increment(&self, waiting: &dyn Fn() -> bool, tenant: &str, key: &str, delta: i64) -> Result<i64, CallError> {
        check_key(key)?;
        self.write(waiting, |tables| {
            let current = match tables.entries.get((tenant, key)).map_err(failed)? {
                Some(value) => value.value().parse::<i64>().ok(),
                None => Some(0),
            };
            let Some(current) = current else {
                return Err(CallError::new(format!("the value under `{key}` is not an integer")));
            };
            let next = current.checked_add(delta).filter(|next| next.abs() <= MAX_SAFE_INTEGER).ok_or_else(|| {
                CallError::new(format!(
                    "incrementing `{key}` ({current}) by {delta} leaves the integers JavaScript holds exactly \
                     (±{MAX_SAFE_INTEGER}, 2^53 − 1); the value is unchanged"
                ))
            })?;
            tables.store(&self.config, tenant, key, &next.to_string())?;
            Ok(next)
        })
    }

    fn usage(&self, tenant: &str) -> Result<Usage, CallError> {
        let table = self.db.begin_read().map_err(failed)?.open_table(USAGE).map_err(failed)?;
        Ok(table.get(tenant).map_err(failed)?.map(|row| Usage::from(row.value())).unwrap_or_default())
    }

    /// Runs `change` in a write transaction and commits it only if it succeeds and its caller is still `waiting`: a
    /// host call's future is dropped when its request ends (its deadline, say), and what it had queued must not
    /// outlive it. The window left is the commit itself.
    fn write<T>(
        &self,
        waiting: &dyn Fn() -> bool,
        change: impl FnOnce(&mut Tables) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let txn = self.db.begin_write().map_err(failed)?;
        let result = {
            let mut tables = Tables {
                entries: txn.open_table(ENTRIES).map_err(failed)?,
                usage: txn.open_table(USAGE).map_err(failed)?,
            };
            change(&mut tables)?
        };
        if !waiting() {
            txn.abort().map_err(failed)?;
            return Err(CallError::new("the request ended before its write was committed; nothing was written"));
        }
        txn.commit().map_err(failed)?;
        Ok(result)
    }

    fn purge_expired(&self) -> Result<usize, CallError> {
        let cutoff = now().saturating_sub(self.config.temporary_tenant_expiry.as_secs());
        let live = self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        self.write(&|| true, |tables| {
            let mut expired = Vec::new();
            for row in tables.usage.iter().map_err(failed)? {
                let (tenant, usage) = row.map_err(failed)?;
                let (tenant, usage) = (tenant.value().to_string(), Usage::from(usage.value()));
                if usage.temporary && usage.last_write <= cutoff && !live.contains(&tenant) {
                    expired.push(tenant);
                }
            }
            for tenant in &expired {
                tables.clear(tenant)?;
            }
            Ok(expired.len())
        })
    }
}

impl Tables<'_> {
    fn usage(&self, tenant: &str) -> Result<Usage, CallError> {
        Ok(self.usage.get(tenant).map_err(failed)?.map(|row| Usage::from(row.value())).unwrap_or_default())
    }

    fn set_usage(&mut self, tenant: &str, usage: Usage) -> Result<(), CallError> {
        if usage.keys == 0 && !usage.temporary {
            self.usage.remove(tenant).map_err(failed)?;
        } else {
            self.usage.insert(tenant, (usage.bytes, usage.keys, usage.last_write, usage.temporary)).map_err(failed)?;
        }
        Ok(())
    }

    /// Stores `value` under `key`, within the tenant's quotas. A write that does not grow the tenant's usage is
    /// allowed even over a quota (one lowered since), so that it can always shrink.
    fn store(&mut self, config: &KvConfig, tenant: &str, key: &str, value: &str) -> Result<(), CallError> {
        let usage = self.usage(tenant)?;
        let old = self.entries.get((tenant, key)).map_err(failed)?.map(|old| (key.len() + old.value().len()) as u64);
        let size = (key.len() + value.len()) as u64;
        let bytes = usage.bytes.saturating_sub(old.unwrap_or(0)) + size;
        let keys = usage.keys + u64::from(old.is_none());
        if keys > config.max_keys_per_tenant && keys > usage.keys {
            return Err(CallError::new(format!(
                "kv quota exceeded: a tenant may store at most {} keys, and this tenant has {}",
                config.max_keys_per_tenant, usage.keys
            )));
        }
        if bytes > config.max_bytes_per_tenant && bytes > usage.bytes {
            return Err(CallError::new(format!(
                "kv quota exceeded: a tenant may store at most {} bytes of keys and values ({}), and this write \
                 would make it {bytes} bytes",
                config.max_bytes_per_tenant,
                in_units(config.max_bytes_per_tenant)
            )));
        }
        self.entries.insert((tenant, key), value).map_err(failed)?;
        self.set_usage(tenant, Usage { bytes, keys, last_write: now(), ..usage })
    }

    fn remove(&mut self, tenant: &str, key: &str) -> Result<bool, CallError> {
        let Some(size) = self.entries.remove((tenant, key)).map_err(failed)?.map(|old| old.value().len()) else {
            return Ok(false);
        };
        let size = (key.len() + size) as u64;
        let usage = self.usage(tenant)?;
        let usage = Usage {
            bytes: usage.bytes.saturating_sub(size),
            keys: usage.keys.saturating_sub(1),
            last_write: now(),
            ..usage
        };
        self.set_usage(tenant, usage)?;
        Ok(true)
    }

    fn clear(&mut self, tenant: &str) -> Result<(), CallError> {
        // Every `(tenant, key)` sorts from `(tenant, "")` up to, and not including, `(tenant NUL, "")`.
        let next = format!("{tenant}\0");
        self.entries.retain_in((tenant, "")..(next.as_str(), ""), |_, _| false).map_err(failed)?;
        self.usage.remove(tenant).map_err(failed)?;
        Ok(())
    }
}

impl From<(u64, u64, u64, bool)> for Usage {
    fn from((bytes, keys, last_write, temporary): (u64, u64, u64, bool)) -> Self {
        Self { bytes, keys, last_write, temporary }
    }
}

/// Moves `tenant NUL key` entries to `(tenant, key)` and counts each tenant's usage. Quotas are not applied: the data
/// was already stored.
fn migrate(txn: &redb::WriteTransaction) -> Result<(), redb::Error> {
    let legacy = txn.open_table(LEGACY)?;
    let mut entries = txn.open_table(ENTRIES)?;
    let mut usage: HashMap<String, Usage> = HashMap::new();
    for row in legacy.iter()? {
        let (key, value) = row?;
        let (tenant, key) = key.value().split_once('\0').unwrap_or(("", key.value()));
        entries.insert((tenant, key), value.value())?;
        let tenant = usage.entry(tenant.to_string()).or_default();
        tenant.bytes += (key.len() + value.value().len()) as u64;
        tenant.keys += 1;
        tenant.last_write = now();
    }
    let mut table = txn.open_table(USAGE)?;
    for (tenant, u) in usage {
        table.insert(tenant.as_str(), (u.bytes, u.keys, u.last_write, u.temporary))?;
    }
    Ok(())
}

/// Runs a database operation on tokio's blocking pool (redb's I/O is synchronous) and waits for it. Should the
/// caller stop waiting, the operation learns it through `waiting` and commits nothing.
async fn call<T: Send + 'static>(
    inner: Arc<Inner>,
    operation: impl FnOnce(&Inner, &dyn Fn() -> bool) -> Result<T, CallError> + Send + 'static,
) -> Result<T, CallError> {
    let (_task, answer) = spawn(inner, operation);
    answer.await.map_err(|_| CallError::new("the key-value store failed: the operation stopped"))?
}

type Answer<T> = oneshot::Receiver<Result<T, CallError>>;

fn spawn<T: Send + 'static>(
    inner: Arc<Inner>,
    operation: impl FnOnce(&Inner, &dyn Fn() -> bool) -> Result<T, CallError> + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Answer<T>) {
    let (reply, answer) = oneshot::channel();
    let task = tokio::task::spawn_blocking(move || {
        if reply.is_closed() {
            return;
        }
        let result = operation(&inner, &|| !reply.is_closed());
        let _ = reply.send(result);
    });
    (task, answer)
}

fn check_key(key: &str) -> Result<(), CallError> {
    match key.len() > MAX_KEY_BYTES {
        true => Err(CallError::new(format!("keys are at most {MAX_KEY_BYTES} bytes"))),
        false => Ok(()),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// `64 MiB`, `1.5 KiB`, `300 bytes`.
fn in_units(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} bytes"),
        1024..0x10_0000 => format!("{} KiB", bytes as f64 / 1024.0),
        0x10_0000..0x4000_0000 => format!("{} MiB", bytes as f64 / 1048576.0),
        _ => format!("{} GiB", bytes as f64 / 1073741824.0),
    }
}

fn failed(error: impl std::fmt::Display) -> CallError {
    CallError::new(format!("the key-value store failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAITING: &dyn Fn() -> bool = &|| true;

    fn open(dir: &tempfile::TempDir, config: KvConfig) -> KvStore {
        KvStore::open_with(&dir.path().join("nested/kv.redb"), config).unwrap()
    }

    fn usage(bytes: u64, keys: u64) -> TenantUsage {
        TenantUsage { bytes, keys }
    }

    /// Every tenant's data is in the store: a directory other users can write to (a predictable name in the shared
    /// temp dir that someone made first, say) is refused.
    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = KvStore::open(&shared.join("kv.redb")).err().expect("refused");
        assert!(error.to_string().contains("can be written by other users"), "{error}");
        assert!(!shared.join("kv.redb").exists());
        let private = dir.path().join("made/here");
        KvStore::open(&private.join("kv.redb")).unwrap();
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn data_and_usage_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, KvConfig::default());
        store.inner.set(WAITING, "t", "k", "value").unwrap();
        store.inner.set(WAITING, "t", "k2", "v").unwrap();
        assert_eq!(store.usage("t").unwrap(), usage(9, 2));
        drop(store);

        let reopened = open(&dir, KvConfig::default());
        assert_eq!(reopened.inner.get("t", "k").unwrap().as_deref(), Some("value"));
        assert_eq!(reopened.usage("t").unwrap(), usage(9, 2));
        assert_eq!(reopened.inner.list("t", "", None).unwrap(), ["k", "k2"]);
    }

    #[test]
    fn usage_follows_replacements_deletions_and_increments() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        kv.inner.set(WAITING, "t", "ab", "1234").unwrap();
        kv.inner.set(WAITING, "t", "ab", "12").unwrap();
        assert_eq!(kv.usage("t").unwrap(), usage(4, 1));
        assert_eq!(kv.inner.increment(WAITING, "t", "n", 100).unwrap(), 100);
        assert_eq!(kv.usage("t").unwrap(), usage(8, 2));
        assert!(kv.inner.delete(WAITING, "t", "ab").unwrap());
        assert!(!kv.inner.delete(WAITING, "t", "ab").unwrap());
        assert_eq!(kv.usage("t").unwrap(), usage(4, 1));
        assert!(kv.inner.delete(WAITING, "t", "n").unwrap());
        assert_eq!(kv.usage("t").unwrap(), usage(0, 0));
    }

    #[test]
    fn quotas_refuse_writes_that_would_exceed_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = KvConfig { max_bytes_per_tenant: 10, max_keys_per_tenant: 2, ..KvConfig::default() };
        let kv = open(&dir, config);
        kv.inner.set(WAITING, "t", "a", "1234").unwrap();
        kv.inner.set(WAITING, "t", "b", "1234").unwrap();

        let error = kv.inner.set(WAITING, "t", "c", "").unwrap_err();
        assert!(error.message.contains("at most 2 keys"), "{}", error.message);
        let error = kv.inner.set(WAITING, "t", "a", "12345").unwrap_err();
        assert!(error.message.contains("at most 10 bytes of keys and values"), "{}", error.message);
        let error = kv.inner.increment(WAITING, "t", "z", 1).unwrap_err();
        assert!(error.message.contains("kv quota exceeded"), "{}", error.message);
        assert_eq!(kv.inner.get("t", "a").unwrap().as_deref(), Some("1234"));
        assert_eq!(kv.inner.get("t", "c").unwrap(), None);
        assert_eq!(kv.usage("t").unwrap(), usage(10, 2));

        // Shrinking is always allowed, and other tenants have quotas of their own.
        kv.inner.set(WAITING, "t", "a", "1").unwrap();
        assert_eq!(kv.usage("t").unwrap(), usage(7, 2));
        kv.inner.set(WAITING, "u", "a", "123456789").unwrap();
        drop(kv);

        // The usage is in the database: a reopened store with the same quota refuses the same write.
        let config = KvConfig { max_bytes_per_tenant: 10, max_keys_per_tenant: 2, ..KvConfig::default() };
        let kv = open(&dir, config);
        assert!(kv.inner.set(WAITING, "t", "c", "").unwrap_err().message.contains("at most 2 keys"));
    }

    #[test]
    fn quota_errors_name_the_size_in_units() {
        assert_eq!(in_units(64 << 20), "64 MiB");
        assert_eq!(in_units(1536), "1.5 KiB");
        assert_eq!(in_units(10), "10 bytes");
    }

    #[test]
    fn increment_beyond_safe_integers_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        kv.inner.set(WAITING, "t", "n", &(MAX_SAFE_INTEGER - 1).to_string()).unwrap();
        assert_eq!(kv.inner.increment(WAITING, "t", "n", 1).unwrap(), MAX_SAFE_INTEGER);
        let error = kv.inner.increment(WAITING, "t", "n", 1).unwrap_err();
        assert!(error.message.contains("2^53 − 1"), "{}", error.message);
        assert!(kv.inner.increment(WAITING, "t", "m", -MAX_SAFE_INTEGER - 1).is_err());
        assert!(kv.inner.increment(WAITING, "t", "n", i64::MAX).is_err());
        assert_eq!(kv.inner.get("t", "n").unwrap(), Some(MAX_SAFE_INTEGER.to_string()));
        assert_eq!(kv.inner.get("t", "m").unwrap(), None);
    }

    #[test]
    fn a_write_whose_caller_is_gone_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        let error = kv.inner.set(&|| false, "t", "k", "v").unwrap_err();
        assert!(error.message.contains("nothing was written"), "{}", error.message);
        assert!(kv.inner.increment(&|| false, "t", "n", 1).is_err());
        assert_eq!(kv.inner.get("t", "k").unwrap(), None);
        assert_eq!(kv.inner.get("t", "n").unwrap(), None);
        assert_eq!(kv.usage("t").unwrap(), usage(0, 0));
    }

    #[tokio::test]
    async fn a_write_queued_behind_another_does_not_commit_once_its_future_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        // Another write holds the database, so the call's write waits, as it does behind a busy store.
        let holder = kv.inner.db.begin_write().unwrap();
        let (task, answer) = spawn(Arc::clone(&kv.inner), |kv, waiting| kv.set(waiting, "t", "k", "late"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(answer);
        holder.abort().unwrap();
        task.await.unwrap();
        assert_eq!(kv.inner.get("t", "k").unwrap(), None);
        assert_eq!(kv.usage("t").unwrap(), usage(0, 0));

        // And the same call that is awaited commits.
        call(Arc::clone(&kv.inner), |kv, waiting| kv.set(waiting, "t", "k", "on time")).await.unwrap();
        assert_eq!(kv.inner.get("t", "k").unwrap().as_deref(), Some("on time"));
    }

    #[test]
    fn tenant_names_cannot_reach_into_each_others_keys() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        // Stored as `tenant NUL key`, tenant `a\0b` with key `k` was tenant `a` with key `b\0k`.
        kv.inner.set(WAITING, "a\0b", "k", "1").unwrap();
        assert_eq!(kv.inner.get("a", "b\0k").unwrap(), None);
        assert!(kv.inner.list("a", "", None).unwrap().is_empty());
        assert_eq!(kv.inner.list("a\0b", "", None).unwrap(), ["k"]);
    }

    #[test]
    fn list_stays_within_the_tenant_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        for (tenant, key) in [("a", "x/1"), ("a", "x/2"), ("a", "y"), ("a-b", "x/3"), ("a.", "x/4")] {
            kv.inner.set(WAITING, tenant, key, "v").unwrap();
        }
        assert_eq!(kv.inner.list("a", "x/", None).unwrap(), ["x/1", "x/2"]);
        assert_eq!(kv.inner.list("a", "", Some(2)).unwrap(), ["x/1", "x/2"]);
        assert!(kv.inner.list("a", &"k".repeat(MAX_KEY_BYTES + 1), None).is_err());
        assert!(kv.inner.get("a", &"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }

    #[test]
    fn clearing_a_tenant_deletes_its_keys_and_no_one_elses() {
        let dir = tempfile::tempdir().unwrap();
        let kv = open(&dir, KvConfig::default());
        for tenant in ["a", "a-b", "a.", "b", ""] {
            kv.inner.set(WAITING, tenant, "k", "v").unwrap();
            kv.inner.set(WAITING, tenant, "", "v").unwrap();
        }
        kv.clear_tenant("a").unwrap();
        assert!(kv.inner.list("a", "", None).unwrap().is_empty());
        assert_eq!(kv.usage("a").unwrap(), usage(0, 0));
        for tenant in ["a-b", "a.", "b", ""] {
            assert_eq!(kv.inner.list(tenant, "", None).unwrap(), ["", "k"], "{tenant}");
        }
    }

    #[test]
    fn temporary_tenants_end_or_expire_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let expire_at_once = || KvConfig { temporary_tenant_expiry: Duration::ZERO, ..KvConfig::default() };
        let kv = open(&dir, expire_at_once());
        for tenant in ["session-1", "session-2"] {
            kv.begin_temporary(tenant).unwrap();
            kv.inner.set(WAITING, tenant, "k", "v").unwrap();
        }
        kv.inner.set(WAITING, "named", "k", "v").unwrap();

        // Live temporary tenants are kept, however idle; ending one deletes its data.
        assert_eq!(kv.purge_expired().unwrap(), 0);
        kv.end("session-1").unwrap();
        assert_eq!(kv.inner.get("session-1", "k").unwrap(), None);
        assert_eq!(kv.inner.get("session-2", "k").unwrap().as_deref(), Some("v"));
        drop(kv);

        // `session-2` was never ended (its process stopped): opening the store expires it; `named` is not temporary.
        let kv = open(&dir, KvConfig::default());
        assert_eq!(kv.inner.get("session-2", "k").unwrap().as_deref(), Some("v"), "not idle for 24 hours yet");
        drop(kv);
        let kv = open(&dir, expire_at_once());
        assert_eq!(kv.inner.get("session-2", "k").unwrap(), None);
        assert_eq!(kv.usage("session-2").unwrap(), usage(0, 0));
        assert_eq!(kv.inner.get("named", "k").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn a_database_of_the_layout_before_quotas_is_moved_to_the_current_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kv.redb");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(LEGACY).unwrap();
                for (key, value) in [("t\0k", "v"), ("t\0k2", "vv"), ("u\0x", "1")] {
                    table.insert(key, value).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let kv = KvStore::open(&path).unwrap();
        assert_eq!(kv.inner.get("t", "k").unwrap().as_deref(), Some("v"));
        assert_eq!(kv.inner.list("t", "", None).unwrap(), ["k", "k2"]);
        assert_eq!(kv.usage("t").unwrap(), usage(6, 2));
        assert_eq!(kv.usage("u").unwrap(), usage(2, 1));
        let txn = kv.inner.db.begin_read().unwrap();
        assert!(!txn.list_tables().unwrap().any(|table| table.name() == LEGACY.name()));
    }
}
