//! Capabilities end to end: WIT-declared host functions called from a sandbox, with every value checked on the way.

mod common;

use std::sync::LazyLock;
use std::time::Duration;

use isobox::{Backend, CallError, Capabilities, Capability, Limits, Request, SandboxError, WasmBackend, WasmConfig};
use serde_json::{Value, json};

fn echo() -> Capability {
    let echo = Capability::from_wit("echo.wit", include_str!("wit/echo.wit"), "echo").unwrap();
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
}

static BACKEND: LazyLock<WasmBackend> = LazyLock::new(|| {
    let mut capabilities = Capabilities::new();
    capabilities.register(echo()).unwrap();
    capabilities.register(isobox::builtins::shop::capability()).unwrap();
    WasmBackend::new(WasmConfig { capabilities, ..WasmConfig::default() }).unwrap()
});

async fn run(code: &str, grants: &[&str]) -> isobox::Outcome {
    BACKEND.run(&Request::new(code).with_grants(grants.iter().copied())).await
}

async fn value(code: &str) -> Value {
    let outcome = run(code, &["echo"]).await;
    outcome.result.unwrap_or_else(|error| panic!("`{code}`: {error:?}"))
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
        ("echoList", json!([1, 2, 3])),
        ("echoOption", json!(null)),
        ("echoOption", json!("some")),
        ("echoTuple", json!(["a", 7, false])),
        ("echoRecord", json!({"x": -3, "yCoord": 2.5, "label": "p"})),
        ("echoVariant", json!({"tag": "poly", "val": [{"x": 1, "yCoord": 2.5, "label": null}]})),
        ("echoVariant", json!({"tag": "dot"})),
        ("echoEnum", json!("dark-blue")),
        ("echoFlags", json!(["read", "exec"])),
        ("echoResult", json!({"ok": 5})),
    ];
    for (method, input) in cases {
        let code = format!("return await echo.{method}({input})");
        let expected = if method == "echoResult" { json!(5) } else { input.clone() };
        assert_eq!(value(&code).await, expected, "{method}({input})");
    }
}

#[tokio::test]
async fn optional_record_fields_and_trailing_arguments_may_be_left_out() {
    assert_eq!(value("return await echo.echoRecord({x: 1, yCoord: 2.5})").await, json!({"x": 1, "yCoord": 2.5}));
    assert_eq!(value("return await echo.pair('a')").await, json!("a:None"));
    assert_eq!(value("return await echo.pair('a', 3)").await, json!("a:Some(3)"));
    assert_eq!(value("return await echo.nothing()").await, json!(null));
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
    ];
    for (call, message) in cases {
        let code = format!(
            "try {{ await {call}; return 'no error' }} catch (e) {{ return [e.name, e.message, e instanceof TypeError] }}"
        );
        assert_eq!(value(&code).await, json!(["TypeError", message, true]), "{call}");
    }
}

#[tokio::test]
async fn an_uncaught_type_error_is_an_exception() {
    let error = run("await echo.echoU8(-1)", &["echo"]).await.result.unwrap_err();
    let SandboxError::Exception { name, .. } = error else { panic!("{error:?}") };
    assert_eq!(name, "TypeError");
}

#[tokio::test]
async fn host_errors_reach_javascript_as_errors() {
    let failed =
        value("try { await echo.fail('no such thing') } catch (e) { return [e.name, e.message, 'data' in e] }").await;
    assert_eq!(failed, json!(["Error", "no such thing", false]));
    let result_err =
        value("try { await echo.echoResult({err: 'bad'}) } catch (e) { return [e.message, e.data] }").await;
    assert_eq!(result_err, json!(["echoed error \"bad\"", "bad"]));
    let broken = value("try { await echo.broken() } catch (e) { return e.message }").await;
    assert_eq!(
        broken,
        json!("echo.broken returned a value that does not match its declared type: expected string, got number")
    );
}

#[tokio::test]
async fn only_granted_capabilities_exist() {
    let code = "return [typeof echo, typeof shop, typeof globalThis.echo]";
    assert_eq!(run(code, &[]).await.result.unwrap(), json!(["undefined", "undefined", "undefined"]));
    assert_eq!(run(code, &["shop"]).await.result.unwrap(), json!(["undefined", "object", "undefined"]));
    assert_eq!(run(code, &["echo", "shop"]).await.result.unwrap(), json!(["object", "object", "object"]));
    let methods = run("return Object.keys(echo).length", &["echo"]).await.result.unwrap();
    assert_eq!(methods, json!(23));
}

#[tokio::test]
async fn unknown_grants_are_refused() {
    let error = run("return 1", &["nope"]).await.result.unwrap_err();
    assert_eq!(error.kind(), "capability");
    assert!(error.to_string().contains("unknown capability `nope`"), "{error}");
}

#[tokio::test]
async fn call_count_and_size_limits_end_the_program() {
    let limits = Limits { host_calls: 5, host_call_bytes: 1000, ..Limits::default() };
    let request = |code: &str| Request::new(code).with_grants(["echo"]).with_limits(limits.clone());

    let outcome = BACKEND.run(&request("for (let i = 0; i < 10; i++) { try { await echo.nothing() } catch {} }")).await;
    let error = outcome.result.unwrap_err();
    assert_eq!(error, SandboxError::Capability { message: "the program made more than 5 host calls".into() });

    let outcome = BACKEND.run(&request("await echo.echoString('x'.repeat(2000))")).await;
    assert_eq!(outcome.result.unwrap_err().kind(), "capability");

    let outcome = BACKEND.run(&request("for (let i = 0; i < 5; i++) await echo.nothing(); return 'fits'")).await;
    assert_eq!(outcome.result.unwrap(), json!("fits"));
}

#[tokio::test]
async fn a_slow_host_call_still_meets_the_deadline() {
    let limits = Limits { timeout: Duration::from_millis(300), ..Limits::default() };
    let request =
        Request::new("console.log('waiting'); await echo.slow(60000)").with_grants(["echo"]).with_limits(limits);
    let outcome = BACKEND.run(&request).await;
    assert_eq!(outcome.error().map(SandboxError::kind), Some("timeout"));
    assert_eq!(outcome.logs.len(), 1, "logs before the deadline are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_host_call_does_not_block_other_sandboxes() {
    let slow = tokio::spawn(async { run("return await echo.slow(30000)", &["echo"]).await });
    let quick: Vec<_> = (0..50u32)
        .map(|i| tokio::spawn(async move { run(&format!("return await echo.echoU32({i})"), &["echo"]).await }))
        .collect();
    for (i, task) in quick.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().result.unwrap(), json!(i));
    }
    assert!(!slow.is_finished(), "the slow call is still waiting while all the others finished");
    slow.abort();
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
    let result = run(code, &["shop"]).await.result.unwrap();
    assert!(result["orders"].as_u64().unwrap() > 0);
    assert!(result["best"].as_str().is_some_and(|name| !name.is_empty()));
}
