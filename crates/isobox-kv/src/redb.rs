//! The redb backend: an embedded database in one file, for one process.
//!
//! Layout: values by `(tenant, key)`, a length-prefixed pair, so no tenant name reaches another tenant's keys; and per
//! tenant its usage (bytes and keys, last write, whether it is temporary), updated in the transaction of every write,
//! so quotas are exact across restarts and never need a scan. redb runs one write transaction at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use isobox_capabilities::CallError;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::{KvConfig, KvError, Reply, Store, Txn, Usage, Waiting, Write, apply, failed, not_committed, now};

/// Values by `(tenant, key)`.
const ENTRIES: TableDefinition<(&str, &str), &str> = TableDefinition::new("kv-entries");
/// Per tenant: bytes of keys and values, number of keys, last write (seconds since the Unix epoch), temporary.
const USAGE: TableDefinition<&str, (u64, u64, u64, bool)> = TableDefinition::new("kv-usage");
/// Databases written before quotas keep values by `tenant NUL key`; opening one moves them to `ENTRIES`.
const LEGACY: TableDefinition<&str, &str> = TableDefinition::new("kv");
/// Temporary tenants examined per purge.
const MAX_PURGE: usize = 10_000;

pub(super) struct Redb {
    db: Database,
    path: PathBuf,
}

impl Redb {
    /// Opens (or creates) the database at `path` in a private directory, moving a database of the layout before
    /// quotas to the current one.
    pub(super) fn open(path: &Path) -> Result<Self, KvError> {
        let at =
            |error: &dyn std::fmt::Display| KvError(format!("opening the kv database {}: {error}", path.display()));
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            isobox_core::private_dir::ensure(dir).map_err(|error| at(&error))?;
        }
        let db = Database::create(path).map_err(|error| at(&error))?;
        Self::upgrade(&db).map_err(|error| at(&error))?;
        Ok(Self { db, path: path.to_path_buf() })
    }

    /// Creates the tables, and moves a database of the layout before quotas to the current one.
    fn upgrade(db: &Database) -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.open_table(USAGE)?;
        if txn.list_tables()?.any(|table| table.name() == LEGACY.name()) {
            migrate(&txn)?;
            txn.delete_table(LEGACY)?;
        }
        txn.commit()?;
        Ok(())
    }

    pub(super) fn describe(&self) -> String {
        format!("redb at {}", self.path.display())
    }

    #[cfg(test)]
    pub(super) fn db(&self) -> &Database {
        &self.db
    }
}

impl Store for Redb {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        let table = self.db.begin_read().map_err(failed)?.open_table(ENTRIES).map_err(failed)?;
        Ok(table.get((tenant, key)).map_err(failed)?.map(|value| value.value().to_string()))
    }

    async fn list(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<String>, CallError> {
        let table = self.db.begin_read().map_err(failed)?.open_table(ENTRIES).map_err(failed)?;
        let mut keys = Vec::new();
        for entry in table.range((tenant, prefix)..).map_err(failed)? {
            let (entry, _) = entry.map_err(failed)?;
            let (owner, key) = entry.value();
            if owner != tenant || !key.starts_with(prefix) || keys.len() >= limit as usize {
                break;
            }
            keys.push(key.to_string());
        }
        Ok(keys)
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, CallError> {
        let table = self.db.begin_read().map_err(failed)?.open_table(USAGE).map_err(failed)?;
        Ok(table.get(tenant).map_err(failed)?.map(|row| Usage::from(row.value())).unwrap_or_default())
    }

    async fn idle_temporary(&self, cutoff: u64) -> Result<Vec<String>, CallError> {
        let table = self.db.begin_read().map_err(failed)?.open_table(USAGE).map_err(failed)?;
        let mut idle = Vec::new();
        for row in table.iter().map_err(failed)? {
            let (tenant, usage) = row.map_err(failed)?;
            let usage = Usage::from(usage.value());
            if usage.temporary && usage.last_write <= cutoff {
                idle.push(tenant.value().to_string());
                if idle.len() >= MAX_PURGE {
                    break;
                }
            }
        }
        Ok(idle)
    }

    async fn write(
        &self,
        config: &KvConfig,
        waiting: &Waiting<'_>,
        tenant: &str,
        write: &Write,
    ) -> Result<Reply, CallError> {
        let txn = self.db.begin_write().map_err(failed)?;
        let reply = {
            let mut tables = Tables {
                entries: txn.open_table(ENTRIES).map_err(failed)?,
                usage: txn.open_table(USAGE).map_err(failed)?,
            };
            apply(&mut tables, config, tenant, write).await?
        };
        if !waiting() {
            txn.abort().map_err(failed)?;
            return Err(not_committed());
        }
        txn.commit().map_err(failed)?;
        Ok(reply)
    }

    async fn ping(&self) -> Result<(), CallError> {
        Ok(())
    }
}

/// The tables of one write transaction. redb has one writer at a time, so `lock_usage` only reads.
struct Tables<'txn> {
    entries: redb::Table<'txn, (&'static str, &'static str), &'static str>,
    usage: redb::Table<'txn, &'static str, (u64, u64, u64, bool)>,
}

