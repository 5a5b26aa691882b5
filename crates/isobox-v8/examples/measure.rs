//! Quick figures for the V8 backend, without criterion: `cargo run --release -p isobox-v8 --example measure`.
//!
//! - the time of a first request that starts its worker process (a backend with no workers started ahead);
//! - the median time of a `return 1 + 1` request, one request at a time, with its start (isolate and context) and run
//!   parts;
//! - resident memory of the host and its workers after many requests (it must not grow: every isolate is disposed
//!   of);
//! - memory per live sandbox, from many sandboxes running at once (each busy in a loop until its deadline), counting
//!   the worker processes: resident (RSS, which counts libnode's shared pages in every worker) and proportional (PSS,
//!   which shares them out).
use std::time::{Duration, Instant};

use isobox_core::{Backend, Limits, Request};
use isobox_v8::{V8Backend, V8Config};

const REQUESTS: usize = 500;
const LIVE: u32 = 40;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let request = Request::new("return 1 + 1");
    {
        let cold = V8Backend::new(V8Config { warm_sandboxes: 0, ..V8Config::default() })?;
        let began = Instant::now();
        assert_eq!(cold.run(&request).await.result?, 2);
        println!("a first request that starts its worker: {} µs", began.elapsed().as_micros());
    }
    let backend = V8Backend::new(V8Config { max_sandboxes: LIVE, ..V8Config::default() })?;
    backend.run(&request).await;

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

    let before = memory();
    for _ in 0..2000 {
        backend.run(&request).await;
    }
    println!("host and workers after 2000 more requests: {before} -> {}", memory());

    let idle = memory();
    let busy = Limits { timeout: Duration::from_millis(1500), ..Limits::default() };
    let backend: &'static V8Backend = Box::leak(Box::new(backend));
    let tasks: Vec<_> = (0..LIVE)
        .map(|_| {
            let request = Request::new("for (;;) {}").with_limits(busy.clone());
            tokio::spawn(async move { backend.run(&request).await })
        })
        .collect();
    let mut peak = Memory::default();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = memory();
        if now.workers == u64::from(LIVE) && now.pss_kib > peak.pss_kib {
            peak = now;
        }
    }
    for task in tasks {
        assert_eq!(task.await?.error().map(|e| e.kind()), Some("timeout"));
    }
    let per = |total: u64| total / u64::from(LIVE);
    println!(
        "{LIVE} live sandboxes: {idle} -> {peak}; per sandbox {} KiB RSS, {} KiB PSS (the whole worker process)",
        per(peak.rss_kib - peak.host_rss_kib),
        per(peak.pss_kib - peak.host_pss_kib)
    );
    Ok(())
}

/// The host's memory and its worker processes'.
#[derive(Clone, Copy, Default)]
struct Memory {
    host_rss_kib: u64,
    host_pss_kib: u64,
    /// Host and workers together.
    rss_kib: u64,
    pss_kib: u64,
    workers: u64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host {} KiB RSS / {} KiB PSS, with {} workers {} KiB RSS / {} KiB PSS",
            self.host_rss_kib, self.host_pss_kib, self.workers, self.rss_kib, self.pss_kib
        )
    }
}

fn memory() -> Memory {
    let me = std::process::id().to_string();
    let host = |name| field(&format!("/proc/{me}/smaps_rollup"), name);
    let (host_rss_kib, host_pss_kib) = (host("Rss:"), host("Pss:"));
    let mut total = Memory { host_rss_kib, host_pss_kib, rss_kib: host_rss_kib, pss_kib: host_pss_kib, workers: 0 };
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
        if parent.as_deref() != Some(me.as_str()) {
            continue;
        }
        let rollup = entry.path().join("smaps_rollup");
        let rollup = rollup.to_string_lossy();
        total.rss_kib += field(&rollup, "Rss:");
        total.pss_kib += field(&rollup, "Pss:");
        total.workers += 1;
    }
    total
}

fn field(path: &str, name: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let value = text.lines().find_map(|line| line.strip_prefix(name)).unwrap_or_default();
    value.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}
