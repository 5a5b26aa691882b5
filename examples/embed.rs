//! Embedding isobox in a tokio program: one backend for the process, one fresh sandbox per request.
//!
//! Run with `cargo run --release --example embed`.

use std::sync::Arc;
use std::time::Duration;

use isobox::{Backend, Limits, Request, WasmBackend, WasmConfig};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend: Arc<dyn Backend> = Arc::new(WasmBackend::new(WasmConfig::default())?);

    // Requests run concurrently; each gets its own sandbox.
    let programs = [
        "return input.map(n => n * n)",
        "console.log('thinking…'); return { sum: input.reduce((a, b) => a + b, 0) }",
        "for (;;) {}",
        "return input.nope.deeper",
    ];
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let tasks = programs.map(|code| {
        let backend = Arc::clone(&backend);
        let request = Request::new(code).with_input(json!([1, 2, 3])).with_limits(limits.clone());
        tokio::spawn(async move { backend.run(&request).await })
    });
    for (code, task) in programs.iter().zip(tasks) {
        let outcome = task.await?;
        match &outcome.result {
            Ok(value) => println!("{code:70} → {value}"),
            Err(error) => println!("{code:70} → {} error: {error}", error.kind()),
        }
        for line in &outcome.logs {
            println!("{:70}   [{}] {}", "", line.level.as_str(), line.message);
        }
    }
    Ok(())
}
