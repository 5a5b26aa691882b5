//! Per-request cost of the wasm backend: a fresh store and instance, the program, and its outcome.
//!
//! `cargo bench --bench fresh_sandbox`

use criterion::{Criterion, criterion_group, criterion_main};
use isobox::{Backend, Request, WasmBackend, WasmConfig};

fn fresh_sandbox(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let backend = WasmBackend::new(WasmConfig::default()).expect("the wasm backend starts");
    let programs = [
        ("return_1_plus_1", "return 1 + 1"),
        ("small_object", "const xs = [1, 2, 3].map(x => ({ x, square: x * x })); return { count: xs.length, xs }"),
    ];
    let mut group = c.benchmark_group("wasm_fresh_sandbox");
    for (name, code) in programs {
        let request = Request::new(code);
        // Fail loudly rather than measure an error path.
        let outcome = runtime.block_on(backend.run(&request));
        assert!(outcome.is_ok(), "{name}: {:?}", outcome.result);
        group.bench_function(name, |b| b.to_async(&runtime).iter(|| backend.run(&request)));
    }
    group.finish();
}

criterion_group!(benches, fresh_sandbox);
criterion_main!(benches);
