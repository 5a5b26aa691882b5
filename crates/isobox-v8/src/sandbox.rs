//! One request in one fresh isolate, on the sandbox's own thread: the console and output budget, and the run loop.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use isobox_core::{Level, Limits, LogLine, Request, SandboxError};
use serde_json::Value;

use crate::engine::{self, Sandbox, Step};
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

/// The host side of one sandbox: console lines and the output budget they share with the result.
struct Console<'a> {
    stop: &'a Stop,
    output_limit: u64,
    output_used: Cell<u64>,
    logs: RefCell<Vec<LogLine>>,
}

impl engine::Host for Console<'_> {
    fn log(&self, level: u32, text: &[u8]) -> bool {
        // Once a program is being stopped, whatever it still logs is dropped.
        if self.stop.reason().is_some() {
            return false;
        }
        let used = self.output_used.get() + text.len() as u64;
        if used > self.output_limit {
            self.stop.stop(Reason::Output);
            return false;
        }
        self.output_used.set(used);
        let level = match level {
            1 => Level::Info,
            2 => Level::Warn,
            3 => Level::Error,
            4 => Level::Debug,
            _ => Level::Log,
        };
        self.logs.borrow_mut().push(LogLine { level, message: String::from_utf8_lossy(text).into_owned() });
        true
    }

    fn out_of_memory(&self) {
        self.stop.stop(Reason::Memory);
    }
}

/// Runs `request` in a fresh sandbox on the current thread, which must have room for the request's stack limit plus
/// V8's own frames. `deliver` receives the outcome before the sandbox is disposed of, so the caller does not wait for
/// the disposal.
pub(crate) fn run(request: &Request, stop: &Stop, deliver: impl FnOnce(Run)) {
    let limits = &request.limits;
    let console =
        Console { stop, output_limit: limits.output_bytes, output_used: Cell::new(0), logs: RefCell::new(Vec::new()) };
    let started = Instant::now();
    let sandbox = Sandbox::new(&console, limits.memory_bytes);
    let start_us = micros(started);
    let running = Instant::now();
    let (result, memory_bytes) = match &sandbox {
        Some(sandbox) => {
            let _attached = stop.attach(sandbox);
            let result = drive(sandbox, request, &console, stop);
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
/// Host functions (capabilities) will plug in where the promise is pending and no job is left: a host call made by
/// the program returns a promise whose resolver the sandbox keeps, and sends the call to the request's async task
/// (which awaits the Rust future under the same deadline). Here the thread then waits for the next answer, resolves
/// or rejects that promise, and runs the jobs again; only with no call outstanding is the promise unsettleable. The
/// watchdog and cancellation already stop a sandbox whichever of the two it is doing.
fn drive(sandbox: &Sandbox<'_>, request: &Request, console: &Console<'_>, stop: &Stop) -> Result<Value, SandboxError> {
    let limits = &request.limits;
    let input = match &request.input {
        Some(input) => serde_json::to_string(input)
            .map_err(|error| SandboxError::internal(format!("the input is not JSON: {error}")))?,
        None => String::new(),
    };
    let mut step = sandbox.start(&request.code, &input, limits.stack_bytes);
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
            Step::Error(text) => return Err(errors::described(&text, limits)),
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
    let used = console.output_used.get() + text.len() as u64;
    if used > limits.output_bytes {
        return Err(errors::output_limit(limits));
    }
    console.output_used.set(used);
    serde_json::from_str(text)
        .map_err(|error| SandboxError::internal(format!("the prelude returned malformed JSON: {error}")))
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}
