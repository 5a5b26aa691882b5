//! One request in one fresh isolate, on the sandbox's own thread: the console and output budget, capability calls,
//! and the run loop.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use isobox_capabilities::{CallOutcome, HostCalls, PendingCall};
use isobox_core::output::{decode_result, json_escaped_len};
use isobox_core::{Level, Limits, LogLine, Request, SandboxError};
use serde_json::Value;
use tokio::runtime::Handle;

use crate::engine::{self, Blank, Reply, Sandbox, Step};
use crate::errors;
use crate::stop::{Reason, Stop};

/// What one sandboxed run produced.
pub(crate) struct Run {
    pub result: Result<Value, SandboxError>,
    pub logs: Vec<LogLine>,
    pub start_us: u64,
    pub run_us: u64,
    pub memory_bytes: u64,
    pub output_bytes: u64,
}

/// The host side of one sandbox: console lines and the output budget they share with the result, and the request's
/// capability calls.
struct Console<'a> {
    stop: &'a Stop,
    output_limit: u64,
    output_used: Cell<u64>,
    logs: RefCell<Vec<LogLine>>,
    host_calls: RefCell<HostCalls>,
    runtime: Option<Handle>,
    deadline: Instant,
}

/// What a sandbox needs to make its program's capability calls.
pub(crate) struct Calls {
    /// The request's granted capabilities and what it has left to spend on them.
    pub host_calls: HostCalls,
    /// The runtime the request came from, where host functions run; `None` when it was not made on a tokio runtime.
    pub runtime: Option<Handle>,
    /// The request's wall-clock deadline, which host calls are held to as the program is.
    pub deadline: Instant,
}

impl Console<'_> {
    /// Drives a started host call to completion, under the request's deadline, on this thread (the program waits
    /// meanwhile, as it does in the wasm guest). `None` when the program was stopped meanwhile (the deadline, or the
    /// request was cancelled): the call is dropped.
    fn finish(&self, pending: PendingCall) -> Option<CallOutcome> {
        let Some(runtime) = &self.runtime else {
            self.stop.fail(SandboxError::internal("host calls need a tokio runtime: run the request on one"));
            return None;
        };
        let mut finishing = std::pin::pin!(pending.finish());
        // Most host functions answer at once: one poll in the runtime's context, without arming a timer or parking
        // the thread, answers them. (As `timeout_at` would, the call is polled once even past the deadline.)
        {
            let _context = runtime.enter();
            let mut context = Context::from_waker(Waker::noop());
            if let Poll::Ready(outcome) = finishing.as_mut().poll(&mut context) {
                return Some(outcome);
            }
        }
        let stop = self.stop;
        let deadline = tokio::time::Instant::from_std(self.deadline);
        // Blocking this thread is what it is for: each sandbox has its own, outside the runtime's workers, so other
        // requests go on. The runtime's timers and blocking pool serve the host function as on any task.
        runtime.block_on(async {
            let stopped = stop.stopped();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            if stop.reason().is_some() {
                return None;
            }
            tokio::select! {
                biased;
                () = &mut stopped => None,
                finished = tokio::time::timeout_at(deadline, finishing) => match finished {
                    Ok(outcome) => Some(outcome),
                    Err(_) => {
                        stop.stop(Reason::Deadline);
                        None
                    }
                },
            }
        })
    }
}

impl engine::Host for Console<'_> {
    fn log(&self, level: u32, text: &[u8]) -> bool {
        // Once a program is being stopped, whatever it still logs is dropped.
        if self.stop.reason().is_some() {
            return false;
        }
        // Counted by the size the line takes in the report; escaping never shrinks a line, so one longer than the
        // budget left is over it whatever it holds.
        let used = self.output_used.get() + text.len() as u64;
        if used > self.output_limit {
            self.stop.stop(Reason::Output);
            return false;
        }
        let message = String::from_utf8_lossy(text).into_owned();
        let used = self.output_used.get() + json_escaped_len(&message);
        if used > self.output_limit {
            self.stop.stop(Reason::Output);
            return false;
        }
        self.output_used.set(used);
        self.logs.borrow_mut().push(LogLine { level: Level::from_prelude(level), message });
        true
    }

    fn out_of_memory(&self) {
        self.stop.stop(Reason::Memory);
    }

    fn call(&self, capability: u32, function: u32, args: &[u8]) -> Reply {
        // Once a program is being stopped, it reaches no host function.
        if self.stop.reason().is_some() {
            return Reply::Stop;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // The borrow ends with `begin`; a call is never made while another is on (the program waits for each).
            let begun = self.host_calls.borrow_mut().begin(capability, function, args);
            match begun {
                Ok(pending) => self.finish(pending),
                Err(outcome) => Some(outcome),
            }
        }));
        match outcome {
            Ok(Some(CallOutcome::Return(text))) => Reply::Return(text),
            Ok(Some(CallOutcome::Throw(text))) => Reply::Throw(text),
            Ok(Some(CallOutcome::Abort(error))) => {
                self.stop.fail(error);
                Reply::Stop
            }
            Ok(None) => Reply::Stop,
            Err(_) => {
                let message = format!("a host function panicked (capability {capability}, function {function})");
                self.stop.fail(SandboxError::internal(message));
                Reply::Stop
            }
        }
    }
}

