//! What every sandbox of one backend or plugin host shares: the engine and its pooled slots, the compiled and
//! pre-linked guest, the capabilities on offer, and admission of requests against the host's bounds.

use std::sync::Arc;
use std::time::Instant;

use isobox_capabilities::Capabilities;
use isobox_capabilities::backend::HostCalls;
use isobox_core::backend::Capacity;
use isobox_core::{Limits, Request, SandboxError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, ModuleExport, PoolingAllocationConfig,
    ProfilingStrategy, Result,
};

use crate::WasmConfig;
use crate::sandbox::SandboxState;

/// Whether an engine's code counts fuel. Counting slows the interpreter down by about a quarter on every request, so
/// a [`WasmBackend`](crate::WasmBackend) runs requests without a fuel budget on an engine that does not count, and
/// makes a counting one for the first request that sets a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fuel {
    Counted,
    Uncounted,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("capabilities", &self.capabilities)
            .field("free_slots", &self.slots.available_permits())
            .field("max_memory_bytes", &self.max_memory_bytes)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Pool {
    pub engine: Engine,
    /// The host's imports; plugins are linked against it too.
    pub linker: Linker<SandboxState>,
    pub guest: InstancePre<SandboxState>,
    /// The guest's exports every request uses, found by name once rather than for each request.
    pub exports: GuestExports,
    /// Whether `engine` counts fuel.
    pub fuel: Fuel,
    /// The slots whose memory the kernel maps only as read (see [`crate::fault_around`]).
    pub fault_around: crate::fault_around::Slots,
    capabilities: Capabilities,
    slots: Arc<Semaphore>,
    max_memory_bytes: u64,
}

/// The guest's exports a request uses (see `wit/guest.wit`).
pub(crate) struct GuestExports {
    pub memory: ModuleExport,
    /// `cabi_realloc`, which the host calls to place a request's code, input and grants in the guest's memory.
    pub realloc: ModuleExport,
    /// `isobox-run`.
    pub run: ModuleExport,
}

impl GuestExports {
    fn find(guest: &InstancePre<SandboxState>) -> Result<Self> {
        let module = guest.module();
        let find = |name: &str| {
            module.get_export_index(name).ok_or_else(|| wasmtime::format_err!("the guest exports no `{name}`"))
        };
        Ok(Self { memory: find("memory")?, realloc: find("cabi_realloc")?, run: find("isobox-run")? })
    }
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

/// Bytes of each pooled table zeroed in place between sandboxes rather than given back to the kernel. The guest's
/// table is 800 entries (two pages); a plugin's may be larger. Given back (wasmtime's default), every request's first
/// calls through the table fault its pages in again, and the `madvise` that gives them back makes the kernel stop the
/// other cores running the process to flush their TLBs: with two requests at once, that halved the requests served
/// per second. Zeroing is bounded by the table's own size.
const TABLE_KEEP_RESIDENT_BYTES: usize = 1 << 20;

impl Pool {
    /// Sets up the engine with a pooled slot for `instances_per_sandbox` instances in each of `config.max_sandboxes`
    /// sandboxes, and compiles (or loads from the cache) and pre-links the guest. `slots` bounds the sandboxes
    /// running at once (`config.max_sandboxes` when `None`; pools given one share it).
    pub fn new(
        config: &WasmConfig,
        instances_per_sandbox: u32,
        fuel: Fuel,
        slots: Option<Arc<Semaphore>>,
    ) -> Result<Self> {
        let engine = Engine::new(&engine_config(config, instances_per_sandbox, fuel))?;
        let module = crate::guest::load(&engine, config.cache_dir.as_deref())?;
        let mut linker = Linker::new(&engine);
        crate::imports::add_imports(&mut linker)?;
        let guest = linker.instantiate_pre(&module)?;
        let exports = GuestExports::find(&guest)?;
        crate::epoch::start_ticker(&engine, config.tick);
        Ok(Self {
            engine,
            linker,
            guest,
            exports,
            fuel,
            fault_around: Default::default(),
            capabilities: config.capabilities.clone(),
            slots: slots.unwrap_or_else(|| Arc::new(Semaphore::new(config.max_sandboxes as usize))),
            max_memory_bytes: config.max_memory_bytes,
        })
    }

    /// Checks `request`'s limits against the host's bounds and its grants against the capabilities on offer.
    pub fn admit(&self, request: &Request) -> Result<HostCalls, SandboxError> {
        request.options.limits.check_within(&Capacity {
            backend: "wasm",
            max_memory_bytes: self.max_memory_bytes,
            max_memory_setting: "WasmConfig::max_memory_bytes",
            max_stack_bytes: MAX_STACK_BYTES,
            no_fuel: None,
        })?;
        self.capabilities.host_calls(request)
    }

    /// The bound on sandboxes running at once, to share with another pool.
    pub fn slots(&self) -> Arc<Semaphore> {
        Arc::clone(&self.slots)
    }

    /// Waits for a free sandbox slot until `deadline` (the request's own: a request that cannot start in time has
    /// timed out); the sandbox holds the slot until it is dropped.
    pub async fn slot(&self, deadline: Instant, limits: &Limits) -> Result<OwnedSemaphorePermit, SandboxError> {
        let waiting = Arc::clone(&self.slots).acquire_owned();
        match tokio::time::timeout_at(deadline.into(), waiting).await {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(SandboxError::internal("the backend's sandbox slots were closed")),
            Err(_) => Err(SandboxError::wall_clock_timeout(limits)),
        }
    }
}

fn engine_config(config: &WasmConfig, instances_per_sandbox: u32, fuel: Fuel) -> Config {
    let instances = config.max_sandboxes.saturating_mul(instances_per_sandbox);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(instances)
        .total_memories(config.max_sandboxes)
        .total_tables(instances)
        .total_stacks(config.max_sandboxes)
        .max_memory_size(config.max_memory_bytes as usize)
        .linear_memory_keep_resident(keep_resident_bytes())
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);
    let mut engine = Config::new();
    engine
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .max_wasm_stack(WASM_STACK_BYTES)
        .async_stack_size(WASM_STACK_BYTES + (1 << 20))
        .epoch_interruption(true)
        .consume_fuel(fuel == Fuel::Counted);
    if config.perf_map {
        engine.profiler(ProfilingStrategy::PerfMap);
    }
    engine
}
