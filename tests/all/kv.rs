//! The `kv` capability, on every backend with the same expectations: state that outlives the fresh sandbox of every
//! request, kept apart per tenant. The backends share one store, as two backends of one host would; each case uses
//! tenants of its backend's own, except where sharing is the point.

use crate::common;

use std::sync::{Arc, LazyLock};

use common::Backends;
use isobox::kv::KvStore;
use isobox::{Backend, Capabilities, Outcome, Request};
use serde_json::{Value, json};

static BACKENDS: LazyLock<(Backends, tempfile::TempDir)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.register(KvStore::open(&dir.path().join("kv.redb")).unwrap().capability()).unwrap();
    (common::backends(&capabilities), dir)
});

fn backends() -> &'static [(&'static str, Arc<dyn Backend>)] {
    &BACKENDS.0
}

async fn run(backend: &dyn Backend, tenant: &str, code: &str) -> Outcome {
    backend.run(&Request::new(code).with_grants(["kv"]).with_tenant(tenant)).await
}

async fn value(backend: &dyn Backend, tenant: &str, code: &str) -> Value {
    let name = backend.name();
    run(backend, tenant, code).await.result.unwrap_or_else(|error| panic!("{name}: `{code}`: {error:?}"))
}

#[tokio::test]
async fn data_outlives_the_sandbox() {
    for (name, backend) in backends() {
        let (backend, tenant) = (&**backend, format!("persist-{name}"));
        value(backend, &tenant, "await kv.set('greeting', JSON.stringify({hello: 'world'}))").await;
        let read = value(backend, &tenant, "return JSON.parse(await kv.get('greeting'))").await;
        assert_eq!(read, json!({"hello": "world"}), "{name}");
        assert_eq!(value(backend, &tenant, "return await kv.get('missing')").await, json!(null), "{name}");
    }
}

#[tokio::test]
async fn one_backend_reads_what_another_wrote() {
    let [(writer, first), (reader, second)] = backends() else { panic!("two backends") };
    value(&**first, "shared", &format!("await kv.set('by', '{writer}')")).await;
    assert_eq!(value(&**second, "shared", "return await kv.get('by')").await, json!(writer), "{reader}");
}

#[tokio::test]
async fn tenants_do_not_see_each_other() {
    for (name, backend) in backends() {
        let backend = &**backend;
        let (alice, bob) = (format!("alice-{name}"), format!("bob-{name}"));
        value(backend, &alice, "await kv.set('secret', 'alice-only')").await;
        let seen = value(backend, &bob, "return [await kv.get('secret'), await kv.list('')]").await;
        assert_eq!(seen, json!([null, []]), "{name}");
        assert_eq!(value(backend, &alice, "return await kv.get('secret')").await, json!("alice-only"), "{name}");
    }
}

#[tokio::test]
async fn list_and_delete() {
    let code = "
        for (const k of ['a/1', 'a/2', 'b/1']) await kv.set(k, k);
        const before = await kv.list('a/');
        const deleted = [await kv.delete('a/1'), await kv.delete('a/1')];
        return { before, deleted, after: await kv.list('a/'), limited: await kv.list('', 1) };
    ";
    for (name, backend) in backends() {
        let result = value(&**backend, &format!("lists-{name}"), code).await;
        assert_eq!(
            result,
            json!({"before": ["a/1", "a/2"], "deleted": [true, false], "after": ["a/2"], "limited": ["a/2"]}),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_are_never_lost() {
    for (name, backend) in backends() {
        let tenant = format!("counter-{name}");
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (backend, tenant) = (backend.clone(), tenant.clone());
                tokio::spawn(async move {
                    run(&*backend, &tenant, "for (let i = 0; i < 5; i++) await kv.increment('hits', 1)").await
                })
            })
            .collect();
        for task in tasks {
            let outcome = task.await.unwrap();
            assert!(outcome.is_ok(), "{name}: {:?}", outcome.result);
        }
        assert_eq!(value(&**backend, &tenant, "return await kv.get('hits')").await, json!("200"), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_from_every_backend_are_never_lost() {
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let backend = backends()[i % backends().len()].1.clone();
            tokio::spawn(async move {
                run(&*backend, "counter-mixed", "for (let i = 0; i < 5; i++) await kv.increment('hits', 1)").await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert!(outcome.is_ok(), "{}: {:?}", outcome.metrics.backend, outcome.result);
    }
    for (name, backend) in backends() {
        assert_eq!(value(&**backend, "counter-mixed", "return await kv.get('hits')").await, json!("200"), "{name}");
    }
}

#[tokio::test]
async fn kv_works_on_a_current_thread_runtime() {
    // The store runs its transactions on the runtime's blocking pool; on a single-threaded runtime the V8 backend's
    // sandbox thread waits for them while the runtime's own thread waits for the request.
    for (name, backend) in backends() {
        let tenant = format!("single-{name}");
        let code = "for (let i = 0; i < 20; i++) await kv.increment('n', 1); return await kv.get('n')";
        assert_eq!(value(&**backend, &tenant, code).await, json!("20"), "{name}");
    }
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
    for (name, backend) in backends() {
        let errors = value(&**backend, &format!("errors-{name}"), code).await;
        assert_eq!(
            errors,
            json!([
                "Error: the value under `word` is not an integer",
                "Error: keys are at most 1024 bytes",
                "TypeError: kv.set: argument `value` must be string, got number",
            ]),
            "{name}"
        );
    }
}
