//! The PostgreSQL backend, for replicas that share their state.
//!
//! Tenants, keys and values are `bytea`: PostgreSQL's `text` cannot hold NUL, which JavaScript strings can, and bytes
//! order keys as redb does (by their UTF-8 bytes, whatever the database's collation). Every write transaction first
//! locks its tenant's usage row (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, which locks the row whether it inserts
//! it or not), so writes of one tenant run one at a time across every connection and process.
//!
//! The connections and their tasks live on a thread of this store's own, so that the synchronous API (`usage`,
//! `TenantState`) can wait for them from any thread, and a caller's runtime shutting down does not take them along.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isobox_capabilities::CallError;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, SemaphorePermit, oneshot};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::{KvConfig, KvError, Reply, Store, Txn, Usage, Waiting, Write, apply, failed, lock, not_committed};

/// Connections one store holds at most.
const MAX_CONNECTIONS: usize = 16;
/// Connecting, when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// One statement, including waiting for a lock, on the server's side.
const STATEMENT_TIMEOUT_MS: u64 = 10_000;
/// One whole operation (waiting for a connection, connecting, every statement): past it the operation fails and its
/// connection is dropped, which rolls its transaction back.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Temporary tenants examined per purge.
const MAX_PURGE: i64 = 10_000;
/// Held while the tables are created, so that processes starting at once do not race (two concurrent `CREATE TABLE IF
/// NOT EXISTS` of one table can fail). The bytes of `isoboxkv`.
const SCHEMA_LOCK: i64 = 0x6973_6f62_6f78_6b76;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS isobox_kv_entries (
        tenant bytea NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (tenant, key)
    );
    CREATE TABLE IF NOT EXISTS isobox_kv_usage (
        tenant bytea PRIMARY KEY,
        bytes bigint NOT NULL DEFAULT 0,
        keys bigint NOT NULL DEFAULT 0,
        last_write bigint NOT NULL DEFAULT 0,
        temporary boolean NOT NULL DEFAULT false
    );
    CREATE INDEX IF NOT EXISTS isobox_kv_usage_temporary ON isobox_kv_usage (last_write) WHERE temporary;
";

pub(super) struct Postgres {
    pool: Pool,
    worker: Worker,
    description: String,
}

impl Postgres {
    /// Parses `url`, starts this store's thread, connects once and creates the tables if they are missing.
    pub(super) async fn connect(url: &str) -> Result<Arc<Self>, KvError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|error: tokio_postgres::Error| {
            let detail = std::error::Error::source(&error).map(|source| format!(": {source}")).unwrap_or_default();
            KvError(format!("the PostgreSQL connection string is not valid ({error}{detail})"))
        })?;
        match config.get_ssl_mode() {
            SslMode::Disable | SslMode::Prefer => {}
            _ => {
                return Err(KvError(
                    "the PostgreSQL connection string asks for TLS (sslmode=require), which isobox's kv store does \
                     not support: connect over a Unix socket or a private network, or through a proxy that \
                     terminates TLS"
                        .to_string(),
                ));
            }
        }
        // With no TLS connector, `prefer` would fall back to plain anyway; say so to the server at once.
        config.ssl_mode(SslMode::Disable);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes without closing the connection is noticed.
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("isobox");
        }
        let description = describe(&config);
        let worker = Worker::start().map_err(|error| KvError(format!("starting the PostgreSQL thread: {error}")))?;
        let store = Arc::new(Self { pool: Pool::new(config), worker, description });
        let schema = Arc::clone(&store);
        let created = store.worker.handle.spawn(bounded(async move { schema.create_tables().await }));
        created.await.map_err(|_| KvError("the PostgreSQL thread stopped".to_string()))??;
        Ok(store)
    }

    async fn create_tables(&self) -> Result<(), CallError> {
        let mut conn = self.pool.get().await?;
        let result = async {
            let txn = conn.client()?.transaction().await.map_err(pg)?;
            txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await.map_err(pg)?;
            txn.batch_execute(SCHEMA).await.map_err(pg)?;
            txn.commit().await.map_err(pg)
        }
        .await;
        conn.reuse = true;
        result.map_err(|error| CallError::new(format!("creating the kv tables: {}", error.message)))
    }

    /// Runs `task` on this store's thread.
    pub(super) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.worker.handle.spawn(task);
    }

    /// Runs `operation` on this store's thread and blocks this one until it ends (within the operation timeout).
    pub(super) fn block_on<T: Send + 'static>(
        &self,
        operation: impl Future<Output = Result<T, CallError>> + Send + 'static,
    ) -> Result<T, CallError> {
        // A std channel: tokio's blocking receive panics on a thread that runs async tasks, and callers may be one.
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.worker.handle.spawn(async move {
            let _ = reply.send(bounded(operation).await);
        });
        answer
            .recv_timeout(OPERATION_TIMEOUT + Duration::from_secs(5))
            .map_err(|_| CallError::new("the key-value store failed: the operation did not finish"))?
    }

    pub(super) fn describe(&self) -> String {
        self.description.clone()
    }
}

