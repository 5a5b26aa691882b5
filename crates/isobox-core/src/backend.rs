//! The [`Backend`] trait, and what backends share beyond it (not needed by embedders): the check of a request's
//! limits against a backend's [`Capacity`], the [`RunReport`] a run becomes an [`Outcome`] from, positions counted as
//! JavaScript engines count them, and the microsecond clock of [`Metrics`]. The CPU clocks and the output budget are
//! in [`cpu`](crate::cpu) and [`output`](crate::output).

use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;

use crate::{Call, LogLine, Metrics, Outcome, Request, SandboxError};

pub use crate::error::{PositionCounter, line_and_column};
pub use crate::limits::Capacity;
pub use crate::outcome::micros_since;

/// A sandbox engine. Each call to [`Backend::run`] runs the request in a fresh sandbox and always returns an
/// [`Outcome`]: whatever the program does, its failure is data, never a panic or an `Err` of the host.
///
/// Backends are shared between tasks (`Arc<dyn Backend>`) and driven from tokio.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A short name for reports, such as `wasm`.
    fn name(&self) -> &'static str;

    /// Runs one request in a fresh sandbox.
    async fn run(&self, request: &Request) -> Outcome;
}

/// What a backend's run of one program produced, before it is the request's [`Outcome`].
#[derive(Debug)]
pub struct RunReport {
    /// The program's result, or why there is none.
    pub result: Result<Value, SandboxError>,
    /// Its console lines, within the output budget.
    pub logs: Vec<LogLine>,
    /// Microseconds spent creating the sandbox.
    pub start_us: u64,
    /// Microseconds spent compiling and running the program.
    pub run_us: u64,
    /// The sandbox's memory when the program ended.
    pub memory_bytes: u64,
    /// Guest instructions used, when the request set a fuel budget.
    pub fuel_used: Option<u64>,
    /// Bytes of result and console output counted against the budget.
    pub output_bytes: u64,
}

impl RunReport {
    /// The outcome of `request`, received at `received`, run by `backend`: a syntax error's position is made the
    /// program's own ([`SandboxError::within_program`]), `calls` is the request's call log, and the total time runs
    /// from `received`.
    pub fn into_outcome(self, backend: &str, request: &Request, calls: Vec<Call>, received: Instant) -> Outcome {
        Outcome {
            result: self.result.map_err(|error| error.within_program(&request.code)),
            logs: self.logs,
            calls,
            metrics: Metrics {
                backend: backend.into(),
                start_us: self.start_us,
                run_us: self.run_us,
                total_us: micros_since(received),
                memory_bytes: self.memory_bytes,
                fuel_used: self.fuel_used,
                output_bytes: self.output_bytes,
            },
        }
    }
}
