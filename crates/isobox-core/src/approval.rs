//! Approvals: capability calls that stop a run until a person approves them, and the replay that continues it.
//!
//! A capability function can be marked as needing approval. A program that reaches such a call stops before it,
//! with [`SandboxError::ApprovalRequired`] naming the call and a run id; nothing past that point has happened.
//! [`Approvals::decide`] continues the run: it runs the program again from the start in a fresh sandbox, serving every
//! call made before the stop from the run's record (the host function is not called a second time), then makes the
//! approved call, or throws an `Error` the program can catch when it was denied, and the program goes on.
//!
//! For the replay to take the same path, a run granted a call that needs approval is deterministic where JavaScript is
//! not: `Math.random()` is seeded per run, and `Date.now()` / `new Date()` read the run's start time throughout (the
//! same on every replay). A replay whose program nevertheless reaches a different call at a recorded position stops
//! with [`SandboxError::Capability`] rather than make a call nobody approved.
//!
//! Stopped runs are kept in a [`PendingRuns`] store (the `kv` store, so that they survive a restart and are shared by
//! replicas on one database), each for a limited time.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Backend, Limits, Outcome, Request, RunOptions, SandboxError};

/// The bytes of calls one run may record for its replay (arguments and replies as JSON text). Past it, the run goes
/// on, but a call needing approval ends it with an error instead of stopping it: it could not be continued.
pub const MAX_RECORD_BYTES: usize = 8 << 20;

/// The longest reason for a denial the program is told, in characters; a longer one is cut.
pub const MAX_REASON_CHARS: usize = 1000;

/// How long a stopped run waits for a decision by default.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// A finished capability call, as a replay serves it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// The capability's name (`kv`).
    pub capability: String,
    /// The method as the program called it (`set`).
    pub method: String,
    /// The arguments as the program passed them, as JSON text.
    pub args: String,
    /// What the program got back.
    pub reply: Reply,
}

/// What a capability call gave the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The call's value, as JSON text.
    Return(String),
    /// The error the call threw, as the JSON text `{"name": …, "message": …, "data"?: …}`.
    Throw(String),
}

/// The call a run stopped at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedCall {
    /// The capability, as granted (`kv`).
    pub capability: String,
    /// The function, as the program names it (`set`).
    pub method: String,
    /// The arguments as the program passed them, as JSON text.
    pub args: String,
}

/// A stopped run, as [`Approvals::pending`] describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The call it stopped at.
    pub call: StoppedCall,
    /// The capabilities it was granted.
    pub grants: Vec<String>,
    /// The backend it ran on (`wasm`, `v8`).
    pub backend: String,
}

/// A person's answer to a call that needs approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Make the call, and continue.
    Approve,
    /// Do not make it: the call throws an `Error` (with `reason`, up to [`MAX_REASON_CHARS`], in its message) that the
    /// program can catch.
    Deny {
        /// Why, for the program and the log; `None` gives the message no reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// What a request's host calls do with the next call of a replayable run (see [`Replay::next`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Make the call; report its reply with [`Replay::finish`].
    Live,
    /// Do not make the call: give the program this reply (recorded earlier, or a denial).
    Serve(Reply),
    /// The call needs approval: stop the run before it.
    Stop,
    /// The program reached a different call than the record holds at this position: end the run with this message.
    Diverged(String),
}

/// The state of one replayable run, shared by whoever runs it and the request's host calls: its seed and clock, the
/// calls to serve again, the decision on the call that stopped it, and the calls made this time.
#[derive(Clone, Debug)]
pub struct Replay(Arc<Mutex<ReplayState>>);

