//! Every error kind of the output contract, each from a program that provokes it.

mod common;

use common::*;
use isobox::{Budget, Limits, SandboxError};

#[tokio::test]
async fn syntax_error_reports_the_position_in_the_program() {
    let error = error("const a = 1;\nconst b = ;\nreturn a").await;
    let SandboxError::Syntax { message, line, column } = error else { panic!("not a syntax error: {error:?}") };
    assert_eq!(line, 2);
    assert_eq!(column, 11);
    assert!(!message.is_empty());
}

#[tokio::test]
async fn syntax_error_on_the_first_line_counts_columns_from_the_program() {
    let error = error("return 1 +* 2").await;
    let SandboxError::Syntax { line, column, .. } = error else { panic!("not a syntax error: {error:?}") };
    assert_eq!((line, column), (1, 11));
}

#[tokio::test]
async fn thrown_error_is_an_exception_with_name_message_and_stack() {
    let error = error("function explode() {\n  throw new TypeError('bad input');\n}\nexplode();").await;
    let SandboxError::Exception { name, message, stack } = error else { panic!("not an exception: {error:?}") };
    assert_eq!(name, "TypeError");
    assert_eq!(message, "bad input");
    let stack = stack.expect("errors carry a stack");
    assert!(stack.contains("explode"), "{stack}");
    assert!(stack.contains("agent.js:2:"), "{stack}");
}

#[tokio::test]
async fn thrown_values_of_every_type_are_exceptions() {
    let cases = [
        ("throw 'plain string'", "string", "plain string"),
        ("throw 42", "number", "42"),
        ("throw null", "object", "null"),
        ("throw undefined", "undefined", "undefined"),
        ("throw {code: 7}", "Object", "{\"code\": 7}"),
        ("throw 10n", "bigint", "10n"),
        ("await Promise.reject(new RangeError('nope'))", "RangeError", "nope"),
        (
            "class MyError extends Error { constructor() { super('mine'); this.name = 'MyError'; } }; throw new MyError()",
            "MyError",
            "mine",
        ),
    ];
    for (code, want_name, want_message) in cases {
        let error = error(code).await;
        let SandboxError::Exception { name, message, .. } = &error else { panic!("`{code}`: {error:?}") };
        assert_eq!((name.as_str(), message.as_str()), (want_name, want_message), "`{code}`");
    }
}

#[tokio::test]
async fn a_hostile_thrown_value_is_still_reported() {
    let error = error("throw { get message() { throw 1 }, toString() { throw 2 } }").await;
    assert_eq!(error.kind(), "exception", "{error:?}");
}

#[tokio::test]
async fn a_promise_that_never_settles_is_an_exception() {
    let error = error("await new Promise(() => {})").await;
    let SandboxError::Exception { message, .. } = error else { panic!("{error:?}") };
    assert!(message.contains("never settled"), "{message}");
}

#[tokio::test]
async fn a_result_that_is_not_json_is_an_exception() {
    let error = error("return 10n").await;
    let SandboxError::Exception { name, .. } = error else { panic!("{error:?}") };
    assert_eq!(name, "TypeError");
}

#[tokio::test]
async fn an_infinite_loop_times_out_on_the_wall_clock() {
    let error = error_with("for (;;) {}", short_timeout()).await;
    assert!(matches!(error, SandboxError::Timeout { budget: Budget::WallClock, .. }), "{error:?}");
}

#[tokio::test]
async fn an_infinite_async_loop_times_out() {
    let error = error_with("for (;;) { await null }", short_timeout()).await;
    assert!(matches!(error, SandboxError::Timeout { budget: Budget::WallClock, .. }), "{error:?}");
}

#[tokio::test]
async fn fuel_bounds_instructions_deterministically() {
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    let error = error_with("let i = 0; for (;;) { i++ }", limits.clone()).await;
    assert!(matches!(error, SandboxError::Timeout { budget: Budget::Fuel, .. }), "{error:?}");

    // A small program fits in the same budget, and reports what it used.
    let outcome = run_with("return 1 + 1", limits).await;
    assert_eq!(outcome.result.unwrap(), 2);
    let used = outcome.metrics.fuel_used.expect("fuel is reported when budgeted");
    assert!(used > 0 && used < 1_000_000, "{used}");
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error =
        error_with("const parts = []; for (;;) { parts.push('x'.repeat(1 << 16) + parts.length) }", limits).await;
    assert_eq!(error, SandboxError::Memory { message: error.to_string(), limit_bytes: 16 << 20 });
}

#[tokio::test]
async fn one_huge_allocation_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error = error_with("return new ArrayBuffer(100 << 20).byteLength", limits).await;
    assert_eq!(error.kind(), "memory", "{error:?}");
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let error = error("function down(n) { return down(n + 1) + 1 }\nreturn down(0)").await;
    assert_eq!(error.kind(), "stack_overflow", "{error:?}");
}

#[tokio::test]
async fn recursion_through_the_parser_is_a_stack_overflow() {
    let error = error("return eval('['.repeat(100000))").await;
    assert_eq!(error.kind(), "stack_overflow", "{error:?}");
}

#[tokio::test]
async fn a_smaller_stack_limit_stops_recursion_sooner() {
    let depth = "let depth = 0; function down() { depth++; down() } try { down() } catch (e) {} return depth";
    let deep = value(depth).await.as_u64().unwrap();
    let limits = Limits { stack_bytes: 32 << 10, ..Limits::default() };
    let shallow = run_with(depth, limits).await.result.unwrap().as_u64().unwrap();
    assert!(shallow * 2 < deep, "depth {shallow} with 32 KiB, {deep} with the default");
}

#[tokio::test]
async fn logs_past_the_output_limit_end_the_program() {
    let limits = Limits { output_bytes: 10_000, ..Limits::default() };
    let outcome = run_with("for (let i = 0; ; i++) console.log('line', i)", limits).await;
    assert_eq!(outcome.error().map(|e| e.kind()), Some("output_limit"));
    let logged: usize = outcome.logs.iter().map(|line| line.message.len()).sum();
    assert!(logged <= 10_000 && logged > 9_000, "{logged} bytes of logs kept");
}

#[tokio::test]
async fn a_result_past_the_output_limit_is_refused() {
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    let error = error_with("return 'x'.repeat(2000)", limits).await;
    assert_eq!(error, SandboxError::OutputLimit { message: error.to_string(), limit_bytes: 1000 });
}

#[tokio::test]
async fn a_limit_beyond_the_backend_is_an_internal_error() {
    let limits = Limits { memory_bytes: 1 << 40, ..Limits::default() };
    let error = error_with("return 1", limits).await;
    assert_eq!(error.kind(), "internal", "{error:?}");
}
