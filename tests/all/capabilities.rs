//! Capabilities end to end, on every backend with the same expectations: WIT-declared host functions called from a
//! sandbox, with every value checked on the way. Each case runs on each backend in turn; a failure names the backend.

use crate::common;

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use common::Backends;
use isobox::{Backend, CallError, Capabilities, Capability, Limits, Outcome, Request, SandboxError};
use serde_json::{Value, json};

fn echo() -> Capability {
    let echo = Capability::from_wit("echo.wit", include_str!("../wit/echo.wit"), "echo").unwrap();
    let echoed = [
        "echo-bool",
        "echo-u8",
        "echo-s16",
        "echo-u32",
        "echo-s64",
        "echo-u64",
        "echo-f32",
        "echo-f64",
        "echo-char",
        "echo-string",
        "echo-list",
        "echo-option",
        "echo-tuple",
        "echo-record",
        "echo-variant",
        "echo-enum",
        "echo-flags",
    ];
    let echo = echoed
        .iter()
        .fold(echo, |echo, name| echo.func(name, |_, (v,): (Value,)| async move { Ok::<_, CallError>(v) }));
    echo.func("echo-result", |_, (v,): (Value,)| async move {
        match (v.get("ok"), v.get("err")) {
            (Some(ok), _) => Ok(ok.clone()),
            (_, Some(err)) => Err(CallError::with_data(format!("echoed error {err}"), err)),
            _ => unreachable!("checked against the WIT type"),
        }
    })
    .func("pair", |_, (a, b): (String, Option<u32>)| async move { Ok::<_, CallError>(format!("{a}:{b:?}")) })
    .func("fail", |_, (message,): (String,)| async move { Err::<String, _>(CallError::new(message)) })
    .func("broken", |_, ()| async move { Ok::<_, CallError>(42) })
    .func("slow", |_, (ms,): (u32,)| async move {
        tokio::time::sleep(Duration::from_millis(ms.into())).await;
        Ok::<_, CallError>(ms)
    })
    .func("nothing", |_, ()| async move { Ok::<_, CallError>(()) })
    .with_secret_fields(["label"])
}

/// How many functions `wide` has: as many as a large REST API's operations.
const WIDE_FUNCTIONS: u32 = 2_000;

/// A capability of [`WIDE_FUNCTIONS`] functions, `op0` … `op1999`, each returning its own number plus its argument.
fn wide() -> Capability {
    let declarations: String = (0..WIDE_FUNCTIONS).map(|i| format!("op{i}: func(n: u32) -> u32; ")).collect();
    let wit = format!("package t:wide; interface wide {{ {declarations} }}");
    let wide = Capability::from_wit("wide.wit", &wit, "wide").unwrap();
    (0..WIDE_FUNCTIONS).fold(wide, |wide, i| {
        wide.func(&format!("op{i}"), move |_, (n,): (u32,)| async move { Ok::<_, CallError>(i + n) })
    })
}

/// Every backend, with `echo`, the demo `shop` and `wide`.
static BACKENDS: LazyLock<Backends> = LazyLock::new(|| {
    let mut capabilities = Capabilities::new();
    capabilities.register(echo()).unwrap();
    capabilities.register(isobox::shop::capability()).unwrap();
    capabilities.register(wide()).unwrap();
    common::backends(&capabilities)
});

fn backends() -> &'static [(&'static str, Arc<dyn Backend>)] {
    &BACKENDS
}

async fn run(backend: &dyn Backend, code: &str, grants: &[&str]) -> Outcome {
    backend.run(&Request::new(code).with_grants(grants.iter().copied())).await
}

/// The result of a program granted `echo`, which must succeed.
async fn value(name: &str, backend: &dyn Backend, code: &str) -> Value {
    let outcome = run(backend, code, &["echo"]).await;
    outcome.result.unwrap_or_else(|error| panic!("{name}: `{code}`: {error:?}"))
}

