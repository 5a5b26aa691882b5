//! The `kv` capability's semantics, written once and run on both stores: redb in a temp dir, and a real PostgreSQL
//! started for each test. Programs' calls go through the capability's checked dispatch, as a sandbox's would; then
//! PostgreSQL's own cases: replicas incrementing one key at once, replicas starting at once, a database that stops.

use std::time::Duration;

use isobox_capabilities::backend::CallOutcome;
use isobox_capabilities::{Capabilities, TenantState};
use isobox_core::{Limits, Request};
use isobox_kv::{KvConfig, KvStore, TenantUsage};
use isobox_testkit::TempPostgres;
use serde_json::{Value, json};

const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Redb,
    Postgres,
}

/// A store of either kind, and what it needs to stay up.
struct Subject {
    kind: Kind,
    /// `None` only while it is reopened.
    store: Option<KvStore>,
    capabilities: Capabilities,
    dir: tempfile::TempDir,
    postgres: Option<TempPostgres>,
}

impl Subject {
    async fn new(kind: Kind, config: KvConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let postgres = match kind {
            Kind::Redb => None,
            Kind::Postgres => Some(TempPostgres::start().expect("PostgreSQL starts (scripts/setup.sh installs it)")),
        };
        let store = open(kind, &dir, postgres.as_ref(), config).await;
        let capabilities = capabilities(&store);
        Self { kind, store: Some(store), capabilities, dir, postgres }
    }

    fn store(&self) -> &KvStore {
        self.store.as_ref().expect("open")
    }

    /// The store closed and opened again, as a restarted process (or another replica) would: with `config`.
    async fn reopen(&mut self, config: KvConfig) {
        // redb allows one open handle per file: the old one goes first.
        self.capabilities = Capabilities::new();
        self.store = None;
        let store = open(self.kind, &self.dir, self.postgres.as_ref(), config).await;
        self.capabilities = capabilities(&store);
        self.store = Some(store);
    }

    /// Calls `kv.<function>(...args)` as tenant `tenant`'s program would: the message of the error it throws, if any.
    async fn call(&self, tenant: &str, function: &str, args: Value) -> Result<Value, String> {
        call(&self.capabilities, tenant, function, args).await
    }

    async fn set(&self, tenant: &str, key: &str, value: &str) {
        self.call(tenant, "set", json!([key, value])).await.unwrap_or_else(|error| panic!("set {key:?}: {error}"));
    }

    async fn get(&self, tenant: &str, key: &str) -> Value {
        self.call(tenant, "get", json!([key])).await.unwrap_or_else(|error| panic!("get {key:?}: {error}"))
    }

    async fn list(&self, tenant: &str, prefix: &str, limit: Option<u32>) -> Vec<String> {
        let keys = self.call(tenant, "list", json!([prefix, limit])).await.unwrap();
        serde_json::from_value(keys).unwrap()
    }
}

async fn open(kind: Kind, dir: &tempfile::TempDir, postgres: Option<&TempPostgres>, config: KvConfig) -> KvStore {
    match kind {
        Kind::Redb => KvStore::open_with(&dir.path().join("kv.redb"), config).unwrap(),
        Kind::Postgres => KvStore::connect_postgres(&postgres.unwrap().url(), config).await.unwrap(),
    }
}

fn capabilities(store: &KvStore) -> Capabilities {
    let mut capabilities = Capabilities::new();
    capabilities.register(store.capability()).unwrap();
    capabilities
}

async fn call(capabilities: &Capabilities, tenant: &str, function: &str, args: Value) -> Result<Value, String> {
    let request = Request::new("").with_grants(["kv"]).with_tenant(tenant).with_limits(Limits::default());
    match crate::common::call_granted(capabilities, &request, "kv", function, &args).await {
        CallOutcome::Return(text) => Ok(serde_json::from_str(&text).unwrap()),
        CallOutcome::Throw(text) => Err(serde_json::from_str::<Value>(&text).unwrap()["message"].to_string()),
        CallOutcome::Abort(error) => Err(format!("aborted: {error}")),
    }
}