/// `operation`, failing once it takes longer than the operation timeout.
pub(super) async fn bounded<T>(operation: impl Future<Output = Result<T, CallError>>) -> Result<T, CallError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation).await.unwrap_or_else(|_| {
        Err(CallError::new(format!(
            "the key-value store failed: PostgreSQL did not answer within {} s",
            OPERATION_TIMEOUT.as_secs()
        )))
    })
}

/// `PostgreSQL at host:port/db as user`: no password.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config.get_ports().get(index).or(config.get_ports().first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
            }
        })
        .collect();
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    let user = config.get_user().map(|user| format!(" as {user}")).unwrap_or_default();
    format!("PostgreSQL at {}/{db}{user}", hosts.join(","))
}

impl Store for Postgres {
    async fn get(&self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        let sql = "SELECT value FROM isobox_kv_entries WHERE tenant = $1 AND key = $2";
        let row =
            self.pool.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA), (&key.as_bytes(), Type::BYTEA)]).await?;
        row.map(|row| text(&row, 0)).transpose()
    }

    async fn list(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<String>, CallError> {
        // A range of bytes, not LIKE: nothing in the prefix is a pattern, and the primary key serves it.
        let (tenant, prefix, limit) = (tenant.as_bytes(), prefix.as_bytes(), i64::from(limit));
        let rows = match successor(prefix) {
            Some(end) => {
                let sql = "SELECT key FROM isobox_kv_entries WHERE tenant = $1 AND key >= $2 AND key < $3 \
                           ORDER BY key LIMIT $4";
                let params: [(&(dyn ToSql + Sync), Type); 4] =
                    [(&tenant, Type::BYTEA), (&prefix, Type::BYTEA), (&end, Type::BYTEA), (&limit, Type::INT8)];
                self.pool.query(sql, &params).await?
            }
            None => {
                let sql = "SELECT key FROM isobox_kv_entries WHERE tenant = $1 AND key >= $2 ORDER BY key LIMIT $3";
                let params: [(&(dyn ToSql + Sync), Type); 3] =
                    [(&tenant, Type::BYTEA), (&prefix, Type::BYTEA), (&limit, Type::INT8)];
                self.pool.query(sql, &params).await?
            }
        };
        rows.iter().map(|row| text(row, 0)).collect()
    }

    async fn usage(&self, tenant: &str) -> Result<Usage, CallError> {
        let sql = "SELECT bytes, keys, last_write, temporary FROM isobox_kv_usage WHERE tenant = $1";
        let row = self.pool.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA)]).await?;
        Ok(row.map(|row| usage(&row)).transpose()?.unwrap_or_default())
    }

    async fn idle_temporary(&self, cutoff: u64) -> Result<Vec<String>, CallError> {
        let sql = "SELECT tenant FROM isobox_kv_usage WHERE temporary AND last_write <= $1 LIMIT $2";
        let cutoff = i64::try_from(cutoff).unwrap_or(i64::MAX);
        let rows = self.pool.query(sql, &[(&cutoff, Type::INT8), (&MAX_PURGE, Type::INT8)]).await?;
        rows.iter().map(|row| text(row, 0)).collect()
    }

    async fn write(
        &self,
        config: &KvConfig,
        waiting: &Waiting<'_>,
        tenant: &str,
        write: &Write,
    ) -> Result<Reply, CallError> {
        let mut conn = self.pool.get().await?;
        let result = async {
            let mut txn = PgTxn(conn.client()?.transaction().await.map_err(pg)?);
            let reply = apply(&mut txn, config, tenant, write).await?;
            if !waiting() {
                txn.0.rollback().await.map_err(pg)?;
                return Err(not_committed());
            }
            txn.0.commit().await.map_err(pg)?;
            Ok(reply)
        }
        .await;
        conn.reuse = true;
        result
    }

    async fn ping(&self) -> Result<(), CallError> {
        self.pool.query("SELECT 1", &[]).await.map(drop)
    }
}

/// One write transaction.
struct PgTxn<'a>(tokio_postgres::Transaction<'a>);

