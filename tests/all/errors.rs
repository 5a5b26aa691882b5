//! Every error kind of the output contract, each from a program that provokes it, on every backend with the same
//! expectations. Where the engines differ (syntax error wording, stack frames, fuel), the test says how.

use crate::common;

use std::time::Duration;

use common::*;
use isobox::{Budget, Limits, SandboxError};

#[tokio::test]
async fn syntax_error_reports_the_position_in_the_program() {
    for (name, error) in errors("const a = 1;\nconst b = ;\nreturn a").await {
        let SandboxError::Syntax { message, line, column } = error else { panic!("{name}: {error:?}") };
        assert_eq!((line, column), (2, 11), "{name}");
        // The wording is each engine's own.
        let want = if name == "wasm" { "unexpected token in expression: ';'" } else { "Unexpected token ';'" };
        assert_eq!(message, want, "{name}");
    }
}

#[tokio::test]
async fn syntax_error_on_the_first_line_counts_columns_from_the_program() {
    for (name, error) in errors("return 1 +* 2").await {
        let SandboxError::Syntax { line, column, .. } = error else { panic!("{name}: {error:?}") };
        assert_eq!((line, column), (1, 11), "{name}");
    }
}

/// Columns are UTF-16 code units on every backend, as V8 and the TypeScript eraser count them, after non-ASCII text
/// too (QuickJS itself counts UTF-8 bytes).
#[tokio::test]
async fn positions_count_utf16_code_units_after_non_ascii_text() {
    let cases = [
        ("const s = \"€€€\"; )", (1, 18)),
        ("const s = \"😀\"; )", (1, 17)),
        ("let a = 'é';\nconst s = \"😀€\"; )", (2, 18)),
    ];
    for (code, want) in cases {
        for (name, error) in errors(code).await {
            let SandboxError::Syntax { line, column, .. } = error else { panic!("{name}: {code}: {error:?}") };
            assert_eq!((line, column), want, "{name}: {code}");
        }
    }
    // A stack's frames: text of the same length in UTF-16 code units, ASCII or not, places them alike.
    let program = |text: &str| format!("const s = \"{text}\"; function f() {{ return s.y.z }}\nf()");
    let (ascii, wide) = (errors(&program("abc")).await, errors(&program("€😀")).await);
    for ((name, ascii), (_, wide)) in ascii.into_iter().zip(wide) {
        let (SandboxError::Exception { stack: Some(ascii), .. }, SandboxError::Exception { stack: Some(wide), .. }) =
            (&ascii, &wide)
        else {
            panic!("{name}: {ascii:?} {wide:?}")
        };
        assert!(ascii.contains("agent.js:1:"), "{name}: {ascii}");
        assert_eq!(wide, ascii, "{name}");
    }
}

#[tokio::test]
async fn an_unclosed_program_is_a_syntax_error_at_its_end() {
    for (name, error) in errors("const a = [1,\n2").await {
        let SandboxError::Syntax { message, line, column } = error else { panic!("{name}: {error:?}") };
        assert_eq!((message.as_str(), line, column), ("unexpected end of input", 2, 2), "{name}");
    }
}

#[tokio::test]
async fn thrown_error_is_an_exception_with_name_message_and_stack() {
    let code = "function explode() {\n  throw new TypeError('bad input');\n}\nexplode();";
    for (name, error) in errors(code).await {
        let SandboxError::Exception { name: error_name, message, stack } = error else { panic!("{name}") };
        assert_eq!((error_name.as_str(), message.as_str()), ("TypeError", "bad input"), "{name}");
        // Frames only, positions in the program, nothing of isobox's prelude; the frame format is each engine's.
        let want = match name {
            "wasm" => "    at explode (agent.js:2:13)\n    at <anonymous> (agent.js:4:1)\n",
            _ => "    at explode (agent.js:2:9)\n    at agent.js:4:1",
        };
        assert_eq!(stack.as_deref(), Some(want), "{name}");
    }
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
        for (backend, error) in errors(code).await {
            let SandboxError::Exception { name, message, .. } = &error else {
                panic!("{backend}: `{code}`: {error:?}")
            };
            assert_eq!((name.as_str(), message.as_str()), (want_name, want_message), "{backend}: `{code}`");
        }
    }
}

