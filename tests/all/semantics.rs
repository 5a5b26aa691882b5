//! Code Mode semantics, the same on every backend: the program is an async function body with `input`, its `return`
//! is the result, its console is captured, and the language is the same modern JavaScript.

use crate::common;

use common::*;
use isobox::{Level, Limits, LogLine, Request};
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
async fn json_stringify_follows_the_language() {
    // What a program can observe of JSON.stringify, from keys handed to toJSON and replacers to the order of proxy
    // traps (the wasm guest's QuickJS serialises with its own faster code; V8 is the reference). Expected: Node 20.
    let code = r#"
        const out = {};
        const attempt = (f) => { try { return f(); } catch (e) { return e instanceof TypeError ? "TypeError" : "other"; } };
        out.nested = JSON.stringify({ a: 1, b: [1, { c: [], d: {} }, [[[]]]], e: { f: { g: "h" } }, u: undefined, fn() {} });
        out.primitives = JSON.stringify([1, -0, 1.5, NaN, -Infinity, true, null, undefined, "s", () => 1, Symbol("x")]);
        out.escapes = JSON.stringify({ 'k"\\\n\u0001': "a\"b\\c\n\t\r\b\f\u001f\u2028 é 日本 😀" });
        out.keyOrder = JSON.stringify({ b: 1, 2: "two", a: 2, 1: "one", "-1": 3, "01": 4 });
        const hidden = { shown: 1 };
        Object.defineProperty(hidden, "hidden", { value: 2, enumerable: false });
        hidden[Symbol("s")] = 3;
        out.ownEnumerableOnly = JSON.stringify([hidden, Object.create({ inherited: 1 })]);
        const keyed = (k) => `${typeof k}:${k}`;
        out.toJSONKeys = JSON.stringify({ a: { toJSON: keyed }, 5: { toJSON: keyed }, list: [{ toJSON: keyed }, 0, { toJSON: keyed }], top: 1 });
        out.toJSONTop = JSON.stringify({ toJSON: keyed });
        const seen = [];
        out.replacer = JSON.stringify({ a: 1, b: [2, { c: 3 }] }, function (k, v) {
          seen.push(`${typeof k}:${k}:${Array.isArray(this) ? "array" : Object.keys(this).join("|")}`);
          return typeof v === "number" ? v * 10 : v;
        });
        out.replacerSaw = seen;
        out.replacerDrops = JSON.stringify({ a: 1, b: 2, c: [1, 2] }, (k, v) => (k === "a" || k === "0" ? undefined : v));
        out.propertyList = JSON.stringify({ a: 1, b: 2, 3: 4, c: { a: 5, z: 6 } }, ["a", 3, new String("c"), "a", "missing"]);
        out.indented = JSON.stringify({ a: [1, { b: 2 }, []], c: {} }, null, 2) + JSON.stringify([{ a: 1 }], null, "--");
        out.wrappers = JSON.stringify([new Number(3), new String("s"), new Boolean(false), new Date(0)]);
        out.sparse = JSON.stringify([, 1, , undefined]);
        out.cycle = attempt(() => { const o = {}; o.o = [o]; return JSON.stringify(o); });
        out.shared = JSON.stringify((() => { const s = { v: 1 }; return { a: s, b: [s, s] }; })());
        out.afterThrow = attempt(() => JSON.stringify({ a: { toJSON() { throw new TypeError("no"); } } })) + JSON.stringify((() => { const p = {}; return [p, { p }]; })());
        out.mutation = JSON.stringify({ a: 1, get b() { delete this.c; this.z = 9; return 2; }, c: 3, d: 4 });
        const traps = [];
        const handler = {};
        for (const trap of ["get", "ownKeys", "getOwnPropertyDescriptor"]) {
          handler[trap] = (...args) => { traps.push(`${trap}:${typeof args[1] === "symbol" ? "symbol" : args[1]}`); return Reflect[trap](...args); };
        }
        out.proxies = JSON.stringify([new Proxy({ a: 1, b: { c: 2 }, 3: "x" }, handler), new Proxy([1, 2], handler)]);
        out.traps = traps;
        out.bigint = attempt(() => JSON.stringify({ n: 1n }));
        return out;
    "#;
    let expected: serde_json::Value = serde_json::from_str(
        r#"
        {
         "nested": "{\"a\":1,\"b\":[1,{\"c\":[],\"d\":{}},[[[]]]],\"e\":{\"f\":{\"g\":\"h\"}}}",
         "primitives": "[1,0,1.5,null,null,true,null,null,\"s\",null,null]",
         "escapes": "{\"k\\\"\\\\\\n\\u0001\":\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u001f\u2028 \u00e9 \u65e5\u672c \ud83d\ude00\"}",
         "keyOrder": "{\"1\":\"one\",\"2\":\"two\",\"b\":1,\"a\":2,\"-1\":3,\"01\":4}",
         "ownEnumerableOnly": "[{\"shown\":1},{}]",
         "toJSONKeys": "{\"5\":\"string:5\",\"a\":\"string:a\",\"list\":[\"string:0\",0,\"string:2\"],\"top\":1}",
         "toJSONTop": "\"string:\"",
         "replacer": "{\"a\":10,\"b\":[20,{\"c\":30}]}",
         "replacerSaw": [
          "string::",
          "string:a:a|b",
          "string:b:a|b",
          "string:0:array",
          "string:1:array",
          "string:c:c"
         ],
         "replacerDrops": "{\"b\":2,\"c\":[null,2]}",
         "propertyList": "{\"a\":1,\"3\":4,\"c\":{\"a\":5}}",
         "indented": "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    },\n    []\n  ],\n  \"c\": {}\n}[\n--{\n----\"a\": 1\n--}\n]",
         "wrappers": "[3,\"s\",false,\"1970-01-01T00:00:00.000Z\"]",
         "sparse": "[null,1,null,null]",
         "cycle": "TypeError",
         "shared": "{\"a\":{\"v\":1},\"b\":[{\"v\":1},{\"v\":1}]}",
         "afterThrow": "TypeError[{},{\"p\":{}}]",
         "mutation": "{\"a\":1,\"b\":2,\"d\":4}",
         "proxies": "[{\"3\":\"x\",\"a\":1,\"b\":{\"c\":2}},[1,2]]",
         "traps": [
          "get:toJSON",
          "ownKeys:undefined",
          "getOwnPropertyDescriptor:3",
          "getOwnPropertyDescriptor:a",
          "getOwnPropertyDescriptor:b",
          "get:3",
          "get:a",
          "get:b",
          "get:toJSON",
          "get:length",
          "get:0",
          "get:1"
         ],
         "bigint": "TypeError"
        }
        "#,
    )
    .unwrap();
    assert_eq!(value(code).await, expected);
}