impl PgTxn<'_> {
    async fn query_opt(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Option<Row>, CallError> {
        self.0.query_typed_opt(sql, params).await.map_err(pg)
    }

    async fn execute(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<u64, CallError> {
        self.0.execute_typed(sql, params).await.map_err(pg)
    }
}

impl Txn for PgTxn<'_> {
    async fn lock_usage(&mut self, tenant: &str) -> Result<Usage, CallError> {
        // Inserts the row if it is missing, and locks it either way: two first writes of a new tenant cannot both
        // see it empty.
        let sql = "INSERT INTO isobox_kv_usage AS u (tenant) VALUES ($1) \
                   ON CONFLICT (tenant) DO UPDATE SET last_write = u.last_write \
                   RETURNING bytes, keys, last_write, temporary";
        let row = self.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA)]).await?;
        usage(&row.ok_or_else(|| failed("the tenant's usage row was not returned"))?)
    }

    async fn save_usage(&mut self, tenant: &str, usage: Usage) -> Result<(), CallError> {
        let tenant = tenant.as_bytes();
        if usage.keys == 0 && !usage.temporary {
            let sql = "DELETE FROM isobox_kv_usage WHERE tenant = $1";
            self.execute(sql, &[(&tenant, Type::BYTEA)]).await?;
            return Ok(());
        }
        let sql = "UPDATE isobox_kv_usage SET bytes = $2, keys = $3, last_write = $4, temporary = $5 WHERE tenant = $1";
        let [bytes, keys, last_write] = [usage.bytes, usage.keys, usage.last_write].map(to_i64);
        let params: [(&(dyn ToSql + Sync), Type); 5] = [
            (&tenant, Type::BYTEA),
            (&bytes, Type::INT8),
            (&keys, Type::INT8),
            (&last_write, Type::INT8),
            (&usage.temporary, Type::BOOL),
        ];
        self.execute(sql, &params).await?;
        Ok(())
    }

    async fn value(&mut self, tenant: &str, key: &str) -> Result<Option<String>, CallError> {
        let sql = "SELECT value FROM isobox_kv_entries WHERE tenant = $1 AND key = $2 FOR UPDATE";
        let row = self.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA), (&key.as_bytes(), Type::BYTEA)]).await?;
        row.map(|row| text(&row, 0)).transpose()
    }

    async fn value_len(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError> {
        let sql = "SELECT octet_length(value)::int8 FROM isobox_kv_entries WHERE tenant = $1 AND key = $2 FOR UPDATE";
        let row = self.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA), (&key.as_bytes(), Type::BYTEA)]).await?;
        row.map(|row| int(&row, 0)).transpose()
    }

    async fn put(&mut self, tenant: &str, key: &str, value: &str) -> Result<(), CallError> {
        let sql = "INSERT INTO isobox_kv_entries (tenant, key, value) VALUES ($1, $2, $3) \
                   ON CONFLICT (tenant, key) DO UPDATE SET value = EXCLUDED.value";
        let (tenant, key, value) = (tenant.as_bytes(), key.as_bytes(), value.as_bytes());
        self.execute(sql, &[(&tenant, Type::BYTEA), (&key, Type::BYTEA), (&value, Type::BYTEA)]).await?;
        Ok(())
    }

    async fn remove(&mut self, tenant: &str, key: &str) -> Result<Option<u64>, CallError> {
        let sql = "DELETE FROM isobox_kv_entries WHERE tenant = $1 AND key = $2 RETURNING octet_length(value)::int8";
        let row = self.query_opt(sql, &[(&tenant.as_bytes(), Type::BYTEA), (&key.as_bytes(), Type::BYTEA)]).await?;
        row.map(|row| int(&row, 0)).transpose()
    }

    async fn clear(&mut self, tenant: &str) -> Result<(), CallError> {
        let tenant = tenant.as_bytes();
        self.execute("DELETE FROM isobox_kv_entries WHERE tenant = $1", &[(&tenant, Type::BYTEA)]).await?;
        self.execute("DELETE FROM isobox_kv_usage WHERE tenant = $1", &[(&tenant, Type::BYTEA)]).await?;
        Ok(())
    }
}

/// The smallest byte string above every string that starts with `prefix`, if there is one (none for an empty prefix
/// or one of only 0xFF bytes).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn text(row: &Row, column: usize) -> Result<String, CallError> {
    let bytes: Vec<u8> = row.try_get(column).map_err(pg)?;
    String::from_utf8(bytes).map_err(|_| failed("the database holds a string that is not UTF-8"))
}

