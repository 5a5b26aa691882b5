//! `kv`: a key-value store that outlives the sandbox. Every request runs in a fresh sandbox; the data lives in a
//! database, one key space per tenant, each within its quotas:
//!
//! - an embedded [redb](https://docs.rs/redb) database on disk ([`KvStore::open`]), for one process;
//! - PostgreSQL ([`KvStore::connect_postgres`]), shared by every replica of a server.
//!
//! The rules are written once, here: key sizes, quotas and their messages, the safe-integer check of `increment`, and
//! that a write whose request has ended commits nothing. Each database provides reads and the steps of one write
//! transaction; every write first locks its tenant's usage, so the writes of one tenant run one at a time and quotas
//! stay exact, whichever process writes.

mod pending;
mod postgres;
mod redb;

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isobox_capabilities::types::MAX_SAFE_INTEGER;
use isobox_capabilities::{CallContext, CallError, Capability, Interface, TenantState};
use isobox_core::sync::lock;
use tokio::sync::oneshot;

const WIT: &str = include_str!("../../../wit/kv.wit");

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
    /// Keys stored.
    pub keys: u64,
}

/// The key-value store failed (I/O, a corrupt database, a database that cannot be reached).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(String);

/// The store behind the `kv` capability. Cheap to clone; every clone shares the database.
#[derive(Clone)]
pub struct KvStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A PostgreSQL URL may hold a password: only the kind of database is shown.
        let database = match self.inner.backend {
            Backend::Redb(_) => "redb",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("KvStore")
            .field("database", &database)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    backend: Backend,
    config: KvConfig,
    /// Temporary tenants begun and not yet ended in this process: never expired by it, however idle.
    live: Live,
    next_purge: Mutex<Instant>,
}

type Live = Arc<Mutex<HashSet<String>>>;

enum Backend {
    Redb(Arc<redb::Redb>),
    Postgres(Arc<postgres::Postgres>),
}

/// One tenant's usage row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    keys: u64,
    /// Seconds since the Unix epoch.
    last_write: u64,
    temporary: bool,
}

/// One operation on the store, for one tenant.
enum Op {
    Get {
        key: String,
    },
    List {
        prefix: String,
        limit: Option<u32>,
    },
    Usage,
    Ping,
    Write(Write),
    /// Every tenant's: deletes the idle temporary tenants, except those in `live`.
    Purge {
        live: HashSet<String>,
    },
}

/// A write, carried out by [`apply`] in one transaction.
enum Write {
    Set {
        key: String,
        value: String,
    },
    Delete {
        key: String,
    },
    Increment {
        key: String,
        delta: i64,
    },
    Clear,
    BeginTemporary,
    /// Marks a temporary tenant as still in use, so that other processes do not expire it.
    Touch,
    /// Clears the tenant if it is temporary and has not been written since `cutoff`.
    Expire {
        cutoff: u64,
    },
}

#[derive(Debug)]
enum Reply {
    Value(Option<String>),
    Keys(Vec<String>),
    Usage(Usage),
    Deleted(bool),
    Number(i64),
    Count(usize),
    Done,
}

/// Whether the caller still waits for the answer: a write commits only if it does.
type Waiting<'a> = dyn Fn() -> bool + Send + Sync + 'a;