#[tokio::test]
async fn numbers_come_back_as_the_very_same_doubles() {
    // The shortest text of each double, which a parser must read back exactly (some are off by one unit otherwise).
    let doubles = [0.9357625565025955, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 1e23];
    let code = "return [0.9357625565025955, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 1e23]";
    let returned = value(code).await;
    let returned: Vec<u64> = returned.as_array().unwrap().iter().map(|n| n.as_f64().unwrap().to_bits()).collect();
    assert_eq!(returned, doubles.map(f64::to_bits));
}

#[tokio::test]
async fn no_return_gives_null() {
    assert_eq!(value("const x = 1;").await, json!(null));
    assert_eq!(value("return undefined").await, json!(null));
    assert_eq!(value("return () => 1").await, json!(null));
}

#[tokio::test]
async fn top_level_await_and_promise_chains_run_in_order() {
    let code = "
        const order = [];
        const later = (v) => Promise.resolve().then(() => { order.push(v); return v });
        const [a, b] = await Promise.all([later(1), later(2)]);
        queueMicrotask(() => order.push('micro'));
        await null;
        order.push('end');
        return { sum: a + b, order };
    ";
    assert_eq!(value(code).await, json!({"sum": 3, "order": [1, 2, "micro", "end"]}));
}

#[tokio::test]
async fn promise_jobs_interleave_as_the_language_says() {
    let code = "
        const log = [];
        Promise.resolve().then(() => log.push('a1')).then(() => log.push('a2'));
        Promise.resolve().then(() => log.push('b1')).then(() => log.push('b2'));
        (async () => { log.push('sync'); await null; log.push('async') })();
        log.push('main');
        await new Promise(resolve => queueMicrotask(resolve));
        await null; await null;
        return log;
    ";
    assert_eq!(value(code).await, json!(["sync", "main", "a1", "b1", "async", "a2", "b2"]));
}

