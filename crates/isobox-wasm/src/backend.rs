use std::time::Instant;

use async_trait::async_trait;
use isobox_capabilities::Capabilities;
use isobox_core::{Backend, Metrics, Outcome, Request, SandboxError};
use tokio::sync::Semaphore;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, PoolingAllocationConfig, Result,
};

use crate::WasmConfig;
use crate::sandbox::{self, SandboxState};

/// JavaScript in QuickJS compiled to WebAssembly, one fresh wasmtime store and instance per request.
///
/// Creating a backend compiles (or loads from the cache) the guest and pre-links it; share one backend for the
/// life of the process.
pub struct WasmBackend {
    pre: InstancePre<SandboxState>,
    capabilities: Capabilities,
    slots: Semaphore,
    max_memory_bytes: u64,
}

/// The most JavaScript stack a request may ask for: the guest's own stack is 1 MiB.
const MAX_STACK_BYTES: u32 = 768 << 10;

/// Native stack for guest code. QuickJS bounds the JavaScript stack itself (a catchable `RangeError`-like error); the
/// native stack must outlast it, so that deep recursion ends in JavaScript's error rather than a trap.
const WASM_STACK_BYTES: usize = 8 << 20;

/// Bytes of each pooled memory kept mapped between sandboxes and reset in place: cheaper than faulting the
/// pre-initialised pages in again for every request. With Linux's `PAGEMAP_SCAN` (6.7+) only the pages a request
/// wrote are reset, so the region can be larger; without it the whole region is copied back every time.
fn keep_resident_bytes() -> usize {
    if PoolingAllocationConfig::is_pagemap_scan_available() { 4 << 20 } else { 2 << 20 }
}

impl WasmBackend {
    pub fn new(config: WasmConfig) -> Result<Self> {
        let engine = Engine::new(&engine_config(&config))?;
        let module = crate::guest::load(&engine, config.cache_dir.as_deref())?;
        let mut linker = Linker::new(&engine);
        sandbox::add_imports(&mut linker)?;
        let pre = linker.instantiate_pre(&module)?;
        crate::epoch::start_ticker(&engine, config.tick);
        Ok(Self {
            pre,
            capabilities: config.capabilities,
            slots: Semaphore::new(config.max_sandboxes as usize),
            max_memory_bytes: config.max_memory_bytes,
        })
    }

    fn check_limits(&self, request: &Request) -> Result<(), SandboxError> {
        let limits = &request.limits;
        if limits.memory_bytes > self.max_memory_bytes {
            return Err(SandboxError::internal(format!(
                "the request's memory limit ({} bytes) exceeds this backend's maximum ({} bytes, WasmConfig::max_memory_bytes)",
                limits.memory_bytes, self.max_memory_bytes
            )));
        }
        if limits.stack_bytes > MAX_STACK_BYTES {
            return Err(SandboxError::internal(format!(
                "the request's stack limit ({} bytes) exceeds the wasm backend's maximum ({MAX_STACK_BYTES} bytes)",
                limits.stack_bytes
            )));
        }
        Ok(())
    }
}

fn engine_config(config: &WasmConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(config.max_sandboxes)
        .total_memories(config.max_sandboxes)
        .total_tables(config.max_sandboxes)
        .total_stacks(config.max_sandboxes)
        .max_memory_size(config.max_memory_bytes as usize)
        .linear_memory_keep_resident(keep_resident_bytes())
        .pagemap_scan(Enabled::Auto);
    let mut engine = Config::new();
    engine
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .max_wasm_stack(WASM_STACK_BYTES)
        .async_stack_size(WASM_STACK_BYTES + (1 << 20))
        .epoch_interruption(true)
        .consume_fuel(true);
    engine
}

#[async_trait]
impl Backend for WasmBackend {
    fn name(&self) -> &'static str {
        "wasm"
    }

    async fn run(&self, request: &Request) -> Outcome {
        let received = Instant::now();
        let metrics = |run: &sandbox::Run| Metrics {
            backend: self.name().into(),
            start_us: run.start_us,
            run_us: run.run_us,
            total_us: received.elapsed().as_micros() as u64,
            memory_bytes: run.memory_bytes,
            fuel_used: run.fuel_used,
            output_bytes: run.output_bytes,
        };
        let host_calls = match self.check_limits(request).and_then(|()| self.capabilities.host_calls(request)) {
            Ok(host_calls) => host_calls,
            Err(error) => {
                let metrics = Metrics { backend: self.name().into(), ..Metrics::default() };
                return Outcome { result: Err(error), logs: Vec::new(), metrics };
            }
        };
        let _slot = self.slots.acquire().await.expect("the slot semaphore is never closed");
        let run = sandbox::run(&self.pre, request, host_calls).await;
        Outcome { metrics: metrics(&run), result: run.result, logs: run.logs }
    }
}