/// Runs `request` in a fresh sandbox on the current thread, which must have room for the request's stack limit plus
/// V8's own frames: `made`, made on this thread ahead of the request with the request's memory limit, or one made
/// now. `deliver` receives the outcome before the sandbox is disposed of, so the caller does not wait for the
/// disposal.
pub(crate) fn run(request: &Request, stop: &Stop, calls: Calls, made: Option<Blank>, deliver: impl FnOnce(Run)) {
    let limits = &request.limits;
    let manifest = calls.host_calls.manifest();
    let console = Console {
        stop,
        output_limit: limits.output_bytes,
        output_used: Cell::new(0),
        logs: RefCell::new(Vec::new()),
        host_calls: RefCell::new(calls.host_calls),
        runtime: calls.runtime,
        deadline: calls.deadline,
    };
    let started = Instant::now();
    let sandbox = made.or_else(|| Blank::new(limits.memory_bytes)).map(|blank| blank.attach(&console));
    let start_us = micros(started);
    let running = Instant::now();
    let (result, memory_bytes) = match &sandbox {
        Some(sandbox) => {
            let _attached = stop.attach(sandbox);
            let result = drive(sandbox, request, &manifest, &console, stop);
            (result, sandbox.memory_bytes())
        }
        None => (
            Err(stop.error(limits).unwrap_or_else(|| SandboxError::internal("V8 could not set up a fresh sandbox"))),
            0,
        ),
    };
    let run_us = micros(running);
    deliver(Run {
        result,
        logs: console.logs.take(),
        start_us,
        run_us,
        memory_bytes,
        output_bytes: console.output_used.get(),
    });
    drop(sandbox);
}

/// Starts the program, runs its jobs until its promise settles, and reports the outcome.
///
/// Capability calls happen inside the steps: the prelude calls the host synchronously and wraps the reply in a
/// settled promise (as in the wasm guest), the thread waiting on the host function meanwhile. A call that ends the
/// program (a capability limit, the deadline) terminates it, and the step reports that.
fn drive(
    sandbox: &Sandbox<'_>,
    request: &Request,
    manifest: &str,
    console: &Console<'_>,
    stop: &Stop,
) -> Result<Value, SandboxError> {
    let limits = &request.limits;
    let input = match &request.input {
        Some(input) => serde_json::to_string(input)
            .map_err(|error| SandboxError::internal(format!("the input is not JSON: {error}")))?,
        None => String::new(),
    };
    let mut step = sandbox.start(&request.code, &input, manifest, limits.stack_bytes);
    loop {
        // A limit ends the program whatever it did since: memory and output are exceeded as soon as they are
        // reported, and a deadline may pass while an outcome is being described.
        if let Some(error) = stop.error(limits) {
            return Err(error);
        }
        step = match step {
            Step::Pending => match sandbox.run_jobs() {
                Step::Pending => return Err(errors::never_settled()),
                next => next,
            },
            Step::Settled => sandbox.settle(),
            Step::Result(text) => return result(&text, console, limits),
            Step::Error(text) => {
                // An error's description leaves the sandbox as a result does: it is counted the same way.
                spend(&text, console, limits)?;
                return Err(SandboxError::from_prelude(text.as_bytes(), limits));
            }
            Step::Terminated => {
                return Err(stop.error(limits).unwrap_or_else(|| {
                    SandboxError::internal("V8 terminated the program for no reason isobox knows")
                }));
            }
        };
    }
}

/// The program's result, counted against the output limit.
fn result(text: &str, console: &Console<'_>, limits: &Limits) -> Result<Value, SandboxError> {
    spend(text, console, limits)?;
    decode_result(text.as_bytes())
}

/// Counts what leaves the sandbox (a result, or an error's description) against the output limit.
fn spend(text: &str, console: &Console<'_>, limits: &Limits) -> Result<(), SandboxError> {
    let used = console.output_used.get() + text.len() as u64;
    if used > limits.output_bytes {
        return Err(SandboxError::output_limit(limits));
    }
    console.output_used.set(used);
    Ok(())
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}
