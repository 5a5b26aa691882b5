//! Why and how a running program is stopped from outside its own code, inside a worker process.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use isobox_core::sync::lock;
use isobox_core::{Limits, SandboxError};

use crate::engine::{Sandbox, Terminator};
use crate::watchdog::Alarm;

/// Why isobox stopped a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reason {
    Deadline = 1,
    Memory = 2,
    Output = 3,
    /// A host call ended the program with an error of its own ([`Stop::fail`]), such as a capability limit.
    Failed = 5,
    /// The program used its CPU-time budget.
    CpuTime = 6,
}

/// Shared by the sandbox's thread and the worker's watchdog: the first reason to stop wins, and stopping terminates
/// the sandbox's program if it is running (or as soon as it is attached).
#[derive(Default)]
pub(crate) struct Stop {
    reason: AtomicU8,
    sandbox: Mutex<Option<Terminator>>,
    /// The error of [`Reason::Failed`].
    failure: Mutex<Option<SandboxError>>,
}

impl Stop {
    /// Stops the program for `reason`, unless it was already stopped for another.
    pub(crate) fn stop(&self, reason: Reason) {
        if self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.terminate();
        }
    }

    /// Stops the program, which ends with `error` (unless it was already stopped for another reason).
    pub(crate) fn fail(&self, error: SandboxError) {
        let mut failure = lock(&self.failure);
        if self.reason().is_none() {
            *failure = Some(error);
        }
        drop(failure);
        self.stop(Reason::Failed);
    }

    pub(crate) fn reason(&self) -> Option<Reason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(Reason::Deadline),
            2 => Some(Reason::Memory),
            3 => Some(Reason::Output),
            5 => Some(Reason::Failed),
            6 => Some(Reason::CpuTime),
            _ => None,
        }
    }

    /// The program's error when it was stopped.
    pub(crate) fn error(&self, limits: &Limits) -> Option<SandboxError> {
        self.reason().map(|reason| match reason {
            Reason::Deadline => SandboxError::wall_clock_timeout(limits),
            Reason::CpuTime => SandboxError::cpu_time_exceeded(limits),
            Reason::Memory => SandboxError::memory_limit(limits),
            Reason::Output => SandboxError::output_limit(limits),
            Reason::Failed => {
                lock(&self.failure).clone().unwrap_or_else(|| SandboxError::internal("a host call ended the program"))
            }
        })
    }

    /// Lets [`Stop::stop`] terminate `sandbox` until the returned guard is dropped, which must happen before the
    /// sandbox is (the borrow makes sure of it). A program stopped before it was attached is terminated at once.
    pub(crate) fn attach<'a>(&'a self, sandbox: &'a Sandbox<'_>) -> Attached<'a> {
        *lock(&self.sandbox) = Some(sandbox.terminator());
        if self.reason().is_some() {
            self.terminate();
        }
        Attached { stop: self }
    }

    fn terminate(&self) {
        if let Some(terminator) = &*lock(&self.sandbox) {
            // SAFETY: the terminator is only present while its sandbox is attached, that is alive.
            unsafe { terminator.terminate() }
        }
    }
}

impl Alarm for Stop {
    fn deadline(&self) {
        self.stop(Reason::Deadline);
    }

    /// The host ends the whole worker then.
    fn overdue(&self) {}
}

/// Detaches a sandbox from its [`Stop`] when dropped.
pub(crate) struct Attached<'a> {
    stop: &'a Stop,
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        *lock(&self.stop.sandbox) = None;
    }
}