#[tokio::test]
async fn a_hostile_thrown_value_is_still_reported() {
    for (name, error) in errors("throw { get message() { throw 1 }, toString() { throw 2 } }").await {
        assert_eq!(error.kind(), "exception", "{name}: {error:?}");
    }
}

#[tokio::test]
async fn a_stack_trace_hook_cannot_break_the_report() {
    for (name, error) in errors("Error.prepareStackTrace = () => { throw 1 }; throw new Error('x')").await {
        assert_eq!(error.kind(), "exception", "{name}: {error:?}");
    }
}

#[tokio::test]
async fn a_promise_that_never_settles_is_an_exception() {
    for (name, error) in errors("await new Promise(() => {})").await {
        let SandboxError::Exception { message, .. } = error else { panic!("{name}: {error:?}") };
        assert!(message.contains("never settled"), "{name}: {message}");
    }
}

#[tokio::test]
async fn a_result_that_is_not_json_is_a_type_error() {
    for (name, error) in errors("return 10n").await {
        let SandboxError::Exception { name: error_name, .. } = error else { panic!("{name}: {error:?}") };
        assert_eq!(error_name, "TypeError", "{name}");
    }
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
async fn endless_work_of_every_shape_times_out() {
    let endless = [
        "for (;;) { await null }",
        "return { toJSON() { for (;;) {} } }",
        "return /(a+)+$/.test('a'.repeat(40) + '!')",
        // Endless promise jobs that hold on to nothing (a chain of promises resolved with each other would run out of
        // memory first, as fast as the machine allows).
        "const f = () => { Promise.resolve().then(f) }; f(); await new Promise(() => {})",
    ];
    for code in endless {
        for (name, error) in errors_with(code, short_timeout()).await {
            assert!(
                matches!(error, SandboxError::Timeout { budget: Budget::WallClock, .. }),
                "{name}: `{code}`: {error:?}"
            );
        }
    }
}

/// Fuel counts wasm instructions, so only the wasm backend offers it (a documented difference); V8 refuses a request
/// that asks for it rather than running it unbounded.
#[tokio::test]
async fn fuel_bounds_instructions_on_wasm_and_is_refused_by_v8() {
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    for (name, outcome) in run_with("return 1 + 1", limits.clone()).await {
        match name {
            "wasm" => {
                assert_eq!(outcome.result.unwrap(), 2);
                let used = outcome.metrics.fuel_used.expect("fuel is reported when budgeted");
                assert!(used > 0 && used < 1_000_000, "{used}");
            }
            _ => {
                let Err(SandboxError::Unsupported { message }) = outcome.result else {
                    panic!("{name}: fuel must be refused")
                };
                assert!(message.contains("fuel"), "{name}: {message}");
            }
        }
    }
    let wasm = &all()[0].1;
    let outcome = wasm.run(&isobox::Request::new("let i = 0; for (;;) { i++ }").with_limits(limits)).await;
    assert!(matches!(outcome.result, Err(SandboxError::Timeout { budget: Budget::Fuel, .. })), "{:?}", outcome.result);
}

#[tokio::test]
async fn memory_bombs_of_every_shape_hit_the_memory_limit() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let error =
        error_with("const parts = []; for (;;) { parts.push('x'.repeat(1 << 16) + parts.length) }", limits.clone())
            .await;
    assert_eq!(
        error,
        SandboxError::Memory {
            message: "the program exceeded its memory limit of 16777216 bytes".into(),
            limit_bytes: 16 << 20
        }
    );
    let bombs = [
        "const a = []; for (let i = 0; ; i++) a.push(i)",
        "const a = []; for (;;) a.push({})",
        "return new ArrayBuffer(100 << 20).byteLength",
        "try { new Uint8Array(100 << 20) } catch (e) { return 'caught: ' + e.message }",
    ];
    for code in bombs {
        for (name, error) in errors_with(code, limits.clone()).await {
            assert_eq!(error.kind(), "memory", "{name}: `{code}`: {error:?}");
        }
    }
}