fn usage(bytes: u64, keys: u64) -> TenantUsage {
    TenantUsage { bytes, keys }
}

/// Each case as `<case>::redb` and `<case>::postgres`.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$case(super::Kind::Redb).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$case(super::Kind::Postgres).await
            }
        }
    )*};
}

on_both_stores!(
    get_set_delete_and_list,
    keys_with_wildcards_nul_and_unicode,
    keys_are_at_most_1024_bytes,
    quotas_bound_bytes_and_keys_and_let_writes_shrink,
    increment_counts_and_refuses_what_javascript_cannot_hold,
    tenants_are_isolated,
    temporary_tenants_end_or_expire,
    a_write_whose_request_ended_writes_nothing,
    data_outlives_the_store,
);

async fn get_set_delete_and_list(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    assert_eq!(kv.get("t", "a").await, Value::Null);
    kv.set("t", "a", "1").await;
    kv.set("t", "a", "one").await;
    assert_eq!(kv.get("t", "a").await, json!("one"));
    for key in ["x/2", "x/1", "x/10", "y", "x"] {
        kv.set("t", key, "v").await;
    }
    assert_eq!(kv.list("t", "x/", None).await, ["x/1", "x/10", "x/2"]);
    assert_eq!(kv.list("t", "", None).await, ["a", "x", "x/1", "x/10", "x/2", "y"]);
    assert_eq!(kv.list("t", "", Some(2)).await, ["a", "x"]);
    assert_eq!(kv.list("t", "x", Some(0)).await, Vec::<String>::new());
    assert_eq!(kv.list("t", "z", None).await, Vec::<String>::new());
    assert_eq!(kv.call("t", "delete", json!(["a"])).await, Ok(json!(true)));
    assert_eq!(kv.call("t", "delete", json!(["a"])).await, Ok(json!(false)));
    assert_eq!(kv.get("t", "a").await, Value::Null);
    assert_eq!(kv.store().usage("t").unwrap(), usage(4 + 4 + 5 + 2 + 2, 5));
    assert!(kv.store().ping().await.is_ok());
    let described = kv.store().describe();
    assert!(described.starts_with(["redb at ", "PostgreSQL at "][kind as usize]), "{described}");
}

async fn keys_with_wildcards_nul_and_unicode(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    let keys = ["a", "a\0b", "a%", "a%c", "a_b", "ab", "a\\", "é", "日本\u{1F600}", ""];
    for key in keys {
        kv.set("t", key, &format!("value of {key}\0 ✓")).await;
    }
    for key in keys {
        assert_eq!(kv.get("t", key).await, json!(format!("value of {key}\0 ✓")), "{key:?}");
    }
    // Ordered by UTF-8 bytes; `%`, `_` and `\` are themselves, not patterns.
    assert_eq!(kv.list("t", "", None).await, ["", "a", "a\0b", "a%", "a%c", "a\\", "a_b", "ab", "é", "日本\u{1F600}"]);
    assert_eq!(kv.list("t", "a%", None).await, ["a%", "a%c"]);
    assert_eq!(kv.list("t", "a_", None).await, ["a_b"]);
    assert_eq!(kv.list("t", "a\0", None).await, ["a\0b"]);
    assert_eq!(kv.list("t", "a\\", None).await, ["a\\"]);
    assert_eq!(kv.list("t", "日", None).await, ["日本\u{1F600}"]);
    assert_eq!(kv.get("t", "a_").await, Value::Null);
    assert_eq!(kv.call("t", "delete", json!(["a%"])).await, Ok(json!(true)));
    assert_eq!(kv.list("t", "a%", None).await, ["a%c"]);
}