#[tokio::test]
async fn queue_microtask_ignores_a_throwing_job_and_checks_its_argument() {
    assert_eq!(value("queueMicrotask(() => { throw new Error('ignored') }); await null; return 1").await, json!(1));
    for (name, error) in errors("queueMicrotask(1)").await {
        assert_eq!(error.kind(), "exception", "{name}: {error:?}");
    }
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
    for (name, backend) in all() {
        let outcome = backend.run(&request).await;
        assert_eq!(outcome.result.unwrap(), json!({"doubled": 42, "name": "ada"}), "{name}");
    }
}

#[tokio::test]
async fn input_is_undefined_when_absent() {
    assert_eq!(value("return typeof input").await, json!("undefined"));
}

#[tokio::test]
async fn console_lines_are_captured_with_their_level() {
    let code = "console.log('a', 1, {b: [2]}); console.info('i'); console.warn('w'); console.error('e'); \
                console.debug('d'); return 0";
    let want = [
        (Level::Log, "a 1 {\"b\": [2]}"),
        (Level::Info, "i"),
        (Level::Warn, "w"),
        (Level::Error, "e"),
        (Level::Debug, "d"),
    ];
    let want: Vec<LogLine> =
        want.into_iter().map(|(level, message)| LogLine { level, message: message.into() }).collect();
    for (name, outcome) in run(code).await {
        assert!(outcome.is_ok(), "{name}");
        assert_eq!(outcome.logs, want, "{name}");
    }
}

#[tokio::test]
async fn console_formats_values_readably() {
    let code = "const o = {}; o.self = o; console.log(undefined, null, 10n, [1, [2]], new Map([[1, 2]]), o, () => 1)";
    for (name, outcome) in run(code).await {
        assert_eq!(
            outcome.logs[0].message,
            "undefined null 10n [1, [2]] Map(1) {1 => 2} {\"self\": [Circular]} [Function anonymous]",
            "{name}"
        );
    }
}

/// Stack frames are each engine's own (a documented difference): both name the program's file and line, QuickJS
/// points at the callee and names anonymous functions `<anonymous>`, V8 points at the `new` and leaves them unnamed.
#[tokio::test]
async fn console_shows_errors_with_their_frames_once() {
    for (name, outcome) in run("const e = new Error('boom'); console.log(e); return 0").await {
        let want = match name {
            "wasm" => "Error: boom\n    at <anonymous> (agent.js:1:15)\n",
            _ => "Error: boom\n    at agent.js:1:11",
        };
        assert_eq!(outcome.logs[0].message, want, "{name}");
    }
}

#[tokio::test]
async fn logs_are_kept_when_the_program_fails() {
    for (name, outcome) in run("console.log('before'); throw new Error('boom')").await {
        assert_eq!(outcome.error().unwrap().kind(), "exception", "{name}");
        assert_eq!(outcome.logs[0].message, "before", "{name}");
    }
}

#[tokio::test]
async fn logs_are_kept_when_the_program_times_out() {
    for (name, outcome) in run_with("console.log('before'); for (;;) {}", short_timeout()).await {
        assert_eq!(outcome.error().unwrap().kind(), "timeout", "{name}");
        assert_eq!(outcome.logs[0].message, "before", "{name}");
    }
}

