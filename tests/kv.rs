//! The `kv` capability: state that outlives the fresh sandbox of every request, kept apart per tenant.

use std::sync::LazyLock;

use isobox::builtins::kv::KvStore;
use isobox::{Backend, Capabilities, Outcome, Request, WasmBackend, WasmConfig};
use serde_json::{Value, json};

static BACKEND: LazyLock<(WasmBackend, tempfile::TempDir)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.register(KvStore::open(&dir.path().join("kv.redb")).unwrap().capability()).unwrap();
    (WasmBackend::new(WasmConfig { capabilities, ..WasmConfig::default() }).unwrap(), dir)
});

async fn run(tenant: &str, code: &str) -> Outcome {
    BACKEND.0.run(&Request::new(code).with_grants(["kv"]).with_tenant(tenant)).await
}

async fn value(tenant: &str, code: &str) -> Value {
    run(tenant, code).await.result.unwrap_or_else(|error| panic!("`{code}`: {error:?}"))
}

#[tokio::test]
async fn data_outlives_the_sandbox() {
    value("persist", "await kv.set('greeting', JSON.stringify({hello: 'world'}))").await;
    let read = value("persist", "return JSON.parse(await kv.get('greeting'))").await;
    assert_eq!(read, json!({"hello": "world"}));
    assert_eq!(value("persist", "return await kv.get('missing')").await, json!(null));
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    value("alice", "await kv.set('secret', 'alice-only')").await;
    assert_eq!(value("bob", "return [await kv.get('secret'), await kv.list('')]").await, json!([null, []]));
    assert_eq!(value("alice", "return await kv.get('secret')").await, json!("alice-only"));
}

#[tokio::test]
async fn list_and_delete() {
    let code = "
        for (const k of ['a/1', 'a/2', 'b/1']) await kv.set(k, k);
        const before = await kv.list('a/');
        const deleted = [await kv.delete('a/1'), await kv.delete('a/1')];
        return { before, deleted, after: await kv.list('a/'), limited: await kv.list('', 1) };
    ";
    let result = value("lists", code).await;
    assert_eq!(
        result,
        json!({"before": ["a/1", "a/2"], "deleted": [true, false], "after": ["a/2"], "limited": ["a/2"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_are_never_lost() {
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async { run("counter", "for (let i = 0; i < 5; i++) await kv.increment('hits', 1)").await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(value("counter", "return await kv.get('hits')").await, json!("200"));
}

#[tokio::test]
async fn bad_use_is_a_catchable_error() {
    let code = "
        await kv.set('word', 'not a number');
        const errors = [];
        for (const attempt of [() => kv.increment('word', 1), () => kv.get('k'.repeat(2000)), () => kv.set('k', 42)]) {
            try { await attempt() } catch (e) { errors.push(e.name + ': ' + e.message) }
        }
        return errors;
    ";
    let errors = value("errors", code).await;
    assert_eq!(
        errors,
        json!([
            "Error: the value under `word` is not an integer",
            "Error: keys are at most 1024 bytes",
            "TypeError: kv.set: argument `value` must be string, got number",
        ])
    );
}