#[derive(Debug)]
struct ReplayState {
    run_id: String,
    seed: u64,
    clock_ms: u64,
    /// Calls recorded by earlier runs, served in order.
    served: Vec<RecordedCall>,
    /// The call after `served` that a person decided on, and the decision.
    decided: Option<(StoppedCall, Decision)>,
    /// The position of the next call.
    position: usize,
    /// This run's finished calls, in order (served ones included).
    made: Vec<RecordedCall>,
    made_bytes: usize,
    /// The call this run stopped at.
    stopped: Option<StoppedCall>,
    /// Every function (capability, method) that needed approval when the run began: a replay keeps needing it for
    /// them, whatever the configuration of the process that continues it.
    gated: BTreeSet<(String, String)>,
    /// The program as the backend ran it (a TypeScript program's JavaScript), which a replay runs again.
    code: Option<String>,
}

impl Default for Replay {
    fn default() -> Self {
        Self::new()
    }
}

impl Replay {
    /// A new run: a fresh run id and seed, and the clock at now.
    pub fn new() -> Self {
        Self::with(random_run_id(), random_u64(), now_ms(), Vec::new(), None)
    }

    /// A run that continues a stopped one, under a fresh run id (should it stop again).
    fn resume(seed: u64, clock_ms: u64, served: Vec<RecordedCall>, decided: (StoppedCall, Decision)) -> Self {
        Self::with(random_run_id(), seed, clock_ms, served, Some(decided))
    }

    /// Whether this run continues a stopped one: its calls must then be served from the record, whatever is granted.
    pub fn is_resume(&self) -> bool {
        self.state().decided.is_some()
    }

    /// Remembers the program as the backend runs it (the first time only): a replay runs exactly that, even when the
    /// request's code was compiled on the way (TypeScript).
    pub fn remember_code(&self, code: &str) {
        let mut state = self.state();
        if state.code.is_none() {
            state.code = Some(code.to_string());
        }
    }

    /// Adds functions (capability, method) that need approval in this run and in every replay of it.
    pub fn remember_gated(&self, functions: impl IntoIterator<Item = (String, String)>) {
        self.state().gated.extend(functions);
    }

    fn with(
        run_id: String,
        seed: u64,
        clock_ms: u64,
        served: Vec<RecordedCall>,
        decided: Option<(StoppedCall, Decision)>,
    ) -> Self {
        Self(Arc::new(Mutex::new(ReplayState {
            run_id,
            seed,
            clock_ms,
            served,
            decided,
            position: 0,
            made: Vec::new(),
            made_bytes: 0,
            stopped: None,
            gated: BTreeSet::new(),
            code: None,
        })))
    }

    fn state(&self) -> MutexGuard<'_, ReplayState> {
        crate::sync::lock(&self.0)
    }

    /// The id under which this run is kept, should it stop.
    pub fn run_id(&self) -> String {
        self.state().run_id.clone()
    }

    /// The seed of the run's `Math.random()`.
    pub fn seed(&self) -> u64 {
        self.state().seed
    }

    /// The run's clock: milliseconds since the Unix epoch, as `Date.now()` reads it throughout the run.
    pub fn clock_ms(&self) -> u64 {
        self.state().clock_ms
    }

    /// What to do with the program's next capability call: `gated` says whether it needs approval. Calls are made one
    /// at a time (the program waits for each), so positions are the order of calls.
    pub fn next(&self, capability: &str, method: &str, args: &str, gated: bool) -> Step {
        let mut state = self.state();
        let gated = gated || state.gated.contains(&(capability.to_string(), method.to_string()));
        let position = state.position;
        state.position += 1;
        let same = |c: &str, m: &str, a: &str| (c, m, a) == (capability, method, args);
        if let Some(recorded) = state.served.get(position) {
            if !same(&recorded.capability, &recorded.method, &recorded.args) {
                return Step::Diverged(diverged(position, &recorded.capability, &recorded.method, capability, method));
            }
            let recorded = recorded.clone();
            let reply = recorded.reply.clone();
            state.record(recorded);
            return Step::Serve(reply);
        }
        if position == state.served.len()
            && let Some((call, decision)) = state.decided.clone()
        {
            if !same(&call.capability, &call.method, &call.args) {
                return Step::Diverged(diverged(position, &call.capability, &call.method, capability, method));
            }
            return match decision {
                Decision::Approve => Step::Live,
                Decision::Deny { reason } => {
                    let mut message = format!("{capability}.{method} was denied");
                    if let Some(reason) = reason.filter(|reason| !reason.is_empty()) {
                        message = format!("{message}: {}", reason.chars().take(MAX_REASON_CHARS).collect::<String>());
                    }
                    let reply = Reply::Throw(serde_json::json!({"name": "Error", "message": message}).to_string());
                    let StoppedCall { capability, method, args } = call;
                    state.record(RecordedCall { capability, method, args, reply: reply.clone() });
                    Step::Serve(reply)
                }
            };
        }
        if gated {
            state.stopped =
                Some(StoppedCall { capability: capability.into(), method: method.into(), args: args.into() });
            return Step::Stop;
        }
        Step::Live
    }

    /// Records the reply of a call [`next`](Self::next) let through.
    pub fn finish(&self, capability: &str, method: &str, args: &str, reply: Reply) {
        self.state().record(RecordedCall {
            capability: capability.into(),
            method: method.into(),
            args: args.into(),
            reply,
        });
    }

    /// The call this run stopped at, and every call made before it; `None` when it did not stop, or when its calls
    /// were too large to record ([`MAX_RECORD_BYTES`]).
    fn stopped(&self) -> Option<Stopped> {
        let state = self.state();
        let stopped = state.stopped.clone()?;
        let gated = state.gated.iter().cloned().collect();
        (state.made_bytes <= MAX_RECORD_BYTES).then(|| (state.made.clone(), stopped, gated))
    }
}

