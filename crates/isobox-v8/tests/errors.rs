//! Every error kind of the output contract, each from a program that provokes it, on the V8 backend.

mod common;

use std::time::Duration;

use common::*;
use isobox_core::{Budget, Limits, SandboxError};

#[tokio::test]
async fn syntax_error_reports_the_position_in_the_program() {
    let error = error("const a = 1;\nconst b = ;\nreturn a").await;
    let SandboxError::Syntax { message, line, column } = error else { panic!("not a syntax error: {error:?}") };
    assert_eq!(line, 2);
    assert_eq!(column, 11);
    assert_eq!(message, "Unexpected token ';'");
}

#[tokio::test]
async fn syntax_error_on_the_first_line_counts_columns_from_the_program() {
    let error = error("return 1 +* 2").await;
    let SandboxError::Syntax { line, column, .. } = error else { panic!("not a syntax error: {error:?}") };
    assert_eq!((line, column), (1, 11));
}

#[tokio::test]
async fn an_unclosed_program_is_a_syntax_error_within_the_program() {
    let error = error("const a = [1,\n2").await;
    let SandboxError::Syntax { line, column, .. } = error else { panic!("not a syntax error: {error:?}") };
    // V8 notices at the wrapper's closing line, just past the program's last line (as QuickJS does).
    assert_eq!((line, column), (3, 1));
}

#[tokio::test]
async fn thrown_error_is_an_exception_with_name_message_and_stack() {
    let error = error("function explode() {\n  throw new TypeError('bad input');\n}\nexplode();").await;
    let SandboxError::Exception { name, message, stack } = error else { panic!("not an exception: {error:?}") };
    assert_eq!(name, "TypeError");
    assert_eq!(message, "bad input");
    let stack = stack.expect("errors carry a stack");
    // Frames only, positions in the program, nothing of isobox's prelude.
    assert_eq!(stack, "    at explode (agent.js:2:9)\n    at agent.js:4:1");
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
        ("throw Symbol('s')", "symbol", "Symbol(s)"),
        ("throw [1, 'two']", "Object", "[1, \"two\"]"),
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
async fn a_stack_trace_hook_cannot_break_the_report() {
    let error = error("Error.prepareStackTrace = () => { throw 1 }; throw new Error('x')").await;
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
    assert_eq!(
        error,
        SandboxError::Timeout { message: "the program ran past its 300 ms deadline".into(), budget: Budget::WallClock }
    );
}

#[tokio::test]
async fn an_infinite_async_loop_times_out() {
    let error = error_with("for (;;) { await null }", short_timeout()).await;
    assert!(matches!(error, SandboxError::Timeout { budget: Budget::WallClock, .. }), "{error:?}");
}

#[tokio::test]
async fn a_loop_in_a_result_serialiser_times_out() {
    let error = error_with("return { toJSON() { for (;;) {} } }", short_timeout()).await;
    assert_eq!(error.kind(), "timeout", "{error:?}");
}

#[tokio::test]
async fn catastrophic_regex_backtracking_times_out() {
    let error = error_with("return /(a+)+$/.test('a'.repeat(40) + '!')", short_timeout()).await;
    assert_eq!(error.kind(), "timeout", "{error:?}");
}

/// Some V8 builtins loop in C++ without checking for termination; here one runs for seconds past the deadline. The
/// request still reports its timeout once the grace period is over, without waiting for the builtin.
#[tokio::test]
async fn a_builtin_that_ignores_termination_still_times_out() {
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let outcome =
        run_with("console.log('before'); return Array.prototype.indexOf.call({length: 1e12}, 1, 1e12 - 2e6)", limits)
            .await;
    assert_eq!(outcome.error().map(|e| e.kind()), Some("timeout"));
    // The sandbox was abandoned, so what it logged is not reported.
    assert!(outcome.logs.is_empty(), "{:?}", outcome.logs);
}

#[tokio::test]
async fn fuel_is_refused_because_v8_cannot_count_instructions() {
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    let SandboxError::Internal { message } = error_with("return 1 + 1", limits).await else {
        panic!("fuel must be refused")
    };
    assert!(message.contains("fuel"), "{message}");
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error =
        error_with("const parts = []; for (;;) { parts.push('x'.repeat(1 << 16) + parts.length) }", limits).await;
    assert_eq!(
        error,
        SandboxError::Memory {
            message: "the program exceeded its memory limit of 16777216 bytes".into(),
            limit_bytes: 16 << 20
        }
    );
}

#[tokio::test]
async fn growing_one_array_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error = error_with("const a = []; for (let i = 0; ; i++) a.push(i)", limits).await;
    assert_eq!(error.kind(), "memory", "{error:?}");
}

