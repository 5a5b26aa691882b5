use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use isobox_capabilities::Capabilities;
use isobox_capabilities::backend::HostCalls;
use isobox_core::backend::{Capacity, RunReport};
use isobox_core::{Backend, Limits, Outcome, Request, SandboxError, StartError};
use tokio::sync::{Semaphore, oneshot};

use crate::V8Config;
use crate::pool::{Claim, Conduct, Pool, Spawn, Task};
use crate::watchdog::Watchdog;
use crate::worker::{self, MAX_STACK_BYTES};

/// JavaScript in V8, one fresh isolate and context per request, in worker processes of its own.
///
/// Creating a backend starts a watchdog thread and the workers made ahead ([`V8Config::warm_sandboxes`]); share one
/// backend for the life of the process. V8 cannot count instructions, so requests with a fuel budget are refused (an
/// `internal` error): use the wall-clock timeout, or the wasm backend for deterministic budgets.
pub struct V8Backend {
    capabilities: Capabilities,
    slots: Arc<Semaphore>,
    watchdog: Watchdog,
    pool: Arc<Pool>,
    max_memory_bytes: u64,
}

impl std::fmt::Debug for V8Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let capabilities: Vec<&str> = self.capabilities.interfaces().map(|interface| interface.name.as_str()).collect();
        f.debug_struct("V8Backend")
            .field("capabilities", &capabilities)
            .field("free_slots", &self.slots.available_permits())
            .field("max_memory_bytes", &self.max_memory_bytes)
            .finish_non_exhaustive()
    }
}

impl V8Backend {
    /// Starts the backend's watchdog thread and its first [`V8Config::warm_sandboxes`] workers; later workers start
    /// as requests need them.
    ///
    /// # Errors
    /// This build has no V8 (libnode was not found when it was compiled), or a thread or the first workers did not
    /// start.
    pub fn new(config: V8Config) -> Result<Self, StartError> {
        // The worker entry point must be linked into the program, which re-executes itself as its workers.
        std::hint::black_box(&worker::HOOK);
        if let Some(error) = crate::engine::unavailable() {
            return Err(StartError::new(error));
        }
        let watchdog =
            Watchdog::start().map_err(|error| StartError::because("the V8 backend's watchdog thread", error))?;
        let spawn = Spawn {
            program: config.worker_program.clone().unwrap_or_else(|| PathBuf::from("/proc/self/exe")),
            max_memory_bytes: config.max_memory_bytes,
            ahead_memory_bytes: Limits::DEFAULT_MEMORY_BYTES.min(config.max_memory_bytes),
            snapshot: Mutex::new(None),
        };
        let slots = Arc::new(Semaphore::new(config.max_sandboxes as usize));
        let pool = Pool::start(spawn, config.warm_sandboxes, &slots)
            .map_err(|error| StartError::because("the V8 backend's worker threads", error))?;
        Ok(Self { capabilities: config.capabilities, slots, watchdog, pool, max_memory_bytes: config.max_memory_bytes })
    }

    fn check_limits(&self, request: &Request) -> Result<(), SandboxError> {
        request.options.limits.check_within(&Capacity {
            backend: "V8",
            max_memory_bytes: self.max_memory_bytes,
            max_memory_setting: "V8Config::max_memory_bytes",
            max_stack_bytes: MAX_STACK_BYTES,
            no_fuel: Some("V8 cannot count instructions; use the timeout or --cpu-ms, or the wasm backend for a deterministic budget"),
        })
    }

    /// Runs `request` with its granted capabilities in a worker, once a slot is free (or its deadline has passed).
    async fn run_in_worker(&self, request: &Request, host_calls: HostCalls) -> Result<RunReport, SandboxError> {
        let deadline = Instant::now() + request.options.limits.timeout;
        let claim = Arc::new(Claim::new());
        let _watch = self.watchdog.watch(deadline, claim.clone());
        // If this future is dropped before the outcome arrives, the program's worker is ended rather than left running.
        let cancel = CancelOnDrop(Some(claim.clone()));
        let permit = tokio::select! {
            biased;
            permit = self.slots.clone().acquire_owned() => permit.expect("the slot semaphore is never closed"),
            () = claim.ended() => return Err(SandboxError::wall_clock_timeout(&request.options.limits)),
        };
        let (deliver, delivered) = oneshot::channel();
        let conduct = Conduct {
            request: request.clone(),
            host_calls,
            // Host functions run on the request's runtime, driven from the worker's relay thread.
            runtime: tokio::runtime::Handle::try_current().ok(),
            deadline,
            claim,
        };
        let task = Task { permit, conduct, deliver };
        if let Err(error) = self.pool.hand(task) {
            return Err(SandboxError::internal(format!("the worker's thread did not start: {error}")));
        }
        let run = delivered.await;
        cancel.disarm();
        run.unwrap_or_else(|_| Err(SandboxError::internal("the V8 worker's thread ended without an outcome")))
    }
}

struct CancelOnDrop(Option<Arc<Claim>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(claim) = &self.0 {
            claim.cancel();
        }
    }
}

#[async_trait]
impl Backend for V8Backend {
    fn name(&self) -> &'static str {
        "v8"
    }

    async fn run(&self, request: &Request) -> Outcome {
        let received = Instant::now();
        // An unknown grant is refused before any sandbox starts, as the wasm backend does.
        let mut log = None;
        let run = match self.check_limits(request).and_then(|()| self.capabilities.host_calls(request)) {
            Ok(host_calls) => {
                log = Some(host_calls.log());
                self.run_in_worker(request, host_calls).await
            }
            Err(error) => Err(error),
        };
        let calls = log.map(|log| log.take()).unwrap_or_default();
        match run {
            Ok(report) => report.into_outcome(self.name(), request, calls, received),
            Err(error) => Outcome::rejected(self.name(), error, received),
        }
    }
}