impl ReplayState {
    /// Adds a finished call to this run's record, counting its bytes; past [`MAX_RECORD_BYTES`] only the count grows,
    /// and the run can no longer be kept.
    fn record(&mut self, call: RecordedCall) {
        self.made_bytes += call.args.len() + reply_len(&call.reply);
        if self.made_bytes <= MAX_RECORD_BYTES {
            self.made.push(call);
        }
    }
}

/// A stopped run's calls, the call it stopped at, and the functions that need approval in it.
type Stopped = (Vec<RecordedCall>, StoppedCall, Vec<(String, String)>);

fn reply_len(reply: &Reply) -> usize {
    match reply {
        Reply::Return(text) | Reply::Throw(text) => text.len(),
    }
}

fn diverged(
    position: usize,
    recorded_capability: &str,
    recorded_method: &str,
    capability: &str,
    method: &str,
) -> String {
    format!(
        "the replay of this run diverged: call {} was {recorded_capability}.{recorded_method} with other arguments, or \
         another call, when it was recorded ({capability}.{method} this time); nothing past it was done",
        position + 1,
    )
}

/// Where stopped runs wait for a decision: text records under a tenant and a run id. Implemented by the `kv` store
/// (`isobox_kv::KvStore`) and, in memory, by [`MemoryRuns`].
#[async_trait]
pub trait PendingRuns: Send + Sync {
    /// Keeps `record` for `tenant` under `run_id` until `expires_at` (seconds since the Unix epoch).
    async fn put(&self, tenant: &str, run_id: &str, record: String, expires_at: u64) -> Result<(), String>;

    /// The record under `run_id`, unless there is none or it has expired.
    async fn get(&self, tenant: &str, run_id: &str) -> Result<Option<String>, String>;

    /// Removes the record under `run_id`: true when this call removed it, false when there was none (another caller
    /// took it first). Of callers racing for one record, at most one gets true.
    async fn take(&self, tenant: &str, run_id: &str) -> Result<bool, String>;
}

/// Stopped runs kept in this process's memory: for tests, and for embedders whose runs need not survive a restart.
#[derive(Debug, Default)]
pub struct MemoryRuns(Mutex<HashMap<(String, String), (String, u64)>>);

impl MemoryRuns {
    fn records(&self) -> MutexGuard<'_, HashMap<(String, String), (String, u64)>> {
        crate::sync::lock(&self.0)
    }
}