#[tokio::test]
async fn memory_that_dies_young_does_not_add_up() {
    // 200 MiB allocated in all, never more than a few MiB alive: garbage collection makes room.
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let code = "let n = 0; for (let i = 0; i < 200; i++) n += new Uint8Array(1 << 20).length; return n";
    assert_eq!(value_with(code, limits).await, 200 << 20);
}

/// Doubling a string reaches each engine's maximum string length before much memory is used (V8 concatenates
/// lazily): an ordinary, catchable exception, worded by each engine (a documented difference).
#[tokio::test]
async fn doubling_a_string_reaches_the_maximum_string_length() {
    for (name, error) in errors("let s = 'x'; for (;;) s += s").await {
        let SandboxError::Exception { name: error_name, message, .. } = error else { panic!("{name}: {error:?}") };
        let want =
            if name == "wasm" { ("InternalError", "string too long") } else { ("RangeError", "Invalid string length") };
        assert_eq!((error_name.as_str(), message.as_str()), want, "{name}");
    }
}

#[tokio::test]
async fn unbounded_recursion_is_a_stack_overflow() {
    let error = error("function down(n) { return down(n + 1) + 1 }\nreturn down(0)").await;
    assert_eq!(error, SandboxError::StackOverflow { message: "maximum call stack size exceeded".into() });
    for (name, error) in errors("return eval('['.repeat(100000))").await {
        assert_eq!(error.kind(), "stack_overflow", "{name}: {error:?}");
    }
}

#[tokio::test]
async fn a_caught_stack_overflow_is_the_program_s_business() {
    assert_eq!(value("function down() { down() } try { down() } catch (e) { return e.name }").await, "RangeError");
}

/// The engine's own stack overflow stays one when the program catches it and throws it on, or rejects with it.
#[tokio::test]
async fn a_rethrown_stack_overflow_is_still_a_stack_overflow() {
    let down = "function down(n) { return down(n + 1) + 1 }\n";
    for rethrow in ["try { down(0) } catch (e) { throw e }", "try { down(0) } catch (e) { await Promise.reject(e) }"] {
        for (name, error) in errors(&format!("{down}{rethrow}")).await {
            assert_eq!(error.kind(), "stack_overflow", "{name}: {rethrow}: {error:?}");
        }
    }
}

/// Only a limit the engine really hit is reported as one: errors a program makes to look like the engine's (same
/// class, same message), thrown, rethrown or rejected with, are its exceptions, as thrown.
#[tokio::test]
async fn look_alikes_of_the_engine_s_limit_errors_are_exceptions() {
    let overflow = "new RangeError('Maximum call stack size exceeded')";
    let throws = [
        format!("throw {overflow}"),
        format!("try {{ throw {overflow} }} catch (e) {{ throw e }}"),
        format!("await Promise.reject({overflow})"),
        format!("return Promise.reject({overflow})"),
        "class Deep extends RangeError {}\nthrow new Deep('Maximum call stack size exceeded')".to_string(),
        // After a real overflow the program caught: the engine's error is not the look-alike.
        format!("function down() {{ down() }}\ntry {{ down() }} catch (e) {{}}\nthrow {overflow}"),
    ];
    for code in &throws {
        for (name, error) in errors(code).await {
            let SandboxError::Exception { name: error_name, message, .. } = &error else {
                panic!("{name}: `{code}`: {error:?}")
            };
            let got = (error_name.as_str(), message.as_str());
            assert_eq!(got, ("RangeError", "Maximum call stack size exceeded"), "{name}: `{code}`");
        }
    }
    // QuickJS's out-of-memory error is an `InternalError`, which V8 does not have: there the look-alike is an `Error`.
    let out_of_memory = "const E = globalThis.InternalError ?? Error; const e = new E('out of memory')";
    for throw in ["throw e", "try { throw e } catch (c) { throw c }", "await Promise.reject(e)"] {
        for (name, error) in errors(&format!("{out_of_memory}; {throw}")).await {
            let SandboxError::Exception { name: error_name, message, .. } = &error else {
                panic!("{name}: `{throw}`: {error:?}")
            };
            let want = if name == "wasm" { "InternalError" } else { "Error" };
            assert_eq!((error_name.as_str(), message.as_str()), (want, "out of memory"), "{name}: `{throw}`");
        }
    }
}

