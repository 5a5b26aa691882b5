//! Nothing survives from one request to the next, and the host stays usable after every failure.

mod common;

use common::*;
use isobox::Limits;
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
async fn memory_does_not_carry_over() {
    // A request that grows its memory leaves the next one with the snapshot's size.
    let big = run("const keep = new Uint8Array(32 << 20); keep.fill(1); return keep.length").await;
    assert!(big.metrics.memory_bytes > 32 << 20);
    let small = run("return 1").await;
    assert!(small.metrics.memory_bytes < 8 << 20, "{}", small.metrics.memory_bytes);
}

#[tokio::test]
async fn the_host_stays_usable_after_every_limit() {
    let tight = Limits { memory_bytes: 16 << 20, output_bytes: 1000, fuel: Some(5_000_000), ..short_timeout() };
    let hostile = [
        "for (;;) {}",
        "let s = 'x'; for (;;) s += s",
        "function f() { f() } f()",
        "for (;;) console.log('spam')",
        "let i = 0; while (true) i++",
        "return 'x'.repeat(5000)",
        "syntax error here",
        "throw new Error('boom')",
    ];
    for code in hostile {
        let outcome = run_with(code, tight.clone()).await;
        assert!(!outcome.is_ok(), "`{code}` should fail");
        assert_eq!(value("return 40 + 2").await, json!(42), "after `{code}`");
    }
}
