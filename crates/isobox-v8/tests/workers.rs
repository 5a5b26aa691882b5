//! The V8 backend's worker processes: programs that would kill or wedge an in-process V8 end in their documented error,
//! and the backend serves the next request; capability calls cross the channel; budgets hold on the host's side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use isobox_capabilities::{CallError, Capabilities, Capability};
use isobox_core::{Backend, Budget, Limits, Outcome, Request, SandboxError};
use isobox_v8::{V8Backend, V8Config};
use serde_json::{Value, json};

const WIT: &str = r#"
package test:probe;

interface probe {
    /// Returns its argument.
    echo: func(text: string) -> string;
    /// Fails with `message`.
    fail: func(message: string) -> string;
}
"#;

fn capabilities() -> Capabilities {
    let probe = Capability::from_wit("probe.wit", WIT, "probe")
        .unwrap()
        .func("echo", |_, (text,): (String,)| async move { Ok::<_, CallError>(text) })
        .func("fail", |_, (message,): (String,)| async move { Err::<String, _>(CallError::new(message)) });
    let mut capabilities = Capabilities::new();
    capabilities.register(probe).unwrap();
    capabilities
}

fn backend(config: V8Config) -> V8Backend {
    V8Backend::new(V8Config { capabilities: capabilities(), ..config })
        .unwrap_or_else(|error| panic!("the V8 backend does not start: {error}"))
}

fn with_timeout(ms: u64) -> Limits {
    Limits { timeout: Duration::from_millis(ms), ..Limits::default() }
}

fn kind(outcome: &Outcome) -> Option<&'static str> {
    outcome.error().map(SandboxError::kind)
}

