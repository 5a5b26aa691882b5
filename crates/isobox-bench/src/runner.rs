//! Runs every workload on every backend, interleaved: each round gives every backend one turn (a short block of
//! requests), so that a slow moment of the machine falls on all of them alike. Each turn starts after a pause in
//! which no backend runs a request ([`SETTLE`]), so that what one backend does in the background after its turn does
//! not fall on the next backend's requests, and runs its requests unmeasured for a moment ([`WARM_UP`]) before
//! measuring any.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use isobox_core::{Backend, Limits, Request};

use crate::memory::{pss_kib, rss_kib};
use crate::workloads::{self, Workload};
use crate::{BenchCapability, Measurement, Report};

/// How long and how much to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// A short run that checks the harness rather than measuring precisely.
    pub quick: bool,
    /// The `isobox` executable, for the startup workload (a process per sample); skipped when `None`.
    pub isobox: Option<PathBuf>,
}

/// The most sandboxes the memory workload holds live at once: backends must allow at least this many.
pub const MAX_LIVE_SANDBOXES: u32 = 200;

/// The pause before each backend's turn when several are compared. After a turn the V8 backend's workers go on making
/// the isolates of their next requests (3–6 ms of CPU each, on as many cores as it has workers): without the pause,
/// that work competed with the first milliseconds of the wasm backend's turn, whose whole `cold` turn (50 requests)
/// takes about 2.5 ms.
const SETTLE: Duration = Duration::from_millis(30);

/// How long each backend's turn first runs its requests unmeasured (at least one). After the pause before the turn,
/// or after another backend's turn in which this process mostly waited, this VM's core ran slower for milliseconds:
/// with a single unmeasured request, wasm's `cold` turn (50 requests, about 2 ms) ran at 43 µs a request where the
/// same requests back to back ran at 39–40 µs, its first request at 315 µs; with 10 ms of unmeasured requests first,
/// at 40–41 µs, and V8's `cold` gained alike (825 µs against 850–870 µs).
const WARM_UP: Duration = Duration::from_millis(10);

/// Waits [`SETTLE`] before a backend's turn, when several backends take turns.
async fn settle(backends: &[(String, Arc<dyn Backend>)]) {
    if backends.len() > 1 {
        tokio::time::sleep(SETTLE).await;
    }
}

struct Plan {
    /// Measured requests per workload and backend.
    samples: fn(&Workload) -> usize,
    /// Measured requests in one backend's turn before the next backend's.
    turn: fn(&Workload) -> usize,
    throughput_slices: usize,
    slice: Duration,
    live_sandboxes: usize,
    startups: usize,
}

impl Plan {
    fn for_options(options: &Options) -> Self {
        if options.quick {
            Plan {
                samples: |w| match w.name {
                    "cold" => 50,
                    "hostcalls" => 3,
                    _ => 1,
                },
                turn: |w| if w.name == "cold" { 10 } else { 1 },
                throughput_slices: 2,
                slice: Duration::from_millis(250),
                live_sandboxes: 20,
                startups: 1,
            }
        } else {
            Plan {
                samples: |w| match w.name {
                    "cold" => 2000,
                    "hostcalls" => 30,
                    _ => 5,
                },
                turn: |w| if w.name == "cold" { 50 } else { 1 },
                throughput_slices: 6,
                slice: Duration::from_secs(1),
                live_sandboxes: MAX_LIVE_SANDBOXES as usize,
                startups: 3,
            }
        }
    }

    /// Requests per backend for a latency workload, rounded up to whole turns.
    fn turns(&self, workload: &Workload) -> (usize, usize) {
        let turn = (self.turn)(workload);
        ((self.samples)(workload).div_ceil(turn), turn)
    }
}

/// Measures every workload on every backend. The backends must grant the `bench` capability of `bench`.
pub async fn run(
    backends: &[(String, Arc<dyn Backend>)],
    bench: &BenchCapability,
    options: &Options,
    progress: &ProgressBar,
) -> Report {
    let plan = Plan::for_options(options);
    let latency_steps: usize = workloads::LATENCY.iter().map(|w| plan.turns(w).0 * plan.turns(w).1).sum();
    let startup_steps = if options.isobox.is_some() { 2 * plan.startups } else { 0 };
    progress.set_length(((latency_steps + plan.throughput_slices + 1 + startup_steps) * backends.len()) as u64);

    let mut measurements = Vec::new();
    for workload in workloads::LATENCY {
        progress.set_message(workload.name);
        let (turns, turn) = plan.turns(&workload);
        measurements.extend(latency(backends, &workload, turns, turn, progress).await);
    }
    progress.set_message("throughput");
    measurements.extend(throughput(backends, plan.throughput_slices, plan.slice, progress).await);
    progress.set_message("memory");
    for (name, backend) in backends {
        measurements.extend(memory(name, backend, bench, plan.live_sandboxes).await);
        progress.inc(1);
    }
    if let Some(isobox) = &options.isobox {
        progress.set_message("startup");
        measurements.extend(startup(backends, isobox, plan.startups, progress));
    }
    Report {
        isobox_version: env!("CARGO_PKG_VERSION"),
        cores: cores(),
        quick: options.quick,
        backends: backends.iter().map(|(name, _)| name.clone()).collect(),
        measurements,
    }
}