#[tokio::test]
async fn every_wit_type_round_trips() {
    let cases = [
        ("echoBool", json!(true)),
        ("echoU8", json!(255)),
        ("echoS16", json!(-32768)),
        ("echoU32", json!(4294967295u32)),
        ("echoS64", json!(-9007199254740991i64)),
        ("echoU64", json!(9007199254740991u64)),
        ("echoF32", json!(1.5)),
        ("echoF64", json!(-0.125)),
        ("echoChar", json!("🦀")),
        ("echoString", json!("héllo\nwörld")),
        ("echoString", json!("nul \u{0} inside, 🦀 outside the BMP, \u{FFFD}")),
        ("echoString", json!("")),
        ("echoList", json!([1, 2, 3])),
        ("echoList", json!([])),
        ("echoOption", json!(null)),
        ("echoOption", json!("some")),
        ("echoTuple", json!(["a", 7, false])),
        ("echoRecord", json!({"x": -3, "yCoord": 2.5, "label": "p"})),
        ("echoVariant", json!({"tag": "poly", "val": [{"x": 1, "yCoord": 2.5, "label": null}]})),
        ("echoVariant", json!({"tag": "dot"})),
        ("echoEnum", json!("dark-blue")),
        ("echoFlags", json!(["read", "exec"])),
        ("echoResult", json!({"ok": 5})),
        // Replies the wasm guest reads without QuickJS's JSON parser (a word, an integer of up to nine digits, a string
        // of printable ASCII without escapes), beside ones just past that.
        ("echoBool", json!(false)),
        ("echoU8", json!(0)),
        ("echoS64", json!(-1)),
        ("echoS64", json!(999999999)),
        ("echoS64", json!(-999999999)),
        ("echoS64", json!(1000000000)),
        ("echoS64", json!(-2147483648i64)),
        ("echoS64", json!(2147483648i64)),
        ("echoString", json!(" ~plain text~ ")),
        ("echoString", json!("a \"quoted\" word, a back\\slash")),
        ("echoString", json!("tab\there, del \u{7f}, é")),
    ];
    for (name, backend) in backends() {
        for (method, input) in &cases {
            let code = format!("return await echo.{method}({input})");
            let expected = if *method == "echoResult" { json!(5) } else { input.clone() };
            assert_eq!(value(name, &**backend, &code).await, expected, "{name}: {method}({input})");
        }
    }
}

#[tokio::test]
async fn optional_record_fields_and_trailing_arguments_may_be_left_out() {
    for (name, backend) in backends() {
        let backend = &**backend;
        let record = value(name, backend, "return await echo.echoRecord({x: 1, yCoord: 2.5})").await;
        assert_eq!(record, json!({"x": 1, "yCoord": 2.5}), "{name}");
        assert_eq!(value(name, backend, "return await echo.pair('a')").await, json!("a:None"), "{name}");
        assert_eq!(value(name, backend, "return await echo.pair('a', 3)").await, json!("a:Some(3)"), "{name}");
        assert_eq!(value(name, backend, "return await echo.nothing()").await, json!(null), "{name}");
    }
}

#[tokio::test]
async fn wrong_arguments_throw_a_type_error_naming_function_parameter_and_type() {
    let cases = [
        ("echo.echoU8(256)", "echo.echoU8: argument `v` must be integer (u8), got number"),
        ("echo.echoU8('1')", "echo.echoU8: argument `v` must be integer (u8), got string"),
        ("echo.echoU64(2 ** 60)", "echo.echoU64: argument `v` must be integer (u64), got number"),
        ("echo.echoChar('ab')", "echo.echoChar: argument `v` must be string of one character (char), got string"),
        ("echo.echoRecord({x: 1, yCoord: 'no'})", "echo.echoRecord: argument `v.yCoord` must be number, got string"),
        (
            "echo.echoRecord({x: 1, yCoord: 1, z: 0})",
            "echo.echoRecord: argument `v.z` must be no such field in Point, got number",
        ),
        ("echo.echoList([1, -1])", "echo.echoList: argument `v[1]` must be integer (u32), got number"),
        ("echo.echoEnum('green')", "echo.echoEnum: argument `v` must be Color, got string"),
        ("echo.echoVariant({tag: 'circle'})", "echo.echoVariant: argument `v.val` must be number, got null"),
        ("echo.echoBool()", "echo.echoBool expects 1 argument(s) (v), got 0"),
        ("echo.pair()", "echo.pair expects 1 to 2 argument(s) (a, b), got 0"),
        ("echo.pair('a', 1, 2)", "echo.pair expects 1 to 2 argument(s) (a, b), got 3"),
        // JSON.stringify escapes a lone surrogate, which is not Unicode: the host refuses it as it arrives.
        ("echo.echoString('\\ud800')", "echo.echoString: arguments are not JSON values"),
    ];
    for (name, backend) in backends() {
        for (call, message) in cases {
            let code = format!(
                "try {{ await {call}; return 'no error' }} catch (e) {{ return [e.name, e.message, e instanceof TypeError] }}"
            );
            assert_eq!(value(name, &**backend, &code).await, json!(["TypeError", message, true]), "{name}: {call}");
        }
    }
}

#[tokio::test]
async fn calls_reject_their_promise_rather_than_throw() {
    let code = "const p = echo.echoU8(-1); const kind = p instanceof Promise; \
                try { await p } catch (e) { return [kind, e.name] }";
    for (name, backend) in backends() {
        assert_eq!(value(name, &**backend, code).await, json!([true, "TypeError"]), "{name}");
    }
}

