use async_trait::async_trait;

use crate::{Outcome, Request};

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
