//! The CPU-time budget on wasm. A sandbox runs as a future that tokio polls on any of its threads, and that yields
//! at every epoch tick: its CPU time is the sum, over its polls, of the polling thread's CPU time during the poll,
//! less what its capability calls used inside them. The epoch callback compares that with the budget.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use isobox_core::cpu::thread_cpu_time;

/// One sandbox's CPU time against its budget. Shared by the sandbox's state (read by the epoch callback) and the
/// futures that measure it; only one of them runs at a time, so relaxed atomics suffice.
#[derive(Debug)]
pub(crate) struct CpuMeter {
    budget_ns: u64,
    /// CPU time of the polls that have ended, capability calls included.
    spent_ns: AtomicU64,
    /// CPU time capability calls used, inside those polls and the current one.
    host_ns: AtomicU64,
    /// The polling thread's CPU clock when the current poll began.
    poll_started_ns: AtomicU64,
}

impl CpuMeter {
    pub(crate) fn new(budget: Duration) -> Self {
        Self {
            budget_ns: nanos(budget),
            spent_ns: AtomicU64::new(0),
            host_ns: AtomicU64::new(0),
            poll_started_ns: AtomicU64::new(0),
        }
    }

    /// Starts counting again from zero (a plugin's every call has the whole budget).
    pub(crate) fn reset(&self) {
        self.spent_ns.store(0, Ordering::Relaxed);
        self.host_ns.store(0, Ordering::Relaxed);
    }

    /// Whether the program has used more than its budget. Called inside a poll, on the polling thread.
    pub(crate) fn exceeded(&self) -> bool {
        let current = nanos(thread_cpu_time()).saturating_sub(self.poll_started_ns.load(Ordering::Relaxed));
        let used =
            (self.spent_ns.load(Ordering::Relaxed) + current).saturating_sub(self.host_ns.load(Ordering::Relaxed));
        used > self.budget_ns
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Whose CPU time a [`Metered`] future's polls are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spender {
    /// The sandbox's: counted.
    Program,
    /// A capability call's, inside the sandbox's poll: taken back out.
    Host,
}

/// Runs `future`, its polls' CPU time counted for `spender` when the sandbox has a budget (`meter`).
pub(crate) async fn metered<F: Future>(meter: Option<Arc<CpuMeter>>, spender: Spender, future: F) -> F::Output {
    let future = std::pin::pin!(future);
    Metered { meter, spender, future }.await
}

pub(crate) struct Metered<'a, F> {
    meter: Option<Arc<CpuMeter>>,
    spender: Spender,
    future: Pin<&'a mut F>,
}

impl<F: Future> Future for Metered<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let Some(meter) = &this.meter else { return this.future.as_mut().poll(cx) };
        let started = nanos(thread_cpu_time());
        if this.spender == Spender::Program {
            meter.poll_started_ns.store(started, Ordering::Relaxed);
        }
        let poll = this.future.as_mut().poll(cx);
        let used = nanos(thread_cpu_time()).saturating_sub(started);
        let counter = match this.spender {
            Spender::Program => &meter.spent_ns,
            Spender::Host => &meter.host_ns,
        };
        counter.fetch_add(used, Ordering::Relaxed);
        poll
    }
}