#[async_trait]
impl PendingRuns for MemoryRuns {
    async fn put(&self, tenant: &str, run_id: &str, record: String, expires_at: u64) -> Result<(), String> {
        let mut records = self.records();
        let now = now_ms() / 1000;
        records.retain(|_, (_, expires)| *expires > now);
        records.insert((tenant.into(), run_id.into()), (record, expires_at));
        Ok(())
    }

    async fn get(&self, tenant: &str, run_id: &str) -> Result<Option<String>, String> {
        let now = now_ms() / 1000;
        let records = self.records();
        let record = records.get(&(tenant.to_string(), run_id.to_string()));
        Ok(record.filter(|(_, expires)| *expires > now).map(|(record, _)| record.clone()))
    }

    async fn take(&self, tenant: &str, run_id: &str) -> Result<bool, String> {
        Ok(self.records().remove(&(tenant.to_string(), run_id.to_string())).is_some())
    }
}

/// Why a decision could not be carried out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No run waits under this id for this tenant: it never stopped, it was decided already, or it expired.
    #[error("no run waits for approval under id {run_id:?} (it was decided already, expired, or is another tenant's)")]
    NotFound {
        /// The id asked for.
        run_id: String,
    },
    /// The run was started on another backend; a replay must take the same one.
    #[error("run {run_id} was started on the {expected} backend: decide it there, not on {got}")]
    WrongBackend {
        /// The run.
        run_id: String,
        /// The backend it ran on.
        expected: String,
        /// The backend asked to continue it.
        got: String,
    },
    /// The store of stopped runs failed, or holds a record this version of isobox cannot read.
    #[error("the store of runs waiting for approval failed: {message}")]
    Store {
        /// What failed.
        message: String,
    },
}

impl ApprovalError {
    /// A stable name for the error, for JSON answers: `not_found`, `wrong_backend`, `store`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::WrongBackend { .. } => "wrong_backend",
            Self::Store { .. } => "store",
        }
    }
}

/// A stopped run as it is kept.
#[derive(Serialize, Deserialize)]
struct PendingRun {
    backend: String,
    code: String,
    #[serde(default)]
    input: Option<Value>,
    grants: Vec<String>,
    limits: KeptLimits,
    seed: u64,
    clock_ms: u64,
    calls: Vec<RecordedCall>,
    stopped: StoppedCall,
    /// The functions (capability, method) that need approval in this run.
    gated: Vec<(String, String)>,
}

/// [`Limits`] as a record keeps them.
#[derive(Serialize, Deserialize)]
struct KeptLimits {
    timeout_ms: u64,
    cpu_time_ms: Option<u64>,
    fuel: Option<u64>,
    memory_bytes: u64,
    stack_bytes: u32,
    output_bytes: u64,
    host_calls: u32,
    host_call_bytes: u64,
}

impl From<&Limits> for KeptLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            timeout_ms: limits.timeout.as_millis() as u64,
            cpu_time_ms: limits.cpu_time.map(|budget| budget.as_millis() as u64),
            fuel: limits.fuel,
            memory_bytes: limits.memory_bytes,
            stack_bytes: limits.stack_bytes,
            output_bytes: limits.output_bytes,
            host_calls: limits.host_calls,
            host_call_bytes: limits.host_call_bytes,
        }
    }
}

impl From<KeptLimits> for Limits {
    fn from(kept: KeptLimits) -> Self {
        Self {
            timeout: Duration::from_millis(kept.timeout_ms),
            cpu_time: kept.cpu_time_ms.map(Duration::from_millis),
            fuel: kept.fuel,
            memory_bytes: kept.memory_bytes,
            stack_bytes: kept.stack_bytes,
            output_bytes: kept.output_bytes,
            host_calls: kept.host_calls,
            host_call_bytes: kept.host_call_bytes,
        }
    }
}

