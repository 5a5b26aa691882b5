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
async fn json_parse_reads_numbers_as_the_language_does() {
    // Integers, -0, numbers past int32 and past 2^53, fractions, exponents and malformed numbers (the wasm guest's
    // QuickJS reads short integers with its own faster code; V8 is the reference). Expected: Node 20.
    let code = r#"
        const texts = ["0", "-0", "7", "-7", "2147483647", "2147483648", "-2147483648", "-2147483649", "999999999999999",
          "-999999999999999", "9007199254740993", "-9999999999999999", "12345678901234567890", "1.5", "-0.0", "1e3", "1E-3",
          "0e5", "-0e0", "123456789012345.5", "00", "01", "-", "+1", "1.", "1e", "--1", "1 2", "-a", " 42 ", "[1,-0,2147483648,{\"a\":-5}]"];
        const out = texts.map((text) => {
          let v;
          try { v = JSON.parse(text); } catch (e) { return [text, e.name]; }
          if (typeof v !== "number") return [text, JSON.stringify(v), Object.is(v[1], -0), v[2] + 1, v[3].a * 3];
          return [text, String(v), Object.is(v, -0), v + 1, v * 3, v | 0, String(1 / v), JSON.stringify({ v })];
        });
        return out;
    "#;
    let expected: serde_json::Value = serde_json::from_str(
        r#"[
         ["0", "0", false, 1, 0, 0, "Infinity", "{\"v\":0}"],
         ["-0", "0", true, 1, 0, 0, "-Infinity", "{\"v\":0}"],
         ["7", "7", false, 8, 21, 7, "0.14285714285714285", "{\"v\":7}"],
         ["-7", "-7", false, -6, -21, -7, "-0.14285714285714285", "{\"v\":-7}"],
         ["2147483647", "2147483647", false, 2147483648, 6442450941, 2147483647, "4.656612875245797e-10", "{\"v\":2147483647}"],
         ["2147483648", "2147483648", false, 2147483649, 6442450944, -2147483648, "4.656612873077393e-10", "{\"v\":2147483648}"],
         ["-2147483648", "-2147483648", false, -2147483647, -6442450944, -2147483648, "-4.656612873077393e-10", "{\"v\":-2147483648}"],
         ["-2147483649", "-2147483649", false, -2147483648, -6442450947, 2147483647, "-4.656612870908988e-10", "{\"v\":-2147483649}"],
         ["999999999999999", "999999999999999", false, 1000000000000000, 2999999999999997, -1530494977, "1.000000000000001e-15", "{\"v\":999999999999999}"],
         ["-999999999999999", "-999999999999999", false, -999999999999998, -2999999999999997, 1530494977, "-1.000000000000001e-15", "{\"v\":-999999999999999}"],
         ["9007199254740993", "9007199254740992", false, 9007199254740992, 27021597764222976, 0, "1.1102230246251565e-16", "{\"v\":9007199254740992}"],
         ["-9999999999999999", "-10000000000000000", false, -10000000000000000, -30000000000000000, -1874919424, "-1e-16", "{\"v\":-10000000000000000}"],
         ["12345678901234567890", "12345678901234567000", false, 12345678901234567000, 37037036703703700000, -350287872, "8.100000072900001e-20", "{\"v\":12345678901234567000}"],
         ["1.5", "1.5", false, 2.5, 4.5, 1, "0.6666666666666666", "{\"v\":1.5}"],
         ["-0.0", "0", true, 1, 0, 0, "-Infinity", "{\"v\":0}"],
         ["1e3", "1000", false, 1001, 3000, 1000, "0.001", "{\"v\":1000}"],
         ["1E-3", "0.001", false, 1.001, 0.003, 0, "1000", "{\"v\":0.001}"],
         ["0e5", "0", false, 1, 0, 0, "Infinity", "{\"v\":0}"],
         ["-0e0", "0", true, 1, 0, 0, "-Infinity", "{\"v\":0}"],
         ["123456789012345.5", "123456789012345.5", false, 123456789012346.5, 370370367037036.5, -2045911175, "8.100000072900012e-15", "{\"v\":123456789012345.5}"],
         ["00", "SyntaxError"],
         ["01", "SyntaxError"],
         ["-", "SyntaxError"],
         ["+1", "SyntaxError"],
         ["1.", "SyntaxError"],
         ["1e", "SyntaxError"],
         ["--1", "SyntaxError"],
         ["1 2", "SyntaxError"],
         ["-a", "SyntaxError"],
         [" 42 ", "42", false, 43, 126, 42, "0.023809523809523808", "{\"v\":42}"],
         ["[1,-0,2147483648,{\"a\":-5}]", "[1,0,2147483648,{\"a\":-5}]", true, 2147483649, -15]
        ]"#,
    )
    .unwrap();
    assert_eq!(value(code).await, expected);
}