#[tokio::test]
async fn an_uncaught_type_error_is_an_exception() {
    for (name, backend) in backends() {
        let error = run(&**backend, "await echo.echoU8(-1)", &["echo"]).await.result.unwrap_err();
        let SandboxError::Exception { name: error_name, message, .. } = error else { panic!("{name}: {error:?}") };
        assert_eq!(error_name, "TypeError", "{name}");
        assert_eq!(message, "echo.echoU8: argument `v` must be integer (u8), got number", "{name}");
    }
}

#[tokio::test]
async fn host_errors_reach_javascript_as_errors() {
    for (name, backend) in backends() {
        let backend = &**backend;
        let failed = value(
            name,
            backend,
            "try { await echo.fail('no such thing') } catch (e) { return [e.name, e.message, 'data' in e] }",
        )
        .await;
        assert_eq!(failed, json!(["Error", "no such thing", false]), "{name}");
        let result_err = value(
            name,
            backend,
            "try { await echo.echoResult({err: 'bad'}) } catch (e) { return [e.message, e.data] }",
        )
        .await;
        assert_eq!(result_err, json!(["echoed error \"bad\"", "bad"]), "{name}");
        let broken = value(name, backend, "try { await echo.broken() } catch (e) { return e.message }").await;
        assert_eq!(
            broken,
            json!("echo.broken returned a value that does not match its declared type: expected string, got number"),
            "{name}"
        );
    }
}

/// The arguments reach the host as `JSON.stringify([...args])` makes them, with whatever a program has planted where the
/// serialisation of that array looks: each argument's `toJSON` is given its index; a `toJSON` on `Array.prototype` (a
/// getter, read once a call) or on `Object.prototype`, or a proxy on the array's prototype chain, serialises the array
/// itself; with them gone, calls are as before. (The wasm guest serialises the arguments without making the array
/// when nothing on that chain could see it.)
#[tokio::test]
async fn arguments_are_serialised_as_the_array_of_them_would_be() {
    let code = "
        const plain = await echo.pair({ toJSON(key) { return 'key ' + key } }, 7);
        const second = await echo.pair('a', { toJSON(key) { return Number(key) } });
        let reads = 0;
        Object.defineProperty(Array.prototype, 'toJSON', { configurable: true, get() {
            reads++;
            return function () { return ['from Array.prototype', this.length] };
        } });
        const planted = await echo.pair('x', 5, 6);
        Object.defineProperty(Array.prototype, 'toJSON', { configurable: true, value: () => undefined });
        const nothing = await echo.pair('u').catch((e) => [e.name, e.message]);
        delete Array.prototype.toJSON;
        Object.prototype.toJSON = function () { return Array.isArray(this) ? ['from Object.prototype'] : 'no' };
        const inherited = await echo.pair('y');
        delete Object.prototype.toJSON;
        const trap = { get(target, key, receiver) {
            return key === 'toJSON' ? () => ['from a proxy'] : Reflect.get(target, key, receiver);
        } };
        Object.setPrototypeOf(Array.prototype, new Proxy(Object.create(Object.prototype), trap));
        const proxied = await echo.pair('z');
        Object.setPrototypeOf(Array.prototype, Object.prototype);
        const after = await echo.pair('w', 3);
        return [plain, second, planted, reads, nothing, inherited, proxied, after]";
    for (name, backend) in backends() {
        let outcome = run(&**backend, code, &["echo"]).await;
        let expected = json!([
            "key 0:Some(7)",
            "a:Some(1)",
            "from Array.prototype:Some(3)",
            1,
            ["TypeError", "echo.pair: arguments are not JSON values"],
            "from Object.prototype:None",
            "from a proxy:None",
            "w:Some(3)",
        ]);
        assert_eq!(outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}")), expected, "{name}");
        let args: Vec<&Value> = outcome.calls.iter().map(|call| &call.args).collect();
        assert_eq!(args[2], &json!(["from Array.prototype", 3]), "{name}");
    }
}