/// Runs requests whose calls may need approval, keeps the runs that stop, and continues them once decided.
///
/// # Examples
/// ```no_run
/// # async fn example(backend: &dyn isobox_core::Backend) -> Result<(), isobox_core::approval::ApprovalError> {
/// use std::sync::Arc;
/// use isobox_core::approval::{Approvals, Decision, MemoryRuns};
/// use isobox_core::{Request, SandboxError};
///
/// let approvals = Approvals::new(Arc::new(MemoryRuns::default()));
/// let outcome = approvals.run(backend, Request::new("await kv.set('a', '1'); return 'done'").with_grants(["kv"])).await;
/// if let Err(SandboxError::ApprovalRequired(stop)) = &outcome.result {
///     // … show `stop.capability`, `stop.method` and `stop.args` to a person, who approves the call …
///     let run_id = stop.run_id.as_deref().expect("run through Approvals");
///     let outcome = approvals.decide(backend, None, run_id, Decision::Approve).await?;
///     assert!(outcome.is_ok());
/// }
/// # Ok(())
/// # }
/// ```
pub struct Approvals {
    store: Arc<dyn PendingRuns>,
    expiry: Duration,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals").field("expiry", &self.expiry).finish_non_exhaustive()
    }
}

impl Approvals {
    /// Approvals keeping stopped runs in `store` for [`DEFAULT_EXPIRY`].
    pub fn new(store: Arc<dyn PendingRuns>) -> Self {
        Self { store, expiry: DEFAULT_EXPIRY }
    }

