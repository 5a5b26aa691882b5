use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use isobox_capabilities::{Capabilities, HostCalls};
use isobox_core::{Backend, Limits, Metrics, Outcome, Request, SandboxError};
use tokio::sync::{Semaphore, oneshot};

use crate::V8Config;
use crate::sandbox::{self, Calls, Run};
use crate::stop::{Reason, Stop};
use crate::warm::{Job, Warm};
use crate::watchdog::Watchdog;

/// JavaScript in V8, one fresh isolate and context per request, each on a thread of its own.
///
/// Creating a backend starts V8 (once per process) and a watchdog thread; share one backend for the life of the
/// process. V8 cannot count instructions, so requests with a fuel budget are refused (an `internal` error): use the
/// wall-clock timeout, or the wasm backend for deterministic budgets.
pub struct V8Backend {
    capabilities: Capabilities,
    slots: Arc<Semaphore>,
    watchdog: Watchdog,
    warm: Arc<Warm>,
    max_memory_bytes: u64,
}

/// The most JavaScript stack a request may ask for.
const MAX_STACK_BYTES: u32 = 4 << 20;

/// Each sandbox thread's stack: the JavaScript stack limit is set below the thread's current position, and V8 needs
/// room past it for its own frames (and the thread for isobox's).
const THREAD_STACK_BYTES: usize = MAX_STACK_BYTES as usize + (4 << 20);

/// Why a [`V8Backend`] could not be created: V8 is not available in this build, or did not start.
#[derive(Debug)]
pub struct Unavailable(String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

impl V8Backend {
    /// Starts V8 (the first time in the process; this builds the startup snapshot every sandbox starts from) and the
    /// backend's watchdog thread. Fails when this build has no V8 (libnode was not found when it was compiled).
    pub fn new(config: V8Config) -> Result<Self, Unavailable> {
        crate::engine::initialize().map_err(Unavailable)?;
        let watchdog =
            Watchdog::start().map_err(|error| Unavailable(format!("the watchdog thread did not start: {error}")))?;
        let memory_bytes = Limits::DEFAULT_MEMORY_BYTES.min(config.max_memory_bytes);
        let warm = Warm::start(config.warm_sandboxes, memory_bytes, THREAD_STACK_BYTES)
            .map_err(|error| Unavailable(format!("the sandbox threads did not start: {error}")))?;
        Ok(Self {
            capabilities: config.capabilities,
            slots: Arc::new(Semaphore::new(config.max_sandboxes as usize)),
            watchdog,
            warm,
            max_memory_bytes: config.max_memory_bytes,
        })
    }

    fn check_limits(&self, request: &Request) -> Result<(), SandboxError> {
        let limits = &request.limits;
        if limits.fuel.is_some() {
            return Err(SandboxError::internal(
                "the V8 backend has no instruction budget (fuel): V8 cannot count instructions; \
                 use the timeout, or the wasm backend for a deterministic budget",
            ));
        }
        if limits.memory_bytes > self.max_memory_bytes {
            return Err(SandboxError::internal(format!(
                "the request's memory limit ({} bytes) exceeds this backend's maximum ({} bytes, V8Config::max_memory_bytes)",
                limits.memory_bytes, self.max_memory_bytes
            )));
        }
        if limits.stack_bytes > MAX_STACK_BYTES {
            return Err(SandboxError::internal(format!(
                "the request's stack limit ({} bytes) exceeds the V8 backend's maximum ({MAX_STACK_BYTES} bytes)",
                limits.stack_bytes
            )));
        }
        Ok(())
    }

    /// Runs `request` with its granted capabilities on a thread whose sandbox is ready, or else on a new thread,
    /// holding a slot until the thread has disposed of its sandbox.
    async fn run_on_thread(&self, request: &Request, host_calls: HostCalls) -> Result<Run, SandboxError> {
        let slot = self.slots.clone().acquire_owned().await.expect("the slot semaphore is never closed");
        let (deliver, delivered) = oneshot::channel();
        let stop = Arc::new(Stop::new(deliver));
        let deadline = Instant::now() + request.limits.timeout;
        let watch = self.watchdog.watch(deadline, stop.clone());
        // Host functions run on the request's runtime, driven from the sandbox's thread.
        let calls = Calls { host_calls, runtime: tokio::runtime::Handle::try_current().ok(), deadline };
        let job: Job = {
            let request = request.clone();
            let stop = stop.clone();
            Box::new(move |made| {
                // Should the run panic, the request hears of it at once rather than at its deadline.
                let _abandon = AbandonOnExit(&stop);
                sandbox::run(&request, &stop, calls, made, |run| stop.deliver(run));
                drop(watch);
                drop(slot);
            })
        };
        if let Err(job) = self.warm.hand(request.limits.memory_bytes, job) {
            let thread = std::thread::Builder::new()
                .name("isobox-v8-sandbox".into())
                .stack_size(THREAD_STACK_BYTES)
                .spawn(move || job(None));
            if let Err(error) = thread {
                return Err(SandboxError::internal(format!("the sandbox thread did not start: {error}")));
            }
        }
        // If this future is dropped before the outcome arrives, the program is stopped rather than left running.
        let cancel = CancelOnDrop(Some(stop.clone()));
        let run = delivered.await;
        cancel.disarm();
        // Without an outcome, the watchdog abandoned a program V8 could not stop in time.
        run.map_err(|_| {
            stop.error(&request.limits)
                .unwrap_or_else(|| SandboxError::internal("the sandbox thread ended without an outcome"))
        })
    }
}

/// Abandons the request when the sandbox's thread is done, delivered or not (abandoning after delivery does nothing).
struct AbandonOnExit<'a>(&'a Stop);

impl Drop for AbandonOnExit<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

struct CancelOnDrop(Option<Arc<Stop>>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop.stop(Reason::Cancelled);
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
        let run = match self.check_limits(request).and_then(|()| self.capabilities.host_calls(request)) {
            Ok(host_calls) => self.run_on_thread(request, host_calls).await,
            Err(error) => Err(error),
        };
        let total_us = received.elapsed().as_micros() as u64;
        match run {
            Ok(run) => Outcome {
                result: run.result,
                logs: run.logs,
                metrics: Metrics {
                    backend: self.name().into(),
                    start_us: run.start_us,
                    run_us: run.run_us,
                    total_us,
                    memory_bytes: run.memory_bytes,
                    fuel_used: None,
                    output_bytes: run.output_bytes,
                },
            },
            Err(error) => Outcome {
                result: Err(error),
                logs: Vec::new(),
                metrics: Metrics { backend: self.name().into(), total_us, ..Metrics::default() },
            },
        }
    }
}
