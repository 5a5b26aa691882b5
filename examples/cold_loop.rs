//! The `cold` benchmark workload (a fresh sandbox, one capability call, a small object returned) on the wasm backend,
//! in a loop, for a profiler. With `ISOBOX_PERF_MAP` set, wasmtime names the guest's functions for `perf`:
//!
//! ```text
//! cargo build --release --example cold_loop
//! ISOBOX_PERF_MAP=1 perf record -F 5000 -g target/release/examples/cold_loop 20000
//! perf report --no-children --sort symbol
//! ```
//!
//! `cold_loop [REQUESTS]` (default 10,000) prints the median request time when done.
use std::time::Instant;

use isobox::{Backend, Request, WasmBackend, WasmConfig};
use isobox_bench::{BenchCapability, workloads::COLD};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let bench = BenchCapability::new();
    let config = WasmConfig { capabilities: isobox_bench::capabilities(&bench), ..WasmConfig::default() };
    let backend = WasmBackend::new(config)?;
    let request = Request::new(COLD.code).with_grants(["bench"]);
    let mut samples = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let outcome = backend.run(&request).await;
        samples.push(started.elapsed());
        outcome.result?;
    }
    samples.sort();
    println!("{requests} requests, median {:?}", samples[requests / 2]);
    Ok(())
}
