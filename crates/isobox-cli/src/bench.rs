//! `isobox bench`: every workload on every available backend, interleaved, as a table, JSON and charts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use isobox_bench::{BenchCapability, Options};
use isobox_core::Backend;

use crate::backends::{self, BackendChoice, Serving};
use crate::run::{EXIT_FAILED, EXIT_OK};

#[derive(Args)]
pub struct BenchArgs {
    /// A short run that checks the harness; its figures are rough.
    #[arg(long)]
    quick: bool,
    /// Also write the raw figures to this JSON file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also render SVG charts into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Leave out the startup workload (which starts `isobox` processes).
    #[arg(long)]
    no_startup: bool,
    /// The backends to compare; a backend that cannot start here is left out with a warning.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    backend: BackendChoice,
    /// Instead of the workloads, a soak run: many requests at high concurrency, one in ten hostile, the rest writing
    /// to `kv`; fails unless every outcome is the expected one, no acknowledged write is lost, and memory, file
    /// descriptors and threads end as they started.
    #[arg(long)]
    soak: bool,
    /// Soak requests per backend (default: 100,000 on wasm, 10,000 on V8).
    #[arg(long, requires = "soak")]
    requests: Option<u64>,
    /// Soak requests running at once.
    #[arg(long, default_value_t = 64, requires = "soak")]
    concurrency: usize,
    /// The most seconds a soak run starts requests for, per backend.
    #[arg(long, default_value_t = 600, requires = "soak")]
    soak_seconds: u64,
}

pub async fn bench(args: BenchArgs) -> ExitCode {
    if args.soak {
        return soak(&args).await;
    }
    let bench = BenchCapability::new();
    let capabilities = isobox_bench::capabilities(&bench);
    let mut backends: Vec<(String, Arc<dyn Backend>)> = Vec::new();
    for &engine in args.backend.engines() {
        // Room for the memory workload's live sandboxes next to the other workloads' requests.
        let max_sandboxes = Some(2 * isobox_bench::MAX_LIVE_SANDBOXES);
        match backends::start(engine, &capabilities, Serving::Many(max_sandboxes)) {
            Ok(backend) => backends.push((engine.name().to_string(), backend)),
            // A machine without V8 still benchmarks the wasm backend.
            Err(error) => eprintln!("isobox: leaving out {}: {error}", engine.name()),
        }
    }
    if backends.is_empty() {
        eprintln!("isobox: no backend could start");
        return ExitCode::from(EXIT_FAILED);
    }

    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg:14} [{bar:40}] {pos}/{len} {elapsed}")
            .expect("the template parses"),
    );
    progress.enable_steady_tick(Duration::from_millis(120));
    let options =
        Options { quick: args.quick, isobox: (!args.no_startup).then(|| std::env::current_exe().ok()).flatten() };
    let report = isobox_bench::run(&backends, &bench, &options, &progress).await;
    progress.finish_and_clear();

    outln!(
        "isobox bench{} — {} cores; medians compare within this run only",
        if args.quick { " --quick" } else { "" },
        report.cores
    );
    out!("{}", report.table());
    if !write_json(args.json.as_deref(), &report) {
        return ExitCode::from(EXIT_FAILED);
    }
    if let Some(dir) = &args.out {
        match isobox_bench::write_charts(&report, dir) {
            Ok(files) => {
                outln!("charts: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))
            }
            Err(error) => {
                eprintln!("isobox: writing charts into {}: {error}", dir.display());
                return ExitCode::from(EXIT_FAILED);
            }
        }
    }
    let failed = report.measurements.iter().any(|m| m.error.is_some());
    ExitCode::from(if failed { EXIT_FAILED } else { EXIT_OK })
}

async fn soak(args: &BenchArgs) -> ExitCode {
    let dir = std::env::temp_dir().join(format!("isobox-soak-{}", std::process::id()));
    let capabilities = match isobox_bench::soak::capabilities(&dir) {
        Ok(capabilities) => capabilities,
        Err(error) => {
            eprintln!("isobox: opening the soak run's kv store in {}: {error}", dir.display());
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut failed = false;
    let mut reports = Vec::new();
    for &engine in args.backend.engines() {
        // As many sandboxes as requests at once: the pooled slots a run touches (each keeps a few MiB resident
        // between requests) are then all warm after its first tenth, and memory growth past that is a leak.
        let slots = u32::try_from(args.concurrency).unwrap_or(u32::MAX);
        let backend = match backends::start(engine, &capabilities, Serving::Many(Some(slots))) {
            Ok(backend) => backend,
            Err(error) => {
                eprintln!("isobox: leaving out {}: {error}", engine.name());
                continue;
            }
        };
        let requests = args.requests.unwrap_or(if engine == backends::Engine::Wasm { 100_000 } else { 10_000 });
        let options = isobox_bench::soak::SoakOptions {
            requests,
            concurrency: args.concurrency,
            time_limit: Duration::from_secs(args.soak_seconds),
        };
        let report = isobox_bench::soak::soak(backend, &capabilities, &options).await;
        out!("{}", report.text());
        for failure in report.failures(4 << 10) {
            failed = true;
            outln!("  FAILED: {failure}");
        }
        for wrong in &report.wrong {
            outln!("  wrong: {wrong}");
        }
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !write_json(args.json.as_deref(), &reports) {
        return ExitCode::from(EXIT_FAILED);
    }
    ExitCode::from(if failed || reports.is_empty() { EXIT_FAILED } else { EXIT_OK })
}

/// Writes `value` as JSON to `path` when one was given; says why on stderr and returns false when that failed.
fn write_json(path: Option<&std::path::Path>, value: &impl serde::Serialize) -> bool {
    let Some(path) = path else { return true };
    let written = serde_json::to_string_pretty(value)
        .map_err(|e| e.to_string())
        .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
    if let Err(error) = &written {
        eprintln!("isobox: writing {}: {error}", path.display());
    }
    written.is_ok()
}