#[tokio::test]
async fn unicode_round_trips_through_code_input_result_and_logs() {
    let text = "héllo wörld — 日本語 — 🦀 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";
    let request = Request::new("const s = '🦀 ' + input; console.log(s); return { s, length: [...s].length }")
        .with_input(json!(text));
    for (name, backend) in all() {
        let outcome = backend.run(&request).await;
        assert_eq!(outcome.logs[0].message, format!("🦀 {text}"), "{name}");
        let result = outcome.result.unwrap();
        assert_eq!(result, json!({"s": format!("🦀 {text}"), "length": text.chars().count() + 2}), "{name}");
    }
}

#[tokio::test]
async fn lone_surrogates_do_not_break_the_outcome() {
    for (name, outcome) in run("console.log('\\ud800 lone'); return '\\udc00'").await {
        assert_eq!(outcome.logs[0].message, "\u{fffd} lone", "{name}");
        assert_eq!(outcome.result.unwrap(), json!("\u{fffd}"), "{name}");
    }
}

#[tokio::test]
async fn a_result_just_under_the_output_limit_is_returned() {
    let limits = Limits { output_bytes: 100_000, ..Limits::default() };
    // 99,998 characters plus two quotes: exactly at the limit.
    for (name, outcome) in run_with("return 'x'.repeat(99998)", limits.clone()).await {
        assert_eq!(outcome.metrics.output_bytes, 100_000, "{name}");
        assert_eq!(outcome.result.unwrap().as_str().unwrap().len(), 99_998, "{name}");
    }
    for (name, error) in errors_with("return 'x'.repeat(99999)", limits).await {
        assert_eq!(error.kind(), "output_limit", "{name}");
    }
}

#[tokio::test]
async fn metrics_describe_the_run() {
    for (name, outcome) in run("console.log('12345'); return [1,2,3]").await {
        let metrics = &outcome.metrics;
        assert_eq!(metrics.backend, name);
        assert!(metrics.total_us >= metrics.start_us + metrics.run_us, "{name}: {metrics:?}");
        // A fresh sandbox's memory: the wasm guest's linear memory, or a fresh V8 context's heap.
        assert!(metrics.memory_bytes >= 256 << 10, "{name}: {metrics:?}");
        assert_eq!(metrics.output_bytes, 5 + "[1,2,3]".len() as u64, "{name}");
        assert_eq!(metrics.fuel_used, None, "{name}");
    }
}

