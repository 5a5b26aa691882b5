//! Why a sandbox stopped, when it stopped by trapping rather than returning an outcome.

use isobox_core::{Budget, Limits, SandboxError};
use wasmtime::Trap;

/// A limit isobox enforced from the host by ending the guest's execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Deadline,
    CpuTime,
    Memory,
    Output,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            Self::Deadline => "wall-clock deadline",
            Self::CpuTime => "CPU-time budget",
            Self::Memory => "memory limit",
            Self::Output => "output limit",
        };
        write!(f, "the sandbox reached its {what}")
    }
}

impl std::error::Error for LimitHit {}

/// The request must end with this error (a capability limit, for one).
#[derive(Debug)]
pub(crate) struct Aborted(pub SandboxError);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Aborted {}

/// Maps an error from calling into the guest to the program's error.
pub(crate) fn classify(error: &wasmtime::Error, limits: &Limits) -> SandboxError {
    if let Some(limit) = error.downcast_ref::<LimitHit>() {
        return match limit {
            LimitHit::Deadline => SandboxError::wall_clock_timeout(limits),
            LimitHit::CpuTime => SandboxError::cpu_time_exceeded(limits),
            LimitHit::Memory => SandboxError::memory_limit(limits),
            LimitHit::Output => SandboxError::output_limit(limits),
        };
    }
    if let Some(Aborted(error)) = error.downcast_ref::<Aborted>() {
        return error.clone();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => SandboxError::Timeout {
            message: format!("the program used its budget of {} instructions", limits.fuel.unwrap_or_default()),
            budget: Budget::Fuel,
        },
        Some(Trap::StackOverflow) => SandboxError::stack_overflow(),
        Some(Trap::Interrupt) => SandboxError::wall_clock_timeout(limits),
        Some(trap) => SandboxError::internal(format!("the guest trapped: {trap}")),
        None => SandboxError::internal(format!("the guest failed: {error:#}")),
    }
}
