//! Per-call cost of a compiled plugin against `run` of the same source: the plugin's call skips parsing and
//! compiling JavaScript. Both run in a fresh sandbox per call; a session call (one sandbox kept) is shown for scale.
//!
//! `cargo bench -p isobox-benches --bench plugins`

use criterion::{Criterion, criterion_main};
use isobox::RunOptions;
use isobox::plugin::PluginHost;
use isobox::{Backend, Request, WasmBackend, WasmConfig};
use isobox_compile::CompileOptions;
use serde_json::{Value, json};

/// Function bodies: each is the body of `run`'s program and of the plugin's exported function.
const WORKLOADS: [(&str, &str); 2] = [
    ("slugify", "return input.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');"),
    (
        "orders_report",
        r#"const byCustomer = new Map();
        for (const order of input) {
          const seen = byCustomer.get(order.customer) ?? { customer: order.customer, orders: 0, total: 0 };
          seen.orders += 1;
          seen.total += order.items.reduce((sum, item) => sum + item.price * item.quantity, 0);
          byCustomer.set(order.customer, seen);
        }
        const rows = [...byCustomer.values()].sort((a, b) => b.total - a.total);
        const format = (cents) => (cents / 100).toFixed(2);
        return {
          top: rows.slice(0, 3).map((row) => ({ ...row, total: format(row.total) })),
          customers: rows.length,
          revenue: format(rows.reduce((sum, row) => sum + row.total, 0)),
          average: format(rows.reduce((sum, row) => sum + row.total, 0) / Math.max(1, input.length)),
          flagged: input.filter((order) => order.items.some((item) => item.quantity > 8)).map((order) => order.id),
        };"#,
    ),
];

fn input(workload: &str) -> Value {
    match workload {
        "slugify" => json!("  Hello, World: Plugins Compiled Ahead of Time!  "),
        _ => Value::Array(
            (0..20)
                .map(|id| {
                    json!({"id": id, "customer": format!("c{}", id % 7), "items": [
                        {"price": 1999 + id, "quantity": 1 + id % 10}, {"price": 250, "quantity": 2}
                    ]})
                })
                .collect(),
        ),
    }
}

fn plugin_vs_run(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let backend = WasmBackend::new(WasmConfig::default()).expect("the wasm backend starts");
    let host = PluginHost::new(WasmConfig::default()).expect("the plugin host starts");
    let options = RunOptions::default();
    let mut group = c.benchmark_group("plugin_vs_run");
    for (name, body) in WORKLOADS {
        let input = input(name);
        let source = format!("export function {name}(input) {{\n{body}\n}}");
        let module = runtime.block_on(isobox_compile::compile(&source, CompileOptions::default())).expect("compiles");
        let plugin = host.load(&module).expect("loads");
        let request = Request::new(body).with_input(input.clone());

        // Fail loudly rather than measure an error path; and both must agree.
        let ran = runtime.block_on(backend.run(&request)).result.expect("run succeeds");
        let called = runtime.block_on(plugin.call(name, Some(&input), &options)).result.expect("call succeeds");
        assert_eq!(ran, called, "{name}: run and plugin call agree");

        group.bench_function(format!("{name}/run"), |b| b.to_async(&runtime).iter(|| backend.run(&request)));
        group.bench_function(format!("{name}/plugin_call"), |b| {
            b.to_async(&runtime).iter(|| plugin.call(name, Some(&input), &options))
        });
        let mut session = runtime.block_on(plugin.session(&options)).expect("a session opens");
        group.bench_function(format!("{name}/session_call"), |b| {
            b.iter(|| runtime.block_on(session.call(name, Some(&input))))
        });
    }
    group.finish();
}

/// The generated group function, kept private: `criterion_group!` declares it `pub`.
mod group {
    criterion::criterion_group!(benches, super::plugin_vs_run);
}
criterion_main!(group::benches);