#[tokio::test]
async fn calls_serialise_arguments_and_replies_as_the_language_does_whatever_a_program_replaces() {
    // A program's own `JSON.stringify` and `JSON.parse` change neither what the host receives nor what the program gets
    // back; an argument's `toJSON` is the language's and is honoured, and one that throws rejects the call with the
    // program's own error before any call is made.
    let code = "JSON.stringify = () => '[\"forged\"]'; JSON.parse = () => 'forged';
        const label = { toJSON() { return 'via toJSON' } };
        const record = await echo.echoRecord({ x: 1, yCoord: 2.5, label });
        const failed = await echo.fail('bad').catch((e) => [e.name, e.message]);
        const bad = { toJSON() { throw new RangeError('from toJSON') } };
        const thrown = await echo.echoString(bad).catch((e) => [e.name, e.message, e instanceof RangeError]);
        return [record, failed, thrown]";
    for (name, backend) in backends() {
        let outcome = run(&**backend, code, &["echo"]).await;
        let expected = json!([
            {"x": 1, "yCoord": 2.5, "label": "via toJSON"},
            ["Error", "bad"],
            ["RangeError", "from toJSON", true],
        ]);
        assert_eq!(outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}")), expected, "{name}");
        let made: Vec<&str> = outcome.calls.iter().map(|call| call.method.as_str()).collect();
        assert_eq!(made, ["echoRecord", "fail"], "{name}");
    }
}

#[tokio::test]
async fn only_granted_capabilities_exist() {
    let code = "return [typeof echo, typeof shop, typeof globalThis.echo]";
    for (name, backend) in backends() {
        let backend = &**backend;
        let none = run(backend, code, &[]).await.result.unwrap();
        assert_eq!(none, json!(["undefined", "undefined", "undefined"]), "{name}");
        let shop = run(backend, code, &["shop"]).await.result.unwrap();
        assert_eq!(shop, json!(["undefined", "object", "undefined"]), "{name}");
        let both = run(backend, code, &["echo", "shop"]).await.result.unwrap();
        assert_eq!(both, json!(["object", "object", "object"]), "{name}");
        let methods = run(backend, "return Object.keys(echo).length", &["echo"]).await.result.unwrap();
        assert_eq!(methods, json!(23), "{name}");
    }
}

#[tokio::test]
async fn granted_capabilities_are_frozen() {
    let code = "'use strict'; const tries = []; \
                for (const attempt of [() => { echo.nothing = 1 }, () => { echo = {} }, () => { delete globalThis.echo }]) \
                  try { attempt(); tries.push('changed') } catch (e) { tries.push(e.name) } \
                return [tries, Object.isFrozen(echo), typeof echo.nothing]";
    for (name, backend) in backends() {
        let result = value(name, &**backend, code).await;
        assert_eq!(result, json!([["TypeError", "TypeError", "TypeError"], true, "function"]), "{name}");
    }
}

/// A program returning how the global object holds each granted capability's global (given as `NAMES`, a JSON array):
/// its descriptor, whether it is listed or can be replaced or deleted, and the order of the globals. Every backend,
/// and every way a backend grants (the wasm guest grants a plain manifest itself and leaves a replaying run's to the
/// prelude), must give what the prelude's `Object.defineProperty` gives.
pub(crate) const GLOBALS_PROBE: &str = r#"'use strict';
  return NAMES.map((name) => {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    const t = (f) => { try { f(); return 'done' } catch (e) { return e.name } };
    return [d.writable, d.enumerable, d.configurable, typeof d.value, d.value === globalThis[name],
      Object.keys(globalThis).includes(name), t(() => { globalThis[name] = 1 }), t(() => { delete globalThis[name] }),
      Object.getOwnPropertyNames(globalThis).filter((n) => NAMES.includes(n))];
  });"#;

/// What [`GLOBALS_PROBE`] must find for each global.
pub(crate) fn fixed_hidden_global(names: &[&str]) -> Value {
    json!([false, false, false, "object", true, false, "TypeError", "TypeError", names])
}