#[tokio::test]
async fn temporal_dead_zone_errors_are_thrown_where_the_language_says() {
    // A `let` or `const` read or written before its declaration runs throws a ReferenceError, on every path that gets
    // there (the wasm guest's QuickJS drops the check only where every path has initialised the variable; V8 is the
    // reference). Expected: Node 20.
    let code = r#"
        const cases = {
          readBefore() { x; let x = 1; },
          writeBefore() { x = 2; let x = 1; return x; },
          typeofBefore() { return typeof x; let x; },
          selfInit() { let x = x + 1; return x; },
          constWrite() { const c = 1; c = 2; },
          switchSkip(k = 1) { switch (k) { case 0: let x = 1; break; case 1: return x; } },
          switchWrite(k = 1) { switch (k) { case 0: let q = 5; default: q = 3; return q; } },
          switchFallsIn(k = 0) { switch (k) { case 0: let x = 1; case 1: return x; } },
          loopReentry() { const seen = []; for (let i = 0; i < 3; i++) { if (i == 1) seen.push(y); let y = i; } return seen; },
          loopBody() { let t = 0; for (let i = 0; i < 5; i++) { let y = i * 2; t += y; } return t; },
          whileReentry() { let n = 0; while (n < 3) { n++; if (n == 2) return z; let z = n; } },
          doContinue() { let n = 0; do { n++; if (n < 3) continue; let z = n; return z; } while (true); },
          closureEarly() { function f() { return z; } f(); let z = 1; },
          closureLate() { function f() { return z; } let z = 1; return f(); },
          arrowSelf() { let x = (() => { try { return x; } catch (e) { return e.name; } })(); return x; },
          tryBefore() { try { w; } catch (e) { return "caught " + e.name; } let w = 1; },
          catchAssigns() { let w; try { throw 1; } catch (e) { w = 2; } return w; },
          catchReadsOuter() { let a = 1; try { let b = 2; throw b; } catch (e) { return a + e; } },
          catchReadsLater() { try { throw 0; } catch (e) { return v; } let v = 1; },
          afterTry() { let r = 0; try { r = 1; } catch { } let s = r + 1; return s; },
          finallyReadsLater() { try { return 1; } finally { f; } let f; },
          finallyCounts() { let a = 1; try { a++; } finally { a++; } return a; },
          finallyInLoop() { const out = []; for (let i = 0; i < 2; i++) { try { if (i) out.push(k); } finally { out.push("f" + i); } let k = 1; } return out; },
          continueOuter() { let t = 0; outer: for (let i = 0; i < 3; i++) { for (let j = 0; j < 3; j++) { if (j == 1) continue outer; t += j + i; } } return t; },
          classEarly() { new C(); class C {} },
          derivedThisEarly() { class A {} class B extends A { constructor() { this.x = 1; super(); } } new B(); },
          derivedThisLate() { class A {} class B extends A { constructor() { super(); this.x = 1; } } return new B().x; },
          forOfDestructure() { let t = 0; for (const [a, b] of [[1, 2], [3, 4]]) t += a * b; return t; },
          forOfSelf() { for (const a of [a]) {} },
          forInKeys() { let keys = ""; for (let k in { p: 1, q: 2 }) keys += k; return keys; },
          maybeAssigned(c = false) { let a; if (c) a = 1; return a; },
          defaultParamEarly(a = b, b = 1) { return a; },
          defaultParamLate(a = 1, b = a) { return b; },
          generatorLater() { function* g() { yield q; let q = 1; } return g().next(); },
          generatorResumes() { function* g() { let a = yield 1; let b = a + 1; yield b; } const it = g(); it.next(); return it.next(5).value; },
          closuresPerIteration() { const fs = []; for (let i = 0; i < 3; i++) fs.push(() => i); return fs.map((f) => f()).join(); },
          sumPastInt32() { let s = 0; for (let i = 1; i <= 100000; i++) s += i; return s; },
          manyLocals() {
            const names = Array.from({ length: 300 }, (_, i) => `v${i}`);
            const body = names.map((n, i) => `let ${n} = ${i};`).join("") + "let t = 0;" + names.map((n) => `t += ${n};`).join("") + "return t + late; let late = 1;";
            return new Function(body)();
          },
        };
        const out = {};
        for (const [name, f] of Object.entries(cases)) {
          try { out[name] = ["ok", f()]; } catch (e) { out[name] = ["throw", e.name]; }
        }
        async function asyncLater() { await 0; return u; let u = 1; }
        try { out.asyncLater = ["ok", await asyncLater()]; } catch (e) { out.asyncLater = ["throw", e.name]; }
        return out;
    "#;
    let expected = json!({
        "readBefore": ["throw", "ReferenceError"],
        "writeBefore": ["throw", "ReferenceError"],
        "typeofBefore": ["throw", "ReferenceError"],
        "selfInit": ["throw", "ReferenceError"],
        "constWrite": ["throw", "TypeError"],
        "switchSkip": ["throw", "ReferenceError"],
        "switchWrite": ["throw", "ReferenceError"],
        "switchFallsIn": ["ok", 1],
        "loopReentry": ["throw", "ReferenceError"],
        "loopBody": ["ok", 20],
        "whileReentry": ["throw", "ReferenceError"],
        "doContinue": ["ok", 3],
        "closureEarly": ["throw", "ReferenceError"],
        "closureLate": ["ok", 1],
        "arrowSelf": ["ok", "ReferenceError"],
        "tryBefore": ["ok", "caught ReferenceError"],
        "catchAssigns": ["ok", 2],
        "catchReadsOuter": ["ok", 3],
        "catchReadsLater": ["throw", "ReferenceError"],
        "afterTry": ["ok", 2],
        "finallyReadsLater": ["throw", "ReferenceError"],
        "finallyCounts": ["ok", 3],
        "finallyInLoop": ["throw", "ReferenceError"],
        "continueOuter": ["ok", 3],
        "classEarly": ["throw", "ReferenceError"],
        "derivedThisEarly": ["throw", "ReferenceError"],
        "derivedThisLate": ["ok", 1],
        "forOfDestructure": ["ok", 14],
        "forOfSelf": ["throw", "ReferenceError"],
        "forInKeys": ["ok", "pq"],
        "maybeAssigned": ["ok", null],
        "defaultParamEarly": ["throw", "ReferenceError"],
        "defaultParamLate": ["ok", 1],
        "generatorLater": ["throw", "ReferenceError"],
        "generatorResumes": ["ok", 6],
        "closuresPerIteration": ["ok", "0,1,2"],
        "sumPastInt32": ["ok", 5000050000u64],
        "manyLocals": ["throw", "ReferenceError"],
        "asyncLater": ["throw", "ReferenceError"]
    });
    assert_eq!(value(code).await, expected);
}