fn int(row: &Row, column: usize) -> Result<u64, CallError> {
    let value: i64 = row.try_get(column).map_err(pg)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn usage(row: &Row) -> Result<Usage, CallError> {
    Ok(Usage {
        bytes: int(row, 0)?,
        keys: int(row, 1)?,
        last_write: int(row, 2)?,
        temporary: row.try_get(3).map_err(pg)?,
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A PostgreSQL failure for the program: the server's message (not its detail, which may quote data), or what went
/// wrong with the connection.
fn pg(error: tokio_postgres::Error) -> CallError {
    let message = match (error.as_db_error(), std::error::Error::source(&error)) {
        (Some(db), _) => db.message().to_string(),
        (None, Some(source)) => format!("{error}: {source}"),
        (None, None) => error.to_string(),
    };
    failed(message)
}

/// A bounded pool: at most [`MAX_CONNECTIONS`], made when needed, kept while they work.
struct Pool {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

/// A connection taken from the pool, given back when dropped if `reuse` was set: an operation whose future was dropped
/// midway leaves it unset, and its connection (with whatever transaction it had open) is closed.
struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    reuse: bool,
    _permit: SemaphorePermit<'a>,
}

impl Pool {
    fn new(config: tokio_postgres::Config) -> Self {
        Self { config, idle: Mutex::new(Vec::new()), permits: Semaphore::new(MAX_CONNECTIONS) }
    }

    /// A connection; must be called on the store's thread, where connections run.
    async fn get(&self) -> Result<Conn<'_>, CallError> {
        let permit = self.permits.acquire().await.map_err(|_| failed("the connection pool is closed"))?;
        let reused = {
            let mut idle = lock(&self.idle);
            std::iter::from_fn(|| idle.pop()).find(|client| !client.is_closed())
        };
        let client = match reused {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Conn { client: Some(client), pool: self, reuse: false, _permit: permit })
    }

    async fn connect(&self) -> Result<Client, CallError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; calls then fail on their own.
            let _ = connection.await;
        });
        // Bounded on the server's side too: a statement waiting on a lock, and a transaction whose client vanished.
        let settings = format!(
            "SET statement_timeout = {STATEMENT_TIMEOUT_MS}; SET idle_in_transaction_session_timeout = {};",
            OPERATION_TIMEOUT.as_millis()
        );
        client.batch_execute(&settings).await.map_err(pg)?;
        Ok(client)
    }

    async fn query(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Vec<Row>, CallError> {
        let mut conn = self.get().await?;
        let rows = conn.client()?.query_typed(sql, params).await.map_err(pg);
        conn.reuse = true;
        rows
    }

    async fn query_opt(&self, sql: &str, params: &[(&(dyn ToSql + Sync), Type)]) -> Result<Option<Row>, CallError> {
        let mut conn = self.get().await?;
        let row = conn.client()?.query_typed_opt(sql, params).await.map_err(pg);
        conn.reuse = true;
        row
    }
}

impl Conn<'_> {
    fn client(&mut self) -> Result<&mut Client, CallError> {
        self.client.as_mut().ok_or_else(|| failed("the connection was given back"))
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.reuse
            && !client.is_closed()
        {
            lock(&self.pool.idle).push(client);
        }
    }
}

/// The thread the connections run on: a single-threaded tokio runtime, stopped when this is dropped (from any thread,
/// even one of its own tasks: dropping only closes the channel its thread waits on).
struct Worker {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl Worker {
    fn start() -> std::io::Result<Self> {
        let (ready, started) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("isobox-kv-postgres".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => {
                    let _ = ready.send(Ok(runtime.handle().clone()));
                    // Returns once the sender is dropped; the runtime, and every connection, goes with it.
                    runtime.block_on(async move {
                        let _ = stopped.await;
                    });
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                }
            }
        })?;
        let handle = started.recv().map_err(|_| std::io::Error::other("the thread stopped at once"))??;
        Ok(Self { handle, _stop: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_of_a_prefix_bounds_exactly_the_keys_it_starts() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(successor(b""), None);
        assert_eq!(successor(b"a%"), Some(b"a&".to_vec()));
    }

    #[test]
    fn descriptions_leave_out_the_password() {
        let config: tokio_postgres::Config = "postgres://kv:secret@db.internal:6432/isobox".parse().unwrap();
        assert_eq!(describe(&config), "PostgreSQL at db.internal:6432/isobox as kv");
        let config: tokio_postgres::Config = "host=/run/postgresql user=kv password=secret".parse().unwrap();
        assert_eq!(describe(&config), "PostgreSQL at /run/postgresql/.s.PGSQL.5432/kv as kv");
    }
}
