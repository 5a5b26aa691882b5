//! What a benchmark run measured, as a table for people and as JSON.

use std::fmt::Write;

use serde::Serialize;

use crate::Summary;

/// The samples of one workload on one backend.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    /// The workload's name ([`Workload::name`](crate::workloads::Workload::name)).
    pub workload: String,
    /// What one sample measures, for people.
    pub description: String,
    /// The backend's name, `wasm` or `v8`.
    pub backend: String,
    /// `us`, `ms`, `KiB` or `req/s`.
    pub unit: &'static str,
    /// Every sample, in `unit`, in the order taken; empty when the backend failed the workload.
    pub samples: Vec<f64>,
    /// The samples' percentiles; `None` when there are no samples.
    pub summary: Option<Summary>,
    /// Why there are no samples, when the backend failed the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Measurement {
    /// The samples of `workload` on `backend`, in `unit`, with their summary computed.
    pub fn new(workload: &str, description: &str, backend: &str, unit: &'static str, samples: Vec<f64>) -> Self {
        Self {
            workload: workload.into(),
            description: description.into(),
            backend: backend.into(),
            unit,
            summary: Summary::of(&samples),
            samples,
            error: None,
        }
    }

    /// A workload that `backend` could not run, with the reason and no samples.
    pub fn failed(workload: &str, description: &str, backend: &str, unit: &'static str, error: String) -> Self {
        Self { error: Some(error), ..Self::new(workload, description, backend, unit, Vec::new()) }
    }
}

/// Everything one run measured, with where and how.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The version of isobox measured.
    pub isobox_version: &'static str,
    /// The machine's available parallelism (logical cores) when the run was made.
    pub cores: usize,
    /// Whether this was a quick run ([`Options::quick`](crate::Options::quick)): too few samples to compare backends.
    pub quick: bool,
    /// The backends measured, in order; the table compares the others with the first.
    pub backends: Vec<String>,
    /// Every workload on every backend.
    pub measurements: Vec<Measurement>,
}

impl Report {
    /// A table: median, p90 and p99 per workload and backend, and each backend's median relative to the first
    /// backend's.
    pub fn table(&self) -> String {
        let mut out = String::new();
        writeln!(
            out,
            "{:<22} {:<6} {:>11} {:>11} {:>11} {:>6}  vs first",
            "workload", "backend", "median", "p90", "p99", "n"
        )
        .unwrap();
        let mut workloads: Vec<&str> = Vec::new();
        for m in &self.measurements {
            if !workloads.contains(&m.workload.as_str()) {
                workloads.push(&m.workload);
            }
        }
        for workload in workloads {
            let rows: Vec<&Measurement> = self.measurements.iter().filter(|m| m.workload == workload).collect();
            let first = rows.first().and_then(|m| m.summary).map(|s| s.median);
            for m in rows {
                match (&m.summary, &m.error) {
                    (Some(s), _) => {
                        let ratio = first.filter(|first| *first > 0.0).map(|first| format!("x{:.2}", s.median / first));
                        writeln!(
                            out,
                            "{:<22} {:<6} {:>11} {:>11} {:>11} {:>6}  {}",
                            m.workload,
                            m.backend,
                            format_value(s.median, m.unit),
                            format_value(s.p90, m.unit),
                            format_value(s.p99, m.unit),
                            s.count,
                            ratio.unwrap_or_default()
                        )
                        .unwrap();
                    }
                    (None, error) => {
                        let error = error.as_deref().unwrap_or("no samples");
                        writeln!(out, "{:<22} {:<6} failed: {error}", m.workload, m.backend).unwrap();
                    }
                }
            }
        }
        out
    }
}

/// A value with its unit, at a precision a person reads.
pub fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "us" if value >= 10_000.0 => format!("{:.1} ms", value / 1000.0),
        "us" => format!("{value:.1} µs"),
        "ms" => format!("{value:.1} ms"),
        "KiB" => format!("{value:.0} KiB"),
        "req/s" => format!("{value:.0}/s"),
        _ => format!("{value:.2} {unit}"),
    }
}

/// A quick-run report of the wasm and V8 backends holding `measurements`, for tests.
#[cfg(test)]
pub(crate) fn fixture(measurements: Vec<Measurement>) -> Report {
    Report { isobox_version: "0", cores: 2, quick: true, backends: vec!["wasm".into(), "v8".into()], measurements }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_compares_backends_against_the_first() {
        let report = fixture(vec![
            Measurement::new("cold", "", "wasm", "us", vec![50.0, 60.0, 70.0]),
            Measurement::new("cold", "", "v8", "us", vec![1500.0, 1800.0, 2100.0]),
            Measurement::failed("compute-loop", "", "wasm", "us", "timeout".into()),
        ]);
        let table = report.table();
        assert!(table.contains("cold                   wasm       60.0 µs"), "{table}");
        assert!(table.contains("x1.00") && table.contains("x30.00"), "{table}");
        assert!(table.contains("compute-loop           wasm   failed: timeout"), "{table}");
    }
}
