//! One request in one fresh isolate, inside a worker process: the console and output budget, capability calls (sent
//! to the host over the channel), and the run loop.

use std::cell::{Cell, RefCell};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use isobox_core::backend::micros_since;
use isobox_core::output::OutputBudget;
use isobox_core::{Limits, SandboxError};

use crate::engine::{self, Blank, Reply, Sandbox, Step};
use crate::errors;
use crate::frame::{self, Fields, Frame};
use crate::stop::{Reason, Stop};

/// A request as a worker receives it.
pub(crate) struct Job {
    /// The request's limits; `host_calls` and `host_call_bytes` are the host's to enforce.
    pub limits: Limits,
    pub deadline: Instant,
    pub code: String,
    /// The input's JSON text, empty for none.
    pub input: String,
    /// The granted capabilities, as `HostCalls::manifest` writes them.
    pub manifest: String,
}

/// What one sandboxed run produced: the result's JSON text or the error, and what it cost.
pub(crate) struct Run {
    pub result: Result<String, SandboxError>,
    pub start_us: u64,
    pub run_us: u64,
    pub memory_bytes: u64,
}

/// Console lines are sent to the host in batches of about this many bytes (and before every capability call and the
/// outcome), so that a chatty program costs few writes.
const LOG_BATCH_BYTES: usize = 64 << 10;

/// The worker's side of one sandbox: console lines and the output budget they share with the result, and capability
/// calls, which go to the host.
struct Console<'a> {
    stop: &'a Stop,
    channel: &'a UnixStream,
    output: Cell<OutputBudget>,
    /// Console lines not sent yet, encoded as in a [`frame::LOGS`] frame.
    logs: RefCell<Vec<u8>>,
    reply: RefCell<Vec<u8>>,
}

impl Console<'_> {
    fn flush(&self) {
        let mut logs = self.logs.borrow_mut();
        if !logs.is_empty() {
            send(Frame::new(frame::LOGS).rest(&logs), self.channel);
            logs.clear();
        }
    }
}

/// Sends a frame to the host. A worker whose host is gone (or has given up on it) has nothing left to do: it exits.
pub(crate) fn send(frame: Frame, channel: &UnixStream) {
    if frame.send(channel).is_err() {
        crate::worker::exit(0);
    }
}

impl engine::Host for Console<'_> {
    fn log(&self, level: u32, text: &[u8]) -> bool {
        // Once a program is being stopped, whatever it still logs is dropped.
        if self.stop.reason().is_some() {
            return false;
        }
        let mut output = self.output.get();
        if output.line(text).is_none() {
            self.stop.stop(Reason::Output);
            return false;
        }
        self.output.set(output);
        let mut logs = self.logs.borrow_mut();
        logs.push(u8::try_from(level).unwrap_or(0));
        logs.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_le_bytes());
        logs.extend_from_slice(text);
        let full = logs.len() >= LOG_BATCH_BYTES;
        drop(logs);
        if full {
            self.flush();
        }
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
        self.flush();
        send(Frame::new(frame::CALL).u32(capability).u32(function).rest(args), self.channel);
        // The host answers by the request's deadline; the host is trusted, its frames are not bounded further.
        let mut reply = self.reply.borrow_mut();
        let Ok(frame::REPLY) = frame::read(self.channel, u64::MAX, &mut reply) else { crate::worker::exit(0) };
        let mut fields = Fields::new(&reply);
        let status = fields.u8();
        let text = String::from_utf8_lossy(fields.rest()).into_owned();
        match status {
            Some(frame::REPLY_RETURN) => Reply::Return(text),
            Some(frame::REPLY_THROW) => Reply::Throw(text),
            _ => {
                let error = serde_json::from_str(&text)
                    .unwrap_or_else(|_| SandboxError::internal("the host ended a capability call without a reason"));
                self.stop.fail(error);
                Reply::Stop
            }
        }
    }
}

/// Runs `job` in a fresh sandbox on the current thread, which must have room for the request's stack limit plus V8's
/// own frames: `made`, made on this thread ahead of the request with the request's memory limit, or one made now.
pub(crate) fn run(job: &Job, stop: &Stop, channel: &UnixStream, made: Option<Blank>) -> Run {
    let limits = &job.limits;
    let console = Console {
        stop,
        channel,
        output: Cell::new(OutputBudget::new(limits)),
        logs: RefCell::new(Vec::new()),
        reply: RefCell::new(Vec::new()),
    };
    let started = Instant::now();
    let sandbox = made.or_else(|| Blank::new(limits.memory_bytes)).map(|blank| blank.attach(&console));
    let start_us = micros_since(started);
    let running = Instant::now();
    let (result, memory_bytes) = match &sandbox {
        Some(sandbox) => {
            let _attached = stop.attach(sandbox);
            let result = drive(sandbox, job, &console, stop);
            (result, sandbox.memory_bytes())
        }
        None => (
            Err(stop.error(limits).unwrap_or_else(|| SandboxError::internal("V8 could not set up a fresh sandbox"))),
            0,
        ),
    };
    let run_us = micros_since(running);
    console.flush();
    Run { result, start_us, run_us, memory_bytes }
}

/// Starts the program, runs its jobs until its promise settles, and reports the outcome.
///
/// Capability calls happen inside the steps: the prelude calls the host synchronously and wraps the reply in a
/// settled promise (as in the wasm guest), the thread waiting on the host meanwhile. A call that ends the program (a
/// capability limit, the deadline) terminates it, and the step reports that.
fn drive(sandbox: &Sandbox<'_>, job: &Job, console: &Console<'_>, stop: &Stop) -> Result<String, SandboxError> {
    let limits = &job.limits;
    let mut step = sandbox.start(&job.code, &job.input, &job.manifest, limits.stack_bytes);
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
            // The result and an error's description are output too: both must fit what the logs left.
            Step::Result(text) => return within_output(text, console, limits),
            Step::Error(text) => {
                let text = within_output(text, console, limits)?;
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

/// `text` (JSON), when it fits the output budget the logs left.
fn within_output(text: String, console: &Console<'_>, limits: &Limits) -> Result<String, SandboxError> {
    match console.output.get().result(text.len() as u64) {
        true => Ok(text),
        false => Err(SandboxError::output_limit(limits)),
    }
}
