//! The host's side of the worker processes: starting them, handing them requests, answering their capability calls,
//! and ending and replacing those that die, overrun their deadline, or break the protocol.
//!
//! Each worker has a relay thread in the host that owns it: the thread waits for a request, sends it, serves the
//! worker's frames until its report, and then offers the worker again (replacing it first if it died). Everything the
//! worker sends is bounded and decoded defensively; every wait has a deadline.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{SendError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use isobox_capabilities::backend::{CallOutcome, HostCalls, PendingCall};
use isobox_core::backend::{RunReport, micros_since};
use isobox_core::output::{OutputBudget, decode_result};
use isobox_core::sync::lock;
use isobox_core::{Level, Limits, LogLine, Request, SandboxError};
use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

use crate::engine::Snapshot;
use crate::frame::{self, Fields, Frame};
use crate::watchdog::{Alarm, GRACE};
use crate::worker;

/// How long a worker may take to start V8 and report ready when no request is waiting for it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long past a request's deadline (and grace) the host waits on a worker's channel before giving up on it, should
/// the worker outlive its kill (it cannot, unless it shared its socket with another process).
const CHANNEL_SLACK: Duration = Duration::from_secs(1);

/// What frames from a worker may hold beyond the request's output and host-call budgets.
const FRAME_OVERHEAD_BYTES: u64 = 1 << 20;

/// How to start a worker.
pub(crate) struct Spawn {
    pub program: PathBuf,
    pub max_memory_bytes: u64,
    pub ahead_memory_bytes: u64,
    /// The startup snapshot the first worker built, given to the next ones so that they need not build their own.
    pub snapshot: Mutex<Option<Arc<Snapshot>>>,
}

/// The largest snapshot the host takes from a worker.
const MAX_SNAPSHOT_BYTES: u64 = 64 << 20;

/// A running worker process and the host's end of its channel.
pub(crate) struct Worker {
    child: Child,
    channel: UnixStream,
}

impl Worker {
    /// Starts a worker; it is usable once [`Worker::ready`] says so.
    fn spawn(spawn: &Spawn, snapshot: Option<&Snapshot>) -> io::Result<Self> {
        let (channel, theirs) = UnixStream::pair()?;
        let settings = format!(
            "{},{},{},{}",
            std::process::id(),
            spawn.max_memory_bytes,
            spawn.ahead_memory_bytes,
            u8::from(snapshot.is_some())
        );
        let child = Command::new(&spawn.program)
            .arg(worker::ARGUMENT)
            .env(worker::MARKER, settings)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { child, channel })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `snapshot` (if any) and waits until `by` for the worker to start V8; keeps the snapshot a first worker
    /// built in `spawn`. (A worker that has run no program yet is trusted with that.)
    fn ready(&mut self, by: Instant, spawn: &Spawn, snapshot: Option<&Snapshot>) -> Result<(), String> {
        let timeout = by.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let channel = &self.channel;
        channel
            .set_read_timeout(Some(timeout))
            .and_then(|()| channel.set_write_timeout(Some(timeout)))
            .map_err(|error| error.to_string())?;
        if let Some(snapshot) = snapshot {
            Frame::new(frame::SNAPSHOT)
                .u64(snapshot.hooks_index)
                .rest(&snapshot.blob)
                .send(channel)
                .map_err(|error| format!("the V8 worker did not start: {error}"))?;
        }
        let mut payload = Vec::new();
        match frame::read(channel, MAX_SNAPSHOT_BYTES, &mut payload) {
            Ok(frame::READY) => {
                let mut fields = Fields::new(&payload);
                match fields.u8() {
                    None | Some(frame::READY_OK) => {
                        if let (Some(hooks_index), false) = (fields.u64(), fields.is_empty()) {
                            let built = Snapshot { hooks_index, blob: fields.rest().to_vec() };
                            lock(&spawn.snapshot).get_or_insert_with(|| Arc::new(built));
                        }
                        Ok(())
                    }
                    Some(_) => Err(String::from_utf8_lossy(fields.rest()).into_owned()),
                }
            }
            Ok(tag) => Err(format!("the V8 worker sent frame {tag} before it was ready")),
            Err(error) => Err(format!("the V8 worker did not start: {error}")),
        }
    }