impl Txn for Tables<'_> {
    async fn lock_usage(&mut self, tenant: &str) -> Result<Usage, CallError> {
        Ok(self.usage.get(tenant).map_err(failed)?.map(|row| Usage::from(row.value())).unwrap_or_default())
    }

    async fn save_usage(&mut self, tenant: &str, usage: Usage) -> Result<(), CallError> {
        if usage.keys == 0 && !usage.temporary {
            self.usage.remove(tenant).map_err(failed)?;
        } else {
            self.usage.insert(tenant, (usage.bytes, usage.keys, usage.last_write, usage.temporary)).map_err(failed)?;
        }
        Ok(())
    }

    async fn value(&mut self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        Ok(self.entries.get((tenant, key)).map_err(failed)?.map(|value| value.value().to_string()))
    }

    async fn value_len(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError> {
        Ok(self.entries.get((tenant, key)).map_err(failed)?.map(|value| value.value().len() as u64))
    }

    async fn put(&mut self, tenant: &str, key: &str, value: &str) -> Result<(), CallError> {
        self.entries.insert((tenant, key), value).map_err(failed)?;
        Ok(())
    }

    async fn remove(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError> {
        Ok(self.entries.remove((tenant, key)).map_err(failed)?.map(|old| old.value().len() as u64))
    }

    async fn clear(&mut self, tenant: &str) -> Result<(), CallError> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{KvStore, Op, TenantUsage};
    use super::*;
    use isobox_capabilities::TenantState;
    use isobox_capabilities::types::MAX_SAFE_INTEGER;

    const WAITING: &Waiting = &|| true;
    const MAX_KEY_BYTES: usize = super::super::MAX_KEY_BYTES;

    fn db(kv: &KvStore) -> &Database {
        match &kv.inner.backend {
            super::super::Backend::Redb(store) => store.db(),
            super::super::Backend::Postgres(_) => unreachable!("a redb store"),
        }
    }

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
        let error = KvStore::open(&shared.join("kv.redb")).expect_err("refused");
        assert!(error.to_string().contains("can be written by other users"), "{error}");
        assert!(error.to_string().starts_with("opening the kv database "), "{error}");
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
        let set = |value: &str| Op::Write(Write::Set { key: "k".into(), value: value.into() });
        // Another write holds the database, so the call's write waits, as it does behind a busy store.
        let holder = db(&kv).begin_write().unwrap();
        let late = tokio::time::timeout(Duration::from_millis(50), kv.inner.run("t".into(), set("late"), None));
        assert!(late.await.is_err(), "the write waits for the holder");
        holder.abort().unwrap();
        // The queued write goes ahead now, finds its caller gone, and aborts: the next write queues behind it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(kv.inner.get("t", "k").unwrap(), None);
        assert_eq!(kv.usage("t").unwrap(), usage(0, 0));

        // And the same call that is awaited commits.
        kv.inner.run("t".into(), set("on time"), None).await.unwrap();
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
        let txn = db(&kv).begin_read().unwrap();
        assert!(!txn.list_tables().unwrap().any(|table| table.name() == LEGACY.name()));
    }
}