#[tokio::test]
async fn the_stack_limit_sets_the_recursion_depth() {
    let depth = "let depth = 0; function down() { depth++; down() } try { down() } catch (e) {} return depth";
    for (name, backend) in all() {
        let depth_with = |stack_bytes| async move {
            let request = isobox::Request::new(depth).with_limits(Limits { stack_bytes, ..Limits::default() });
            backend.run(&request).await.result.unwrap().as_u64().unwrap()
        };
        // 768 KiB: the most the wasm guest's stack region holds (V8 allows more).
        let (shallow, default, deep) =
            (depth_with(32 << 10).await, depth_with(Limits::DEFAULT_STACK_BYTES).await, depth_with(768 << 10).await);
        assert!(shallow * 2 < default, "{name}: depth {shallow} with 32 KiB, {default} with the default");
        assert!(deep > default * 5 / 4, "{name}: depth {deep} with 768 KiB, {default} with the default");
    }
}

#[tokio::test]
async fn logs_past_the_output_limit_end_the_program() {
    let limits = Limits { output_bytes: 10_000, ..Limits::default() };
    for (name, outcome) in run_with("for (let i = 0; ; i++) console.log('line', i)", limits).await {
        assert_eq!(outcome.error().map(|e| e.kind()), Some("output_limit"), "{name}");
        let logged: usize = outcome.logs.iter().map(|line| line.message.len()).sum();
        assert!(logged <= 10_000 && logged > 9_000, "{name}: {logged} bytes of logs kept");
        assert_eq!(outcome.metrics.output_bytes, logged as u64, "{name}");
    }
}