/// The backend still serves an ordinary request.
async fn serves(backend: &V8Backend) {
    let outcome = backend.run(&Request::new("return 6 * 7").with_limits(with_timeout(30_000))).await;
    assert_eq!(outcome.result.unwrap(), json!(42));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programs_that_kill_an_in_process_v8_end_in_their_error() {
    let backend = backend(V8Config::default());
    let cases = [
        // Flattening a maximum-length rope in one builtin call: V8 aborts on memory exhaustion.
        (r#"const s = "\u20ac".repeat(2**28-12); const t = s + s; return t.indexOf("x")"#, "memory"),
        // (Three of them make a string longer than V8 allows: a RangeError, not a memory error.)
        (r#"const s = "\u20ac".repeat(2**29-24); const t = s + s + s; return t.indexOf("x")"#, "exception"),
        // One allocation far past the limit, which V8 grants without asking.
        (r#"return "x".repeat(2**29-24).indexOf("y")"#, "memory"),
        // A builtin that never checks for termination.
        ("return Array.prototype.indexOf.call({length: 1e12}, 1)", "timeout"),
    ];
    for (code, expected) in cases {
        let began = Instant::now();
        let outcome = backend.run(&Request::new(code).with_limits(with_timeout(2_000))).await;
        assert_eq!(kind(&outcome), Some(expected), "`{code}`: {:?}", outcome.result);
        assert!(began.elapsed() < Duration::from_secs(10), "`{code}` took {:?}", began.elapsed());
        serves(&backend).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_ignoring_programs_do_not_wedge_the_backend() {
    let backend = Arc::new(backend(V8Config::default()));
    let began = Instant::now();
    let tasks: Vec<_> = (0..70)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move {
                let request = Request::new("return Array.prototype.indexOf.call({length: 1e12}, 1)")
                    .with_limits(with_timeout(300));
                backend.run(&request).await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        match outcome.error() {
            Some(SandboxError::Timeout { budget: Budget::WallClock, .. }) => {}
            other => panic!("expected a wall-clock timeout, got {other:?}"),
        }
    }
    // Each ends within its deadline plus the grace period and the kill, however many there are.
    assert!(began.elapsed() < Duration::from_secs(20), "70 timeouts took {:?}", began.elapsed());
    serves(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capability_calls_cross_the_channel() {
    let backend = backend(V8Config::default());
    let run = |code: &str, limits: Limits| {
        let request = Request::new(code).with_grants(["probe"]).with_limits(limits);
        let backend = &backend;
        async move { backend.run(&request).await }
    };
    let outcome = run("return await probe.echo('héllo \\u0001')", Limits::default()).await;
    assert_eq!(outcome.result.unwrap(), json!("héllo \u{1}"));

    let outcome =
        run("try { await probe.fail('no luck') } catch (e) { return [e.name, e.message] }", Limits::default()).await;
    assert_eq!(outcome.result.unwrap(), json!(["Error", "no luck"]));

    let outcome = run(
        "try { await probe.echo(42) } catch (e) { return [e.name, e instanceof TypeError, e.message] }",
        Limits::default(),
    )
    .await;
    let result = outcome.result.unwrap();
    assert_eq!(result[0], "TypeError");
    assert_eq!(result[1], true);
    assert!(result[2].as_str().unwrap().contains("probe.echo"), "{result}");

    let limits = Limits { host_calls: 3, ..Limits::default() };
    let outcome = run("for (let i = 0; ; i++) await probe.echo(String(i))", limits).await;
    assert_eq!(
        outcome.result.unwrap_err(),
        SandboxError::Capability { message: "the program made more than 3 host calls".into() }
    );

    // Logs written before and between calls arrive in order.
    let outcome = run("console.log('a'); await probe.echo('x'); console.warn('b'); return 1", Limits::default()).await;
    let lines: Vec<_> = outcome.logs.iter().map(|line| (line.level.as_str(), line.message.as_str())).collect();
    assert_eq!(lines, [("log", "a"), ("warn", "b")]);
    serves(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_payloads_and_escaped_logs_count_against_the_output_budget() {
    let backend = backend(V8Config::default());
    for code in [
        "throw 'e'.repeat(8 << 20)",
        // (The stack is read first: V8 writes the message into it, and the prelude's stack clean-up is slow on lines
        // of megabytes.)
        "const e = new Error('x'); e.stack; e.message = 'e'.repeat(8 << 20); throw e",
    ] {
        let outcome = backend.run(&Request::new(code)).await;
        assert_eq!(kind(&outcome), Some("output_limit"), "`{code}`: {:?}", outcome.result);
    }

    // 200,000 control characters are 1.2 MB once escaped in the JSON report: past the 1 MiB default.
    let outcome = backend.run(&Request::new("console.log('\\u0001'.repeat(200000)); return 1")).await;
    assert_eq!(kind(&outcome), Some("output_limit"), "{:?}", outcome.result);

    // 100,000 of them fit, counted as the 600,000 bytes they take there.
    let outcome = backend.run(&Request::new("console.log('\\u0001'.repeat(100000)); return 1")).await;
    assert_eq!(outcome.result.unwrap(), json!(1));
    assert_eq!(outcome.logs[0].message.len(), 100_000);
    assert_eq!(outcome.metrics.output_bytes, 600_000 + 1);

    // An ordinary error still fits, and is reported as it was thrown.
    let outcome = backend.run(&Request::new("throw new RangeError('small')")).await;
    assert!(matches!(outcome.error(), Some(SandboxError::Exception { name, .. }) if name == "RangeError"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_slot_ends_at_the_deadline() {
    let backend = Arc::new(backend(V8Config { max_sandboxes: 1, ..V8Config::default() }));
    let long = {
        let backend = backend.clone();
        tokio::spawn(async move { backend.run(&Request::new("for (;;) {}").with_limits(with_timeout(3_000))).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let began = Instant::now();
    let outcome = backend.run(&Request::new("return 1").with_limits(with_timeout(200))).await;
    let waited = began.elapsed();
    assert!(
        matches!(outcome.error(), Some(SandboxError::Timeout { budget: Budget::WallClock, .. })),
        "{:?}",
        outcome.result
    );
    assert!(waited < Duration::from_millis(1_500), "waited {waited:?}");
    assert_eq!(kind(&long.await.unwrap()), Some("timeout"));
    serves(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_ends_its_program() {
    let backend = backend(V8Config { max_sandboxes: 1, ..V8Config::default() });
    let request = Request::new("for (;;) {}").with_limits(with_timeout(60_000));
    let dropped = tokio::time::timeout(Duration::from_millis(300), backend.run(&request)).await;
    assert!(dropped.is_err(), "the endless program finished");
    // The only slot is free again at once: the next request does not wait for the first one's deadline.
    let began = Instant::now();
    serves(&backend).await;
    assert!(began.elapsed() < Duration::from_secs(20), "the next request took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limits_hold_in_workers() {
    let backend = backend(V8Config::default());
    let cases = [
        "const a = []; for (;;) a.push({ n: a.length })",
        "const a = []; for (;;) a.push(new ArrayBuffer(1 << 20))",
        "const a = []; for (;;) a.push(new Array(1 << 16).fill(a.length))",
    ];
    for code in cases {
        let outcome = backend.run(&Request::new(code).with_limits(with_timeout(10_000))).await;
        assert_eq!(kind(&outcome), Some("memory"), "`{code}`: {:?}", outcome.result);
    }
    // A request with a larger limit than the isolates made ahead gets its own.
    let limits = Limits { memory_bytes: 128 << 20, ..Limits::default() };
    let code = "const a = new Uint8Array(100 << 20); a.fill(1); return a[a.length - 1]";
    let outcome = backend.run(&Request::new(code).with_limits(limits)).await;
    assert_eq!(outcome.result.unwrap(), Value::from(1));
    serves(&backend).await;
}
