//! The CPU-time budget on V8. A worker runs one program at a time on its sandbox thread, which blocks while a
//! capability call is answered: that thread's CPU clock is the program's CPU time. A thread of the worker reads it,
//! waking when the budget could first run out (CPU time grows no faster than the wall clock), and stops the program
//! once it has.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use isobox_core::cpu::ThreadCpuClock;

use crate::stop::{Reason, Stop};

/// Reads are at least this far apart, so that a budget nearly spent is not polled in a busy loop.
const MIN_WAIT: Duration = Duration::from_micros(200);

pub(crate) struct CpuWatcher {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    job: Option<Job>,
    closed: bool,
}

struct Job {
    clock: ThreadCpuClock,
    /// The clock's reading at which the budget is spent.
    until: Duration,
    stop: Arc<Stop>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        isobox_core::sync::lock(&self.state)
    }
}

impl CpuWatcher {
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let watched = shared.clone();
        std::thread::Builder::new().name("isobox-v8-cpu".into()).spawn(move || watch(&watched))?;
        Ok(Self { shared })
    }

    /// Stops the program with [`Reason::CpuTime`] once the calling thread has used `budget` of CPU time from now,
    /// unless the returned guard is dropped first.
    pub(crate) fn watch(&self, budget: Duration, stop: Arc<Stop>) -> CpuWatch<'_> {
        let clock = ThreadCpuClock::current();
        let until = clock.now() + budget;
        self.shared.lock().job = Some(Job { clock, until, stop });
        self.shared.wake.notify_one();
        CpuWatch { watcher: self }
    }
}

impl Drop for CpuWatcher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// A budget being watched; dropping it ends the watch.
pub(crate) struct CpuWatch<'a> {
    watcher: &'a CpuWatcher,
}

impl Drop for CpuWatch<'_> {
    fn drop(&mut self) {
        self.watcher.shared.lock().job = None;
    }
}

fn watch(shared: &Shared) {
    let mut state = shared.lock();
    while !state.closed {
        let Some(job) = &state.job else {
            state = shared.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            continue;
        };
        let now = job.clock.now();
        if now >= job.until {
            job.stop.stop(Reason::CpuTime);
            state.job = None;
            continue;
        }
        let wait = (job.until - now).max(MIN_WAIT);
        state = shared.wake.wait_timeout(state, wait).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
    }
}