#[tokio::test]
async fn granted_globals_are_fixed_hidden_properties_of_the_global_object() {
    let code = GLOBALS_PROBE.replace("NAMES", r#"["echo", "shop"]"#);
    for (name, backend) in backends() {
        let outcome = run(&**backend, &code, &["echo", "shop"]).await;
        let result = outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        let expected = fixed_hidden_global(&["echo", "shop"]);
        assert_eq!(result, json!([expected, expected]), "{name}");
    }
}

/// A capability whose global the global object cannot take (`undefined` is a fixed global of every engine) fails the
/// request as `Object.defineProperty` would, with a `TypeError`, before the program runs.
#[tokio::test]
async fn a_global_that_cannot_be_defined_fails_the_request_with_a_type_error() {
    let wit = "package test:clash; interface undefined { ping: func() -> u32; }";
    let clash = Capability::from_wit("clash.wit", wit, "undefined")
        .unwrap()
        .func("ping", |_, (): ()| async { Ok::<_, CallError>(1u32) });
    let mut capabilities = Capabilities::new();
    capabilities.register(clash).unwrap();
    for (name, backend) in common::backends(&capabilities).iter() {
        let outcome = run(&**backend, "globalThis.ran = true; return 1", &["undefined"]).await;
        match outcome.result {
            Err(SandboxError::Exception { name: error, .. }) => assert_eq!(error, "TypeError", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

/// A capability's object is the same to a program on every backend, however it is made: a frozen ordinary object
/// whose own properties are its methods in declaration order. What each reflective operation gives, and the class of
/// what it throws (the wording is the engine's), must be what it gives for such an object made by the program itself,
/// in the same engine, and agree between the backends.
#[tokio::test]
async fn capability_objects_are_frozen_objects_of_their_methods_to_every_reflection() {
    let code = r#"'use strict';
      const probe = (shop) => {
        const out = [];
        const t = (f) => { try { out.push(f()) } catch (e) { out.push(e.name) } };
        // First reads of a method through another receiver: a primitive one, and an object inheriting from it.
        t(() => Reflect.get(shop, 'getOrder', 1) === Reflect.get(shop, 'getOrder', 'x'));
        t(() => Object.create(shop).listProducts === Object.create(shop).listProducts);
        t(() => Object.keys(shop));
        t(() => Object.getOwnPropertyNames(shop).length);
        t(() => Reflect.ownKeys(shop).length);
        t(() => Object.isFrozen(shop));
        t(() => Object.isSealed(shop));
        t(() => Object.isExtensible(shop));
        t(() => typeof shop.getCustomer);
        t(() => shop.getCustomer === shop.getCustomer);
        t(() => [shop.getCustomer.name, shop.getCustomer.length]);
        t(() => ['getCustomer' in shop, 'nope' in shop, 'toString' in shop, Symbol.iterator in shop]);
        t(() => [shop.hasOwnProperty('listOrders'), Object.hasOwn(shop, 'toString'), Object.hasOwn(shop, 'nope')]);
        t(() => { const d = Object.getOwnPropertyDescriptor(shop, 'listOrders'); return [d.writable, d.enumerable, d.configurable, typeof d.value, d.value === shop.listOrders] });
        t(() => Object.getOwnPropertyDescriptor(shop, 'nope'));
        t(() => JSON.stringify(shop));
        t(() => [Object.prototype.toString.call(shop), String(shop)]);
        t(() => Object.getPrototypeOf(shop) === Object.prototype);
        t(() => { shop.added = 1 });
        t(() => { shop.getCustomer = 1 });
        t(() => { delete shop.getCustomer });
        t(() => delete shop.nope);
        t(() => Object.freeze(shop) === shop);
        t(() => Object.defineProperty(shop, 'getCustomer', { value: shop.getCustomer, writable: false }) === shop);
        t(() => Object.defineProperty(shop, 'getCustomer', { value: 1 }));
        t(() => Object.defineProperty(shop, 'getCustomer', { get() { return 1 } }));
        t(() => Object.defineProperty(shop, 'added', { value: 1 }));
        t(() => [Reflect.defineProperty(shop, 'getCustomer', { configurable: true }), Reflect.defineProperty(shop, 'getCustomer', { enumerable: true })]);
        t(() => [Reflect.set(shop, 'getCustomer', 1), Reflect.deleteProperty(shop, 'getCustomer'), Reflect.deleteProperty(shop, 'nope')]);
        t(() => Object.setPrototypeOf(shop, null));
        t(() => Reflect.setPrototypeOf(shop, Object.prototype));
        t(() => { const keys = []; for (const k in shop) keys.push(k); return keys });
        t(() => Object.keys({ ...shop }));
        t(() => Object.entries(shop).map(([k, v]) => typeof v));
        t(() => Object.keys(Object.getOwnPropertyDescriptors(shop)));
        t(() => Object.keys(Object.assign({}, shop)));
        t(() => Object.keys(new Proxy(shop, {})));
        t(() => [shop[Symbol.iterator], shop[Symbol.toStringTag], shop[0], shop['']]);
        t(() => [shop.toString === Object.prototype.toString, shop.constructor === Object]);
        t(() => Object.keys(Object.create(shop)).length);
        t(() => Object.create(shop).getCustomer === shop.getCustomer);
        return out;
      };
      // The same object as the program would make it: methods as `method` in the prelude makes them (length 0).
      const names = ['listCustomers', 'getCustomer', 'listProducts', 'listOrders', 'getOrder'];
      const plain = Object.freeze(Object.fromEntries(names.map((name) => [name, { [name](...args) {} }[name]])));
      return [probe(shop), probe(plain)];"#;
    let mut results = Vec::new();
    for (name, backend) in backends() {
        let outcome = run(&**backend, code, &["shop"]).await;
        let result = outcome.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_eq!(result[0], result[1], "{name}: the capability object and an ordinary one disagree");
        results.push((name, result[0].clone()));
    }
    let (first, expected) = &results[0];
    for (name, result) in &results[1..] {
        assert_eq!(result, expected, "{name} and {first} disagree");
    }
    let methods = json!(["listCustomers", "getCustomer", "listProducts", "listOrders", "getOrder"]);
    assert_eq!(expected[0], json!(true), "a method read through a primitive receiver");
    assert_eq!(expected[1], json!(true), "a method read through an inheriting object");
    assert_eq!(expected[2], methods);
    assert_eq!(expected[5], json!(true), "frozen");
    assert_eq!(expected[13], json!([false, true, false, "function", true]), "a method's descriptor");
    assert_eq!(expected[18], json!("TypeError"), "adding a property");
    assert_eq!(expected[22], json!(true), "freezing again changes nothing");
    assert_eq!(expected[24], json!("TypeError"), "redefining a method");
    assert_eq!(expected[31], methods, "for-in");
}

/// Granting a capability costs a request the same whatever the number of its methods: a method's function is made
/// when the program first reads it (on the wasm backend, where fuel counts the guest's instructions).
#[tokio::test]
async fn granting_a_capability_of_thousands_of_methods_costs_no_more_than_a_small_one() {
    let (name, wasm) = &backends()[0];
    assert_eq!(*name, "wasm");
    let fuel = |code: &'static str, grants: &'static [&'static str]| async move {
        let limits = Limits { fuel: Some(1_000_000_000), ..Limits::default() };
        let request = Request::new(code).with_grants(grants.iter().copied()).with_limits(limits);
        let outcome = wasm.run(&request).await;
        assert!(outcome.is_ok(), "{code}: {:?}", outcome.result);
        outcome.metrics.fuel_used.expect("fuel is reported when budgeted")
    };
    let small = fuel("return 1", &["shop"]).await;
    let wide = fuel("return 1", &["wide"]).await;
    // Each method made per request cost ~12k instructions: 2,000 of them, 24 M.
    assert!(wide < small + 20_000, "granting 2,000 methods took {wide} instructions, 5 took {small}");

    // The methods are all there, found and called by name, in declaration order.
    for (name, backend) in backends() {
        let code = "const keys = Object.keys(wide); \
                    return [keys.length, keys[0], keys[1999], await wide.op1999(1), await wide.op0(2), await wide['op' + 1234](0), \
                            typeof wide.op2000, 'op77' in wide, Object.getOwnPropertyNames(wide).indexOf('op1500')]";
        let result = run(&**backend, code, &["wide"]).await.result.unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert_eq!(result, json!([2000, "op0", "op1999", 2000, 2, 1234, "undefined", true, 1500]), "{name}");
    }
}

#[tokio::test]
async fn unknown_grants_are_refused() {
    for (name, backend) in backends() {
        let outcome = run(&**backend, "return 1", &["echo", "nope"]).await;
        let error = outcome.result.unwrap_err();
        assert_eq!(error.kind(), "capability", "{name}");
        assert!(error.to_string().contains("unknown capability `nope`"), "{name}: {error}");
        assert_eq!(outcome.metrics.start_us, 0, "{name}: no sandbox was started");
    }
}

#[tokio::test]
async fn call_count_and_size_limits_end_the_program() {
    let limits = Limits { host_calls: 5, host_call_bytes: 1000, ..Limits::default() };
    let request = |code: &str| Request::new(code).with_grants(["echo"]).with_limits(limits.clone());
    for (name, backend) in backends() {
        let code = "console.log('start'); for (let i = 0; i < 10; i++) { try { await echo.nothing() } catch {} } \
                    console.log('never')";
        let outcome = backend.run(&request(code)).await;
        let error = outcome.result.unwrap_err();
        assert_eq!(
            error,
            SandboxError::Capability { message: "the program made more than 5 host calls".into() },
            "{name}"
        );
        let logs: Vec<&str> = outcome.logs.iter().map(|line| line.message.as_str()).collect();
        assert_eq!(logs, ["start"], "{name}: logs before the limit are kept, and nothing runs after it");

        let outcome = backend.run(&request("await echo.echoString('x'.repeat(2000))")).await;
        let error = outcome.result.unwrap_err();
        assert_eq!(
            error,
            SandboxError::Capability { message: "the arguments of echo.echoString exceed 1000 bytes".into() },
            "{name}"
        );

        // The arguments fit (`["x…x"]`, 1000 bytes); the result (`"x…x:None"`, 1001 bytes) does not.
        let outcome = backend.run(&request("await echo.pair('x'.repeat(994))")).await;
        let error = outcome.result.unwrap_err();
        assert_eq!(
            error,
            SandboxError::Capability { message: "the result of echo.pair exceeds 1000 bytes".into() },
            "{name}"
        );

        let outcome = backend.run(&request("for (let i = 0; i < 5; i++) await echo.nothing(); return 'fits'")).await;
        assert_eq!(outcome.result.unwrap(), json!("fits"), "{name}");
    }
}

#[tokio::test]
async fn a_limit_hit_in_a_synchronous_call_ends_the_program_too() {
    // The call is made before the program's first `await`, while it is being started.
    let limits = Limits { host_calls: 0, ..Limits::default() };
    for (name, backend) in backends() {
        let request = Request::new("echo.nothing(); return 1").with_grants(["echo"]).with_limits(limits.clone());
        let outcome = backend.run(&request).await;
        assert_eq!(outcome.error().map(SandboxError::kind), Some("capability"), "{name}: {:?}", outcome.result);
    }
}

#[tokio::test]
async fn a_slow_host_call_still_meets_the_deadline() {
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    for (name, backend) in backends() {
        let request = Request::new("console.log('waiting'); await echo.slow(60000)")
            .with_grants(["echo"])
            .with_limits(limits.clone());
        let began = Instant::now();
        let outcome = backend.run(&request).await;
        assert!(began.elapsed() < Duration::from_secs(5), "{name}: took {:?}", began.elapsed());
        assert_eq!(
            outcome.result.unwrap_err(),
            SandboxError::Timeout {
                message: "the program ran past its 300 ms deadline".into(),
                budget: isobox::Budget::WallClock
            },
            "{name}"
        );
        assert_eq!(outcome.logs.len(), 1, "{name}: logs before the deadline are kept");
    }
}

#[tokio::test]
async fn time_awaiting_host_calls_is_not_cpu_time() {
    let limits = Limits { cpu_time: Some(Duration::from_millis(50)), ..Limits::default() };
    for (name, backend) in backends() {
        // A second of waiting on the host against 50 ms of CPU time: the wall clock (5 s) is what bounds it.
        let waiting = Request::new("await echo.slow(700); await echo.slow(300); return 'done'")
            .with_grants(["echo"])
            .with_limits(limits.clone());
        let outcome = backend.run(&waiting).await;
        assert_eq!(outcome.result, Ok(json!("done")), "{name}");
        // A busy loop after a wait runs out of CPU time, long before the wall clock.
        let busy = Request::new("await echo.slow(100); for (;;) {}").with_grants(["echo"]).with_limits(limits.clone());
        let outcome = backend.run(&busy).await;
        assert_eq!(
            outcome.result.unwrap_err(),
            SandboxError::Timeout {
                message: "the program used more than its 50 ms of CPU time (time awaiting capability calls is not \
                          counted)"
                    .into(),
                budget: isobox::Budget::CpuTime
            },
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_program_looping_on_host_calls_meets_the_deadline() {
    let limits = Limits { timeout: Duration::from_millis(300), host_calls: u32::MAX, ..Limits::default() };
    for (name, backend) in backends() {
        let request = Request::new("for (;;) await echo.nothing()").with_grants(["echo"]).with_limits(limits.clone());
        let outcome = backend.run(&request).await;
        assert_eq!(outcome.error().map(SandboxError::kind), Some("timeout"), "{name}: {:?}", outcome.result);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_host_call_does_not_block_other_sandboxes() {
    for (name, backend) in backends() {
        let slow = {
            let backend = backend.clone();
            tokio::spawn(async move { run(&*backend, "return await echo.slow(30000)", &["echo"]).await })
        };
        let quick: Vec<_> = (0..50u32)
            .map(|i| {
                let backend = backend.clone();
                tokio::spawn(async move { run(&*backend, &format!("return await echo.echoU32({i})"), &["echo"]).await })
            })
            .collect();
        for (i, task) in quick.into_iter().enumerate() {
            assert_eq!(task.await.unwrap().result.unwrap(), json!(i), "{name}");
        }
        assert!(!slow.is_finished(), "{name}: the slow call is still waiting while all the others finished");
        slow.abort();
    }
}

/// Every backend with `echo`, one sandbox at a time.
static ONE_AT_A_TIME: LazyLock<Backends> = LazyLock::new(|| {
    let mut capabilities = Capabilities::new();
    capabilities.register(echo()).unwrap();
    common::backends_with(&capabilities, Some(1))
});

#[tokio::test]
async fn a_request_dropped_during_a_host_call_frees_its_sandbox() {
    // With one sandbox at a time, the next request would wait for the slow call unless dropping the request that
    // made it stopped its sandbox.
    for (name, backend) in ONE_AT_A_TIME.iter() {
        let waiting = run(&**backend, "return await echo.slow(30000)", &["echo"]);
        assert!(tokio::time::timeout(Duration::from_millis(100), waiting).await.is_err(), "{name}");
        let next = run(&**backend, "return await echo.echoU8(7)", &["echo"]);
        let outcome = tokio::time::timeout(Duration::from_secs(5), next).await;
        let outcome = outcome.unwrap_or_else(|_| panic!("{name}: the dropped request still holds its sandbox"));
        assert_eq!(outcome.result.unwrap(), json!(7), "{name}");
    }
}

#[tokio::test]
async fn the_demo_shop_answers_a_code_mode_program() {
    let code = "
        const orders = await shop.listOrders({ status: 'delivered', since: '2026-01-01' });
        const totals = new Map();
        for (const o of orders) totals.set(o.customerId, (totals.get(o.customerId) ?? 0) + o.total);
        const [bestId] = [...totals].sort((a, b) => b[1] - a[1])[0];
        const best = await shop.getCustomer(bestId);
        return { orders: orders.length, best: best.name };
    ";
    let mut results = Vec::new();
    for (name, backend) in backends() {
        let result = run(&**backend, code, &["shop"]).await.result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(result["orders"].as_u64().unwrap() > 0, "{name}");
        assert!(result["best"].as_str().is_some_and(|best| !best.is_empty()), "{name}");
        results.push(result);
    }
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]), "every backend gives the same answer: {results:?}");
}

/// The call log: every call in order, with its arguments, result or error and timing; copies bounded; fields marked
/// secret masked; a call the deadline cut short logged as unfinished.
#[tokio::test]
async fn outcomes_log_every_call() {
    let code = r#"
        await echo.pair("a", 7);
        try { await echo.fail("no luck") } catch {}
        try { await echo.pair(1) } catch {}
        await echo.echoRecord({ x: 1, yCoord: 2.5, label: "hunter2" });
        await echo.echoString("x".repeat(5000));
        await echo.nothing();
        return "done";
    "#;
    for (name, backend) in backends() {
        let outcome = run(backend.as_ref(), code, &["echo"]).await;
        assert_eq!(outcome.result, Ok(json!("done")), "{name}");
        let calls = &outcome.calls;
        let methods: Vec<&str> = calls.iter().map(|call| call.method.as_str()).collect();
        assert_eq!(methods, ["pair", "fail", "pair", "echoRecord", "echoString", "nothing"], "{name}");
        assert!(calls.iter().all(|call| call.capability == "echo"), "{name}");
        assert_eq!(
            (calls[0].ok, &calls[0].args, &calls[0].result),
            (true, &json!(["a", 7]), &Some(json!("a:Some(7)")))
        );
        assert_eq!((calls[1].ok, calls[1].error.as_deref()), (false, Some("no luck")), "{name}");
        assert!(calls[2].error.as_deref().unwrap().contains("argument `a` must be string"), "{name}: {:?}", calls[2]);
        let secret = json!({"x": 1, "yCoord": 2.5, "label": "***"});
        assert_eq!((&calls[3].args, &calls[3].result), (&json!([secret.clone()]), &Some(secret)), "{name}");
        let cut = calls[4].args.as_str().unwrap_or_else(|| panic!("{name}: {:?}", calls[4]));
        assert!(
            calls[4].truncated && cut.len() <= 1024 && cut.ends_with("(5004 bytes of JSON in all)"),
            "{name}: {cut}"
        );
        assert_eq!((&calls[5].args, &calls[5].result), (&Value::Null, &Some(Value::Null)), "{name}");
        let starts: Vec<u64> = calls.iter().map(|call| call.started_us).collect();
        assert!(starts.is_sorted(), "{name}: {starts:?}");
        // In the JSON contract, after the logs.
        let text = serde_json::to_string(&outcome).unwrap();
        assert!(text.contains(r#""logs":[],"calls":[{"capability":"echo","method":"pair""#), "{name}: {text}");

        let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
        let request = Request::new("await echo.slow(5000)").with_grants(["echo"]).with_limits(limits);
        let cut_short = backend.run(&request).await;
        assert_eq!(cut_short.error().map(SandboxError::kind), Some("timeout"), "{name}");
        assert_eq!(cut_short.calls.len(), 1, "{name}");
        assert!(!cut_short.calls[0].ok && cut_short.calls[0].error.as_deref().unwrap().contains("ended"), "{name}");
    }
}