fn request(code: &str) -> Request {
    Request::new(code).with_grants(["bench"]).with_limits(Limits {
        timeout: workloads::TIMEOUT,
        host_calls: 10_000,
        ..Limits::default()
    })
}

async fn latency(
    backends: &[(String, Arc<dyn Backend>)],
    workload: &Workload,
    turns: usize,
    turn: usize,
    progress: &ProgressBar,
) -> Vec<Measurement> {
    let request = request(workload.code);
    let mut samples = vec![Vec::with_capacity(turns * turn); backends.len()];
    let mut errors: Vec<Option<String>> = vec![None; backends.len()];
    for _ in 0..turns {
        for (i, (_, backend)) in backends.iter().enumerate() {
            settle(backends).await;
            // The first requests after a pause or another backend's turn pay for its leftovers (cold caches, memory
            // it just freed, a slowed core), so they are run but not counted.
            let warming = Instant::now();
            while errors[i].is_none() {
                if let Err(error) = backend.run(&request).await.result {
                    errors[i] = Some(error.to_string());
                }
                if warming.elapsed() >= WARM_UP {
                    break;
                }
            }
            for _ in 0..turn {
                if errors[i].is_some() {
                    break;
                }
                let started = Instant::now();
                let outcome = backend.run(&request).await;
                let elapsed = started.elapsed().as_secs_f64() * 1e6 / f64::from(workload.per);
                match outcome.result {
                    Ok(_) => samples[i].push(elapsed),
                    Err(error) => errors[i] = Some(error.to_string()),
                }
            }
            progress.inc(turn as u64);
        }
    }
    backends
        .iter()
        .zip(samples.into_iter().zip(errors))
        .map(|((name, _), (samples, error))| match error {
            Some(error) => Measurement::failed(workload.name, workload.description, name, "us", error),
            None => Measurement::new(workload.name, workload.description, name, "us", samples),
        })
        .collect()
}

/// Requests per second of the `cold` workload with as many concurrent requests as cores, in alternating slices.
async fn throughput(
    backends: &[(String, Arc<dyn Backend>)],
    slices: usize,
    slice: Duration,
    progress: &ProgressBar,
) -> Vec<Measurement> {
    let request = Arc::new(request(workloads::COLD.code));
    let mut samples = vec![Vec::new(); backends.len()];
    for _ in 0..slices {
        for (i, (_, backend)) in backends.iter().enumerate() {
            progress.inc(1);
            settle(backends).await;
            let done = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let workers: Vec<_> = (0..cores())
                .map(|_| {
                    let (backend, request, done, stop) =
                        (Arc::clone(backend), Arc::clone(&request), Arc::clone(&done), Arc::clone(&stop));
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            if backend.run(&request).await.is_ok() {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    })
                })
                .collect();
            let started = Instant::now();
            tokio::time::sleep(slice).await;
            stop.store(true, Ordering::Relaxed);
            let count = done.load(Ordering::Relaxed);
            let elapsed = started.elapsed();
            for worker in workers {
                let _ = worker.await;
            }
            samples[i].push(count as f64 / elapsed.as_secs_f64());
        }
    }
    let description = format!("cold requests per second, {} concurrent", cores());
    backends
        .iter()
        .zip(samples)
        .map(|((name, _), samples)| Measurement::new("throughput", &description, name, "req/s", samples))
        .collect()
}

