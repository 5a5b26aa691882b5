use std::time::Instant;

use async_trait::async_trait;
use isobox_core::{Backend, Outcome, Request, SandboxError, StartError};
use tokio::sync::OnceCell;

use crate::WasmConfig;
use crate::pool::{Fuel, Pool};
use crate::{positions, program};

/// JavaScript in QuickJS compiled to WebAssembly, one fresh wasmtime store and instance per request.
///
/// Creating a backend compiles (or loads from the cache) the guest and pre-links it; share one backend for the
/// life of the process.
pub struct WasmBackend {
    pool: Pool,
    /// The guest compiled to count fuel, for requests with a fuel budget: made (or loaded from the cache) for the
    /// first of them, sharing `pool`'s sandbox slots.
    fuelled: OnceCell<Pool>,
    config: WasmConfig,
}

impl std::fmt::Debug for WasmBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmBackend")
            .field("config", &self.config)
            .field("fuel_counting_engine_made", &self.fuelled.get().is_some())
            .finish_non_exhaustive()
    }
}

impl WasmBackend {
    /// Sets up the engine and its pooled slots, and compiles the guest (or loads it from `config.cache_dir`).
    ///
    /// # Errors
    /// The engine could not be set up with these settings (its pooled memory cannot be reserved, say), or the guest
    /// did not compile.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let backend = isobox_wasm::WasmBackend::new(isobox_wasm::WasmConfig::default())?;
    /// # Ok(()) }
    /// ```
    pub fn new(config: WasmConfig) -> Result<Self, StartError> {
        let pool = Pool::new(&config, 1, Fuel::Uncounted, None)
            .map_err(|error| StartError::because("the wasm backend", error))?;
        Ok(Self { pool, fuelled: OnceCell::new(), config })
    }

    /// The pool for `request`: one whose engine counts fuel when the request sets a budget.
    async fn pool_for(&self, request: &Request) -> Result<&Pool, SandboxError> {
        if request.options.limits.fuel.is_none() {
            return Ok(&self.pool);
        }
        self.fuelled
            .get_or_try_init(|| async {
                let (config, slots) = (self.config.clone(), self.pool.slots());
                // Compiling takes about a second when the cache has no artifact yet: off the async threads.
                tokio::task::spawn_blocking(move || Pool::new(&config, 1, Fuel::Counted, Some(slots)))
                    .await
                    .map_err(|error| SandboxError::internal(format!("setting up fuel counting failed: {error}")))?
                    .map_err(|error| SandboxError::internal(format!("setting up fuel counting failed: {error:#}")))
            })
            .await
    }
}

#[async_trait]
impl Backend for WasmBackend {
    fn name(&self) -> &'static str {
        "wasm"
    }

    async fn run(&self, request: &Request) -> Outcome {
        // Setting up fuel counting, once, is the backend's own start and not part of the request's time.
        let pool = self.pool_for(request).await;
        let received = Instant::now();
        // One deadline for the whole request, the wait for a free sandbox included.
        let deadline = received + request.options.limits.timeout;
        let admitted = match pool.and_then(|pool| pool.admit(request).map(|host_calls| (pool, host_calls))) {
            Ok((pool, host_calls)) => {
                pool.slot(deadline, &request.options.limits).await.map(|slot| (pool, host_calls, slot))
            }
            Err(error) => Err(error),
        };
        let (pool, host_calls, _slot) = match admitted {
            Ok(admitted) => admitted,
            Err(error) => return Outcome::rejected(self.name(), error, received),
        };
        let log = host_calls.log();
        let mut report = program::run(pool, request, host_calls, deadline).await;
        // QuickJS counts columns in UTF-8 bytes.
        report.result = report.result.map_err(|error| positions::counted_in_utf16(error, &request.code));
        report.into_outcome(self.name(), request, log.take(), received)
    }
}
