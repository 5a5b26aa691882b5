//! Why and how a running program is stopped from outside its own code, and how its outcome reaches the request.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

use isobox_core::{Limits, SandboxError};
use tokio::sync::{Notify, oneshot};

use crate::engine::{Sandbox, Terminator};
use crate::sandbox::Run;

/// Why isobox stopped a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reason {
    Deadline = 1,
    Memory = 2,
    Output = 3,
    /// The caller stopped waiting for the outcome (its future was dropped).
    Cancelled = 4,
    /// A host call ended the program with an error of its own ([`Stop::fail`]), such as a capability limit.
    Failed = 5,
}

/// Shared by a sandbox's thread, the watchdog and the request's task: the first reason to stop wins, and stopping
/// terminates the sandbox's program if it is running (or as soon as it is attached), and wakes a host call it is
/// waiting on.
pub(crate) struct Stop {
    reason: AtomicU8,
    sandbox: Mutex<Option<Terminator>>,
    delivery: Mutex<Option<oneshot::Sender<Run>>>,
    /// The error of [`Reason::Failed`].
    failure: Mutex<Option<SandboxError>>,
    stopped: Notify,
}

impl Stop {
    /// A stop for a sandbox whose outcome goes to `delivery`.
    pub(crate) fn new(delivery: oneshot::Sender<Run>) -> Self {
        Self {
            reason: AtomicU8::new(0),
            sandbox: Mutex::new(None),
            delivery: Mutex::new(Some(delivery)),
            failure: Mutex::new(None),
            stopped: Notify::new(),
        }
    }

    /// Sends the sandbox's outcome to the request, unless the request was abandoned.
    pub(crate) fn deliver(&self, run: Run) {
        if let Some(delivery) = lock(&self.delivery).take() {
            let _ = delivery.send(run);
        }
    }

    /// Stops waiting for the sandbox's outcome: the request then reports why it was stopped. For a program V8 cannot
    /// stop promptly (some builtins never check for termination), so that the caller still gets its answer on time.
    pub(crate) fn abandon(&self) {
        lock(&self.delivery).take();
    }

    /// Stops the program for `reason`, unless it was already stopped for another.
    pub(crate) fn stop(&self, reason: Reason) {
        if self.reason.compare_exchange(0, reason as u8, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            self.terminate();
            self.stopped.notify_waiters();
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

    /// Completes once the program is stopped, for whatever reason. Wait on it only after checking
    /// [`Stop::reason`] with the future enabled (`Notified::enable`), else a stop in between is missed.
    pub(crate) fn stopped(&self) -> tokio::sync::futures::Notified<'_> {
        self.stopped.notified()
    }

    pub(crate) fn reason(&self) -> Option<Reason> {
        match self.reason.load(Ordering::SeqCst) {
            1 => Some(Reason::Deadline),
            2 => Some(Reason::Memory),
            3 => Some(Reason::Output),
            4 => Some(Reason::Cancelled),
            5 => Some(Reason::Failed),
            _ => None,
        }
    }

    /// The program's error when it was stopped.
    pub(crate) fn error(&self, limits: &Limits) -> Option<SandboxError> {
        self.reason().map(|reason| match reason {
            Reason::Deadline => SandboxError::wall_clock_timeout(limits),
            Reason::Memory => SandboxError::memory_limit(limits),
            Reason::Output => SandboxError::output_limit(limits),
            Reason::Cancelled => SandboxError::internal("the request was cancelled"),
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