async fn keys_are_at_most_1024_bytes(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    let longest = "é".repeat(512);
    kv.set("t", &longest, "v").await;
    assert_eq!(kv.list("t", &longest, None).await, std::slice::from_ref(&longest));
    let too_long = format!("{longest}x");
    for (function, args) in [
        ("get", json!([too_long])),
        ("set", json!([too_long, "v"])),
        ("delete", json!([too_long])),
        ("list", json!([too_long])),
        ("increment", json!([too_long, 1])),
    ] {
        let error = kv.call("t", function, args).await.unwrap_err();
        assert!(error.contains("keys are at most 1024 bytes"), "{function}: {error}");
    }
    assert_eq!(kv.store().usage("t").unwrap(), usage(1025, 1));
}

async fn quotas_bound_bytes_and_keys_and_let_writes_shrink(kind: Kind) {
    let config = || KvConfig { max_bytes_per_tenant: 10, max_keys_per_tenant: 2, ..KvConfig::default() };
    let mut kv = Subject::new(kind, config()).await;
    kv.set("t", "a", "1234").await;
    kv.set("t", "b", "1234").await;
    let error = kv.call("t", "set", json!(["c", ""])).await.unwrap_err();
    assert!(error.contains("kv quota exceeded: a tenant may store at most 2 keys"), "{error}");
    let error = kv.call("t", "set", json!(["a", "12345"])).await.unwrap_err();
    assert!(error.contains("at most 10 bytes of keys and values (10 bytes)"), "{error}");
    let error = kv.call("t", "increment", json!(["z", 1])).await.unwrap_err();
    assert!(error.contains("kv quota exceeded"), "{error}");
    assert_eq!(kv.get("t", "a").await, json!("1234"));
    assert_eq!(kv.get("t", "c").await, Value::Null);
    assert_eq!(kv.store().usage("t").unwrap(), usage(10, 2));
    // Other tenants have quotas of their own.
    kv.set("u", "a", "123456789").await;

    // A lower quota since: the tenant is over it, and may still shrink, but not grow.
    kv.reopen(KvConfig { max_bytes_per_tenant: 4, ..config() }).await;
    assert_eq!(kv.store().usage("t").unwrap(), usage(10, 2));
    kv.set("t", "a", "12").await;
    assert_eq!(kv.store().usage("t").unwrap(), usage(8, 2));
    let error = kv.call("t", "set", json!(["a", "123"])).await.unwrap_err();
    assert!(error.contains("at most 4 bytes"), "{error}");
    assert_eq!(kv.call("t", "delete", json!(["b"])).await, Ok(json!(true)));
    assert_eq!(kv.store().usage("t").unwrap(), usage(3, 1));
}

async fn increment_counts_and_refuses_what_javascript_cannot_hold(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    assert_eq!(kv.call("t", "increment", json!(["n", 5])).await, Ok(json!(5)));
    assert_eq!(kv.call("t", "increment", json!(["n", -7])).await, Ok(json!(-2)));
    assert_eq!(kv.get("t", "n").await, json!("-2"));
    assert_eq!(kv.store().usage("t").unwrap(), usage(3, 1));

    kv.set("t", "word", "abc").await;
    let error = kv.call("t", "increment", json!(["word", 1])).await.unwrap_err();
    assert!(error.contains("the value under `word` is not an integer"), "{error}");
    assert_eq!(kv.get("t", "word").await, json!("abc"));

    assert_eq!(kv.call("t", "increment", json!(["big", MAX_SAFE_INTEGER])).await, Ok(json!(MAX_SAFE_INTEGER)));
    let error = kv.call("t", "increment", json!(["big", 1])).await.unwrap_err();
    assert!(error.contains("2^53 − 1") && error.contains("the value is unchanged"), "{error}");
    assert_eq!(kv.get("t", "big").await, json!(MAX_SAFE_INTEGER.to_string()));
    assert_eq!(kv.call("t", "increment", json!(["small", -MAX_SAFE_INTEGER])).await, Ok(json!(-MAX_SAFE_INTEGER)));
    assert!(kv.call("t", "increment", json!(["small", -1])).await.is_err());
    assert_eq!(kv.get("t", "small").await, json!((-MAX_SAFE_INTEGER).to_string()));
    // Past ±(2^53 − 1), the argument itself is refused before the store sees it.
    let error = kv.call("t", "increment", json!(["n", 9007199254740992_i64])).await.unwrap_err();
    assert!(error.contains("TypeError") || error.contains("must be"), "{error}");
    assert_eq!(kv.get("t", "n").await, json!("-2"));
}

