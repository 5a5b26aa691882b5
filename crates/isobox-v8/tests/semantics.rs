//! Code Mode semantics on the V8 backend: the program is an async function body with `input`, its `return` is the
//! result, and its console is captured.

mod common;

use common::*;
use isobox_core::{Backend, Level, Limits, LogLine, Request};
use serde_json::json;

#[tokio::test]
async fn returns_json_values() {
    assert_eq!(value("return 1 + 1").await, json!(2));
    assert_eq!(
        value("return {a: [1, 'two', null, true], b: {c: 1.5}}").await,
        json!({"a": [1, "two", null, true], "b": {"c": 1.5}})
    );
    assert_eq!(value("return 'text'").await, json!("text"));
    assert_eq!(value("return [NaN, Infinity, -0]").await, json!([null, null, 0]));
}

#[tokio::test]
async fn no_return_gives_null() {
    assert_eq!(value("const x = 1;").await, json!(null));
    assert_eq!(value("return undefined").await, json!(null));
    assert_eq!(value("return () => 1").await, json!(null));
}

#[tokio::test]
async fn top_level_await_and_promise_chains_run_to_completion() {
    let code = "
        const order = [];
        const later = (v) => Promise.resolve().then(() => { order.push(v); return v });
        const [a, b] = await Promise.all([later(1), later(2)]);
        queueMicrotask?.(() => order.push('micro'));
        await null;
        order.push('end');
        return { sum: a + b, order };
    ";
    let result = value(code).await;
    assert_eq!(result["sum"], 3);
    assert_eq!(result["order"], json!([1, 2, "micro", "end"]));
}

#[tokio::test]
async fn queue_microtask_behaves_as_in_the_wasm_backend() {
    assert_eq!(value("queueMicrotask(() => { throw new Error('ignored') }); await null; return 1").await, json!(1));
    let error = error("queueMicrotask(1)").await;
    assert_eq!(error.kind(), "exception", "{error:?}");
}

#[tokio::test]
async fn jobs_left_once_the_promise_settles_do_not_run() {
    // An endless chain of promise jobs in the background does not keep the request alive.
    let code = "let n = 0; (function again() { n++; Promise.resolve().then(again) })(); await null; return n > 0";
    assert_eq!(value(code).await, json!(true));
}

#[tokio::test]
async fn input_is_passed_as_json() {
    let request =
        Request::new("return { doubled: input.n * 2, name: input.name }").with_input(json!({"n": 21, "name": "ada"}));
    let outcome = backend().run(&request).await;
    assert_eq!(outcome.result.unwrap(), json!({"doubled": 42, "name": "ada"}));
}

#[tokio::test]
async fn input_is_undefined_when_absent() {
    assert_eq!(value("return typeof input").await, json!("undefined"));
}

#[tokio::test]
async fn console_lines_are_captured_with_their_level() {
    let outcome = run("console.log('a', 1, {b: [2]}); console.info('i'); console.warn('w'); console.error('e'); console.debug('d'); return 0").await;
    assert!(outcome.is_ok());
    let want = [
        (Level::Log, "a 1 {\"b\": [2]}"),
        (Level::Info, "i"),
        (Level::Warn, "w"),
        (Level::Error, "e"),
        (Level::Debug, "d"),
    ];
    let want: Vec<LogLine> =
        want.into_iter().map(|(level, message)| LogLine { level, message: message.into() }).collect();
    assert_eq!(outcome.logs, want);
}

#[tokio::test]
async fn console_formats_values_readably() {
    let outcome = run("const o = {}; o.self = o; console.log(undefined, null, 10n, [1, [2]], new Map([[1, 2]]), o, () => 1); return 0").await;
    assert_eq!(
        outcome.logs[0].message,
        "undefined null 10n [1, [2]] Map(1) {1 => 2} {\"self\": [Circular]} [Function anonymous]"
    );
}

#[tokio::test]
async fn console_shows_errors_with_their_frames_once() {
    let outcome = run("const e = new Error('boom'); console.log(e); return 0").await;
    assert_eq!(outcome.logs[0].message, "Error: boom\n    at agent.js:1:11");
}

#[tokio::test]
async fn logs_are_kept_when_the_program_fails() {
    let outcome = run("console.log('before'); throw new Error('boom')").await;
    assert_eq!(outcome.error().unwrap().kind(), "exception");
    assert_eq!(outcome.logs[0].message, "before");
}

#[tokio::test]
async fn logs_are_kept_when_the_program_times_out() {
    let outcome = run_with("console.log('before'); for (;;) {}", short_timeout()).await;
    assert_eq!(outcome.error().unwrap().kind(), "timeout");
    assert_eq!(outcome.logs[0].message, "before");
}

#[tokio::test]
async fn unicode_round_trips_through_code_input_result_and_logs() {
    let text = "héllo wörld — 日本語 — 🦀 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";
    let request = Request::new("const s = '🦀 ' + input; console.log(s); return { s, length: [...s].length }")
        .with_input(json!(text));
    let outcome = backend().run(&request).await;
    let result = outcome.result.unwrap();
    assert_eq!(result["s"], format!("🦀 {text}"));
    assert_eq!(result["length"], text.chars().count() + 2);
    assert_eq!(outcome.logs[0].message, format!("🦀 {text}"));
}

#[tokio::test]
async fn lone_surrogates_do_not_break_the_outcome() {
    let outcome = run("console.log('\\ud800 lone'); return '\\udc00'").await;
    assert_eq!(outcome.result.unwrap(), json!("\u{fffd}"));
    assert_eq!(outcome.logs[0].message, "\u{fffd} lone");
}