    /// How long a stopped run waits for a decision before it is forgotten.
    pub fn with_expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }

    /// Runs `request` on `backend`. Should it stop at a call needing approval, the run is kept and the outcome's
    /// error is [`SandboxError::ApprovalRequired`] with its run id; if it cannot be kept (the store failed, or its
    /// calls exceed [`MAX_RECORD_BYTES`]), the error says so instead.
    pub async fn run(&self, backend: &dyn Backend, request: Request) -> Outcome {
        let replay = Replay::new();
        self.run_replay(backend, request, replay).await
    }

    /// Decides the stopped run `run_id` of `tenant` (`None`: `"default"`) and continues it on `backend`: the program
    /// runs again from the start, every call recorded before the stop is served from the record, and the stopped call
    /// is made (approved) or throws (denied). The run id is used up: a second decision finds nothing. The outcome may
    /// be another stop, at a later call needing approval, under a new run id.
    ///
    /// # Errors
    /// No such run for this tenant (never stopped, decided already, expired); the run was started on another
    /// backend; the store failed.
    pub async fn decide(
        &self,
        backend: &dyn Backend,
        tenant: Option<&str>,
        run_id: &str,
        decision: Decision,
    ) -> Result<Outcome, ApprovalError> {
        let tenant_name = tenant.unwrap_or("default");
        let not_found = || ApprovalError::NotFound { run_id: run_id.chars().take(64).collect() };
        if !is_run_id(run_id) {
            return Err(not_found());
        }
        let store_failed = |message: String| ApprovalError::Store { message };
        let record = self.store.get(tenant_name, run_id).await.map_err(store_failed)?.ok_or_else(not_found)?;
        let record: PendingRun = serde_json::from_str(&record)
            .map_err(|error| store_failed(format!("the record of run {run_id} does not read: {error}")))?;
        if record.backend != backend.name() {
            return Err(ApprovalError::WrongBackend {
                run_id: run_id.into(),
                expected: record.backend,
                got: backend.name().into(),
            });
        }
        // Taken before the replay, so that two deciders cannot both make the approved call.
        if !self.store.take(tenant_name, run_id).await.map_err(store_failed)? {
            return Err(not_found());
        }
        let request = Request {
            code: record.code,
            input: record.input,
            options: RunOptions {
                limits: record.limits.into(),
                grants: record.grants,
                tenant: tenant.map(str::to_string),
            },
            replay: None,
        };
        let replay = Replay::resume(record.seed, record.clock_ms, record.calls, (record.stopped, decision));
        replay.remember_gated(record.gated);
        Ok(self.run_replay(backend, request, replay).await)
    }

    /// The stopped run `run_id` of `tenant`: the call it stopped at, its grants and its backend, so that a caller can
    /// set up what [`decide`](Self::decide) needs.
    ///
    /// # Errors
    /// As [`decide`](Self::decide), but for the backend.
    pub async fn pending(&self, tenant: Option<&str>, run_id: &str) -> Result<Pending, ApprovalError> {
        let not_found = || ApprovalError::NotFound { run_id: run_id.chars().take(64).collect() };
        if !is_run_id(run_id) {
            return Err(not_found());
        }
        let record = self.store.get(tenant.unwrap_or("default"), run_id).await;
        let record = record.map_err(|message| ApprovalError::Store { message })?.ok_or_else(not_found)?;
        let record: PendingRun =
            serde_json::from_str(&record).map_err(|error| ApprovalError::Store { message: error.to_string() })?;
        Ok(Pending { call: record.stopped, grants: record.grants, backend: record.backend })
    }

    async fn run_replay(&self, backend: &dyn Backend, mut request: Request, replay: Replay) -> Outcome {
        request.replay = Some(replay.clone());
        let mut outcome = backend.run(&request).await;
        let stopped_here = matches!(
            &outcome.result,
            Err(SandboxError::ApprovalRequired(stop)) if stop.run_id.as_deref() == Some(replay.run_id().as_str())
        );
        if !stopped_here {
            return outcome;
        }
        let Some((calls, stopped, gated)) = replay.stopped() else {
            outcome.result = Err(SandboxError::Capability {
                message: format!(
                    "the program reached a call that needs approval, but its calls so far exceed {MAX_RECORD_BYTES} \
                     bytes, too much to keep for a replay: nothing past it was done"
                ),
            });
            return outcome;
        };
        let code = replay.state().code.take();
        let record = PendingRun {
            backend: backend.name().into(),
            code: code.unwrap_or_else(|| std::mem::take(&mut request.code)),
            input: request.input.take(),
            grants: std::mem::take(&mut request.options.grants),
            limits: (&request.options.limits).into(),
            seed: replay.seed(),
            clock_ms: replay.clock_ms(),
            calls,
            stopped,
            gated,
        };
        let expires_at = now_ms() / 1000 + self.expiry.as_secs().max(1);
        let kept = match serde_json::to_string(&record) {
            Ok(text) => {
                let tenant = request.options.tenant.as_deref().unwrap_or("default");
                self.store.put(tenant, &replay.run_id(), text, expires_at).await
            }
            Err(error) => Err(error.to_string()),
        };
        if let Err(message) = kept {
            outcome.result = Err(SandboxError::internal(format!(
                "the program stopped at a call that needs approval, but the run could not be kept: {message}"
            )));
        }
        outcome
    }
}

/// Whether `text` has the shape of a run id: 32 lowercase hexadecimal digits.
pub fn is_run_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

fn random_run_id() -> String {
    let (high, low) = (random_u64(), random_u64());
    format!("{high:016x}{low:016x}")
}