#[tokio::test]
async fn an_output_limit_cannot_be_caught() {
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    let code = "try { console.log('x'.repeat(2000)) } catch (e) {} return 'carried on'";
    for (name, error) in errors_with(code, limits).await {
        assert_eq!(error.kind(), "output_limit", "{name}: {error:?}");
    }
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
async fn limits_beyond_the_backend_are_unsupported() {
    let memory = Limits { memory_bytes: 1 << 40, ..Limits::default() };
    let stack = Limits { stack_bytes: 64 << 20, ..Limits::default() };
    for limits in [memory, stack] {
        for (name, error) in errors_with("return 1", limits).await {
            let SandboxError::Unsupported { message } = error else { panic!("{name}: {error:?}") };
            assert!(message.contains("exceeds") && message.contains("maximum"), "{name}: {message}");
        }
    }
}

/// Some V8 builtins loop in C++ without checking for termination; here one would run for seconds past the deadline.
/// The request still reports its timeout once the grace period is over, without waiting for the builtin.
#[tokio::test]
async fn a_builtin_that_ignores_termination_still_times_out() {
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let code = "return Array.prototype.indexOf.call({length: 1e12}, 1, 1e12 - 2e8)";
    for (name, error) in errors_with(code, limits).await {
        assert_eq!(error.kind(), "timeout", "{name}: {error:?}");
    }
}

/// What a program plants on the built-ins' prototypes cannot change how isobox reports its outcome: not the kind, not
/// the message, not the positions in its stack, not the result.
#[tokio::test]
async fn replaced_builtins_cannot_forge_the_outcome() {
    let regexps = "RegExp.prototype[Symbol.replace] = () => '{\"kind\":\"internal\",\"message\":\"forged\"}';\n\
                   RegExp.prototype[Symbol.match] = () => ['agent.js:99:99', '99', '99'];\n\
                   RegExp.prototype[Symbol.search] = () => 0;\n\
                   RegExp.prototype.exec = () => null;\n\
                   String.prototype.replace = () => 'forged';\n";
    let to_json = "Object.prototype.toJSON = () => ({ kind: 'internal', message: 'forged' });\n";
    let code = format!("{regexps}{to_json}function explode() {{\n  throw new Error('real');\n}}\nexplode();");
    for (name, error) in errors(&code).await {
        let SandboxError::Exception { name: error_name, message, stack } = error else { panic!("{name}: {error:?}") };
        assert_eq!((error_name.as_str(), message.as_str()), ("Error", "real"), "{name}");
        let stack = stack.unwrap_or_default();
        assert!(stack.contains("agent.js:8:") && !stack.contains("forged"), "{name}: {stack}");
    }
    for thrown in ["new SyntaxError('fake')", "'plain'", "{ kind: 'memory' }"] {
        for (name, error) in errors(&format!("{regexps}{to_json}throw {thrown}")).await {
            assert_eq!(error.kind(), "exception", "{name}: {thrown}: {error:?}");
        }
    }
    // A lone surrogate in the result is still made U+FFFD, with the RegExp machinery replaced.
    let value = value(&format!("{regexps}return ['\\ud800', 'kept']")).await;
    assert_eq!(value, serde_json::json!(["\u{fffd}", "kept"]));
}

#[tokio::test]
async fn a_result_nested_too_deep_is_the_program_s_error() {
    let nested = |depth: usize| format!("let v = 1; for (let i = 0; i < {depth}; i++) v = [v]; return v");
    let kept = value(&nested(100)).await;
    assert!(kept.is_array());
    for (name, error) in errors(&nested(2000)).await {
        let SandboxError::Exception { name: error_name, message, .. } = error else { panic!("{name}: {error:?}") };
        assert_eq!(error_name, "RangeError", "{name}");
        assert!(message.contains("nested more than 100 levels"), "{name}: {message}");
    }
}

/// Console lines are counted by the size they take in the report: control characters are six bytes there.
#[tokio::test]
async fn logs_are_counted_as_they_are_reported() {
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    for (name, error) in errors_with("console.log('\\u0001'.repeat(400)); return 1", limits).await {
        assert_eq!(error.kind(), "output_limit", "{name}: {error:?}");
    }
    let limits = Limits { output_bytes: 1000, ..Limits::default() };
    for (name, outcome) in run_with("console.log('a\\tb'); return 1", limits).await {
        assert_eq!(outcome.metrics.output_bytes, 4 + 1, "{name}: `a\\tb` is four bytes, the result one");
    }
}

#[tokio::test]
async fn an_error_message_past_the_output_limit_is_refused() {
    for (name, error) in errors("throw new Error('x'.repeat(8 << 20))").await {
        assert_eq!(error.kind(), "output_limit", "{name}: {error:?}");
    }
    // A long message of line breaks is described in time, not in time squared.
    for (name, error) in errors("throw new Error('\\n'.repeat(100000) + ' at x')").await {
        assert_eq!(error.kind(), "exception", "{name}: {error:?}");
    }
}

/// A program cut short is a syntax error at its own end, on every backend, not at the end of what isobox wraps it in.
#[tokio::test]
async fn a_program_cut_short_ends_where_it_was_cut() {
    let cases = [
        "return nope(",
        "const x = {a: 1",
        "const list = [1, 2",
        "if (true) {\n  return 1",
        "const s = `template",
        "return 1 /* comment",
    ];
    for code in cases {
        let (last_line, end_column) = isobox::backend::line_and_column(code);
        for (name, error) in common::errors(code).await {
            let isobox::SandboxError::Syntax { message, line, column } = &error else {
                panic!("{name}: `{code}`: {error:?}")
            };
            assert!(
                *line < last_line || (*line == last_line && *column <= end_column),
                "{name}: `{code}` reported at {line}:{column}, past its end {last_line}:{end_column} ({message})"
            );
            if code.ends_with('(') || code.ends_with("1") || code.ends_with('2') {
                assert_eq!(
                    (message.as_str(), *line, *column),
                    ("unexpected end of input", last_line, end_column),
                    "{name}: `{code}`"
                );
            }
        }
    }
}
