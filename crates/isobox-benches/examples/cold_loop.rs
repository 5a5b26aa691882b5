//! The `cold` benchmark workload (a fresh sandbox, one capability call, a small object returned) on the wasm backend,
//! or on V8, in a loop, for a profiler. With `ISOBOX_PERF_MAP` set, wasmtime names the guest's functions for `perf`:
//!
//! ```text
//! cargo build --release --workspace --example cold_loop
//! ISOBOX_PERF_MAP=1 perf record -F 5000 -g target/release/examples/cold_loop 20000
//! perf report --no-children --sort symbol
//! ```
//!
//! `cold_loop [REQUESTS] [CONCURRENT] [wasm|v8] [after-large|hostcalls|PROGRAM]` (default 10,000 requests, one at a
//! time, on wasm) prints the median and 90th percentile request times and the requests per second when done;
//! `CONCURRENT` loops run at once on as many threads (the `throughput` workload). `after-large` first runs one request
//! that builds a large heap (100,000 objects), as a host serving mixed requests does, in the slot the loop then uses,
//! and `after:PROGRAM` first runs `PROGRAM` there (`'after:const f = n => f(n + 1); f(0)'`: a stack overflow);
//! `hostcalls` runs the `hostcalls` workload (1,000 capability calls per request) instead of `cold`, and prints the
//! median per call too; any other text is a program to run instead, granted `bench` (`'return 1'`: what a request costs
//! apart from its program's work). On V8 the isolates are made in worker processes: `perf record` follows them.
//!
//! The wasm backend's pool has a slot for each loop (and one to spare) rather than the default thousand, so that its
//! reservation of address space is small enough for valgrind: `valgrind --tool=callgrind` counts the instructions of a
//! run, and two runs of different lengths give them per request, repeatably on a noisy machine. Its epoch ticks every
//! second rather than every 2 ms (see below).
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobox::{Backend, Limits, Request, WasmBackend, WasmConfig};
use isobox_bench::BenchCapability;
use isobox_bench::workloads::{COLD, HOSTCALLS, Workload};
use isobox_v8::{V8Backend, V8Config};

/// `after-large`'s first request: a heap of 100,000 objects (15 MB of memory).
const LARGE: &str = "const a = []; for (let i = 0; i < 100000; i++) a.push({ i, s: 'x' + i }); return a.length;";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests = args.next().map(|n| n.parse::<usize>()).transpose()?.unwrap_or(10_000);
    let concurrent = args.next().map(|n| n.parse::<usize>()).transpose()?.unwrap_or(1).max(1);
    let backend_name = args.next().unwrap_or_else(|| "wasm".to_string());
    let (after, workload) = match args.next() {
        None => (None, COLD),
        Some(option) if option == "after-large" => (Some(LARGE.to_string()), COLD),
        Some(option) if option.starts_with("after:") => (Some(option["after:".len()..].to_string()), COLD),
        Some(option) if option == "hostcalls" => (None, HOSTCALLS),
        // Leaked: the loop needs it until the process ends.
        Some(code) => (None, Workload { name: "program", description: "the program given", code: code.leak(), per: 1 }),
    };
    if requests < concurrent {
        return Err(format!("{requests} requests cannot keep {concurrent} loops busy").into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(concurrent).enable_all().build()?;
    runtime.block_on(async {
        let bench = BenchCapability::new();
        let capabilities = isobox_bench::capabilities(&bench);
        let backend: Arc<dyn Backend> = match backend_name.as_str() {
            "wasm" => {
                let max_sandboxes = u32::try_from(concurrent + 1)?;
                // Under valgrind a request takes milliseconds, and the default 2 ms epoch tick would make it yield
                // once or twice, adding instructions a 40 µs request almost never spends: a longer tick keeps the
                // counts to the request's own work (the loop sets no deadline it could miss).
                let tick = Duration::from_secs(1);
                Arc::new(WasmBackend::new(WasmConfig { capabilities, max_sandboxes, tick, ..WasmConfig::default() })?)
            }
            "v8" => Arc::new(V8Backend::new(V8Config { capabilities, ..V8Config::default() })?),
            other => return Err(format!("no backend {other:?}: wasm or v8").into()),
        };
        if let Some(first) = after {
            // Its outcome does not matter (a program that overflows its stack ends in an error), only what it left in
            // the slot.
            let _ = backend.run(&Request::new(first)).await;
        }
        let defaults = Limits::default();
        let limits = Limits { host_calls: workload.per.max(defaults.host_calls), ..defaults };
        let request = Arc::new(Request::new(workload.code).with_grants(["bench"]).with_limits(limits));
        let started = Instant::now();
        let loops: Vec<_> = (0..concurrent)
            .map(|_| {
                let (backend, request) = (Arc::clone(&backend), Arc::clone(&request));
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(requests / concurrent);
                    for _ in 0..requests / concurrent {
                        let started = Instant::now();
                        let outcome = backend.run(&request).await;
                        samples.push(started.elapsed());
                        outcome.result.map_err(|error| error.to_string())?;
                    }
                    Ok::<_, String>(samples)
                })
            })
            .collect();
        let mut samples: Vec<Duration> = Vec::with_capacity(requests);
        for done in loops {
            samples.extend(done.await??);
        }
        let elapsed = started.elapsed();
        samples.sort();
        let (median, p90) = (samples[samples.len() / 2], samples[samples.len() * 9 / 10]);
        let per = if workload.per > 1 { format!(" ({:?} per call)", median / workload.per) } else { String::new() };
        println!(
            "{} requests, {concurrent} at once: median {median:?}{per}, p90 {p90:?}, {:.0} requests/s",
            samples.len(),
            samples.len() as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    })
}