/// 64 bits from the operating system's random source.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled part of `bytes`.
        let read = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0) };
        if read > 0 {
            filled += read as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // No random source at all (a very old kernel): the clock and the address of a local still differ per run.
            let fallback = now_ms() ^ (u64::from(std::process::id()) << 32) ^ (&bytes as *const _ as u64);
            return fallback.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    u64::from_le_bytes(bytes)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

/// The four 32-bit words that seed the sandbox's `Math.random()` (sfc32), from a run's seed (by splitmix64).
pub fn seed_words(seed: u64) -> [u32; 4] {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, args: &str) -> StoppedCall {
        StoppedCall { capability: "kv".into(), method: method.into(), args: args.into() }
    }

    #[test]
    fn a_new_run_stops_at_a_gated_call_having_recorded_the_calls_before_it() {
        let replay = Replay::new();
        assert!(is_run_id(&replay.run_id()));
        assert_eq!(replay.next("kv", "get", r#"["a"]"#, false), Step::Live);
        replay.finish("kv", "get", r#"["a"]"#, Reply::Return("\"1\"".into()));
        assert_eq!(replay.next("kv", "set", r#"["a","2"]"#, true), Step::Stop);
        let (calls, stopped, _) = replay.stopped().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].reply, Reply::Return("\"1\"".into()));
        assert_eq!(stopped, call("set", r#"["a","2"]"#));
    }

    #[test]
    fn a_replay_serves_the_record_then_makes_the_approved_call_and_refuses_to_diverge() {
        let recorded = RecordedCall {
            capability: "kv".into(),
            method: "get".into(),
            args: r#"["a"]"#.into(),
            reply: Reply::Return("\"1\"".into()),
        };
        let approved = Replay::resume(7, 1, vec![recorded.clone()], (call("set", r#"["a","2"]"#), Decision::Approve));
        assert_eq!(approved.next("kv", "get", r#"["a"]"#, false), Step::Serve(Reply::Return("\"1\"".into())));
        assert_eq!(approved.next("kv", "set", r#"["a","2"]"#, true), Step::Live);
        // Past the decided call, a gated call stops again.
        assert_eq!(approved.next("kv", "set", r#"["b","3"]"#, true), Step::Stop);

        let diverging = Replay::resume(7, 1, vec![recorded.clone()], (call("set", r#"["a","2"]"#), Decision::Approve));
        assert!(matches!(diverging.next("kv", "get", r#"["b"]"#, false), Step::Diverged(_)));
        let diverging = Replay::resume(7, 1, vec![recorded], (call("set", r#"["a","2"]"#), Decision::Approve));
        assert!(matches!(diverging.next("kv", "get", r#"["a"]"#, false), Step::Serve(_)));
        assert!(matches!(diverging.next("kv", "set", r#"["a","3"]"#, true), Step::Diverged(_)));
    }

    #[test]
    fn a_denied_call_throws_with_the_reason() {
        let denied =
            Replay::resume(7, 1, Vec::new(), (call("set", "[]"), Decision::Deny { reason: Some("not today".into()) }));
        let Step::Serve(Reply::Throw(text)) = denied.next("kv", "set", "[]", true) else { panic!("served a throw") };
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["message"], "kv.set was denied: not today");
        let long =
            Replay::resume(7, 1, Vec::new(), (call("set", "[]"), Decision::Deny { reason: Some("x".repeat(1 << 20)) }));
        let Step::Serve(Reply::Throw(text)) = long.next("kv", "set", "[]", true) else { panic!("served a throw") };
        assert_eq!(text.len(), r#"{"name":"Error","message":"kv.set was denied: "}"#.len() + MAX_REASON_CHARS);
    }

    #[test]
    fn seeds_differ_and_words_follow_from_the_seed() {
        assert_ne!(Replay::new().seed(), Replay::new().seed());
        assert_ne!(Replay::new().run_id(), Replay::new().run_id());
        assert_eq!(seed_words(1), seed_words(1));
        assert_ne!(seed_words(1), seed_words(2));
    }

    #[tokio::test]
    async fn memory_runs_forget_expired_records_and_give_each_record_to_one_taker() {
        let runs = MemoryRuns::default();
        let now = now_ms() / 1000;
        runs.put("t", "a", "record".into(), now + 60).await.unwrap();
        runs.put("t", "old", "record".into(), now.saturating_sub(1)).await.unwrap();
        assert_eq!(runs.get("t", "a").await.unwrap().as_deref(), Some("record"));
        assert_eq!(runs.get("u", "a").await.unwrap(), None);
        assert_eq!(runs.get("t", "old").await.unwrap(), None);
        assert!(runs.take("t", "a").await.unwrap());
        assert!(!runs.take("t", "a").await.unwrap());
    }
}
