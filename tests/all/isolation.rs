//! Nothing survives from one request to the next, and the host stays usable after every failure — on every backend.

use crate::common;

use std::time::Duration;

use common::*;
use isobox::{Limits, Request, SandboxError};
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
    let code = "JSON.stringify = () => 'hijacked'; String.prototype.replace = () => 'hijacked';
         Array.prototype.join = () => 'hijacked'; console.log('still', 'formatted');
         throw new Error('reported')";
    for (name, outcome) in run(code).await {
        assert_eq!(outcome.logs[0].message, "still formatted", "{name}");
        let Err(SandboxError::Exception { message, stack, .. }) = outcome.result else { panic!("{name}") };
        assert_eq!(message, "reported", "{name}");
        assert!(stack.unwrap().contains("agent.js:3:"), "{name}");
    }
}

#[tokio::test]
async fn memory_does_not_carry_over() {
    // A request that grows its memory leaves the next one with a fresh sandbox's size.
    for (name, outcome) in run("const keep = new Uint8Array(32 << 20); keep.fill(1); return keep.length").await {
        assert!(outcome.metrics.memory_bytes > 32 << 20, "{name}: {:?}", outcome.metrics);
    }
    for (name, outcome) in run("return 1").await {
        assert!(outcome.metrics.memory_bytes < 8 << 20, "{name}: {:?}", outcome.metrics);
    }
}

#[tokio::test]
async fn the_host_stays_usable_after_every_limit() {
    let tight = Limits { memory_bytes: 16 << 20, output_bytes: 1000, stack_bytes: 64 << 10, ..short_timeout() };
    let hostile = [
        "for (;;) {}",
        "const a = []; for (;;) a.push({})",
        "return new ArrayBuffer(1 << 30)",
        "let s = 'x'; for (;;) s += s",
        "function f() { f() } f()",
        "for (;;) console.log('spam')",
        "let i = 0; while (true) i++",
        "return 'x'.repeat(5000)",
        "syntax error here",
        "throw new Error('boom')",
        "await new Promise(() => {})",
    ];
    for code in hostile {
        for (name, outcome) in run_with(code, tight.clone()).await {
            assert!(!outcome.is_ok(), "{name}: `{code}` should fail");
        }
        assert_eq!(value("return 40 + 2").await, json!(42), "after `{code}`");
    }
}

/// A request whose future is dropped (its caller gave up) stops its program, which frees its sandbox slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_stops_its_program() {
    for (name, backend) in backends_with(&isobox::Capabilities::new(), Some(1)) {
        let endless = Limits { timeout: Duration::from_secs(3600), ..Limits::default() };
        let request = Request::new("for (;;) {}").with_limits(endless);
        let mut looping = Box::pin(backend.run(&request));
        // Poll it once: the free slot is taken at once, and the program starts.
        tokio::select! {
            biased;
            _ = &mut looping => panic!("{name}: an endless program ended"),
            _ = std::future::ready(()) => {}
        }
        drop(looping);
        // With the only slot freed, the next request runs. (The bound turns a broken cancellation into a failure
        // rather than an hour-long hang; it is not a performance assertion.)
        let next = tokio::time::timeout(Duration::from_secs(60), backend.run(&Request::new("return 'next'")))
            .await
            .unwrap_or_else(|_| panic!("{name}: the dropped request's program was not stopped"));
        assert_eq!(next.result.unwrap(), json!("next"), "{name}");
    }
}

#[tokio::test]
async fn v8_sandboxes_made_ahead_serve_one_request_each() {
    for warm_sandboxes in [0, 1] {
        let backend = isobox::V8Backend::new(isobox::V8Config { warm_sandboxes, ..Default::default() }).unwrap();
        let mut made_ahead = 0;
        for round in 0..10 {
            // A pause lets the sandbox thread make its next isolate, so that most requests find one ready.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let request = Request::new(format!("const seen = typeof leaked; globalThis.leaked = {round}; return seen"));
            let outcome = isobox::Backend::run(&backend, &request).await;
            assert_eq!(outcome.result.unwrap(), json!("undefined"), "round {round}, {warm_sandboxes} made ahead");
            // Making an isolate takes milliseconds; a sandbox made ahead is only attached to the request.
            if outcome.metrics.start_us < 500 {
                made_ahead += 1;
            }
        }
        if warm_sandboxes > 0 {
            assert!(made_ahead > 0, "no request found a sandbox made ahead");
        }
    }
}
