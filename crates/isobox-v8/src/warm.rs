//! Sandbox threads that make their isolate ahead of the next request. Creating an isolate and its context is most of a
//! fresh V8 request (2–3 ms); a thread that has one ready when a request comes takes that off the request's path. Each
//! isolate still serves one request and is disposed of; the thread then makes the next.

use std::sync::mpsc::{SendError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::engine::Blank;

/// A request's work on a sandbox thread, given the sandbox made ahead for it (`None`: it makes its own).
pub(crate) type Job = Box<dyn FnOnce(Option<Blank>) + Send>;

pub(crate) struct Warm {
    /// One sender per thread whose sandbox is ready, each waiting for one job.
    ready: Mutex<Vec<SyncSender<Job>>>,
    /// The memory limit the ready sandboxes were made with: only requests with this limit can use them.
    memory_bytes: u64,
}

impl Warm {
    /// Starts `threads` sandbox threads of `stack_bytes` each, which make sandboxes limited to `memory_bytes`. They end
    /// when the returned value is dropped.
    pub(crate) fn start(threads: u32, memory_bytes: u64, stack_bytes: usize) -> std::io::Result<Arc<Self>> {
        let warm = Arc::new(Self { ready: Mutex::new(Vec::new()), memory_bytes });
        for _ in 0..threads {
            let weak = Arc::downgrade(&warm);
            std::thread::Builder::new()
                .name("isobox-v8-sandbox".into())
                .stack_size(stack_bytes)
                .spawn(move || serve(&weak, memory_bytes))?;
        }
        Ok(warm)
    }

    /// Hands `job` to a thread whose sandbox is ready, if it was made with `memory_bytes`; gives the job back when
    /// no such thread is free.
    pub(crate) fn hand(&self, memory_bytes: u64, mut job: Job) -> Result<(), Job> {
        if memory_bytes != self.memory_bytes {
            return Err(job);
        }
        loop {
            let Some(thread) = self.ready.lock().unwrap_or_else(PoisonError::into_inner).pop() else {
                return Err(job);
            };
            // Each sender carries one job at most, so this never blocks; a thread that has ended gives it back.
            match thread.send(job) {
                Ok(()) => return Ok(()),
                Err(SendError(back)) => job = back,
            }
        }
    }
}

fn serve(warm: &Weak<Warm>, memory_bytes: u64) {
    loop {
        let Some(blank) = Blank::new(memory_bytes) else { return };
        let (offer, jobs) = sync_channel::<Job>(1);
        match warm.upgrade() {
            Some(warm) => warm.ready.lock().unwrap_or_else(PoisonError::into_inner).push(offer),
            None => return,
        }
        // When the backend is dropped, so is `ready` with this thread's sender, and `recv` fails.
        let Ok(job) = jobs.recv() else { return };
        job(Some(blank));
    }
}
