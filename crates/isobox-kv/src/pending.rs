//! Runs stopped for approval (`isobox_core::approval`), kept in the store so that they survive a restart and, on
//! PostgreSQL, are shared by every replica. Each tenant's runs are kept under a key space of their own, named with a
//! `#`, which no request's tenant can name (tenant names are letters, digits and `._:@-`): a program's `kv` never
//! sees them, and the tenant's quotas apply to them apart from its data.

use async_trait::async_trait;
use isobox_core::approval::PendingRuns;

use super::{KvStore, MAX_LIST, Op, Reply, Write, now};

/// From this many kept runs of one tenant, keeping another first deletes the expired ones.
const SWEEP_FROM: usize = 64;

fn key_space(tenant: &str) -> String {
    format!("#approvals:{tenant}")
}

/// A kept record is its expiry (seconds since the Unix epoch), a newline, and the record.
fn unexpired(value: &str) -> Option<&str> {
    let (expires_at, record) = value.split_once('\n')?;
    (expires_at.parse::<u64>().ok()? > now()).then_some(record)
}

impl KvStore {
    async fn op(&self, tenant: &str, op: Op) -> Result<Reply, String> {
        self.inner.run(tenant.into(), op, None).await.map_err(|error| error.message)
    }
}

#[async_trait]
impl PendingRuns for KvStore {
    async fn put(&self, tenant: &str, run_id: &str, record: String, expires_at: u64) -> Result<(), String> {
        let space = key_space(tenant);
        let list = Op::List { prefix: String::new(), limit: Some(MAX_LIST) };
        let keys = self.op(&space, list).await?.keys().map_err(|error| error.message)?;
        if keys.len() >= SWEEP_FROM {
            for key in keys {
                let value = self.op(&space, Op::Get { key: key.clone() }).await?.value().map_err(|e| e.message)?;
                if value.as_deref().is_some_and(|value| unexpired(value).is_none()) {
                    self.op(&space, Op::Write(Write::Delete { key })).await?;
                }
            }
        }
        let value = format!("{expires_at}\n{record}");
        self.op(&space, Op::Write(Write::Set { key: run_id.into(), value })).await?.done().map_err(|e| e.message)
    }

    async fn get(&self, tenant: &str, run_id: &str) -> Result<Option<String>, String> {
        let value = self.op(&key_space(tenant), Op::Get { key: run_id.into() }).await?;
        let value = value.value().map_err(|error| error.message)?;
        Ok(value.as_deref().and_then(unexpired).map(str::to_string))
    }

    async fn take(&self, tenant: &str, run_id: &str) -> Result<bool, String> {
        let deleted = self.op(&key_space(tenant), Op::Write(Write::Delete { key: run_id.into() })).await?;
        deleted.deleted().map_err(|error| error.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_are_kept_per_tenant_expire_and_are_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(&dir.path().join("kv.redb")).unwrap();
        let later = now() + 3600;
        store.put("a", "run1", "record one".into(), later).await.unwrap();
        assert_eq!(store.get("a", "run1").await.unwrap().as_deref(), Some("record one"));
        assert_eq!(store.get("b", "run1").await.unwrap(), None, "another tenant's run");
        store.put("a", "old", "stale".into(), now() - 1).await.unwrap();
        assert_eq!(store.get("a", "old").await.unwrap(), None, "expired");
        // A program's own key space does not hold them.
        assert_eq!(store.usage("a").unwrap().keys, 0);
        assert!(store.take("a", "run1").await.unwrap());
        assert!(!store.take("a", "run1").await.unwrap());
        assert_eq!(store.get("a", "run1").await.unwrap(), None);
        // Past the sweep threshold, expired runs are deleted as another is kept.
        for i in 0..SWEEP_FROM {
            store.put("c", &format!("old{i}"), "stale".into(), now() - 1).await.unwrap();
        }
        store.put("c", "new", "fresh".into(), later).await.unwrap();
        assert_eq!(store.usage(&key_space("c")).unwrap().keys, 1);
        // Kept across reopening the database.
        drop(store);
        let store = KvStore::open(&dir.path().join("kv.redb")).unwrap();
        assert_eq!(store.get("c", "new").await.unwrap().as_deref(), Some("fresh"));
    }
}