    /// Kills the worker (if it still runs) and reaps it.
    fn end(mut self) -> Option<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a worker and waits until `by` for it to be ready, letting `claim` kill it meanwhile.
fn start(spawn: &Spawn, by: Instant, claim: Option<&Claim>) -> Result<Worker, String> {
    let snapshot = lock(&spawn.snapshot).clone();
    let mut worker = Worker::spawn(spawn, snapshot.as_deref())
        .map_err(|error| format!("the V8 worker process ({}) did not start: {error}", spawn.program.display()))?;
    if let Some(claim) = claim {
        claim.attach(worker.pid());
    }
    let ready = worker.ready(by, spawn, snapshot.as_deref());
    if let Some(claim) = claim {
        claim.detach();
    }
    match ready {
        Ok(()) => Ok(worker),
        Err(error) => {
            worker.end();
            // Should a worker fail with the snapshot it was given, the next one builds its own.
            if snapshot.is_some() {
                lock(&spawn.snapshot).take();
            }
            Err(error)
        }
    }
}

const RUNNING: u8 = 0;
const DEADLINE: u8 = 1;
const OVERDUE: u8 = 2;
const CANCELLED: u8 = 3;

/// One request's hold on its worker, shared by the request's task, its relay thread and the host's watchdog: the
/// deadline (which wakes whatever waits for the request), the kill once it is overdue or cancelled.
pub(crate) struct Claim {
    state: AtomicU8,
    /// The worker serving the request, while it is alive and not yet reaped (so its pid cannot have been reused).
    pid: Mutex<Option<u32>>,
    changed: Notify,
}

impl Claim {
    pub(crate) fn new() -> Self {
        Self { state: AtomicU8::new(RUNNING), pid: Mutex::new(None), changed: Notify::new() }
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::SeqCst)
    }

