//! `isobox serve`: isobox as an HTTP service for many tenants.
//!
//! - `POST /v1/execute` — `{code, input?, typescript?, grants?, limits?}` runs a program in a fresh sandbox and
//!   answers with exactly the JSON of `isobox run --json` (200 whatever the program's outcome; 4xx for a request the
//!   service refuses, with `{"error": {"kind", "message"}}`);
//! - `GET /v1/runs/RUN_ID` — the call a run stopped at, waiting for approval (`{capability, method, args}`);
//!   `POST /v1/runs/RUN_ID/approve` and `POST /v1/runs/RUN_ID/deny` (`{reason?}`) continue it and answer as
//!   `/v1/execute` does (404 for no such run of this tenant);
//! - `GET /v1/types?grants=a,b` — the TypeScript declarations of the tenant's grants;
//! - `GET /v1/search?q=…&budget=…` — what the MCP `search` tool answers;
//! - `/mcp` — the MCP server (`search`, `execute`) over Streamable HTTP, stateless, so any replica answers any request;
//! - `GET /healthz`, `GET /readyz` (the store reachable, not draining), `GET /metrics` (Prometheus).
//!
//! Every `/v1` and `/mcp` request carries `Authorization: Bearer KEY`; the key names a tenant ([`Tenants`]), which
//! bounds what the request may be granted and use. State lives in the capabilities (`kv` on a shared database, so
//! replicas hold none).

mod error;
mod metrics;
mod routes;
mod tenants;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use isobox_capabilities::Capabilities;
use isobox_connectors::Config;
use isobox_core::Backend;
use isobox_core::approval::{Approvals, MemoryRuns, PendingRuns};

pub use error::ApiError;
pub use metrics::Metrics;
pub use tenants::{Tenant, Tenants, sha256};

/// A configuration `isobox serve` cannot start with.
#[derive(Debug)]
pub struct ServeError(String);

impl ServeError {
    /// An error whose text is `message`, which should name the part of the configuration at fault.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

/// Whether the service can serve: the store answers. Checked on every `GET /readyz`.
pub type Readiness = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The service: its tenants, the backend their programs run on, and what it counts. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    state: Arc<State>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = &self.state;
        f.debug_struct("Server")
            .field("backend", &state.backend.name())
            .field("tenants", &state.tenants)
            .field("max_body_bytes", &state.max_body_bytes)
            .field("draining", &state.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

pub(crate) struct State {
    /// Counted in `metrics`.
    backend: Arc<dyn Backend>,
    /// The same, taking TypeScript.
    typescript: Arc<dyn Backend>,
    tenants: Tenants,
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    readiness: Option<Readiness>,
    draining: AtomicBool,
    /// To know which requests may stop for approval.
    capabilities: Capabilities,
    /// Where runs that stop for approval are kept, when a capability needs approval.
    approvals: Option<Approvals>,
}

impl Server {
    /// A server running programs on `backend`, whose capabilities are `capabilities` (every grant of every tenant of
    /// `config` must name one), for the tenants of `config`.
    ///
    /// # Errors
    /// A tenant granted an unknown capability, limits out of range, a key whose `${VAR}` is not set or which is
    /// shorter than 16 characters, a `key-sha256` that is not 64 hex digits, or one key given to two tenants.
    pub fn new(backend: Arc<dyn Backend>, capabilities: &Capabilities, config: &Config) -> Result<Self, ServeError> {
        Self::with_pending_runs(backend, capabilities, config, None)
    }

    /// [`new`](Self::new), keeping runs that stop at a call needing approval in `pending` (the `kv` store, shared by
    /// replicas on one database), for `/v1/runs/…` and MCP `execute`'s `approve`/`deny` to continue. Without a store
    /// (`None`) and with functions needing approval, runs are kept in this process's memory.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_pending_runs(
        backend: Arc<dyn Backend>,
        capabilities: &Capabilities,
        config: &Config,
        pending: Option<Arc<dyn PendingRuns>>,
    ) -> Result<Self, ServeError> {
        let metrics = Arc::new(Metrics::default());
        let backend: Arc<dyn Backend> = Arc::new(metrics::Metered { backend, metrics: Arc::clone(&metrics) });
        let typescript: Arc<dyn Backend> = Arc::new(isobox_typescript::TypeScript::new(Arc::clone(&backend)));
        let pending =
            capabilities.any_needs_approval().then(|| pending.unwrap_or_else(|| Arc::new(MemoryRuns::default())));
        let tenants =
            Tenants::new(&config.tenants, &typescript, capabilities, &config.serve.allowed_hosts, pending.as_ref())?;
        Ok(Self {
            state: Arc::new(State {
                backend,
                typescript,
                tenants,
                metrics,
                max_body_bytes: config.serve.max_body_bytes(),
                readiness: None,
                draining: AtomicBool::new(false),
                capabilities: capabilities.clone(),
                approvals: pending.map(Approvals::new),
            }),
        })
    }

    /// Checks `readiness` on every `GET /readyz`, such as that the store answers.
    ///
    /// # Panics
    /// If the server has been cloned already.
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        Arc::get_mut(&mut self.state).expect("with_readiness before the server is shared").readiness = Some(readiness);
        self
    }

    /// The service's routes, for an embedder serving them itself (with its own listener or middleware) rather than
    /// with [`serve`](Self::serve).
    pub fn router(&self) -> axum::Router {
        routes::router(Arc::clone(&self.state))
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting, answers `/readyz` with 503, and waits
    /// for the requests in flight, at most `drain_timeout`.
    ///
    /// # Errors
    /// The listener failing.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        drain_timeout: Duration,
    ) -> std::io::Result<()> {
        self.serve_until(listener, Box::pin(shutdown), drain_timeout).await
    }

    /// [`Server::serve`] with its shutdown boxed: the server itself (axum's and hyper's connection handling included)
    /// is then compiled here, fully optimised, rather than in each caller for its own type of shutdown future.
    async fn serve_until(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        drain_timeout: Duration,
    ) -> std::io::Result<()> {
        let (drain_started, drain) = tokio::sync::oneshot::channel();
        let state = Arc::clone(&self.state);
        let signal = async move {
            shutdown.await;
            state.draining.store(true, Ordering::Relaxed);
            tracing::info!("draining: no new connections; waiting for requests in flight");
            let _ = drain_started.send(());
        };
        let serving = axum::serve(listener, self.router()).with_graceful_shutdown(signal);
        tokio::select! {
            served = serving.into_future() => served,
            () = async {
                if drain.await.is_ok() {
                    tokio::time::sleep(drain_timeout).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(?drain_timeout, "requests still in flight after the drain timeout; stopping anyway");
                Ok(())
            }
        }
    }

    /// What the service has counted so far.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }
}
