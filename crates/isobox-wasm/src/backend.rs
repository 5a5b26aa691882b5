use std::time::Instant;

use async_trait::async_trait;
use isobox_core::{Backend, Metrics, Outcome, Request};
use wasmtime::Result;

use crate::WasmConfig;
use crate::pool::Pool;
use crate::{positions, program};

/// JavaScript in QuickJS compiled to WebAssembly, one fresh wasmtime store and instance per request.
///
/// Creating a backend compiles (or loads from the cache) the guest and pre-links it; share one backend for the
/// life of the process.
pub struct WasmBackend {
    pool: Pool,
}

impl WasmBackend {
    pub fn new(config: WasmConfig) -> Result<Self> {
        Ok(Self { pool: Pool::new(&config, 1)? })
    }
}

#[async_trait]
impl Backend for WasmBackend {
    fn name(&self) -> &'static str {
        "wasm"
    }

    async fn run(&self, request: &Request) -> Outcome {
        let received = Instant::now();
        // One deadline for the whole request, the wait for a free sandbox included.
        let deadline = received + request.limits.timeout;
        let admitted = match self.pool.admit(request) {
            Ok(host_calls) => self.pool.slot(deadline, &request.limits).await.map(|slot| (host_calls, slot)),
            Err(error) => Err(error),
        };
        let (host_calls, _slot) = match admitted {
            Ok(admitted) => admitted,
            Err(error) => {
                let metrics = Metrics {
                    backend: self.name().into(),
                    total_us: received.elapsed().as_micros() as u64,
                    ..Metrics::default()
                };
                return Outcome { result: Err(error), logs: Vec::new(), calls: Vec::new(), metrics };
            }
        };
        let log = host_calls.log();
        let run = program::run(&self.pool.guest, request, host_calls, deadline).await;
        let metrics = Metrics {
            backend: self.name().into(),
            start_us: run.start_us,
            run_us: run.run_us,
            total_us: received.elapsed().as_micros() as u64,
            memory_bytes: run.memory_bytes,
            fuel_used: run.fuel_used,
            output_bytes: run.output_bytes,
        };
        let result =
            run.result.map_err(|error| positions::counted_in_utf16(error, &request.code).within_program(&request.code));
        Outcome { metrics, result, logs: run.logs, calls: log.take() }
    }
}
