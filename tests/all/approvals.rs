//! Approvals on every backend: a call that needs approval stops the run before it; deciding continues the run from a
//! replay that serves the calls made before the stop from the run's record, so that no side effect happens twice.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use common::Backends;
use isobox::approval::{ApprovalError, Approvals, Decision, MemoryRuns, PendingRuns};
use isobox::{Backend, CallError, Capabilities, Capability, Request, SandboxError};
use serde_json::{Value, json};

/// `ledger.write` needs approval, marked in its WIT doc comment.
const WIT: &str = r#"
package test:ledger;

/// A ledger whose writes need a person's approval.
interface ledger {
    /// Reads an entry.
    read: func(key: string) -> option<string>;
    /// Writes an entry.
    /// @approval
    write: func(key: string, value: string) -> string;
}
"#;

/// How often each host function of the ledger ran.
#[derive(Default)]
struct Counts {
    reads: AtomicUsize,
    writes: AtomicUsize,
}

static COUNTS: LazyLock<Arc<Counts>> = LazyLock::new(Arc::default);

fn ledger() -> Capability {
    let (reads, writes) = (Arc::clone(&COUNTS), Arc::clone(&COUNTS));
    Capability::from_wit("ledger.wit", WIT, "ledger")
        .unwrap()
        .func("read", move |_, (key,): (String,)| {
            reads.reads.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, CallError>(Some(format!("value of {key}"))) }
        })
        .func("write", move |_, (key, value): (String, String)| {
            writes.writes.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, CallError>(format!("wrote {key}={value}")) }
        })
}

static BACKENDS: LazyLock<Backends> = LazyLock::new(|| {
    let mut capabilities = Capabilities::new();
    capabilities.register(ledger()).unwrap();
    common::backends(&capabilities)
});

/// The tests share the ledger's counts: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn counts() -> (usize, usize) {
    (COUNTS.reads.load(Ordering::SeqCst), COUNTS.writes.load(Ordering::SeqCst))
}

fn request(code: &str) -> Request {
    Request::new(code).with_grants(["ledger"])
}

/// The run id of a run that stopped for approval, checking the call it stopped at.
fn stopped(name: &str, result: &Result<Value, SandboxError>, method: &str) -> (String, Value) {
    match result {
        Err(SandboxError::ApprovalRequired(stop)) if stop.run_id.is_some() => {
            assert_eq!((stop.capability.as_str(), stop.method.as_str()), ("ledger", method), "{name}");
            (stop.run_id.clone().unwrap(), stop.args.clone())
        }
        other => panic!("{name}: expected a stop for approval, got {other:?}"),
    }
}

const READ_WRITE_READ: &str = r#"
    const before = await ledger.read("a");
    const random = Math.random();
    const now = Date.now();
    const written = await ledger.write("a", `${random} ${now} ${new Date().toISOString()}`);
    const after = await ledger.read("b");
    return { before, written, after, random, now, again: Math.random() };
"#;

#[tokio::test]
async fn an_approved_run_makes_each_call_once_and_replays_its_random_numbers_and_clock() {
    let _serial = SERIAL.lock().await;
    for (name, backend) in BACKENDS.iter() {
        let approvals = Approvals::new(Arc::new(MemoryRuns::default()));
        let (reads, writes) = counts();
        let outcome = approvals.run(backend.as_ref(), request(READ_WRITE_READ)).await;
        let (run_id, args) = stopped(name, &outcome.result, "write");
        assert_eq!(counts(), (reads + 1, writes), "{name}: the first read only; nothing written");
        let logged: Vec<(&str, bool)> = outcome.calls.iter().map(|call| (call.method.as_str(), call.ok)).collect();
        assert_eq!(logged, [("read", true), ("write", false)], "{name}");

        let outcome = approvals.decide(backend.as_ref(), None, &run_id, Decision::Approve).await.unwrap();
        let result = outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        // The first read came from the record; the write and the second read happened, once each.
        assert_eq!(counts(), (reads + 2, writes + 1), "{name}");
        let replayed: Vec<bool> = outcome.calls.iter().map(|call| call.replayed).collect();
        assert_eq!(replayed, [true, false, false], "{name}");
        // The replay drew the same random number and read the same clock as the stopped run.
        let written = args[1].as_str().unwrap();
        let (random, now) = (result["random"].as_f64().unwrap(), result["now"].as_u64().unwrap());
        assert!(written.starts_with(&format!("{random} {now} ")), "{name}: {written} vs {result}");
        assert!((0.0..1.0).contains(&random) && result["again"] != result["random"], "{name}: {result}");
        assert_eq!(result["written"], json!(format!("wrote a={written}")), "{name}");
        assert_eq!(result["before"], "value of a", "{name}");

        // A run id is used once.
        let again = approvals.decide(backend.as_ref(), None, &run_id, Decision::Approve).await.unwrap_err();
        assert!(matches!(again, ApprovalError::NotFound { .. }), "{name}: {again:?}");
        assert_eq!(counts(), (reads + 2, writes + 1), "{name}");
    }
}