#[tokio::test]
async fn the_language_is_modern_javascript() {
    let code = r#"
        class Point { #x; constructor(x) { this.#x = x } get x() { return this.#x } static origin() { return new Point(0) } }
        class Point3 extends Point { constructor(x, z) { super(x); this.z = z } }
        function* gen() { yield 1; yield 2 }
        async function* agen() { yield 'a'; yield 'b' }
        const fromAsync = []; for await (const v of agen()) fromAsync.push(v);
        const { a, ...rest } = { a: 1, b: 2, c: 3 };
        const [first, , third = 'default'] = [1, 2];
        const re = /(?<year>\d{4})-(?<month>\d{2})/u.exec('2026-11');
        const map = new Map([['k', 1]]); map.set('l', 2);
        const weak = new WeakMap(); const key = {}; weak.set(key, 'w');
        return {
            point: new Point3(3, 4).x + Point.origin().x, gen: [...gen()], fromAsync, rest, first, third,
            big: (2n ** 64n).toString(), bigMath: (10n ** 20n / 7n).toString(),
            set: [...new Set([1, 1, 2])], map: Object.fromEntries(map), weak: weak.get(key),
            typed: Array.from(new Uint8Array([1, 2, 300])), float: new Float64Array([0.5])[0],
            view: new DataView(new Uint8Array([1, 2]).buffer).getUint16(0),
            year: re.groups.year, replaced: 'a-b-c'.replaceAll('-', '+'), sticky: /b/y.test('ab'),
            optional: ({})?.missing?.deep ?? 'default', logical: (() => { let x = null; x ??= 5; return x })(),
            date: new Date(Date.UTC(2026, 10, 26, 12)).toISOString(), parsedDate: Date.parse('2026-11-26T00:00:00Z'),
            json: JSON.parse(JSON.stringify({ n: 1.5, s: 'é', nested: [true, null] })),
            sorted: [3, 1, 2].sort(), at: [1, 2, 3].at(-1), flat: [[1], [2, [3]]].flat(2),
            entries: Object.entries({ x: 1 }), spread: Math.max(...[1, 5, 3]), encoded: new TextEncoder().encode('é').length,
            symbol: typeof Symbol.iterator, proxy: new Proxy({}, { get: (_, p) => p }).hello,
            label: `${1 + 1} tagged`, padded: '7'.padStart(3, '0'), unicode: '𝔘'.codePointAt(0),
        };
    "#;
    assert_eq!(
        value(code).await,
        json!({
            "point": 3, "gen": [1, 2], "fromAsync": ["a", "b"], "rest": {"b": 2, "c": 3}, "first": 1, "third": "default",
            "big": "18446744073709551616", "bigMath": "14285714285714285714", "set": [1, 2], "map": {"k": 1, "l": 2},
            "weak": "w", "typed": [1, 2, 44], "float": 0.5, "view": 258, "year": "2026", "replaced": "a+b+c",
            "sticky": false, "optional": "default", "logical": 5, "date": "2026-11-26T12:00:00.000Z",
            "parsedDate": 1_795_651_200_000_u64, "json": {"n": 1.5, "s": "é", "nested": [true, null]},
            "sorted": [1, 2, 3], "at": 3, "flat": [1, 2, 3], "entries": [["x", 1]], "spread": 5, "encoded": 2,
            "symbol": "symbol", "proxy": "hello", "label": "2 tagged", "padded": "007", "unicode": 120088,
        })
    );
}

/// The engines' libraries differ (a documented difference): QuickJS has ES2023's array additions, V8 10.2 (from
/// Node 18) stops at ES2022 but has `Intl` and `WeakRef`, which QuickJS lacks.
#[tokio::test]
async fn the_standard_libraries_differ_where_documented() {
    let code = "return [typeof [].toSorted, typeof [].with, typeof [].findLast, typeof Intl, typeof WeakRef]";
    for (name, outcome) in run(code).await {
        let want = match name {
            "wasm" => json!(["function", "function", "function", "undefined", "undefined"]),
            _ => json!(["undefined", "undefined", "function", "object", "function"]),
        };
        assert_eq!(outcome.result.unwrap(), want, "{name}");
    }
}

#[tokio::test]
async fn text_encoding_is_utf8_only() {
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
async fn text_decoding_refuses_what_it_cannot_do() {
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
        for (backend, error) in errors(code).await {
            let isobox::SandboxError::Exception { name, message, .. } = &error else {
                panic!("{backend}: `{code}`: {error:?}")
            };
            assert_eq!((name.as_str(), message.as_str()), (want_name, want_message), "{backend}: `{code}`");
        }
    }
    // Valid input passes the fatal check.
    assert_eq!(
        value("return new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode('ok 🦀'))").await,
        json!("ok 🦀")
    );
}

#[tokio::test]
async fn nothing_outside_the_sandbox_is_reachable() {
    let globals = ["require", "process", "fetch", "Deno", "std", "os", "Javy", "WebAssembly", "setTimeout", "Bun"];
    let code = format!("return [{}]", globals.map(|name| format!("typeof {name}")).join(", "));
    assert_eq!(value(&code).await, json!(globals.map(|_| "undefined")));
}

#[tokio::test]
async fn atomics_wait_cannot_block_the_sandbox() {
    for (name, error) in errors("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000)").await {
        assert_eq!(error.kind(), "exception", "{name}: {error:?}");
    }
}
