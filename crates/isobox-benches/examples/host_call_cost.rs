//! The cost of one capability call round trip on every backend: from the program's call through the host's checks and
//! a trivial Rust function (`bench.echo`) back to the program's `await`.
//!
//! `cargo run --release -p isobox-benches --example host_call_cost [CALLS]`
//!
//! Each sample is one request making `CALLS` calls (default 10,000), less a request running the same loop without
//! calls; the backends take turns, and the median per call is reported.
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobox::{Backend, Limits, Request, WasmBackend, WasmConfig};
use isobox_bench::BenchCapability;
use isobox_v8::{V8Backend, V8Config};

const ROUNDS: usize = 15;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: u32 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let bench = BenchCapability::new();
    let capabilities = isobox_bench::capabilities(&bench);
    let backends: Vec<(&str, Arc<dyn Backend>)> = vec![
        (
            "wasm",
            Arc::new(WasmBackend::new(WasmConfig { capabilities: capabilities.clone(), ..WasmConfig::default() })?),
        ),
        ("v8", Arc::new(V8Backend::new(V8Config { capabilities, ..V8Config::default() })?)),
    ];
    let limits = Limits { host_calls: calls, timeout: Duration::from_secs(60), ..Limits::default() };
    let with_calls =
        Request::new(format!("let s = 0; for (let i = 0; i < {calls}; i++) s += await bench.echo(i); return s"))
            .with_grants(["bench"])
            .with_limits(limits.clone());
    let without = Request::new(format!("let s = 0; for (let i = 0; i < {calls}; i++) s += await i; return s"))
        .with_grants(["bench"])
        .with_limits(limits);
    let expected = u64::from(calls) * (u64::from(calls) - 1) / 2;

    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); backends.len()];
    let mut totals: Vec<Vec<f64>> = vec![Vec::new(); backends.len()];
    for round in 0..=ROUNDS {
        for (index, (name, backend)) in backends.iter().enumerate() {
            let began = Instant::now();
            let outcome = backend.run(&with_calls).await;
            let with_us = began.elapsed().as_secs_f64() * 1e6;
            assert_eq!(outcome.result.as_ref().map_err(|e| format!("{name}: {e}"))?, &serde_json::json!(expected));
            let began = Instant::now();
            let baseline = backend.run(&without).await;
            let without_us = began.elapsed().as_secs_f64() * 1e6;
            assert!(baseline.is_ok(), "{name}: {:?}", baseline.result);
            if round > 0 {
                // The first round warms up (V8's first isolate, caches).
                per_call[index].push((with_us - without_us) / f64::from(calls));
                totals[index].push(with_us);
            }
        }
    }
    println!("{calls} host calls (`await bench.echo(i)`) per request, {ROUNDS} rounds, medians:");
    for (index, (name, _)) in backends.iter().enumerate() {
        println!(
            "  {name:5} {:7.3} µs per call round trip  (request with the calls: {:8.0} µs)",
            median(&mut per_call[index]),
            median(&mut totals[index])
        );
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