#[tokio::test]
async fn one_huge_allocation_hits_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error = error_with("return new ArrayBuffer(100 << 20).byteLength", limits).await;
    assert_eq!(error.kind(), "memory", "{error:?}");
}

#[tokio::test]
async fn a_failed_allocation_cannot_be_caught() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error =
        error_with("try { new Uint8Array(100 << 20) } catch (e) { return 'caught: ' + e.message }", limits).await;
    assert_eq!(error.kind(), "memory", "{error:?}");
}

#[tokio::test]
async fn array_buffers_that_die_young_do_not_add_up() {
    // 200 MiB allocated in all, never more than a few MiB alive: garbage collection makes room.
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let outcome =
        run_with("let n = 0; for (let i = 0; i < 200; i++) n += new Uint8Array(1 << 20).length; return n", limits)
            .await;
    assert_eq!(outcome.result.unwrap(), 200 << 20);
}

/// V8 concatenates strings lazily (ropes), so doubling a string reaches V8's maximum string length long before it
/// uses much memory: an ordinary, catchable RangeError rather than a memory error.
#[tokio::test]
async fn doubling_a_string_reaches_the_maximum_string_length() {
    let error = error("let s = 'x'; for (;;) s += s").await;
    let SandboxError::Exception { name, message, .. } = error else { panic!("{error:?}") };
    assert_eq!((name.as_str(), message.as_str()), ("RangeError", "Invalid string length"));
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let error = error("function down(n) { return down(n + 1) + 1 }\nreturn down(0)").await;
    assert_eq!(error, SandboxError::StackOverflow { message: "maximum call stack size exceeded".into() });
}

#[tokio::test]
async fn recursion_through_the_parser_is_a_stack_overflow() {
    let error = error("return eval('['.repeat(100000))").await;
    assert_eq!(error.kind(), "stack_overflow", "{error:?}");
}

#[tokio::test]
async fn a_caught_stack_overflow_is_the_program_s_business() {
    let outcome = run("function down() { down() } try { down() } catch (e) { return e.name }").await;
    assert_eq!(outcome.result.unwrap(), "RangeError");
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
async fn a_larger_stack_limit_allows_deeper_recursion() {
    let depth = "let depth = 0; function down() { depth++; down() } try { down() } catch (e) {} return depth";
    let default = value(depth).await.as_u64().unwrap();
    let limits = Limits { stack_bytes: 4 << 20, ..Limits::default() };
    let deeper = run_with(depth, limits).await.result.unwrap().as_u64().unwrap();
    assert!(deeper > default * 4, "depth {deeper} with 4 MiB, {default} with the default");
}

#[tokio::test]
async fn logs_past_the_output_limit_end_the_program() {
    let limits = Limits { output_bytes: 10_000, ..Limits::default() };
    let outcome = run_with("for (let i = 0; ; i++) console.log('line', i)", limits).await;
    assert_eq!(outcome.error().map(|e| e.kind()), Some("output_limit"));
    let logged: usize = outcome.logs.iter().map(|line| line.message.len()).sum();
    assert!(logged <= 10_000 && logged > 9_000, "{logged} bytes of logs kept");
    assert_eq!(outcome.metrics.output_bytes, logged as u64);
}

#[tokio::test]
async fn an_output_limit_cannot_be_caught() {
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    let error = error_with("try { console.log('x'.repeat(2000)) } catch (e) {} return 'carried on'", limits).await;
    assert_eq!(error.kind(), "output_limit", "{error:?}");
}

#[tokio::test]
async fn a_result_past_the_output_limit_is_refused() {
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    let error = error_with("return 'x'.repeat(2000)", limits).await;
    assert_eq!(
        error,
        SandboxError::OutputLimit {
            message: "the program's result and logs exceeded 1000 bytes".into(),
            limit_bytes: 1000
        }
    );
}

#[tokio::test]
async fn limits_beyond_the_backend_are_internal_errors() {
    let memory = Limits { memory_bytes: 1 << 40, ..Limits::default() };
    assert_eq!(error_with("return 1", memory).await.kind(), "internal");
    let stack = Limits { stack_bytes: 64 << 20, ..Limits::default() };
    assert_eq!(error_with("return 1", stack).await.kind(), "internal");
}