/// What a backend provides: reads, and writes carried out by [`apply`] in one transaction of its own.
trait Store {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<String>, CallError>;
    /// Keys of `tenant` starting with `prefix`, ordered by their bytes, at most `limit`.
    async fn list(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<String>, CallError>;
    async fn usage(&self, tenant: &str) -> Result<Usage, CallError>;
    /// Temporary tenants not written since `cutoff` (a bounded batch of them).
    async fn idle_temporary(&self, cutoff: u64) -> Result<Vec<String>, CallError>;
    /// Runs [`apply`] in one transaction and commits it only if it succeeds and `waiting()` is still true just before
    /// the commit: a host call's future is dropped when its request ends (its deadline, say), and what it had queued
    /// must not outlive it. The window left is the commit itself.
    async fn write(
        &self,
        config: &KvConfig,
        waiting: &Waiting<'_>,
        tenant: &str,
        write: &Write,
    ) -> Result<Reply, CallError>;
    async fn ping(&self) -> Result<(), CallError>;
}

/// The steps of one write transaction.
trait Txn {
    /// The tenant's usage, locked until the transaction ends: the writes of one tenant run one at a time.
    async fn lock_usage(&mut self, tenant: &str) -> Result<Usage, CallError>;
    /// Stores the tenant's usage; a tenant with no keys that is not temporary has no row.
    async fn save_usage(&mut self, tenant: &str, usage: Usage) -> Result<(), CallError>;
    async fn value(&mut self, tenant: &str, key: &str) -> Result<Option<String>, CallError>;
    /// The length in bytes of the value under `key`.
    async fn value_len(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError>;
    async fn put(&mut self, tenant: &str, key: &str, value: &str) -> Result<(), CallError>;
    /// Removes `key`, returning the length of its value.
    async fn remove(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError>;
    /// Removes every key of the tenant, and its usage.
    async fn clear(&mut self, tenant: &str) -> Result<(), CallError>;
}

/// The `kv` interface, as declared in `wit/kv.wit`.
///
/// # Panics
/// Never: the WIT is part of this crate and its tests parse it.
pub fn interface() -> Interface {
    Capability::from_wit("wit/kv.wit", WIT, "kv").expect("wit/kv.wit declares `kv`").interface().clone()
}

/// `kv.redb` in isobox's data dir ([`isobox_core::private_dir::data_dir`]: `$ISOBOX_DATA_DIR`, else
/// `~/.local/share/isobox`, …).
pub fn default_path() -> PathBuf {
    isobox_core::private_dir::data_dir().join("kv.redb")
}

impl KvStore {
    /// Opens (or creates) the redb database at `path`, with the default [`KvConfig`].
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub fn open(path: &Path) -> Result<Self, KvError> {
        Self::open_with(path, KvConfig::default())
    }

    /// Opens (or creates) the redb database at `path`, moves a database of the layout before quotas to the current
    /// one, and deletes the temporary tenants that have expired. The database holds every tenant's data, so its
    /// directory is created with mode 0700 and must be this user's own, with no one else allowed to write to it.
    ///
    /// # Errors
    /// The directory is not private, or the database cannot be created, read or written.
    pub fn open_with(path: &Path, config: KvConfig) -> Result<Self, KvError> {
        let store = Self::new(Backend::Redb(Arc::new(redb::Redb::open(path)?)), config);
        store.purge_expired()?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:password@host:port/db`, or libpq's `key=value` form; a Unix
    /// socket is a `host` that is a directory), creating the store's tables if they are missing (safely when several
    /// processes start at once), and deletes the temporary tenants that have expired. Every replica connected to one
    /// database shares its data: quotas and `increment` stay exact across them. It holds at most 16 connections, made
    /// as they are needed, on a thread of its own; each statement is bounded by a timeout, so a database that goes
    /// away makes calls fail (a `capability` error for the program) rather than hang.
    ///
    /// A temporary tenant begun here is kept fresh in the database while this store lives, so that other replicas do
    /// not expire it (when [`KvConfig::temporary_tenant_expiry`] is at least a minute).
    ///
    /// # Errors
    /// The URL does not parse, asks for TLS (`sslmode=require`: not supported; use a Unix socket, a private network
    /// or a TLS-terminating proxy), or the database cannot be reached or its tables created.
    pub async fn connect_postgres(url: &str, config: KvConfig) -> Result<Self, KvError> {
        let backend = postgres::Postgres::connect(url).await?;
        let store = Self::new(Backend::Postgres(Arc::clone(&backend)), config.clone());
        store.inner.run("".into(), Op::Purge { live: HashSet::new() }, None).await?;
        backend.spawn(heartbeat(Arc::downgrade(&backend), config, Arc::clone(&store.inner.live)));
        Ok(store)
    }

    fn new(backend: Backend, config: KvConfig) -> Self {
        let inner =
            Inner { backend, config, live: Live::default(), next_purge: Mutex::new(Instant::now() + PURGE_INTERVAL) };
        Self { inner: Arc::new(inner) }
    }

    /// The `kv` capability over this store. Its tenant state is this store: ending a tenant deletes its data.
    pub fn capability(&self) -> Capability {
        let [get, set, delete, list, increment] = [(); 5].map(|()| Arc::clone(&self.inner));
        Capability::new(interface())
            .with_tenant_state(Arc::new(self.clone()))
            .func("get", move |ctx: CallContext, (key,): (String,)| {
                let inner = Arc::clone(&get);
                async move { inner.run(ctx.tenant, Op::Get { key }, None).await?.value() }
            })
            .func("set", move |ctx: CallContext, (key, value): (String, String)| {
                let inner = Arc::clone(&set);
                async move { inner.run(ctx.tenant, Op::Write(Write::Set { key, value }), None).await?.done() }
            })
            .func("delete", move |ctx: CallContext, (key,): (String,)| {
                let inner = Arc::clone(&delete);
                async move { inner.run(ctx.tenant, Op::Write(Write::Delete { key }), None).await?.deleted() }
            })
            .func("list", move |ctx: CallContext, (prefix, limit): (String, Option<u32>)| {
                let inner = Arc::clone(&list);
                async move { inner.run(ctx.tenant, Op::List { prefix, limit }, None).await?.keys() }
            })
            .func("increment", move |ctx: CallContext, (key, delta): (String, i64)| {
                let inner = Arc::clone(&increment);
                async move { inner.run(ctx.tenant, Op::Write(Write::Increment { key, delta }), None).await?.number() }
            })
    }

    /// What `tenant` stores. May block on the database.
    ///
    /// # Errors
    /// The database cannot be read.
    pub fn usage(&self, tenant: &str) -> Result<TenantUsage, KvError> {
        let usage = self.inner.run_blocking(tenant, Op::Usage)?.usage()?;
        Ok(TenantUsage { bytes: usage.bytes, keys: usage.keys })
    }

    /// Deletes every key of `tenant`. May block on the database.
    ///
    /// # Errors
    /// The database cannot be written.
    pub fn clear_tenant(&self, tenant: &str) -> Result<(), KvError> {
        self.inner.run_blocking(tenant, Op::Write(Write::Clear))?.done()?;
        Ok(())
    }

    /// Deletes the temporary tenants idle for longer than [`KvConfig::temporary_tenant_expiry`], except those begun
    /// and not ended in this process; returns how many. Done when the store opens, and at most hourly as temporary
    /// tenants begin. May block on the database.
    ///
    /// # Errors
    /// The database cannot be read or written.
    pub fn purge_expired(&self) -> Result<usize, KvError> {
        Ok(self.inner.purge()?)
    }

    /// Whether the database answers: always for redb; PostgreSQL runs `SELECT 1`. For readiness checks.
    ///
    /// # Errors
    /// The database does not answer within its timeouts.
    pub async fn ping(&self) -> Result<(), KvError> {
        self.inner.run("".into(), Op::Ping, None).await?.done()?;
        Ok(())
    }

    /// The backend and where its data is, for logs: `redb at /path/kv.redb`, `PostgreSQL at host:port/db` (never a
    /// password).
    pub fn describe(&self) -> String {
        match &self.inner.backend {
            Backend::Redb(store) => store.describe(),
            Backend::Postgres(store) => store.describe(),
        }
    }

    /// `set` as a request whose caller stops waiting once `waiting` returns false, for tests of that path.
    #[doc(hidden)]
    pub async fn set_while(
        &self,
        tenant: &str,
        key: &str,
        value: &str,
        waiting: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<(), KvError> {
        let write = Write::Set { key: key.to_string(), value: value.to_string() };
        self.inner.run(tenant.into(), Op::Write(write), Some(Arc::new(waiting))).await?.done()?;
        Ok(())
    }

    /// `increment` as a request whose caller stops waiting once `waiting` returns false, for tests of that path.
    #[doc(hidden)]
    pub async fn increment_while(
        &self,
        tenant: &str,
        key: &str,
        delta: i64,
        waiting: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<i64, KvError> {
        let write = Write::Increment { key: key.to_string(), delta };
        Ok(self.inner.run(tenant.into(), Op::Write(write), Some(Arc::new(waiting))).await?.number()?)
    }
}

impl TenantState for KvStore {
    fn begin_temporary(&self, tenant: &str) -> Result<(), String> {
        let inner = &self.inner;
        lock(&inner.live).insert(tenant.to_string());
        inner.run_blocking(tenant, Op::Write(Write::BeginTemporary)).map_err(|error| error.message)?;
        let due = {
            let mut next = lock(&inner.next_purge);
            let due = Instant::now() >= *next;
            if due {
                *next = Instant::now() + PURGE_INTERVAL.min(inner.config.temporary_tenant_expiry);
            }
            due
        };
        if due {
            inner.purge().map_err(|error| error.message)?;
        }
        Ok(())
    }

    fn end(&self, tenant: &str) -> Result<(), String> {
        self.clear_tenant(tenant).map_err(|error| error.0)?;
        lock(&self.inner.live).remove(tenant);
        Ok(())
    }
}

impl From<CallError> for KvError {
    fn from(error: CallError) -> Self {
        Self(error.message)
    }
}

impl Inner {
    /// Runs `op` away from the caller's task (redb on tokio's blocking pool, its I/O being synchronous; PostgreSQL on
    /// its own thread) and waits for it. Should the caller stop waiting (its future dropped), or `also_waiting`
    /// return false, the operation learns it and commits nothing.
    async fn run(
        &self,
        tenant: Arc<str>,
        op: Op,
        also_waiting: Option<Arc<Waiting<'static>>>,
    ) -> Result<Reply, CallError> {
        let (reply, answer) = oneshot::channel();
        let config = self.config.clone();
        let also_waiting = also_waiting.unwrap_or_else(|| Arc::new(|| true));
        match &self.backend {
            Backend::Redb(store) => {
                let store = Arc::clone(store);
                tokio::task::spawn_blocking(move || {
                    if reply.is_closed() {
                        return;
                    }
                    let waiting = || !reply.is_closed() && also_waiting();
                    let result = ready(execute(&*store, &config, &tenant, op, &waiting));
                    // Released before answering: once its last handle is dropped, the database can be opened again.
                    drop(store);
                    let _ = reply.send(result);
                });
            }
            Backend::Postgres(store) => {
                let backend = Arc::clone(store);
                store.spawn(async move {
                    if reply.is_closed() {
                        return;
                    }
                    let result = {
                        let waiting = || !reply.is_closed() && also_waiting();
                        postgres::bounded(execute(&*backend, &config, &tenant, op, &waiting)).await
                    };
                    drop(backend);
                    let _ = reply.send(result);
                });
            }
        }
        answer.await.map_err(|_| CallError::new("the key-value store failed: the operation stopped"))?
    }

    /// Runs `op` on this thread, blocking it, for the synchronous API.
    fn run_blocking(&self, tenant: &str, op: Op) -> Result<Reply, CallError> {
        match &self.backend {
            Backend::Redb(store) => ready(execute(&**store, &self.config, tenant, op, &|| true)),
            Backend::Postgres(store) => {
                let (backend, config, tenant) = (Arc::clone(store), self.config.clone(), tenant.to_string());
                store.block_on(async move { execute(&*backend, &config, &tenant, op, &|| true).await })
            }
        }
    }

    fn purge(&self) -> Result<usize, CallError> {
        let live = lock(&self.live).clone();
        self.run_blocking("", Op::Purge { live })?.count()
    }
}

/// Checks `op` and carries it out on `store`.
async fn execute(
    store: &impl Store,
    config: &KvConfig,
    tenant: &str,
    op: Op,
    waiting: &Waiting<'_>,
) -> Result<Reply, CallError> {
    match op {
        Op::Get { key } => {
            check_key(&key)?;
            store.get(tenant, &key).await.map(Reply::Value)
        }
        Op::List { prefix, limit } => {
            check_key(&prefix)?;
            store.list(tenant, &prefix, list_limit(limit)).await.map(Reply::Keys)
        }
        Op::Usage => store.usage(tenant).await.map(Reply::Usage),
        Op::Ping => store.ping().await.map(|()| Reply::Done),
        Op::Write(write) => {
            if let Write::Set { key, .. } | Write::Delete { key } | Write::Increment { key, .. } = &write {
                check_key(key)?;
            }
            store.write(config, waiting, tenant, &write).await
        }
        Op::Purge { live } => {
            let cutoff = now().saturating_sub(config.temporary_tenant_expiry.as_secs());
            let mut purged = 0;
            for tenant in store.idle_temporary(cutoff).await? {
                if !live.contains(&tenant)
                    && let Reply::Deleted(true) =
                        store.write(config, &|| true, &tenant, &Write::Expire { cutoff }).await?
                {
                    purged += 1;
                }
            }
            Ok(Reply::Count(purged))
        }
    }
}

/// Carries out `write` in `txn`: the rules every backend shares.
async fn apply(txn: &mut impl Txn, config: &KvConfig, tenant: &str, write: &Write) -> Result<Reply, CallError> {
    let usage = txn.lock_usage(tenant).await?;
    match write {
        Write::Set { key, value } => {
            let old = txn.value_len(tenant, key).await?;
            store(txn, config, tenant, usage, key, old, value).await?;
            Ok(Reply::Done)
        }
        Write::Delete { key } => {
            let Some(old) = txn.remove(tenant, key).await? else {
                return Ok(Reply::Deleted(false));
            };
            let usage = Usage {
                bytes: usage.bytes.saturating_sub(key.len() as u64 + old),
                keys: usage.keys.saturating_sub(1),
                last_write: now(),
                ..usage
            };
            txn.save_usage(tenant, usage).await?;
            Ok(Reply::Deleted(true))
        }
        // Read and written in one transaction, under the tenant's lock, so that concurrent increments are never lost;
        // a result JavaScript cannot hold exactly is refused before anything is written.
        Write::Increment { key, delta } => {
            let current = txn.value(tenant, key).await?;
            let next = incremented(key, current.as_deref(), *delta)?;
            let old = current.map(|current| current.len() as u64);
            store(txn, config, tenant, usage, key, old, &next.to_string()).await?;
            Ok(Reply::Number(next))
        }
        Write::Clear => {
            txn.clear(tenant).await?;
            Ok(Reply::Done)
        }
        Write::BeginTemporary => {
            txn.save_usage(tenant, Usage { temporary: true, last_write: now(), ..usage }).await?;
            Ok(Reply::Done)
        }
        Write::Touch => {
            let last_write = if usage.temporary { now() } else { usage.last_write };
            txn.save_usage(tenant, Usage { last_write, ..usage }).await?;
            Ok(Reply::Done)
        }
        Write::Expire { cutoff } => {
            // Checked again under the lock: the tenant may have been written since it was listed.
            let expired = usage.temporary && usage.last_write <= *cutoff;
            if expired {
                txn.clear(tenant).await?;
            } else {
                txn.save_usage(tenant, usage).await?;
            }
            Ok(Reply::Deleted(expired))
        }
    }
}

/// Stores `value` under `key` (whose old value was `old` bytes long), within the tenant's quotas. A write that does not
/// grow the tenant's usage is allowed even over a quota (one lowered since), so that it can always shrink.
async fn store(
    txn: &mut impl Txn,
    config: &KvConfig,
    tenant: &str,
    usage: Usage,
    key: &str,
    old: Option<u64>,
    value: &str,
) -> Result<(), CallError> {
    let old = old.map(|old| key.len() as u64 + old);
    let size = (key.len() + value.len()) as u64;
    let bytes = usage.bytes.saturating_sub(old.unwrap_or(0)).saturating_add(size);
    let keys = usage.keys.saturating_add(u64::from(old.is_none()));
    if keys > config.max_keys_per_tenant && keys > usage.keys {
        return Err(CallError::new(format!(
            "kv quota exceeded: a tenant may store at most {} keys, and this tenant has {}",
            config.max_keys_per_tenant, usage.keys
        )));
    }
    if bytes > config.max_bytes_per_tenant && bytes > usage.bytes {
        return Err(CallError::new(format!(
            "kv quota exceeded: a tenant may store at most {} bytes of keys and values ({}), and this write would \
             make it {bytes} bytes",
            config.max_bytes_per_tenant,
            in_units(config.max_bytes_per_tenant)
        )));
    }
    txn.put(tenant, key, value).await?;
    txn.save_usage(tenant, Usage { bytes, keys, last_write: now(), ..usage }).await
}

/// `current + delta`, if `current` is an integer (absent is 0) and the sum is one JavaScript holds exactly.
fn incremented(key: &str, current: Option<&str>, delta: i64) -> Result<i64, CallError> {
    let Some(current) = current.map_or(Some(0), |value| value.parse::<i64>().ok()) else {
        return Err(CallError::new(format!("the value under `{key}` is not an integer")));
    };
    current.checked_add(delta).filter(|next| next.abs() <= MAX_SAFE_INTEGER).ok_or_else(|| {
        CallError::new(format!(
            "incrementing `{key}` ({current}) by {delta} leaves the integers JavaScript holds exactly \
             (±{MAX_SAFE_INTEGER}, 2^53 − 1); the value is unchanged"
        ))
    })
}

/// Watches over this process's live temporary tenants: marks them in use often enough that no other replica expires
/// them. Stops with the store.
async fn heartbeat(store: Weak<postgres::Postgres>, config: KvConfig, live: Live) {
    let expiry = config.temporary_tenant_expiry;
    if expiry < Duration::from_secs(60) {
        return;
    }
    let every = (expiry / 4).min(PURGE_INTERVAL);
    loop {
        tokio::time::sleep(every).await;
        let Some(store) = store.upgrade() else { return };
        let tenants: Vec<String> = lock(&live).iter().cloned().collect();
        for tenant in tenants {
            let touch = execute(&*store, &config, &tenant, Op::Write(Write::Touch), &|| true);
            // A failure is retried on the next beat; expiry is a day away by default.
            let _ = postgres::bounded(touch).await;
        }
    }
}

impl Reply {
    fn unexpected(self) -> CallError {
        CallError::new(format!("the key-value store failed: unexpected reply {self:?}"))
    }

    fn value(self) -> Result<Option<String>, CallError> {
        match self {
            Self::Value(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    fn keys(self) -> Result<Vec<String>, CallError> {
        match self {
            Self::Keys(keys) => Ok(keys),
            other => Err(other.unexpected()),
        }
    }

    fn usage(self) -> Result<Usage, CallError> {
        match self {
            Self::Usage(usage) => Ok(usage),
            other => Err(other.unexpected()),
        }
    }

    fn deleted(self) -> Result<bool, CallError> {
        match self {
            Self::Deleted(deleted) => Ok(deleted),
            other => Err(other.unexpected()),
        }
    }

    fn number(self) -> Result<i64, CallError> {
        match self {
            Self::Number(number) => Ok(number),
            other => Err(other.unexpected()),
        }
    }

    fn count(self) -> Result<usize, CallError> {
        match self {
            Self::Count(count) => Ok(count),
            other => Err(other.unexpected()),
        }
    }

    fn done(self) -> Result<(), CallError> {
        match self {
            Self::Done => Ok(()),
            other => Err(other.unexpected()),
        }
    }
}

/// The result of a future that never waits, as redb's are (its I/O is synchronous): polled once, on this thread.
fn ready<T>(future: impl Future<Output = Result<T, CallError>>) -> Result<T, CallError> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(CallError::new("the key-value store failed: a synchronous operation was suspended")),
    }
}

fn check_key(key: &str) -> Result<(), CallError> {
    match key.len() > MAX_KEY_BYTES {
        true => Err(CallError::new(format!("keys are at most {MAX_KEY_BYTES} bytes"))),
        false => Ok(()),
    }
}

/// `limit`, at most (and by default) [`MAX_LIST`].
fn list_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(MAX_LIST).min(MAX_LIST)
}

fn not_committed() -> CallError {
    CallError::new("the request ended before its write was committed; nothing was written")
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

/// The operations one at a time on this thread, for the redb backend's unit tests.
#[cfg(test)]
impl Inner {
    fn on_this_thread(&self, waiting: &Waiting<'_>, tenant: &str, op: Op) -> Result<Reply, CallError> {
        match &self.backend {
            Backend::Redb(store) => ready(execute(&**store, &self.config, tenant, op, waiting)),
            Backend::Postgres(_) => Err(CallError::new("for redb only")),
        }
    }

    fn get(&self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        self.on_this_thread(&|| true, tenant, Op::Get { key: key.into() })?.value()
    }

    fn list(&self, tenant: &str, prefix: &str, limit: Option<u32>) -> Result<Vec<String>, CallError> {
        self.on_this_thread(&|| true, tenant, Op::List { prefix: prefix.into(), limit })?.keys()
    }

    fn set(&self, waiting: &Waiting<'_>, tenant: &str, key: &str, value: &str) -> Result<(), CallError> {
        let write = Write::Set { key: key.into(), value: value.into() };
        self.on_this_thread(waiting, tenant, Op::Write(write))?.done()
    }

    fn delete(&self, waiting: &Waiting<'_>, tenant: &str, key: &str) -> Result<bool, CallError> {
        self.on_this_thread(waiting, tenant, Op::Write(Write::Delete { key: key.into() }))?.deleted()
    }

    fn increment(&self, waiting: &Waiting<'_>, tenant: &str, key: &str, delta: i64) -> Result<i64, CallError> {
        self.on_this_thread(waiting, tenant, Op::Write(Write::Increment { key: key.into(), delta }))?.number()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_errors_name_the_size_in_units() {
        assert_eq!(in_units(64 << 20), "64 MiB");
        assert_eq!(in_units(1536), "1.5 KiB");
        assert_eq!(in_units(10), "10 bytes");
    }

    #[test]
    fn list_limits_are_at_most_a_thousand() {
        assert_eq!(list_limit(None), 1000);
        assert_eq!(list_limit(Some(5000)), 1000);
        assert_eq!(list_limit(Some(3)), 3);
        assert_eq!(list_limit(Some(0)), 0);
    }

    #[test]
    fn increments_stay_within_safe_integers() {
        assert_eq!(incremented("n", None, 5).unwrap(), 5);
        assert_eq!(incremented("n", Some("-3"), 1).unwrap(), -2);
        assert_eq!(incremented("n", Some(&(MAX_SAFE_INTEGER - 1).to_string()), 1).unwrap(), MAX_SAFE_INTEGER);
        assert!(incremented("n", Some(&MAX_SAFE_INTEGER.to_string()), 1).unwrap_err().message.contains("2^53 − 1"));
        assert!(incremented("n", None, -MAX_SAFE_INTEGER - 1).is_err());
        assert!(incremented("n", Some("1"), i64::MAX).is_err());
        assert!(incremented("n", Some("x1"), 1).unwrap_err().message.contains("not an integer"));
        assert!(incremented("n", Some(""), 1).is_err());
    }
}