#[tokio::test]
async fn arithmetic_on_ints_and_floats_follows_the_language() {
    // Every operator on every pair of these numbers (ints, doubles, -0, NaN, infinities) gives what the same operator
    // gives on the numbers boxed as objects, which takes the engine's generic path; `l += b` on a local too.
    let code = r#"
        const values = [0, -0, 1, -1, 7, 2147483647, -2147483648, 0.5, -0.5, 1.5, 1e300, -1e300, 2 ** 53, 4294967296, NaN, Infinity, -Infinity];
        const show = (x) => (Object.is(x, -0) ? "-0" : String(x));
        const wrong = [];
        for (const a of values) {
          for (const b of values) {
            const A = Object(a), B = Object(b);
            let l = a;
            l += b;
            const got = [a + b, a - b, a * b, a < b, a <= b, a > b, a >= b, a == b, a != b, a === b, a !== b, l].map(show).join(" ");
            const want = [A + B, A - B, A * B, A < B, A <= B, A > B, A >= B, A == b, A != b, A == b, A != b, A + B].map(show).join(" ");
            if (got !== want) wrong.push(`${show(a)} ${show(b)}: ${got} instead of ${want}`);
          }
        }
        let sum = 0;
        for (let i = 1; i <= 100000; i++) sum += i;
        let product = 1;
        for (let i = 1; i <= 25; i++) product *= i + 0.5;
        let zero = -0;
        zero += 0;
        return { wrong, sum, product, zero: show(zero), mixed: [show(-0 + 0), show(-0 - 0), show(-1 * 0), 3 - 0.5, 2 * 0.25, 1 < 1.5, 2 == 2.0] };
    "#;
    let expected = json!({
        "wrong": [],
        "sum": 5000050000u64,
        "product": 8.881771307418676e25,
        "zero": "0",
        "mixed": ["0", "-0", "-0", 2.5, 0.5, true, true]
    });
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
async fn promise_jobs_follow_the_language_for_settled_promises_and_thenables() {
    // `Promise.resolve`, `Promise.reject`, `then` and `await` on settled promises, thenables (read once, followed in a
    // job), a `then` getter that throws, subclasses and a polluted `Object.prototype.then` (the wasm guest's QuickJS
    // settles such promises without the functions and records a pending one needs; V8 is the reference). Expected:
    // Node 20.
    let code = r#"
        const log = [];
        const tick = (n) => { let p = Promise.resolve(); for (let i = 0; i < n; i++) p = p.then(() => {}); return p; };
        Promise.resolve(1).then((v) => log.push("a" + v));
        Promise.reject(2).catch((v) => log.push("b" + v));
        (async () => { log.push("c0"); await 0; log.push("c1"); await Promise.resolve(); log.push("c2"); await null; log.push("c3"); })();
        (async () => { try { await Promise.reject(new Error("x")); } catch (e) { log.push("d" + e.message); } })();
        const thenable = { then(resolve) { log.push("then called"); resolve("t"); } };
        Promise.resolve(thenable).then((v) => log.push("e" + v));
        (async () => { log.push("f" + (await thenable)); })();
        const getterThen = {};
        Object.defineProperty(getterThen, "then", { get() { log.push("then read"); return undefined; } });
        Promise.resolve(getterThen).then((v) => log.push("g" + (v === getterThen)));
        const badThen = {};
        Object.defineProperty(badThen, "then", { get() { throw new TypeError("no then"); } });
        Promise.resolve(badThen).catch((e) => log.push("h" + e.message));
        const p = Promise.resolve(5);
        log.push("same " + (Promise.resolve(p) === p));
        class Sub extends Promise {}
        const s = Sub.resolve(3);
        log.push("sub " + (s instanceof Sub) + " " + (Sub.resolve(s) === s) + " " + (Promise.resolve(s) === s));
        s.then((v) => log.push("i" + v));
        Promise.reject(7).then(null, (v) => log.push("j" + v));
        const settled = Promise.resolve("k");
        (async () => { for (let i = 0; i < 3; i++) log.push("l" + (await settled) + i); })();
        Promise.all([1, Promise.resolve(2), thenable]).then((v) => log.push("m" + v.join()));
        Promise.race([Promise.reject(9), 1]).catch((v) => log.push("n" + v));
        Promise.allSettled([Promise.reject(1), 2]).then((r) => log.push("o" + r.map((x) => x.status).join()));
        await tick(20);
        Object.prototype.then = function (resolve) { log.push("proto then"); delete Object.prototype.then; resolve("polluted"); };
        Promise.resolve({}).then((v) => log.push("q" + v));
        await tick(5);
        return log;
    "#;
    let expected = json!([
        "c0",
        "then read",
        "same true",
        "sub true true false",
        "a1",
        "b2",
        "c1",
        "dx",
        "then called",
        "then called",
        "gtrue",
        "hno then",
        "i3",
        "j7",
        "lk0",
        "then called",
        "c2",
        "et",
        "ft",
        "lk1",
        "n9",
        "orejected,fulfilled",
        "c3",
        "lk2",
        "m1,2,t",
        "proto then",
        "qpolluted"
    ]);
    assert_eq!(value(code).await, expected);
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