/// A run that may stop for approval replays deterministically, and the wasm guest leaves granting it to the prelude:
/// its globals must be what every other run's are.
#[tokio::test]
async fn a_replaying_run_has_the_same_globals_as_any_other() {
    let code = crate::capabilities::GLOBALS_PROBE.replace("NAMES", r#"["ledger"]"#);
    for (name, backend) in BACKENDS.iter() {
        let approvals = Approvals::new(Arc::new(MemoryRuns::default()));
        let outcome = approvals.run(backend.as_ref(), request(&code)).await;
        let result = outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_eq!(result, json!([crate::capabilities::fixed_hidden_global(&["ledger"])]), "{name}");
    }
}

#[tokio::test]
async fn each_stop_is_decided_in_turn_and_a_denial_is_an_error_the_program_catches() {
    let _serial = SERIAL.lock().await;
    let code = r#"
        await ledger.write("first", "1");
        let second;
        try { second = await ledger.write("second", "2"); } catch (error) { second = "caught: " + error.message; }
        return { second, read: await ledger.read("x") };
    "#;
    for (name, backend) in BACKENDS.iter() {
        let approvals = Approvals::new(Arc::new(MemoryRuns::default()));
        let (reads, writes) = counts();
        let outcome = approvals.run(backend.as_ref(), request(code)).await;
        let (first, _) = stopped(name, &outcome.result, "write");
        let outcome = approvals.decide(backend.as_ref(), None, &first, Decision::Approve).await.unwrap();
        let (second, args) = stopped(name, &outcome.result, "write");
        assert_eq!(args, json!(["second", "2"]), "{name}");
        assert_ne!(first, second, "{name}: a new stop has a new run id");
        assert_eq!(counts(), (reads, writes + 1), "{name}");
        let deny = Decision::Deny { reason: Some("not today".into()) };
        let outcome = approvals.decide(backend.as_ref(), None, &second, deny).await.unwrap();
        assert_eq!(
            outcome.result.unwrap(),
            json!({"second": "caught: ledger.write was denied: not today", "read": "value of x"}),
            "{name}"
        );
        assert_eq!(counts(), (reads + 1, writes + 1), "{name}: the first write was not made again");
    }
}

/// Stopped runs in memory, whose records a test can rewrite.
#[derive(Default)]
struct Tampered(MemoryRuns);

#[async_trait]
impl PendingRuns for Tampered {
    async fn put(&self, tenant: &str, run_id: &str, record: String, expires_at: u64) -> Result<(), String> {
        // The recorded call to `read` had other arguments: the replay does not take the recorded path.
        let record = record.replace(r#"[\"a\"]"#, r#"[\"z\"]"#);
        self.0.put(tenant, run_id, record, expires_at).await
    }

    async fn get(&self, tenant: &str, run_id: &str) -> Result<Option<String>, String> {
        self.0.get(tenant, run_id).await
    }

    async fn take(&self, tenant: &str, run_id: &str) -> Result<bool, String> {
        self.0.take(tenant, run_id).await
    }
}

#[tokio::test]
async fn a_replay_that_diverges_stops_without_making_the_approved_call() {
    let _serial = SERIAL.lock().await;
    for (name, backend) in BACKENDS.iter() {
        let approvals = Approvals::new(Arc::new(Tampered::default()));
        let (reads, writes) = counts();
        let outcome = approvals.run(backend.as_ref(), request(READ_WRITE_READ)).await;
        let (run_id, _) = stopped(name, &outcome.result, "write");
        let outcome = approvals.decide(backend.as_ref(), None, &run_id, Decision::Approve).await.unwrap();
        match outcome.result {
            Err(SandboxError::Capability { message }) => {
                assert!(
                    message.starts_with("the replay of this run diverged: call 1 was ledger.read"),
                    "{name}: {message}"
                )
            }
            other => panic!("{name}: expected a divergence, got {other:?}"),
        }
        assert_eq!(counts(), (reads + 1, writes), "{name}: nothing made past the divergence");
    }
}

#[tokio::test]
async fn a_call_needing_approval_stops_a_run_made_without_approvals_and_runs_are_kept_per_tenant() {
    let _serial = SERIAL.lock().await;
    for (name, backend) in BACKENDS.iter() {
        let (_, writes) = counts();
        let outcome = backend.run(&request(r#"await ledger.write("k", "v"); return 1;"#)).await;
        match &outcome.result {
            Err(error @ SandboxError::ApprovalRequired(stop)) if stop.run_id.is_none() => {
                assert!(error.to_string().starts_with("ledger.write needs approval"), "{name}: {error}")
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(counts().1, writes, "{name}");

        let approvals = Approvals::new(Arc::new(MemoryRuns::default()));
        let outcome = approvals.run(backend.as_ref(), request(READ_WRITE_READ).with_tenant("alice")).await;
        let (run_id, _) = stopped(name, &outcome.result, "write");
        for tenant in [None, Some("bob")] {
            let error = approvals.decide(backend.as_ref(), tenant, &run_id, Decision::Approve).await.unwrap_err();
            assert!(matches!(error, ApprovalError::NotFound { .. }), "{name}: {error:?}");
        }
        let other: &dyn Backend = BACKENDS.iter().find(|(other, _)| other != name).unwrap().1.as_ref();
        let error = approvals.decide(other, Some("alice"), &run_id, Decision::Approve).await.unwrap_err();
        assert!(matches!(error, ApprovalError::WrongBackend { .. }), "{name}: {error:?}");
        let outcome = approvals.decide(backend.as_ref(), Some("alice"), &run_id, Decision::Approve).await.unwrap();
        assert!(outcome.is_ok(), "{name}: {:?}", outcome.result);
    }
}

#[test]
fn a_function_marked_for_approval_says_so_to_the_model() {
    let mut capabilities = Capabilities::new();
    capabilities.register(ledger()).unwrap();
    let typescript = capabilities.typescript(&["ledger"]).unwrap();
    assert!(typescript.contains("Needs approval: the run stops before this call"), "{typescript}");
    assert!(!typescript.contains("@approval"), "{typescript}");
    assert!(capabilities.needs_approval(&["ledger"]));
    let error = capabilities.require_approval("ledger", ["erase"]).expect_err("no such function");
    assert_eq!(error.to_string(), "`ledger` has no function `erase` to mark as needing approval");
}
