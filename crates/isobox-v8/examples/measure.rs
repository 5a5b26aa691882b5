//! Quick figures for the V8 backend, without criterion: `cargo run --release -p isobox-v8 --example measure`.
//!
//! - the median time of a `return 1 + 1` request, one request at a time, with its start (isolate and context) and run
//!   parts;
//! - resident memory after many requests (it must not grow: every isolate is disposed of);
//! - resident memory per live sandbox, from many sandboxes running at once (each busy in a loop until its deadline).
use std::time::{Duration, Instant};

use isobox_core::{Backend, Limits, Request};
use isobox_v8::{V8Backend, V8Config};

const REQUESTS: usize = 500;
const LIVE: u32 = 40;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = V8Backend::new(V8Config { max_sandboxes: LIVE, ..V8Config::default() })?;
    let request = Request::new("return 1 + 1");
    backend.run(&request).await; // V8's first isolate pays for process-wide setup

    let (mut wall, mut start, mut run) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REQUESTS {
        let began = Instant::now();
        let outcome = backend.run(&request).await;
        wall.push(began.elapsed().as_micros() as u64);
        assert_eq!(outcome.result?, 2);
        start.push(outcome.metrics.start_us);
        run.push(outcome.metrics.run_us);
    }
    println!(
        "`return 1 + 1`, {REQUESTS} requests one at a time: median {} µs per request (start {} µs, run {} µs)",
        median(&mut wall),
        median(&mut start),
        median(&mut run)
    );

    let before = rss_kib();
    for _ in 0..2000 {
        backend.run(&request).await;
    }
    println!("resident memory after {} more requests: {} KiB -> {} KiB", 2000, before, rss_kib());

    let idle = rss_kib();
    let busy = Limits { timeout: Duration::from_millis(1500), ..Limits::default() };
    let backend: &'static V8Backend = Box::leak(Box::new(backend));
    let tasks: Vec<_> = (0..LIVE)
        .map(|_| {
            let request = Request::new("for (;;) {}").with_limits(busy.clone());
            tokio::spawn(async move { backend.run(&request).await })
        })
        .collect();
    let mut peak = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_kib());
    }
    for task in tasks {
        assert_eq!(task.await?.error().map(|e| e.kind()), Some("timeout"));
    }
    println!(
        "{LIVE} live sandboxes: resident memory {idle} KiB -> {peak} KiB, {} KiB per sandbox",
        (peak - idle) / u64::from(LIVE)
    );
    Ok(())
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