    fn set(&self, state: u8) {
        self.state.fetch_max(state, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// The request's future was dropped: its worker is killed, whatever it was doing.
    pub(crate) fn cancel(&self) {
        self.set(CANCELLED);
        self.kill();
    }

    /// Completes once the deadline has passed or the request was cancelled.
    pub(crate) async fn ended(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.state() != RUNNING {
                return;
            }
            changed.await;
        }
    }

    fn attach(&self, pid: u32) {
        *lock(&self.pid) = Some(pid);
        if self.state() >= OVERDUE {
            self.kill();
        }
    }

    /// Must happen before the worker is reaped.
    fn detach(&self) {
        *lock(&self.pid) = None;
    }

    fn kill(&self) {
        if let Some(pid) = *lock(&self.pid) {
            // SAFETY: a plain system call. The pid is the unreaped worker's, so it names no other process.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

impl Alarm for Claim {
    /// The worker terminates the program itself at the deadline; the host stops waiting on host calls and slots.
    fn deadline(&self) {
        self.set(DEADLINE);
    }

    fn overdue(&self) {
        self.set(OVERDUE);
        self.kill();
    }
}

/// Workers that are ready for a request, each behind its relay thread, longest idle first: a worker makes its next
/// isolate after each request, and the one idle longest has most likely made it.
pub(crate) struct Pool {
    idle: Mutex<VecDeque<SyncSender<Task>>>,
    spawn: Arc<Spawn>,
}

/// A request for a relay thread: what to run, where its outcome goes, and the request's slot, given back once the
/// worker is offered again.
pub(crate) struct Task {
    pub permit: OwnedSemaphorePermit,
    pub conduct: Conduct,
    pub deliver: oneshot::Sender<Result<RunReport, SandboxError>>,
}

impl Pool {
    /// A pool with `ahead` workers started at once, each holding one of `slots` until it is ready.
    pub(crate) fn start(spawn: Spawn, ahead: u32, slots: &Arc<Semaphore>) -> io::Result<Arc<Self>> {
        let pool = Arc::new(Self { idle: Mutex::new(VecDeque::new()), spawn: Arc::new(spawn) });
        for _ in 0..ahead {
            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
            pool.relay(None, Some(permit))?;
        }
        Ok(pool)
    }

    /// Gives `task` to a ready worker, or to a new one.
    pub(crate) fn hand(self: &Arc<Self>, mut task: Task) -> io::Result<()> {
        loop {
            let Some(relay) = lock(&self.idle).pop_front() else {
                return self.relay(Some(task), None);
            };
            // Each sender carries one task at most, so this never blocks; a relay that has ended gives it back.
            match relay.send(task) {
                Ok(()) => return Ok(()),
                Err(SendError(back)) => task = back,
            }
        }
    }

    /// Starts a relay thread with `first` to run, or else a worker to start ahead under `starting`, a slot.
    fn relay(self: &Arc<Self>, first: Option<Task>, starting: Option<OwnedSemaphorePermit>) -> io::Result<()> {
        let pool = Arc::downgrade(self);
        let spawn = self.spawn.clone();
        std::thread::Builder::new()
            .name("isobox-v8-relay".into())
            .spawn(move || relay(&pool, &spawn, first, starting))?;
        Ok(())
    }
}

/// A relay thread: serves tasks with its worker, replacing the worker when it dies, until the pool is dropped.
fn relay(pool: &Weak<Pool>, spawn: &Spawn, mut next: Option<Task>, mut starting: Option<OwnedSemaphorePermit>) {
    let mut worker = None;
    loop {
        let permit = next
            .take()
            .map(|Task { permit, conduct, deliver }| {
                let _ = deliver.send(conduct.run(&mut worker, spawn));
                permit
            })
            .or_else(|| starting.take());
        // A replacement (or the first worker of a relay started ahead) is started before the slot is given back, so
        // that the workers never outnumber the slots.
        if worker.is_none() {
            worker = start(spawn, Instant::now() + START_TIMEOUT, None).ok();
        }
        if worker.is_none() {
            return;
        }
        let Some(pool) = pool.upgrade() else { return };
        let (offer, tasks) = sync_channel(1);
        lock(&pool.idle).push_back(offer);
        drop(pool);
        drop(permit);
        // When the pool is dropped, so is its sender, and `recv` fails: the worker is ended with this thread.
        match tasks.recv() {
            Ok(task) => next = Some(task),
            Err(_) => return,
        }
    }
}

/// What the host needs to serve one request in a worker.
pub(crate) struct Conduct {
    pub request: Request,
    pub host_calls: HostCalls,
    /// The runtime the request came from, where host functions run; `None` when it was not made on a tokio runtime.
    pub runtime: Option<Handle>,
    pub deadline: Instant,
    pub claim: Arc<Claim>,
}

/// Why an exchange with a worker ended without a report.
enum Broken {
    /// The channel failed: the worker died or was killed.
    Channel,
    /// The worker sent something it must not.
    Protocol(String),
}

impl Conduct {
    /// Runs the request on `worker` (starting one if there is none), and leaves `None` there when the worker died or
    /// had to be ended.
    pub(crate) fn run(mut self, worker: &mut Option<Worker>, spawn: &Spawn) -> Result<RunReport, SandboxError> {
        let limits = self.request.options.limits.clone();
        let mut started_us = 0;
        // A worker that died while it was idle is replaced once; a request never fails for that.
        for _ in 0..2 {
            // A request cancelled before it reached its worker leaves the worker alone.
            if self.claim.state() == CANCELLED {
                return Err(SandboxError::internal("the request was cancelled"));
            }
            if worker.is_none() {
                let began = Instant::now();
                let by = self.deadline + GRACE;
                *worker = Some(start(spawn, by, Some(&self.claim)).map_err(|error| self.stopped(&limits, error))?);
                started_us += micros_since(began);
            }
            let Some(current) = worker.as_mut() else { continue };
            // A worker that died while idle is replaced (reaped here, before its pid is lent to the claim).
            if !matches!(current.child.try_wait(), Ok(None)) {
                worker.take();
                continue;
            }
            self.claim.attach(current.pid());
            let exchanged = self.exchange(current);
            self.claim.detach();
            // Overdue or cancelled, the worker may have been killed even if its report came through first: it is not
            // offered again (the next request would find it dead).
            let killed = self.claim.state() >= OVERDUE;
            match exchanged {
                Ok(mut run) => {
                    if killed {
                        worker.take().and_then(Worker::end);
                    }
                    run.start_us += started_us;
                    return Ok(run);
                }
                Err((sent, broken)) => {
                    let status = worker.take().and_then(Worker::end);
                    if sent {
                        return Err(self.died(&limits, status, broken));
                    }
                }
            }
        }
        Err(SandboxError::internal("the V8 worker process could not be started"))
    }

    /// The error of a request whose worker could not be reached, after the deadline or a cancellation if there was one.
    fn stopped(&self, limits: &Limits, error: String) -> SandboxError {
        if self.claim.state() == CANCELLED {
            SandboxError::internal("the request was cancelled")
        } else if self.past_deadline() {
            SandboxError::wall_clock_timeout(limits)
        } else {
            SandboxError::internal(error)
        }
    }

    /// Whether the deadline has passed, by the clock or the watchdog (which may ring late on a busy machine).
    fn past_deadline(&self) -> bool {
        self.claim.state() >= DEADLINE || Instant::now() >= self.deadline
    }

    /// The error of a request whose worker died or was ended while serving it.
    fn died(&self, limits: &Limits, status: Option<ExitStatus>, broken: Broken) -> SandboxError {
        use std::os::unix::process::ExitStatusExt;
        if let Broken::Protocol(what) = broken {
            return SandboxError::internal(format!("the V8 worker process broke the protocol ({what}) and was ended"));
        }
        match (self.claim.state(), status) {
            (CANCELLED, _) => SandboxError::internal("the request was cancelled"),
            (_, Some(status)) if status.code() == Some(worker::OUT_OF_MEMORY_EXIT) => {
                SandboxError::memory_limit(limits)
            }
            _ if self.past_deadline() => SandboxError::wall_clock_timeout(limits),
            (_, Some(status)) => match status.signal() {
                Some(signal) => SandboxError::internal(format!("the V8 worker process died (signal {signal})")),
                None => SandboxError::internal(format!("the V8 worker process exited ({status})")),
            },
            (_, None) => SandboxError::internal("the V8 worker process died"),
        }
    }

    /// Sends the request and serves the worker until its report. On failure, whether the request was sent (a worker
    /// found dead before that may be replaced).
    fn exchange(&mut self, worker: &Worker) -> Result<RunReport, (bool, Broken)> {
        let limits = &self.request.options.limits.clone();
        let channel = &worker.channel;
        // Past this, the worker is ended whatever it does (the watchdog kills it at the deadline plus grace).
        let give_up = self.deadline + GRACE + CHANNEL_SLACK;
        let timeout = give_up.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        if channel.set_read_timeout(Some(timeout)).and_then(|()| channel.set_write_timeout(Some(timeout))).is_err() {
            return Err((false, Broken::Channel));
        }
        let input = match &self.request.input {
            Some(input) => serde_json::to_string(input).unwrap_or_default(),
            None => String::new(),
        };
        let request = Frame::new(frame::REQUEST)
            .u64(limits.timeout.as_micros() as u64)
            .u64(self.deadline.saturating_duration_since(Instant::now()).as_micros() as u64)
            .u64(limits.memory_bytes)
            .u32(limits.stack_bytes)
            .u64(limits.output_bytes)
            // At least 1 µs, as 0 means none.
            .u64(limits.cpu_time.map_or(0, |budget| (budget.as_micros() as u64).max(1)))
            .bytes(self.request.code.as_bytes())
            .bytes(input.as_bytes())
            .bytes(self.host_calls.manifest().as_bytes());
        request.send(channel).map_err(|_| (false, Broken::Channel))?;

        let max_frame = limits.output_bytes.saturating_add(limits.host_call_bytes).saturating_add(FRAME_OVERHEAD_BYTES);
        let mut logs = Vec::new();
        let mut output = OutputBudget::new(limits);
        let mut output_exceeded = false;
        // An error the host ended the program with (a capability limit): it stands whatever the worker reports.
        let mut ended_with = None;
        let mut payload = Vec::new();
        loop {
            if Instant::now() > give_up {
                return Err((true, Broken::Channel));
            }
            let tag = frame::read(channel, max_frame, &mut payload).map_err(|error| {
                let broken = match error.kind() {
                    io::ErrorKind::InvalidData => Broken::Protocol(error.to_string()),
                    _ => Broken::Channel,
                };
                (true, broken)
            })?;
            let mut fields = Fields::new(&payload);
            match tag {
                frame::LOGS => {
                    while !fields.is_empty() {
                        let (Some(level), Some(text)) = (fields.u8(), fields.bytes()) else {
                            return Err((true, Broken::Protocol("a malformed console line".into())));
                        };
                        if output_exceeded {
                            continue;
                        }
                        match output.line(text) {
                            Some(message) => logs.push(LogLine {
                                level: Level::from_prelude(u32::from(level)),
                                message: message.into_owned(),
                            }),
                            None => output_exceeded = true,
                        }
                    }
                }
                frame::CALL => {
                    let (Some(capability), Some(function)) = (fields.u32(), fields.u32()) else {
                        return Err((true, Broken::Protocol("a malformed capability call".into())));
                    };
                    let reply = match ended_with {
                        Some(_) => CallOutcome::Abort(SandboxError::internal("the program was ended")),
                        None => self.call(capability, function, fields.rest()),
                    };
                    let reply = match reply {
                        CallOutcome::Return(text) => {
                            Frame::new(frame::REPLY).u8(frame::REPLY_RETURN).rest(text.as_bytes())
                        }
                        CallOutcome::Throw(text) => {
                            Frame::new(frame::REPLY).u8(frame::REPLY_THROW).rest(text.as_bytes())
                        }
                        CallOutcome::Abort(error) => {
                            let text = serde_json::to_string(&error).unwrap_or_default();
                            ended_with.get_or_insert(error);
                            Frame::new(frame::REPLY).u8(frame::REPLY_STOP).rest(text.as_bytes())
                        }
                    };
                    reply.send(channel).map_err(|_| (true, Broken::Channel))?;
                }
                frame::REPORT => {
                    let (Some(start_us), Some(run_us), Some(memory_bytes), Some(status)) =
                        (fields.u64(), fields.u64(), fields.u64(), fields.u8())
                    else {
                        return Err((true, Broken::Protocol("a malformed report".into())));
                    };
                    let text = fields.rest();
                    let result = match (status, ended_with) {
                        _ if output_exceeded => Err(SandboxError::output_limit(limits)),
                        (_, Some(error)) => Err(error),
                        (frame::REPORT_OK, None) => match output.result(text.len() as u64) {
                            true => decode_result(text),
                            false => Err(SandboxError::output_limit(limits)),
                        },
                        (frame::REPORT_ERROR, None) => Err(serde_json::from_slice(text).unwrap_or_else(|error| {
                            SandboxError::internal(format!("the V8 worker reported a malformed error: {error}"))
                        })),
                        (other, None) => return Err((true, Broken::Protocol(format!("a report of status {other}")))),
                    };
                    return Ok(RunReport {
                        result,
                        logs,
                        start_us,
                        run_us,
                        memory_bytes,
                        fuel_used: None,
                        output_bytes: output.used(),
                    });
                }
                other => return Err((true, Broken::Protocol(format!("an unknown frame {other}")))),
            }
        }
    }

    /// One capability call, run on the request's runtime under its deadline. A panicking host function ends the
    /// program with an internal error.
    fn call(&mut self, capability: u32, function: u32, args: &[u8]) -> CallOutcome {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match self.host_calls.begin(capability, function, args) {
                Ok(pending) => self.finish(pending),
                Err(outcome) => outcome,
            }
        }));
        outcome.unwrap_or_else(|_| {
            CallOutcome::Abort(SandboxError::internal(format!(
                "a host function panicked (capability {capability}, function {function})"
            )))
        })
    }

    /// Drives a started host call to completion on this relay thread (the program waits meanwhile, as in the wasm
    /// guest), until the deadline or a cancellation.
    fn finish(&self, pending: PendingCall) -> CallOutcome {
        let limits = &self.request.options.limits;
        let Some(runtime) = &self.runtime else {
            return CallOutcome::Abort(SandboxError::internal(
                "host calls need a tokio runtime: run the request on one",
            ));
        };
        let claim = &self.claim;
        // Blocking this thread is what it is for: each worker has its own, outside the runtime's workers, so other
        // requests go on. The runtime's timers and blocking pool serve the host function as on any task.
        runtime.block_on(async {
            tokio::select! {
                biased;
                () = claim.ended() => CallOutcome::Abort(match claim.state() {
                    CANCELLED => SandboxError::internal("the request was cancelled"),
                    _ => SandboxError::wall_clock_timeout(limits),
                }),
                outcome = pending.finish() => outcome,
            }
        })
    }
}
