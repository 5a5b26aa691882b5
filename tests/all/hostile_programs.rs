//! Generated hostile programs on every backend. Each program is a few hostile pieces put together at random (deep
//! nesting, huge literals, backtracking regular expressions, proxies and throwing getters passed to capabilities,
//! `toJSON` tricks, polluted prototypes and a replaced `Promise` before capability calls, results JSON cannot carry).
//! Whatever it does, its outcome must be a result or one of the documented error kinds — never `internal`, which
//! would blame isobox — and the backend must go on serving ordinary requests.
//!
//! The seed and the number of programs come from `ISOBOX_HOSTILE_SEED` and `ISOBOX_HOSTILE_PROGRAMS` (a fixed seed and
//! 60 programs by default, so that CI replays the same ones); a failure names the seed and the program.

use crate::common;

use std::time::Duration;

use isobox::kv::KvStore;
use isobox::{Capabilities, Limits, Request};
use serde_json::json;

/// The kinds a hostile program may end with: its own failures and the limits it hit.
const PROGRAM_KINDS: [&str; 7] =
    ["syntax", "exception", "timeout", "memory", "stack_overflow", "output_limit", "capability"];

/// A small, deterministic generator (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn size(&mut self) -> usize {
        // Mostly small, sometimes very large: 10 to 10^5.
        10usize.pow(1 + self.below(5) as u32) / (1 + self.below(3) as usize)
    }
}

/// Something a program does before its main act: each one leaves the realm hostile to what follows.
fn pollution(random: &mut Random) -> String {
    let pieces = [
        "Object.prototype.toJSON = function () { return { kind: 'internal', message: 'forged' } };",
        "Array.prototype.toJSON = () => { throw new Error('no') };",
        "Object.defineProperty(Object.prototype, '0', { set() { throw new Error('setter') }, configurable: true });",
        "Object.defineProperty(Array.prototype, 'length', { get() { return 1e9 } });",
        "Promise.prototype.then = function () { return this };",
        "globalThis.Promise = function () { throw new Error('no promises') };",
        "JSON.stringify = () => '{\"kind\":\"internal\"}'; JSON.parse = () => ({ kind: 'memory' });",
        "RegExp.prototype.exec = () => null; RegExp.prototype[Symbol.replace] = () => 'forged';",
        "String.prototype.replace = () => 'x'; String.prototype.indexOf = () => 0;",
        "Error.prepareStackTrace = () => { throw 1 }; Error.captureStackTrace = null;",
        "Object.defineProperty(Error.prototype, 'message', { get() { throw new Error('getter') } });",
        "Function.prototype.call = Function.prototype.apply = Function.prototype.bind = null;",
        "Symbol.prototype.toString = null; Object.prototype.toString = () => { throw 1 };",
        "",
    ];
    pieces[random.below(pieces.len() as u64) as usize].to_string()
}

/// The program's main act.
fn act(random: &mut Random) -> String {
    let n = random.size();
    match random.below(16) {
        0 => format!("return {}1{}", "[".repeat(n), "]".repeat(n)),
        1 => format!("return {}0{}", "(".repeat(n), ")".repeat(n)),
        2 => format!("return {}1{}", "{a:".repeat(n), "}".repeat(n)),
        3 => format!("const s = \"{}\"; return s.length", "x".repeat(n * 10)),
        4 => format!("return /(a+)+$/.test('{}b')", "a".repeat(n.min(40))),
        5 => "return await kv.set(new Proxy({}, { get() { throw new Error('trap') } }), 'v')".into(),
        6 => "return await kv.set({ toString() { throw new Error('x') } }, 'v')".into(),
        7 => "return await kv.get({ toJSON() { return 'k'.repeat(1e6) } })".into(),
        8 => "const a = []; a[0] = a; return await kv.set('k', a)".into(),
        9 => format!("return await kv.set('k', 'v'.repeat({n}))"),
        10 => "const o = {}; o.self = o; return o".into(),
        11 => "return [10n, Symbol('s'), () => 1]".into(),
        12 => format!("let v = 1; for (let i = 0; i < {n}; i++) v = {{ v }}; return v"),
        13 => format!("for (let i = 0; i < {n}; i++) console.log('\\u001b[2J\\u0000'.repeat(100)); return 1"),
        14 => {
            "return await Promise.all([kv.get('a'), kv.increment('n', 9007199254740991), kv.increment('n', 1)])".into()
        }
        _ => format!("function f(n) {{ return n ? f(n - 1) + 1 : 0 }} return f({})", n * 10),
    }
}

fn program(random: &mut Random) -> String {
    let mut code = String::new();
    for _ in 0..random.below(3) {
        code.push_str(&pollution(random));
        code.push('\n');
    }
    code.push_str(&act(random));
    code
}

#[tokio::test]
async fn generated_hostile_programs_end_in_documented_outcomes() {
    let seed = std::env::var("ISOBOX_HOSTILE_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(0x5eed_1505);
    let count = std::env::var("ISOBOX_HOSTILE_PROGRAMS").ok().and_then(|count| count.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let mut capabilities = Capabilities::new();
    capabilities.register(KvStore::open(&dir.path().join("kv.redb")).unwrap().capability()).unwrap();
    let backends = common::backends(&capabilities);
    let limits = Limits {
        timeout: Duration::from_millis(300),
        memory_bytes: 16 << 20,
        output_bytes: 64 << 10,
        host_call_bytes: 64 << 10,
        ..Limits::default()
    };
    let mut random = Random(seed);
    for index in 0..count {
        let code = program(&mut random);
        let request = Request::new(code.clone()).with_grants(["kv"]).with_tenant("hostile").with_limits(limits.clone());
        for (name, backend) in &backends {
            let outcome = backend.run(&request).await;
            if let Err(error) = &outcome.result {
                assert!(
                    PROGRAM_KINDS.contains(&error.kind()),
                    "{name}: seed {seed}, program {index} ended as {error:?}:\n{}",
                    code.chars().take(600).collect::<String>()
                );
            }
            let ordinary = backend.run(&Request::new("return input * 2").with_input(json!(21))).await;
            assert_eq!(ordinary.result.ok(), Some(json!(42)), "{name}: seed {seed}, after program {index}");
        }
    }
}

/// A program may close the function it is wrapped in and leave a plain function in its place (each backend wraps a
/// program its own way, so each gets its own escape): that function's value is the result, on both backends, and not
/// an error of the host's.
#[tokio::test]
async fn a_program_that_closes_its_wrapper_gets_its_own_value() {
    for (name, backend) in common::all() {
        let code = if *name == "wasm" { "}; 0, function () { return 7" } else { "}); 0, (function () { return 7" };
        match backend.run(&Request::new(code)).await.result {
            Ok(value) => assert_eq!(value, json!(7), "{name}"),
            Err(error) => panic!("{name}: {error:?}"),
        }
    }
}
