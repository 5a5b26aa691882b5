//! The [`Backend`] trait, and what backends share beyond it (not needed by embedders): the check of a request's
//! limits against a backend's [`Capacity`], positions counted as JavaScript engines count them, and the microsecond
//! clock of [`Metrics`](crate::Metrics). The CPU clocks and the output budget are in [`cpu`](crate::cpu) and
//! [`output`](crate::output).

use async_trait::async_trait;

use crate::{Outcome, Request};

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