async fn tenants_are_isolated(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    for tenant in ["a", "a-b", "a.", "b"] {
        kv.set(tenant, "k", tenant).await;
        kv.set(tenant, "", "v").await;
    }
    assert_eq!(kv.get("a", "k").await, json!("a"));
    assert_eq!(kv.get("a-b", "k").await, json!("a-b"));
    assert_eq!(kv.list("a", "", None).await, ["", "k"]);
    assert_eq!(kv.call("a", "increment", json!(["n", 1])).await, Ok(json!(1)));
    assert_eq!(kv.get("b", "n").await, Value::Null);
    assert_eq!(kv.call("b", "delete", json!(["n"])).await, Ok(json!(false)));

    kv.store().clear_tenant("a").unwrap();
    assert_eq!(kv.list("a", "", None).await, Vec::<String>::new());
    assert_eq!(kv.store().usage("a").unwrap(), usage(0, 0));
    for tenant in ["a-b", "a.", "b"] {
        assert_eq!(kv.list(tenant, "", None).await, ["", "k"], "{tenant}");
        assert_eq!(kv.store().usage(tenant).unwrap(), usage(2 + tenant.len() as u64, 2), "{tenant}");
    }
}

async fn temporary_tenants_end_or_expire(kind: Kind) {
    let expire_at_once = || KvConfig { temporary_tenant_expiry: Duration::ZERO, ..KvConfig::default() };
    let mut kv = Subject::new(kind, expire_at_once()).await;
    for tenant in ["session-1", "session-2"] {
        kv.store().begin_temporary(tenant).unwrap();
        kv.set(tenant, "k", "v").await;
    }
    kv.set("named", "k", "v").await;

    // Live temporary tenants are kept, however idle; ending one deletes its data.
    assert_eq!(kv.store().purge_expired().unwrap(), 0);
    kv.store().end("session-1").unwrap();
    assert_eq!(kv.get("session-1", "k").await, Value::Null);
    assert_eq!(kv.store().usage("session-1").unwrap(), usage(0, 0));
    assert_eq!(kv.get("session-2", "k").await, json!("v"));

    // `session-2` was never ended (its process stopped): a store opened since expires it once it is idle for long
    // enough; `named` is not temporary.
    kv.reopen(KvConfig::default()).await;
    assert_eq!(kv.get("session-2", "k").await, json!("v"), "not idle for 24 hours yet");
    assert_eq!(kv.store().purge_expired().unwrap(), 0);
    kv.reopen(expire_at_once()).await;
    assert_eq!(kv.get("session-2", "k").await, Value::Null);
    assert_eq!(kv.store().usage("session-2").unwrap(), usage(0, 0));
    assert_eq!(kv.get("named", "k").await, json!("v"));
}

async fn a_write_whose_request_ended_writes_nothing(kind: Kind) {
    let kv = Subject::new(kind, KvConfig::default()).await;
    let error = kv.store().set_while("t", "k", "v", || false).await.unwrap_err();
    assert!(error.to_string().contains("nothing was written"), "{error}");
    assert!(kv.store().increment_while("t", "n", 1, || false).await.is_err());
    assert_eq!(kv.get("t", "k").await, Value::Null);
    assert_eq!(kv.get("t", "n").await, Value::Null);
    assert_eq!(kv.store().usage("t").unwrap(), usage(0, 0));
    // The same writes, still awaited, commit.
    kv.store().set_while("t", "k", "v", || true).await.unwrap();
    assert_eq!(kv.store().increment_while("t", "n", 1, || true).await.unwrap(), 1);
    assert_eq!(kv.store().usage("t").unwrap(), usage(4, 2));
}