#[tokio::test]
async fn a_result_just_under_the_output_limit_is_returned() {
    let limits = Limits { output_bytes: 100_000, ..Limits::default() };
    // 99,998 characters plus two quotes: exactly at the limit.
    let outcome = run_with("return 'x'.repeat(99998)", limits.clone()).await;
    assert_eq!(outcome.result.unwrap().as_str().unwrap().len(), 99_998);
    assert_eq!(outcome.metrics.output_bytes, 100_000);
    let over = run_with("return 'x'.repeat(99999)", limits).await;
    assert_eq!(over.error().unwrap().kind(), "output_limit");
}

#[tokio::test]
async fn metrics_describe_the_run() {
    let outcome = run("console.log('12345'); return [1,2,3]").await;
    let metrics = &outcome.metrics;
    assert_eq!(metrics.backend, "v8");
    assert_eq!(backend().name(), "v8");
    assert!(metrics.start_us > 0, "{metrics:?}");
    assert!(metrics.total_us >= metrics.start_us + metrics.run_us, "{metrics:?}");
    // A fresh context's heap is about 1 MiB.
    assert!(metrics.memory_bytes >= 256 << 10, "{metrics:?}");
    assert_eq!(metrics.output_bytes, 5 + "[1,2,3]".len() as u64);
    assert_eq!(metrics.fuel_used, None);
}

#[tokio::test]
async fn the_language_is_modern_javascript() {
    let code = r#"
        class Point { #x; constructor(x) { this.#x = x } get x() { return this.#x } }
        function* gen() { yield 1; yield 2 }
        const { a, ...rest } = { a: 1, b: 2, c: 3 };
        const re = /(?<year>\d{4})-(?<month>\d{2})/u.exec('2026-11');
        return {
            point: new Point(3).x,
            gen: [...gen()],
            rest,
            big: (2n ** 64n).toString(),
            set: [...new Set([1, 1, 2])],
            typed: Array.from(new Uint8Array([1, 2, 300])),
            year: re.groups.year,
            optional: ({})?.missing?.deep ?? 'default',
            date: new Date(0).toISOString(),
            encoded: new TextEncoder().encode('é').length,
        };
    "#;
    assert_eq!(
        value(code).await,
        json!({
            "point": 3, "gen": [1, 2], "rest": {"b": 2, "c": 3}, "big": "18446744073709551616", "set": [1, 2],
            "typed": [1, 2, 44], "year": "2026", "optional": "default", "date": "1970-01-01T00:00:00.000Z", "encoded": 2
        })
    );
}

#[tokio::test]
async fn text_encoding_matches_the_wasm_backend() {
    let code = r#"
        const decoder = new TextDecoder();
        return [
            Array.from(new TextEncoder().encode('é\ud800')),
            decoder.decode(new Uint8Array([0xff, 0x41])),
            decoder.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])),
            new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])).length,
            decoder.decode(),
            decoder.decode(new Uint8Array([1, 2, 0x68, 0x69, 3]).subarray(2, 4)),
            decoder.decode(new DataView(new Uint8Array([65]).buffer)),
            decoder.decode(new TextEncoder().encode('日本語 🦀').buffer),
            [decoder.encoding, decoder.fatal, decoder.ignoreBOM, new TextEncoder().encoding],
        ];
    "#;
    assert_eq!(
        value(code).await,
        json!([
            [195, 169, 239, 191, 189],
            "\u{fffd}A",
            "A",
            2,
            "",
            "hi",
            "A",
            "日本語 🦀",
            ["utf-8", false, false, "utf-8"]
        ])
    );
}

#[tokio::test]
async fn text_decoding_refuses_what_the_wasm_backend_refuses() {
    let cases = [
        ("new TextDecoder('latin1')", "RangeError", "The encoding label provided must be utf-8"),
        (
            "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff]))",
            "TypeError",
            "The encoded data was not valid utf-8",
        ),
        (
            "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xed, 0xa0, 0x80]))",
            "TypeError",
            "The encoded data was not valid utf-8",
        ),
        (
            "new TextDecoder().decode('text')",
            "TypeError",
            "The provided value is not of type '(ArrayBuffer or ArrayBufferView)'",
        ),
        ("new TextEncoder().encodeInto('a', new Uint8Array(1))", "Error", "encodeInto is not supported"),
    ];
    for (code, want_name, want_message) in cases {
        let error = error(code).await;
        let isobox_core::SandboxError::Exception { name, message, .. } = &error else { panic!("`{code}`: {error:?}") };
        assert_eq!((name.as_str(), message.as_str()), (want_name, want_message), "`{code}`");
    }
    // Valid input passes the fatal check.
    assert_eq!(
        value("return new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode('ok 🦀'))").await,
        json!("ok 🦀")
    );
}

#[tokio::test]
async fn nothing_outside_the_sandbox_is_reachable() {
    let result = value(
        "return [typeof require, typeof process, typeof fetch, typeof Deno, typeof std, typeof os, typeof Javy, \
         typeof WebAssembly, typeof setTimeout]",
    )
    .await;
    assert_eq!(
        result,
        json!([
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined"
        ])
    );
}

#[tokio::test]
async fn atomics_wait_cannot_block_the_sandbox() {
    let error = error("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)").await;
    assert_eq!(error.kind(), "exception", "{error:?}");
}
