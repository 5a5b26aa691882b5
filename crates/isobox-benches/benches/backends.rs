//! The `cold`, `hostcalls` and `compute` workloads of `isobox bench`, on each backend, for tracking regressions with
//! criterion's statistics and history (`isobox bench` is the side-by-side comparison).
//!
//! `cargo bench -p isobox-benches --bench backends` (all), `cargo bench -p isobox-benches --bench backends -- cold` (one
//! workload).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_main};
use isobox::{Backend, Limits, Request, WasmBackend, WasmConfig};
use isobox_bench::{BenchCapability, workloads};
use isobox_v8::{V8Backend, V8Config};

fn backends(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let capabilities = isobox_bench::capabilities(&BenchCapability::new());
    let wasm = WasmBackend::new(WasmConfig { capabilities: capabilities.clone(), ..WasmConfig::default() })
        .expect("the wasm backend starts");
    let v8 = V8Backend::new(V8Config { capabilities, ..V8Config::default() })
        .unwrap_or_else(|error| panic!("the V8 backend does not start (scripts/setup-v8.sh): {error}"));
    let backends: [Arc<dyn Backend>; 2] = [Arc::new(wasm), Arc::new(v8)];

    for workload in workloads::LATENCY {
        let request = Request::new(workload.code).with_grants(["bench"]).with_limits(Limits {
            timeout: workloads::TIMEOUT,
            host_calls: 10_000,
            ..Limits::default()
        });
        let mut group = c.benchmark_group(workload.name);
        if workload.name.starts_with("compute") {
            // Seconds per run on the interpreter: few samples, and time enough to take them.
            group.sample_size(10).measurement_time(Duration::from_secs(30));
        }
        for backend in &backends {
            // Fail loudly rather than measure an error path.
            let outcome = runtime.block_on(backend.run(&request));
            assert!(outcome.is_ok(), "{} on {}: {:?}", workload.name, backend.name(), outcome.result);
            group.bench_function(backend.name(), |b| b.to_async(&runtime).iter(|| backend.run(&request)));
        }
        group.finish();
    }
}

/// The generated group function, kept private: `criterion_group!` declares it `pub`.
mod group {
    criterion::criterion_group!(benches, super::backends);
}
criterion_main!(group::benches);
