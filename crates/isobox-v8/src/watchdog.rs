//! One thread that rings alarms at request deadlines, whatever else is running.
//!
//! V8 runs a program on its sandbox's thread until it finishes; the only way to end an endless loop is
//! `TerminateExecution` from another thread, which a worker's watchdog does at the deadline. V8 only notices
//! termination between JavaScript operations, and a few builtins loop in C++ without ever noticing
//! (`Array.prototype.indexOf.call({length: 1e12}, 1)`): the host's watchdog ends the whole worker process when its
//! request is still running [`GRACE`] after the deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a terminated program may take to stop before its worker process is killed. Terminating an ordinary
/// program takes well under a millisecond.
pub(crate) const GRACE: Duration = Duration::from_millis(200);

/// What a watchdog rings.
pub(crate) trait Alarm: Send + Sync {
    /// The deadline has come.
    fn deadline(&self);
    /// [`GRACE`] after the deadline, and the watch is still on.
    fn overdue(&self);
}

pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Deadline,
    Overdue,
}

#[derive(Default)]
struct State {
    /// What is due when, in order; the number tells apart equal instants.
    due: BTreeMap<(Instant, u64), (Arc<dyn Alarm>, Phase)>,
    next: u64,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        isobox_core::sync::lock(&self.state)
    }
}

impl Watchdog {
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let watched = shared.clone();
        std::thread::Builder::new().name("isobox-v8-watchdog".into()).spawn(move || watch(&watched))?;
        Ok(Self { shared })
    }

    /// Rings `alarm` at `deadline`, and [`GRACE`] later, unless the returned guard is dropped first.
    pub(crate) fn watch(&self, deadline: Instant, alarm: Arc<dyn Alarm>) -> Watch {
        let mut state = self.shared.lock();
        let key = (deadline, state.next);
        state.next += 1;
        // The watchdog sleeps until the earliest instant due: it needs waking only when this one comes sooner.
        let sooner = state.due.keys().next().is_none_or(|&first| key < first);
        state.due.insert(key, (alarm, Phase::Deadline));
        drop(state);
        if sooner {
            self.shared.wake.notify_one();
        }
        Watch { shared: self.shared.clone(), key }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// A deadline being watched; dropping it forgets the deadline.
pub(crate) struct Watch {
    shared: Arc<Shared>,
    key: (Instant, u64),
}

impl Drop for Watch {
    fn drop(&mut self) {
        let (deadline, number) = self.key;
        let mut state = self.shared.lock();
        state.due.remove(&self.key);
        state.due.remove(&(deadline + GRACE, number));
    }
}

fn watch(shared: &Shared) {
    let mut state = shared.lock();
    while !state.closed {
        let now = Instant::now();
        let mut expired = Vec::new();
        while let Some(entry) = state.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((deadline, number), (alarm, phase)) = entry.remove_entry();
            if phase == Phase::Deadline {
                state.due.insert((deadline + GRACE, number), (alarm.clone(), Phase::Overdue));
            }
            expired.push((alarm, phase));
        }
        if !expired.is_empty() {
            drop(state);
            for (alarm, phase) in expired {
                match phase {
                    Phase::Deadline => alarm.deadline(),
                    Phase::Overdue => alarm.overdue(),
                }
            }
            state = shared.lock();
            continue;
        }
        state = match state.due.keys().next() {
            Some(&(due, _)) => {
                shared.wake.wait_timeout(state, due - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0
            }
            None => shared.wake.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
    }
}