/// Resident memory per live sandbox: `n` sandboxes that ran a program and wait in a host call.
async fn memory(name: &str, backend: &Arc<dyn Backend>, bench: &BenchCapability, n: usize) -> Vec<Measurement> {
    let description = format!("memory per live sandbox, {n} held in a host call");
    let (rss_before, pss_before) = (rss_kib(), pss_kib());
    let request = Arc::new(request(workloads::HOLD));
    let held: Vec<_> = (0..n)
        .map(|_| {
            let (backend, request) = (Arc::clone(backend), Arc::clone(&request));
            tokio::spawn(async move { backend.run(&request).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while bench.parked() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let parked = bench.parked();
    let (rss_after, pss_after) = (rss_kib(), pss_kib());
    bench.release_all();
    for task in held {
        let _ = task.await;
    }
    if parked < n {
        return vec![Measurement::failed(
            "memory-rss",
            &description,
            name,
            "KiB",
            format!("only {parked} of {n} sandboxes started"),
        )];
    }
    let per = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(before), Some(after)) => vec![after.saturating_sub(before) as f64 / n as f64],
        _ => Vec::new(),
    };
    vec![
        Measurement::new("memory-rss", &description, name, "KiB", per(rss_before, rss_after)),
        Measurement::new("memory-pss", &description, name, "KiB", per(pss_before, pss_after)),
    ]
}

/// The first request of a fresh `isobox` process, with the compiled-guest cache empty and then filled.
fn startup(
    backends: &[(String, Arc<dyn Backend>)],
    isobox: &PathBuf,
    runs: usize,
    progress: &ProgressBar,
) -> Vec<Measurement> {
    let mut measurements = Vec::new();
    for (name, _) in backends {
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        let mut error = None;
        for _ in 0..runs {
            let cache = std::env::temp_dir().join(format!("isobox-bench-cache-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&cache);
            for samples in [&mut cold, &mut warm] {
                progress.inc(1);
                match time_process(isobox, name, &cache) {
                    Ok(ms) => samples.push(ms),
                    Err(message) => error = Some(message),
                }
            }
            let _ = std::fs::remove_dir_all(&cache);
        }
        for (workload, samples) in [("startup-cold-cache", cold), ("startup-warm-cache", warm)] {
            let description = "process start to first result, `isobox run` (per process)";
            measurements.push(match &error {
                Some(error) => Measurement::failed(workload, description, name, "ms", error.clone()),
                None => Measurement::new(workload, description, name, "ms", samples),
            });
        }
    }
    measurements
}

fn time_process(isobox: &PathBuf, backend: &str, cache: &PathBuf) -> Result<f64, String> {
    let started = Instant::now();
    let mut child = Command::new(isobox)
        .args(["run", "--backend", backend, "-"])
        .env("ISOBOX_CACHE_DIR", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("starting {}: {error}", isobox.display()))?;
    use std::io::Write;
    child.stdin.take().expect("stdin is piped").write_all(b"return 1").map_err(|error| error.to_string())?;
    let status = child.wait().map_err(|error| error.to_string())?;
    if !status.success() {
        return Err(format!("`isobox run --backend {backend}` exited with {status}"));
    }
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use async_trait::async_trait;
    use isobox_core::{Metrics, Outcome, Request};

    use super::*;

    /// Answers every request after `each`, counting them.
    struct Counting {
        each: Duration,
        calls: AtomicU64,
    }

    #[async_trait]
    impl Backend for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }

        async fn run(&self, _request: &Request) -> Outcome {
            let call = self.calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.each).await;
            Outcome { result: Ok(call.into()), logs: Vec::new(), calls: Vec::new(), metrics: Metrics::default() }
        }
    }

    /// Runs `turns` turns of `turn` measured requests on a backend taking `each` a request; the requests it ran and
    /// the samples measured.
    async fn turns_of(each: Duration, turns: usize, turn: usize) -> (u64, usize) {
        let backend = Arc::new(Counting { each, calls: AtomicU64::new(0) });
        let backends: Vec<(String, Arc<dyn Backend>)> = vec![("counting".into(), Arc::clone(&backend) as _)];
        let measured = latency(&backends, &workloads::COLD, turns, turn, &ProgressBar::hidden()).await;
        (backend.calls.load(Ordering::Relaxed), measured[0].samples.len())
    }

    #[tokio::test]
    async fn each_turn_first_runs_unmeasured_requests_for_the_warm_up() {
        // Requests of 1 ms or a little more: several of them fill each turn's warm-up, and none of them is measured.
        let started = Instant::now();
        let (calls, samples) = turns_of(Duration::from_millis(1), 3, 4).await;
        assert_eq!(samples, 3 * 4);
        let unmeasured = calls - 12;
        assert!(unmeasured >= 3 * 2, "only {unmeasured} unmeasured requests in 3 turns");
        assert!(started.elapsed() >= 3 * WARM_UP);
        // Requests longer than the warm-up: one unmeasured request per turn, no more.
        let (calls, samples) = turns_of(WARM_UP + Duration::from_millis(5), 2, 2).await;
        assert_eq!((calls, samples), (2 * 3, 2 * 2));
    }
}
