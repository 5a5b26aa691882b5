//! What `/metrics` reports, in Prometheus's text format: requests by endpoint and status, programs by outcome kind,
//! how long programs took, and sandboxes in use.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use isobox_core::sync::lock;
use isobox_core::{Backend, Outcome, Request};

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What the service has counted since it started, rendered for `GET /metrics` by [`render`](Self::render). Counts
/// are kept in memory, per process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP requests by (endpoint, status).
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Programs run, by outcome kind (`ok` or the error's kind).
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    /// Programs' durations: a count per bucket (the last for those beyond every bound), their sum in µs.
    durations: [AtomicU64; BUCKETS.len() + 1],
    duration_sum_us: AtomicU64,
    in_use: AtomicI64,
    /// Capability calls programs made.
    host_calls: AtomicU64,
}

impl Metrics {
    /// Counts one HTTP request answered at `endpoint` (a route's label, such as `execute`) with `status`.
    pub fn request(&self, endpoint: &'static str, status: u16) {
        *lock(&self.requests).entry((endpoint, status)).or_default() += 1;
    }

    fn outcome(&self, outcome: &Outcome, elapsed_us: u64) {
        let kind = outcome.error().map_or("ok", |error| error.kind());
        *lock(&self.outcomes).entry(kind).or_default() += 1;
        let seconds = elapsed_us as f64 / 1e6;
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKETS.len());
        self.durations[bucket].fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us.fetch_add(elapsed_us, Ordering::Relaxed);
        self.host_calls.fetch_add(outcome.calls.len() as u64, Ordering::Relaxed);
    }

    /// Everything, in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP isobox_http_requests_total HTTP requests answered, by endpoint and status.\n");
        out.push_str("# TYPE isobox_http_requests_total counter\n");
        for ((endpoint, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(out, "isobox_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {count}");
        }
        out.push_str("# HELP isobox_programs_total Programs run (REST and MCP), by outcome kind.\n");
        out.push_str("# TYPE isobox_programs_total counter\n");
        for (kind, count) in lock(&self.outcomes).iter() {
            let _ = writeln!(out, "isobox_programs_total{{outcome=\"{kind}\"}} {count}");
        }
        out.push_str("# HELP isobox_program_duration_seconds Time from a program's arrival to its outcome.\n");
        out.push_str("# TYPE isobox_program_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.durations) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "isobox_program_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.durations[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "isobox_program_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "isobox_program_duration_seconds_sum {sum}");
        let _ = writeln!(out, "isobox_program_duration_seconds_count {cumulative}");
        out.push_str("# HELP isobox_sandboxes_in_use Programs running or waiting for a sandbox now.\n");
        out.push_str("# TYPE isobox_sandboxes_in_use gauge\n");
        let _ = writeln!(out, "isobox_sandboxes_in_use {}", self.in_use.load(Ordering::Relaxed));
        out.push_str("# HELP isobox_host_calls_total Capability calls programs made.\n");
        out.push_str("# TYPE isobox_host_calls_total counter\n");
        let _ = writeln!(out, "isobox_host_calls_total {}", self.host_calls.load(Ordering::Relaxed));
        out
    }
}

/// A backend whose every run is counted in [`Metrics`]: the REST endpoints' programs and MCP's alike.
pub struct Metered {
    pub backend: Arc<dyn Backend>,
    pub metrics: Arc<Metrics>,
}

/// Counts a run as in use until it ends, however it ends (a dropped future included).
struct InUse<'a>(&'a AtomicI64);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl Backend for Metered {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    async fn run(&self, request: &Request) -> Outcome {
        let started = Instant::now();
        self.metrics.in_use.fetch_add(1, Ordering::Relaxed);
        let _in_use = InUse(&self.metrics.in_use);
        let outcome = self.backend.run(request).await;
        self.metrics.outcome(&outcome, started.elapsed().as_micros() as u64);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobox_core::{Metrics as Costs, SandboxError};

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_outcome() {
        let metrics = Metrics::default();
        let ok = Outcome { result: Ok(1.into()), logs: Vec::new(), calls: Vec::new(), metrics: Costs::default() };
        let timeout = Outcome {
            result: Err(SandboxError::wall_clock_timeout(&Default::default())),
            logs: Vec::new(),
            calls: Vec::new(),
            metrics: Costs::default(),
        };
        metrics.outcome(&ok, 300);
        metrics.outcome(&ok, 3_000);
        metrics.outcome(&timeout, 20_000_000);
        metrics.request("execute", 200);
        let text = metrics.render();
        assert!(text.contains("isobox_programs_total{outcome=\"ok\"} 2\n"), "{text}");
        assert!(text.contains("isobox_programs_total{outcome=\"timeout\"} 1\n"), "{text}");
        assert!(text.contains("isobox_program_duration_seconds_bucket{le=\"0.0005\"} 1\n"), "{text}");
        assert!(text.contains("isobox_program_duration_seconds_bucket{le=\"0.005\"} 2\n"), "{text}");
        assert!(text.contains("isobox_program_duration_seconds_bucket{le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("isobox_program_duration_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("isobox_program_duration_seconds_count 3\n"), "{text}");
        assert!(text.contains("isobox_http_requests_total{endpoint=\"execute\",status=\"200\"} 1\n"), "{text}");
        assert!(text.contains("isobox_host_calls_total 0\n"), "{text}");
    }
}
