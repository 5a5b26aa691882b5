//! A plugin host: a text pipeline whose steps are third-party JavaScript plugins. Each plugin is compiled ahead of
//! time, loaded once, and called for every document, each call in a fresh sandbox under tight limits. Two of the
//! plugins misbehave (one never returns, one eats memory): their steps fail, the pipeline carries on.
//!
//! Run with `cargo run --release --example plugin_host`.

use std::time::{Duration, Instant};

use isobox::RunOptions;
use isobox::plugin::PluginHost;
use isobox::{Limits, WasmConfig};
use isobox_compile::CompileOptions;
use serde_json::Value;

/// The pipeline's steps, in order. Each plugin exports `step(text) -> text`.
const STEPS: [(&str, &str); 5] = [
    ("collapse-space", "export function step(text) { return text.replace(/\\s+/g, ' ').trim() }"),
    (
        "redact-emails",
        "const pattern = /[\\w.+-]+@[\\w-]+\\.[\\w.]+/g;\n\
         export function step(text) {\n\
           const found = text.match(pattern) ?? [];\n\
           if (found.length) console.log(`redacted ${found.length} address(es)`);\n\
           return text.replace(pattern, '[email]');\n\
         }",
    ),
    ("never-returns", "export function step(text) { while (text) {} }"),
    ("hoards-memory", "export function step(text) { const copies = []; for (;;) copies.push(text.repeat(1000)); }"),
    (
        "shorten",
        "export async function step(text) {\n\
           const words = text.split(' ');\n\
           return words.length <= 12 ? text : words.slice(0, 12).join(' ') + ' …';\n\
         }",
    ),
];

const DOCUMENTS: [&str; 2] = [
    "Hello   team,\n\n  please   send the report to ada@example.com   by Friday.  Thanks!",
    "Reminder:  the   plugin host runs every step in a fresh sandbox, so no step can see another's data or \
     outlive its limits; write to ops+alerts@example.org with questions.",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Ahead of time, as a build step would: JavaScript → a few KiB of WebAssembly per plugin.
    let mut modules = Vec::new();
    for (name, source) in STEPS {
        let started = Instant::now();
        let module = isobox_compile::compile(source, CompileOptions::default()).await?;
        println!("compiled {name:15} {:>6} bytes in {:>4} ms", module.len(), started.elapsed().as_millis());
        modules.push((name, module));
    }

    // At run time: one host for the process, each plugin loaded once.
    let host = PluginHost::new(WasmConfig::default())?;
    let mut plugins = Vec::new();
    for (name, module) in &modules {
        plugins.push((*name, host.load(module)?));
    }
    let limits = Limits { timeout: Duration::from_millis(50), memory_bytes: 16 << 20, ..Limits::default() };
    let options = RunOptions::default().with_limits(limits);

    for document in DOCUMENTS {
        println!("\ninput:  {document:?}");
        let mut text = Value::String(document.into());
        for (name, plugin) in &plugins {
            let outcome = plugin.call("step", Some(&text), &options).await;
            for line in &outcome.logs {
                println!("  {name:15} [{}] {}", line.level.as_str(), line.message);
            }
            match outcome.result {
                Ok(next) => {
                    println!("  {name:15} ok in {:>5} µs", outcome.metrics.total_us);
                    text = next;
                }
                // A failed step is skipped: the document goes on as it was.
                Err(error) => println!(
                    "  {name:15} skipped after {:>5} µs: {} error: {error}",
                    outcome.metrics.total_us,
                    error.kind()
                ),
            }
        }
        println!("output: {text}");
    }
    Ok(())
}
