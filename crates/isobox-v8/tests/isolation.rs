//! Nothing survives from one request to the next, and the host stays usable after every failure.

mod common;

use std::time::Duration;

use common::*;
use isobox_core::{Backend, Limits, Request};
use isobox_v8::{V8Backend, V8Config};
use serde_json::json;

#[tokio::test]
async fn globals_and_prototypes_do_not_leak_between_requests() {
    let polluted = value(
        "globalThis.secret = 'from request 1';
         Object.prototype.injected = 1;
         Array.prototype.map = () => 'hijacked';
         JSON.stringify = () => '\"hijacked\"';
         console.log = () => {};
         return 'polluted'",
    )
    .await;
    assert_eq!(polluted, json!("polluted"), "the result is serialised with the original JSON.stringify");

    let clean = value(
        "return [typeof secret, ({}).injected, [1, 2].map(x => x * 2), JSON.stringify({a: 1}), typeof console.log]",
    )
    .await;
    assert_eq!(clean, json!(["undefined", null, [2, 4], "{\"a\":1}", "function"]));
}

#[tokio::test]
async fn replaced_intrinsics_do_not_change_how_the_outcome_is_reported() {
    let outcome = run("JSON.stringify = () => 'hijacked'; String.prototype.replace = () => 'hijacked';
         Array.prototype.join = () => 'hijacked'; console.log('still', 'formatted');
         throw new Error('reported')")
    .await;
    assert_eq!(outcome.logs[0].message, "still formatted");
    let isobox_core::SandboxError::Exception { message, stack, .. } = outcome.result.unwrap_err() else {
        panic!("not an exception")
    };
    assert_eq!(message, "reported");
    assert_eq!(stack.as_deref(), Some("    at agent.js:3:16"));
}

#[tokio::test]
async fn memory_does_not_carry_over() {
    // A request that grows its memory leaves the next one with a fresh heap.
    let big = run("const keep = new Uint8Array(32 << 20); keep.fill(1); return keep.length").await;
    assert!(big.metrics.memory_bytes > 32 << 20);
    let small = run("return 1").await;
    assert!(small.metrics.memory_bytes < 8 << 20, "{}", small.metrics.memory_bytes);
}

#[tokio::test]
async fn the_host_stays_usable_after_every_limit() {
    let tight = Limits { memory_bytes: 16 << 20, output_bytes: 1000, stack_bytes: 64 << 10, ..short_timeout() };
    let hostile = [
        "for (;;) {}",
        "const a = []; for (;;) a.push({})",
        "return new ArrayBuffer(1 << 30)",
        "function f() { f() } f()",
        "for (;;) console.log('spam')",
        "let i = 0; while (true) i++",
        "return 'x'.repeat(5000)",
        "syntax error here",
        "throw new Error('boom')",
        "await new Promise(() => {})",
    ];
    for code in hostile {
        let outcome = run_with(code, tight.clone()).await;
        assert!(!outcome.is_ok(), "`{code}` should fail");
        assert_eq!(value("return 40 + 2").await, json!(42), "after `{code}`");
    }
}

/// A request whose future is dropped (its caller gave up) has its program terminated, which frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_stops_its_program() {
    let backend: &'static V8Backend = Box::leak(Box::new(
        V8Backend::new(V8Config { max_sandboxes: 1, ..V8Config::default() }).expect("the V8 backend starts"),
    ));
    let endless = Limits { timeout: Duration::from_secs(3600), ..Limits::default() };
    let request = Request::new("for (;;) {}").with_limits(endless);
    let mut looping = Box::pin(backend.run(&request));
    // Poll it once: the free slot is taken at once, and the program starts on its thread.
    tokio::select! {
        biased;
        _ = &mut looping => panic!("an endless program ended"),
        _ = std::future::ready(()) => {}
    }
    drop(looping);
    // With the only slot freed, the next request runs. (The bound turns a broken cancellation into a failure rather
    // than an hour-long hang; it is not a performance assertion.)
    let next = tokio::time::timeout(Duration::from_secs(60), backend.run(&Request::new("return 'next'")))
        .await
        .expect("the dropped request's program was not stopped");
    assert_eq!(next.result.unwrap(), json!("next"));
}