async fn data_outlives_the_store(kind: Kind) {
    let mut kv = Subject::new(kind, KvConfig::default()).await;
    kv.set("t", "k", "value").await;
    kv.set("t", "k2", "v").await;
    kv.reopen(KvConfig::default()).await;
    assert_eq!(kv.get("t", "k").await, json!("value"));
    assert_eq!(kv.list("t", "", None).await, ["k", "k2"]);
    assert_eq!(kv.store().usage("t").unwrap(), usage(9, 2));
}

// PostgreSQL's own cases: what replicas sharing one database do.

async fn postgres_store(server: &TempPostgres, config: KvConfig) -> KvStore {
    KvStore::connect_postgres(&server.url(), config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_increments_from_two_replicas_at_once_sum_exactly() {
    const TASKS: usize = 8;
    const INCREMENTS: usize = 200;
    let server = TempPostgres::start().unwrap();
    // Two stores, as two replicas of a server would have, each with its own connections.
    let replicas = [
        capabilities(&postgres_store(&server, KvConfig::default()).await),
        capabilities(&postgres_store(&server, KvConfig::default()).await),
    ];
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let capabilities = replicas[task % 2].clone();
            tokio::spawn(async move {
                for _ in 0..INCREMENTS {
                    call(&capabilities, "t", "increment", json!(["hits", 1])).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let total = (TASKS * INCREMENTS) as u64;
    assert_eq!(call(&replicas[0], "t", "get", json!(["hits"])).await, Ok(json!(total.to_string())));
    let store = postgres_store(&server, KvConfig::default()).await;
    assert_eq!(store.usage("t").unwrap(), usage(4 + total.to_string().len() as u64, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_quotas_hold_across_replicas_writing_at_once() {
    let server = TempPostgres::start().unwrap();
    let config = || KvConfig { max_keys_per_tenant: 10, ..KvConfig::default() };
    let replicas = [
        capabilities(&postgres_store(&server, config()).await),
        capabilities(&postgres_store(&server, config()).await),
    ];
    // 40 new keys at once against a quota of 10, from both replicas: exactly 10 are stored.
    let tasks: Vec<_> = (0..40)
        .map(|index| {
            let capabilities = replicas[index % 2].clone();
            tokio::spawn(async move { call(&capabilities, "t", "set", json!([format!("k{index}"), "v"])).await })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(error) => assert!(error.contains("at most 10 keys"), "{error}"),
        }
    }
    assert_eq!(stored, 10);
    let store = postgres_store(&server, config()).await;
    let usage = store.usage("t").unwrap();
    assert_eq!(usage.keys, 10);
    let keys = call(&capabilities(&store), "t", "list", json!([""])).await.unwrap();
    assert_eq!(keys.as_array().map(Vec::len), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_starting_at_once_both_create_the_tables() {
    let server = TempPostgres::start().unwrap();
    let url = server.url();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { KvStore::connect_postgres(&url, KvConfig::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().expect("every replica starts"));
    }
    let [first, second, ..] = &stores[..] else { unreachable!() };
    call(&capabilities(first), "t", "set", json!(["k", "v"])).await.unwrap();
    assert_eq!(call(&capabilities(second), "t", "get", json!(["k"])).await, Ok(json!("v")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_stops_is_a_clean_error_not_a_hang() {
    let mut server = TempPostgres::start().unwrap();
    let store = postgres_store(&server, KvConfig::default()).await;
    let kv = capabilities(&store);
    call(&kv, "t", "set", json!(["k", "v"])).await.unwrap();
    server.stop().unwrap();

    let bounded = Duration::from_secs(20);
    for (function, args) in [("get", json!(["k"])), ("set", json!(["k", "w"])), ("increment", json!(["n", 1]))] {
        let outcome = tokio::time::timeout(bounded, call(&kv, "t", function, args)).await.expect("no hang");
        let error = outcome.unwrap_err();
        assert!(error.contains("the key-value store failed"), "{function}: {error}");
    }
    assert!(tokio::time::timeout(bounded, store.ping()).await.expect("no hang").is_err());
    let usage = tokio::task::spawn_blocking(move || store.usage("t"));
    assert!(tokio::time::timeout(bounded, usage).await.expect("no hang").unwrap().is_err());
    let url = server.url();
    let connect = KvStore::connect_postgres(&url, KvConfig::default());
    let error = tokio::time::timeout(bounded, connect).await.expect("no hang").expect_err("refused");
    assert!(error.to_string().contains("connect"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_a_unix_socket_and_never_over_tls() {
    let server = TempPostgres::start().unwrap();
    let over_socket = KvStore::connect_postgres(&server.socket_url(), KvConfig::default()).await.unwrap();
    call(&capabilities(&over_socket), "t", "set", json!(["k", "v"])).await.unwrap();
    assert!(over_socket.describe().contains(".s.PGSQL."), "{}", over_socket.describe());
    let over_tcp = postgres_store(&server, KvConfig::default()).await;
    assert_eq!(call(&capabilities(&over_tcp), "t", "get", json!(["k"])).await, Ok(json!("v")));

    let tls = format!("{}?sslmode=require", server.url());
    let error = KvStore::connect_postgres(&tls, KvConfig::default()).await.expect_err("refused");
    assert!(error.to_string().contains("sslmode=require"), "{error}");
    let error = KvStore::connect_postgres("postgres://isobox:hunter2@127.0.0.1:0/x?nonsense=1", KvConfig::default())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("not valid") && !error.to_string().contains("hunter2"), "{error}");
}

/// A write queued behind another transaction's lock, whose request ends meanwhile, commits nothing once it gets
/// the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_whose_request_ended_while_it_waited_commits_nothing() {
    let server = TempPostgres::start().unwrap();
    let store = postgres_store(&server, KvConfig::default()).await;
    let kv = capabilities(&store);
    call(&kv, "t", "set", json!(["k", "before"])).await.unwrap();

    let (mut client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let holder = client.transaction().await.unwrap();
    holder.execute("SELECT * FROM isobox_kv_usage WHERE tenant = 't'::bytea FOR UPDATE", &[]).await.unwrap();
    let late = tokio::time::timeout(Duration::from_millis(300), call(&kv, "t", "set", json!(["k", "late"])));
    assert!(late.await.is_err(), "the write waits for the lock");
    holder.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(call(&kv, "t", "get", json!(["k"])).await, Ok(json!("before")));

    // And an awaited write behind the same lock commits once it is released.
    let holder = client.transaction().await.unwrap();
    holder.execute("SELECT * FROM isobox_kv_usage WHERE tenant = 't'::bytea FOR UPDATE", &[]).await.unwrap();
    let on_time = tokio::spawn({
        let kv = kv.clone();
        async move { call(&kv, "t", "set", json!(["k", "on time"])).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    holder.rollback().await.unwrap();
    assert_eq!(on_time.await.unwrap(), Ok(Value::Null));
    assert_eq!(call(&kv, "t", "get", json!(["k"])).await, Ok(json!("on time")));
}

/// A temporary tenant begun by a replica that stopped without ending it is purged by another, once idle; one that
/// is live in this store is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_expire_each_others_abandoned_temporary_tenants() {
    let server = TempPostgres::start().unwrap();
    let expire_at_once = || KvConfig { temporary_tenant_expiry: Duration::ZERO, ..KvConfig::default() };
    let survivor = postgres_store(&server, expire_at_once()).await;
    survivor.begin_temporary("mine").unwrap();
    {
        let stopped = postgres_store(&server, expire_at_once()).await;
        stopped.begin_temporary("abandoned").unwrap();
        call(&capabilities(&stopped), "abandoned", "set", json!(["k", "v"])).await.unwrap();
    }
    call(&capabilities(&survivor), "mine", "set", json!(["k", "v"])).await.unwrap();
    let purge = {
        let survivor = survivor.clone();
        tokio::task::spawn_blocking(move || survivor.purge_expired())
    };
    assert_eq!(purge.await.unwrap().unwrap(), 1);
    assert_eq!(survivor.usage("abandoned").unwrap(), usage(0, 0));
    assert_eq!(survivor.usage("mine").unwrap(), usage(2, 1));
}
