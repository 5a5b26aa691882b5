//! The programs the benchmarks run, each documented in one line.

use std::time::Duration;

/// One program run per sample, in a fresh sandbox.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// A short name, the workload's key in reports and charts (`cold`, `hostcalls`, …).
    pub name: &'static str,
    /// One line for people saying what is run and what one sample measures.
    pub description: &'static str,
    /// The program, a function body: it may `await` the `bench` capability and `return` a value.
    pub code: &'static str,
    /// Host calls the program makes: its samples are divided by this, to report the cost of one call.
    pub per: u32,
}

/// Fresh sandbox per request: a tiny program calling one capability and returning a small object.
pub const COLD: Workload = Workload {
    name: "cold",
    description: "fresh sandbox, one capability call, small object returned (per request)",
    code: "const n = await bench.echo(7); return { n, ok: true }",
    per: 1,
};

/// One sandbox making 1,000 capability calls.
pub const HOSTCALLS: Workload = Workload {
    name: "hostcalls",
    description: "one sandbox making 1,000 capability calls (per call)",
    code: "let sum = 0; for (let i = 0; i < 1000; i++) sum += await bench.echo(i); return sum",
    per: 1000,
};

/// Sum of 1..10,000,000 in a loop.
pub const COMPUTE_LOOP: Workload = Workload {
    name: "compute-loop",
    description: "sum of 1..10,000,000 in a loop (per run)",
    code: "let sum = 0; for (let i = 1; i <= 10000000; i++) sum += i; return sum",
    per: 1,
};

/// Build 10k objects, JSON.stringify them (~1 MB) and JSON.parse them back.
pub const COMPUTE_JSON: Workload = Workload {
    name: "compute-json",
    description: "10k objects to ~1 MB of JSON and back (per run)",
    code: "const items = Array.from({ length: 10000 }, (_, i) => ({ id: i, name: `item number ${i}`, tags: ['alpha', 'beta', 'gamma'], price: i * 1.25, active: i % 2 === 0, note: 'x'.repeat(20) }));
           const text = JSON.stringify(items); const back = JSON.parse(text); return { bytes: text.length, count: back.length }",
    per: 1,
};

/// A regular expression over 1 MB of text.
pub const COMPUTE_REGEX: Workload = Workload {
    name: "compute-regex",
    description: "a regex over 1 MB of text (per run)",
    code: "const text = 'lorem ipsum dolor sit amet 2026-11-26 consectetur adipiscing elit '.repeat(15000);
           return text.match(/\\d{4}-\\d{2}-\\d{2}/g).length",
    per: 1,
};

/// The latency workloads, in the order they run and print.
pub const LATENCY: [Workload; 5] = [COLD, HOSTCALLS, COMPUTE_LOOP, COMPUTE_JSON, COMPUTE_REGEX];

/// A program that has done some work and then waits in a host call: what a live sandbox holds.
pub const HOLD: &str =
    "const o = { list: [1, 2, 3], text: 'live' }; JSON.stringify(o); await bench.hold(); return o.list.length";

/// Compute workloads run long on an interpreter: their deadline.
pub const TIMEOUT: Duration = Duration::from_secs(120);
