//! One request's host calls: every argument from the sandbox is checked against the WIT types before host code sees
//! it, every result against its WIT type before the sandbox does, and both are bounded. Backend-neutral: each
//! backend moves bytes in and out of its sandbox and leaves every decision here.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use isobox_core::approval::{Replay, Reply, Step, seed_words};
use isobox_core::calls::{MAX_LOG_BYTES, MAX_LOGGED_BYTES, bounded, bounded_as, mask};
use isobox_core::{Call, Request, SandboxError};
use serde_json::{Value, json};

use crate::Capability;
use crate::capability::{CallContext, CallError, HostFuture};
use crate::types::ValueType;
use crate::wit::Function;

/// The granted capabilities of one request, and what it has left to spend on them.
pub struct HostCalls {
    granted: Vec<Arc<Capability>>,
    context: CallContext,
    calls_left: u32,
    max_calls: u32,
    max_bytes: u64,
    log: CallLog,
    /// The run's seed and clock, when a granted function needs approval: the sandbox's `Math.random()` and `Date`
    /// then follow them, so that a replay takes the same path.
    deterministic: Option<(u64, u64)>,
    /// The replayable run, when the request is part of one and may stop for approval.
    replay: Option<Replay>,
}

impl std::fmt::Debug for HostCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let granted: Vec<&str> = self.granted.iter().map(|capability| capability.interface.name.as_str()).collect();
        f.debug_struct("HostCalls")
            .field("granted", &granted)
            .field("tenant", &self.context.tenant)
            .field("calls_left", &self.calls_left)
            .field("max_calls", &self.max_calls)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// The calls of one request, as they are made: shared by its [`HostCalls`] and the calls still running, and taken
/// by the backend for the outcome when the request ends.
#[derive(Clone, Debug)]
pub struct CallLog(Arc<Mutex<LogState>>);

#[derive(Debug)]
struct LogState {
    calls: Vec<Call>,
    /// Bytes of argument and result copies so far, against [`MAX_LOG_BYTES`].
    copied: usize,
    started: Instant,
}

impl CallLog {
    /// The calls so far, leaving the log empty. A call the request's end cut short says so.
    pub fn take(&self) -> Vec<Call> {
        let mut calls = std::mem::take(&mut self.state().calls);
        // A call is logged as neither returned nor failed until it finishes: the message is written only for the
        // calls that never did, not for every call as it starts.
        for call in calls.iter_mut().filter(|call| !call.ok && call.error.is_none()) {
            call.error = Some(UNFINISHED.to_string());
        }
        calls
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        isobox_core::sync::lock(&self.0)
    }

    /// A copy of `value` for the log: secrets masked, bounded per call and per request.
    /// `text` is `value`'s JSON text (or as long), so that only secrets ask for serialising it again.
    fn copy(state: &mut LogState, value: &Value, text: &str, secrets: &[String]) -> (Value, bool) {
        let budget = MAX_LOGGED_BYTES.min(MAX_LOG_BYTES.saturating_sub(state.copied));
        let (copy, cut) = if secrets.is_empty() {
            bounded_as(value, text, budget)
        } else {
            let mut masked = value.clone();
            mask(&mut masked, secrets);
            bounded(&masked, budget)
        };
        state.copied += text.len().min(budget);
        (copy, cut)
    }

    /// Logs a call starting now; its index, to finish it with.
    fn begin(&self, capability: &Capability, method: &str, args: &Value, text: &str, error: Option<String>) -> usize {
        let mut state = self.state();
        let (args, truncated) = Self::copy(&mut state, args, text, &capability.secret_fields);
        let started_us = state.started.elapsed().as_micros() as u64;
        state.calls.push(Call {
            capability: capability.interface.name.clone(),
            method: method.to_string(),
            args,
            ok: false,
            result: None,
            // Set when the call finishes (or by `take`, for a call the request's end cut short).
            error,
            truncated,
            replayed: false,
            started_us,
            duration_us: 0,
        });
        state.calls.len() - 1
    }

    /// Finishes the call at `index` with what the sandbox gets back (`value`: the returned value, when at hand);
    /// `replayed` when it was served from a replay's record rather than made.
    fn finish_as(
        &self,
        index: usize,
        outcome: &CallOutcome,
        value: Option<&Value>,
        secrets: &[String],
        replayed: bool,
    ) {
        match outcome {
            CallOutcome::Return(text) => self.finish(index, Ok((value.unwrap_or(&Value::Null), text)), secrets),
            CallOutcome::Throw(text) => {
                let message = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|error| error["message"].as_str().map(str::to_string))
                    .unwrap_or_default();
                self.finish(index, Err(&message), secrets);
            }
            CallOutcome::Abort(error) => self.finish(index, Err(&error.to_string()), secrets),
        }
        if replayed && let Some(call) = self.state().calls.get_mut(index) {
            call.replayed = true;
        }
    }

    fn finish(&self, index: usize, outcome: Result<(&Value, &str), &str>, secrets: &[String]) {
        let mut state = self.state();
        let finished_us = state.started.elapsed().as_micros() as u64;
        let copy = outcome.map(|(value, text)| Self::copy(&mut state, value, text, secrets));
        let Some(call) = state.calls.get_mut(index) else { return };
        call.duration_us = finished_us.saturating_sub(call.started_us);
        match copy {
            Ok((value, truncated)) => {
                (call.ok, call.result, call.error) = (true, Some(value), None);
                call.truncated |= truncated;
            }
            Err(message) => {
                let mut message = message.to_string();
                if message.len() > MAX_LOGGED_BYTES {
                    let cut = (0..=MAX_LOGGED_BYTES).rev().find(|&at| message.is_char_boundary(at)).unwrap_or(0);
                    message.truncate(cut);
                    message.push('…');
                }
                call.error = Some(message);
            }
        }
    }
}

/// The error logged for a call that was still running when its request ended.
const UNFINISHED: &str = "the request ended before the call finished";

/// What the sandbox gets back from one host call.
#[derive(Debug, PartialEq)]
pub enum CallOutcome {
    /// The call's value as JSON text: the sandbox's promise resolves to it.
    Return(String),
    /// `{"name": "TypeError" | "Error", "message": …, "data"?: …}` as JSON text: the sandbox's promise rejects with it.
    Throw(String),
    /// A limit was hit: the request ends with this error.
    Abort(SandboxError),
}

/// A host function that has been called and not yet finished.
pub struct PendingCall {
    future: HostFuture,
    /// The function's position in the capability's interface (the capability is `log`'s).
    function: usize,
    result: Option<ValueType>,
    max_bytes: u64,
    /// Where the call is logged.
    log: (CallLog, usize, Arc<Capability>),
    /// The replayable run that records the call's reply: the run, the capability, the method and the arguments' text.
    record: Option<(Replay, String, String, String)>,
}

impl std::fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCall")
            .field("call", &Label::of(&self.log.2, self.function).to_string())
            .finish_non_exhaustive()
    }
}

impl HostCalls {
    pub(crate) fn new(granted: Vec<Arc<Capability>>, request: &Request) -> Self {
        let tenant = request.options.tenant.as_deref().unwrap_or("default");
        let gated: Vec<(String, String)> = granted
            .iter()
            .filter(|capability| !capability.approval.is_empty())
            .flat_map(|capability| {
                let interface = &capability.interface;
                let functions = interface.functions.iter().filter(|f| capability.approval.contains(&f.name));
                functions.map(|function| (interface.name.clone(), function.method.clone()))
            })
            .collect();
        // A run that may stop, or continues one that did, replays; others need not record their calls.
        let replay = request.replay.clone().filter(|replay| !gated.is_empty() || replay.is_resume());
        if let Some(replay) = &replay {
            replay.remember_gated(gated.iter().cloned());
            replay.remember_code(&request.code);
        }
        let deterministic = match &replay {
            Some(replay) => Some((replay.seed(), replay.clock_ms())),
            None if !gated.is_empty() => {
                let fresh = Replay::new();
                Some((fresh.seed(), fresh.clock_ms()))
            }
            None => None,
        };
        Self {
            deterministic,
            replay,
            granted,
            context: CallContext { tenant: tenant.into() },
            calls_left: request.options.limits.host_calls,
            max_calls: request.options.limits.host_calls,
            max_bytes: request.options.limits.host_call_bytes,
            log: CallLog(Arc::new(Mutex::new(LogState { calls: Vec::new(), copied: 0, started: Instant::now() }))),
        }
    }

    /// The request's call log, for the backend to take the calls from when the request ends.
    pub fn log(&self) -> CallLog {
        self.log.clone()
    }

    /// What the sandbox builds its globals from: the JSON text `[global, …]`, in grant order, then `\0` and each
    /// capability's method names, in declaration order, each followed by a line break, the capability's last by an
    /// empty line (`["shop","kv"]\0getCustomer\nlistOrders\n\nget\nset\n\n`); calls name a capability and a
    /// function by their positions in it. Method names are JavaScript identifiers (registration checks), so the names
    /// need no escaping, and a sandbox that looks methods up on first use need not parse them. Empty when nothing is
    /// granted. When a granted function needs approval, the JSON text is
    /// `{"grants": [global, …], "seed": [4 × u32], "now": ms}`: the sandbox's `Math.random()` is then seeded and
    /// `Date` reads `now`.
    pub fn manifest(&self) -> String {
        let mut manifest = self.manifest_without_names();
        if manifest.is_empty() {
            return manifest;
        }
        manifest.push('\0');
        for capability in &self.granted {
            manifest.push_str(&capability.manifest_names);
        }
        manifest
    }

    /// The [`manifest`](Self::manifest) up to its `\0`, for a sandbox that looks each method up by name
    /// ([`method_index`](Self::method_index)) when the program first reads it, rather than being given every name.
    pub fn manifest_without_names(&self) -> String {
        if self.granted.is_empty() {
            return String::new();
        }
        let globals: Vec<&str> = self.granted.iter().map(|capability| capability.manifest_global.as_str()).collect();
        let globals = format!("[{}]", globals.join(","));
        match self.deterministic {
            Some((seed, now)) => format!(r#"{{"grants":{globals},"seed":{},"now":{now}}}"#, json!(seed_words(seed))),
            None => globals,
        }
    }

    /// The position of granted capability `capability`'s function named `name` in JavaScript, if it has one.
    pub fn method_index(&self, capability: u32, name: &[u8]) -> Option<u32> {
        let granted = self.granted.get(capability as usize)?;
        granted.method_indices.get(std::str::from_utf8(name).ok()?).copied()
    }

    /// Granted capability `capability`'s function names in JavaScript, in declaration order, each followed by a line
    /// break.
    pub fn method_names(&self, capability: u32) -> Option<&str> {
        let names = &self.granted.get(capability as usize)?.manifest_names;
        // Without the empty line that ends the capability's names in the manifest.
        Some(names.strip_suffix('\n').unwrap_or(names))
    }

    /// Starts the call of function `function` of granted capability `capability` with `args`, the JSON text of the
    /// argument array. Errors the sandbox can catch, and limits that end it, come back at once.
    pub fn begin(&mut self, capability: u32, function: u32, args: &[u8]) -> Result<PendingCall, CallOutcome> {
        let Some((granted, declared)) = self
            .granted
            .get(capability as usize)
            .and_then(|granted| granted.interface.functions.get(function as usize).map(|declared| (granted, declared)))
        else {
            return Err(CallOutcome::Abort(SandboxError::internal(format!(
                "no host function {capability}.{function}"
            ))));
        };
        let label = Label { global: &granted.interface.global, method: &declared.method };
        if self.calls_left == 0 {
            return Err(abort(format!("the program made more than {} host calls", self.max_calls)));
        }
        self.calls_left -= 1;
        if args.len() as u64 > self.max_bytes {
            return Err(abort(format!("the arguments of {label} exceed {} bytes", self.max_bytes)));
        }
        let raw_args = args;
        let args = match check_arguments(label, declared, args) {
            Ok(args) => args,
            Err(message) => {
                let sent = serde_json::from_slice(args).unwrap_or(Value::Null);
                let text = String::from_utf8_lossy(args);
                self.log.begin(granted, &declared.method, &sent, &text, Some(message.clone()));
                return Err(throw("TypeError", message, None));
            }
        };
        let handler = &granted.handlers[&declared.name];
        let args = if declared.params.is_empty() { Value::Null } else { Value::Array(args) };
        // The sandbox's JSON text of the arguments stands for their size (within a few bytes of the checked values').
        let text = String::from_utf8_lossy(raw_args);
        let gated = granted.approval.contains(&declared.name);
        let capability_name = &granted.interface.name;
        let mut record = None;
        match &self.replay {
            Some(replay) => match replay.next(capability_name, &declared.method, &text, gated) {
                Step::Live => {
                    record = Some((replay.clone(), capability_name.clone(), declared.method.clone(), text.to_string()))
                }
                Step::Serve(reply) => {
                    let index = self.log.begin(granted, &declared.method, &args, &text, None);
                    let outcome = match reply {
                        Reply::Return(text) => CallOutcome::Return(text),
                        Reply::Throw(text) => CallOutcome::Throw(text),
                    };
                    let value = match &outcome {
                        CallOutcome::Return(text) => serde_json::from_str(text).ok(),
                        _ => None,
                    };
                    self.log.finish_as(index, &outcome, value.as_ref(), &granted.secret_fields, true);
                    return Err(outcome);
                }
                Step::Stop => return Err(self.stop(granted, &declared.method, &args, &text, Some(replay.run_id()))),
                Step::Diverged(message) => {
                    self.log.begin(granted, &declared.method, &args, &text, Some(message.clone()));
                    return Err(abort(message));
                }
            },
            None if gated => return Err(self.stop(granted, &declared.method, &args, &text, None)),
            None => {}
        }
        let index = self.log.begin(granted, &declared.method, &args, &text, None);
        Ok(PendingCall {
            future: handler(self.context.clone(), args),
            function: function as usize,
            result: declared.result.clone(),
            max_bytes: self.max_bytes,
            log: (self.log.clone(), index, Arc::clone(granted)),
            record,
        })
    }

    /// Ends the request before a call that needs approval, logging it as not made.
    fn stop(
        &self,
        granted: &Capability,
        method: &str,
        args: &Value,
        text: &str,
        run_id: Option<String>,
    ) -> CallOutcome {
        let error = "stopped before the call: it needs approval".to_string();
        self.log.begin(granted, method, args, text, Some(error));
        let mut shown = args.clone();
        mask(&mut shown, &granted.secret_fields);
        let (shown, _) = bounded(&shown, MAX_LOGGED_BYTES);
        CallOutcome::Abort(SandboxError::approval_required(run_id, &granted.interface.name, method, shown))
    }
}

impl PendingCall {
    /// Runs the host function to completion and checks what it returned.
    pub async fn finish(mut self) -> CallOutcome {
        let (log, index, capability) = &self.log;
        let (log, index, capability) = (log.clone(), *index, Arc::clone(capability));
        let record = self.record.take();
        let (outcome, value) = self.run().await;
        log.finish_as(index, &outcome, value.as_ref(), &capability.secret_fields, false);
        if let Some((replay, capability, method, args)) = record {
            let reply = match &outcome {
                CallOutcome::Return(text) => Some(Reply::Return(text.clone())),
                CallOutcome::Throw(text) => Some(Reply::Throw(text.clone())),
                // The request ends: there is nothing to replay past it.
                CallOutcome::Abort(_) => None,
            };
            if let Some(reply) = reply {
                replay.finish(&capability, &method, &args, reply);
            }
        }
        outcome
    }

    /// The call's outcome, and on success the value returned (for the log, without parsing its text again).
    async fn run(self) -> (CallOutcome, Option<Value>) {
        let label = Label::of(&self.log.2, self.function);
        let (ok, err) = match self.result {
            Some(ValueType::Result { ok, err }) => (ok.map(|ok| *ok), err.map(|err| *err)),
            other => (other, None),
        };
        match self.future.await {
            Ok(value) => {
                let value = if ok.is_none() { Value::Null } else { value };
                if let Some(Err(mismatch)) = ok.as_ref().map(|ty| ty.check(&value)) {
                    let at = if mismatch.path.is_empty() { String::new() } else { format!(" at `{}`", mismatch.path) };
                    let message = format!(
                        "{} returned a value that does not match its declared type{at}: expected {}, got {}",
                        label, mismatch.expected, mismatch.found
                    );
                    return (throw("Error", message, None), None);
                }
                // `serde_json::to_string` writes straight into the text; `Display` goes through a formatter.
                let text = serde_json::to_string(&value).unwrap_or_default();
                if text.len() as u64 > self.max_bytes {
                    let message = format!("the result of {label} exceeds {} bytes", self.max_bytes);
                    return (CallOutcome::Abort(SandboxError::Capability { message }), None);
                }
                (CallOutcome::Return(text), Some(value))
            }
            Err(CallError { message, data }) => {
                // Data the WIT does not declare is not passed on.
                let data = data.filter(|data| err.as_ref().is_some_and(|ty| ty.check(data).is_ok()));
                (host_error(label, message, data, self.max_bytes), None)
            }
        }
    }
}

/// A function as messages name it, `global.method`: written out only when a message needs it, not for every call.
#[derive(Clone, Copy)]
struct Label<'a> {
    global: &'a str,
    method: &'a str,
}

impl<'a> Label<'a> {
    /// Function `function` of `capability`.
    fn of(capability: &'a Capability, function: usize) -> Self {
        let method = capability.interface.functions.get(function).map_or("", |declared| declared.method.as_str());
        Label { global: &capability.interface.global, method }
    }
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.global, self.method)
    }
}

fn check_arguments(label: Label<'_>, function: &Function, args: &[u8]) -> Result<Vec<Value>, String> {
    let mut args: Vec<Value> =
        serde_json::from_slice(args).map_err(|_| format!("{label}: arguments are not JSON values"))?;
    let params = &function.params;
    let required = function.required_params();
    if args.len() < required || args.len() > params.len() {
        let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
        let count =
            if required == params.len() { params.len().to_string() } else { format!("{required} to {}", params.len()) };
        return Err(format!("{label} expects {count} argument(s) ({}), got {}", names.join(", "), args.len()));
    }
    args.resize(params.len(), Value::Null);
    for (param, value) in params.iter().zip(&mut args) {
        if let Err(mismatch) = param.ty.check(value) {
            return Err(format!(
                "{label}: argument `{}{}` must be {}, got {}",
                param.name, mismatch.path, mismatch.expected, mismatch.found
            ));
        }
        // Host functions take Rust integers, which do not deserialise from `2.0`.
        param.ty.integers_as_integers(value);
    }
    Ok(args)
}

fn throw(name: &str, message: String, data: Option<Value>) -> CallOutcome {
    let mut error = json!({ "name": name, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    CallOutcome::Throw(error.to_string())
}

/// A host function's error for the sandbox, bounded as its results are: past the per-call size limit the data is
/// dropped and the message cut, saying so, and the program goes on with the error as it would with any other.
fn host_error(label: Label<'_>, message: String, data: Option<Value>, max_bytes: u64) -> CallOutcome {
    let size = serde_json::to_string(&message).map_or(0, |text| text.len())
        + data.as_ref().map_or(0, |data| data.to_string().len());
    if size as u64 + 64 <= max_bytes {
        return throw("Error", message, data);
    }
    let note = format!(" [the error of {label} was cut: it exceeded {max_bytes} bytes]");
    // Each byte of the message may take up to six once escaped; the rest of the object is small.
    let mut cut = ((max_bytes as usize).saturating_sub(note.len() + 64) / 6).min(message.len());
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    throw("Error", format!("{}{note}", &message[..cut]), None)
}

fn abort(message: String) -> CallOutcome {
    CallOutcome::Abort(SandboxError::Capability { message })
}

#[cfg(test)]
mod tests {
    use isobox_core::Limits;

    use super::*;
    use crate::Capabilities;

    const WIT: &str = "package t:t; interface noisy { fail: func(size: u32) -> result<string, string>; }";

    /// A request granted `noisy`, whose `fail(size)` rejects with a message and data of `size` bytes each.
    fn host_calls(host_call_bytes: u64) -> HostCalls {
        let noisy =
            Capability::from_wit("t.wit", WIT, "noisy").unwrap().func("fail", |_, (size,): (u32,)| async move {
                let text = "\u{1}".repeat(size as usize);
                Err::<String, _>(CallError::with_data(text.clone(), text))
            });
        let mut capabilities = Capabilities::new();
        capabilities.register(noisy).unwrap();
        let limits = Limits { host_call_bytes, ..Limits::default() };
        capabilities.host_calls(&Request::new("").with_grants(["noisy"]).with_limits(limits)).unwrap()
    }

    async fn call(calls: &mut HostCalls, size: u32) -> Value {
        let pending = calls.begin(0, 0, format!("[{size}]").as_bytes()).expect("the arguments fit");
        match pending.finish().await {
            CallOutcome::Throw(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected an error for the program, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn host_errors_are_bounded_by_the_per_call_size_limit() {
        let mut calls = host_calls(4096);
        // Within the limit: message and declared data pass whole.
        let small = call(&mut calls, 100).await;
        assert_eq!(small["message"].as_str().unwrap().len(), 100);
        assert_eq!(small["data"].as_str().unwrap().len(), 100);
        // Past it (and six times larger escaped): cut, without data, saying so, and within the limit.
        let large = call(&mut calls, 1 << 20).await;
        let text = large.to_string();
        assert!(text.len() <= 4096, "{} bytes", text.len());
        assert!(large.get("data").is_none());
        assert!(
            large["message"].as_str().unwrap().ends_with("[the error of noisy.fail was cut: it exceeded 4096 bytes]")
        );
    }

    const SHAPES: &str = "package t:s;
        interface shapes {
            record item { sku: string, qty: u8 }
            record order { id: u32, items: list<item> }
            total: func(order: order, discount: option<f64>) -> u32;
            lie: func() -> u32;
            refuse: func() -> result<u32, string>;
            refuse-plain: func() -> u32;
        }";

    /// A request granted `shapes`, with `host_calls` calls and `host_call_bytes` bytes per argument list and result.
    fn shapes(host_calls: u32, host_call_bytes: u64) -> HostCalls {
        let shapes = Capability::from_wit("s.wit", SHAPES, "shapes")
            .unwrap()
            .func("total", |_, (order, discount): (Value, Option<f64>)| async move {
                let qty: u64 = order["items"].as_array().unwrap().iter().map(|i| i["qty"].as_u64().unwrap()).sum();
                Ok::<_, CallError>(qty - discount.unwrap_or(0.0) as u64)
            })
            .func("lie", |_, (): ()| async { Ok::<_, CallError>("not a number") })
            .func("refuse", |_, (): ()| async { Err::<u32, _>(CallError::with_data("no", "declared")) })
            .func("refuse-plain", |_, (): ()| async { Err::<u32, _>(CallError::with_data("no", "undeclared")) });
        let mut capabilities = Capabilities::new();
        capabilities.register(shapes).unwrap();
        let limits = Limits { host_calls, host_call_bytes, ..Limits::default() };
        capabilities.host_calls(&Request::new("").with_grants(["shapes"]).with_limits(limits)).unwrap()
    }

    /// Calls function `function` (its index in the WIT) with `args`, as the sandbox would, to the end.
    async fn outcome(calls: &mut HostCalls, function: u32, args: &str) -> CallOutcome {
        match calls.begin(0, function, args.as_bytes()) {
            Ok(pending) => pending.finish().await,
            Err(outcome) => outcome,
        }
    }

    fn thrown(outcome: CallOutcome) -> Value {
        match outcome {
            CallOutcome::Throw(text) => serde_json::from_str(&text).unwrap(),
            other => panic!("expected an error for the program, got {other:?}"),
        }
    }

    fn aborted(outcome: CallOutcome) -> SandboxError {
        match outcome {
            CallOutcome::Abort(error) => error,
            other => panic!("expected the request to end, got {other:?}"),
        }
    }

    const ORDER: &str = r#"{"id": 1, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}]}"#;

    #[tokio::test]
    async fn checked_arguments_reach_the_host_function() {
        let mut calls = shapes(100, 1 << 20);
        // The trailing `option` may be left out.
        assert!(matches!(outcome(&mut calls, 0, &format!("[{ORDER}]")).await, CallOutcome::Return(t) if t == "5"));
        assert!(matches!(outcome(&mut calls, 0, &format!("[{ORDER}, 1]")).await, CallOutcome::Return(t) if t == "4"));
        let log = calls.log().take();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|call| call.ok && call.method == "total"));
    }

    #[tokio::test]
    async fn the_wrong_number_of_arguments_is_a_type_error_for_the_program() {
        let mut calls = shapes(100, 1 << 20);
        for args in ["[]", &format!("[{ORDER}, 1, 2]")] {
            let error = thrown(outcome(&mut calls, 0, args).await);
            assert_eq!(error["name"], "TypeError");
            assert_eq!(
                error["message"],
                "shapes.total expects 1 to 2 argument(s) (order, discount), got ".to_string()
                    + if args == "[]" { "0" } else { "3" }
            );
        }
    }

    #[tokio::test]
    async fn a_mismatch_is_reported_at_its_path_in_the_argument() {
        let mut calls = shapes(100, 1 << 20);
        let order = ORDER.replace(r#""qty": 3"#, r#""qty": 300"#);
        let error = thrown(outcome(&mut calls, 0, &format!("[{order}]")).await);
        assert_eq!(error["name"], "TypeError");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("shapes.total: argument `order.items[1].qty` must be "), "{message}");
        let error = thrown(outcome(&mut calls, 0, &format!("[{ORDER}, \"ten\"]")).await);
        assert!(error["message"].as_str().unwrap().contains("argument `discount` must be"), "{error}");
        // Not JSON at all (a sandbox never sends this, a hostile guest might).
        let error = thrown(outcome(&mut calls, 0, "[{").await);
        assert_eq!(error["message"], "shapes.total: arguments are not JSON values");
        // Refused calls are logged as refused.
        assert!(calls.log().take().iter().all(|call| !call.ok));
    }

    #[tokio::test]
    async fn the_call_limit_ends_the_request() {
        let mut calls = shapes(2, 1 << 20);
        for _ in 0..2 {
            assert!(matches!(outcome(&mut calls, 0, &format!("[{ORDER}]")).await, CallOutcome::Return(_)));
        }
        let error = aborted(outcome(&mut calls, 0, &format!("[{ORDER}]")).await);
        assert_eq!(error.kind(), "capability");
        assert_eq!(error.to_string(), "the program made more than 2 host calls");
    }

    #[tokio::test]
    async fn arguments_past_the_byte_limit_end_the_request_before_the_host_sees_them() {
        let mut calls = shapes(100, 64);
        let big = format!(r#"[{{"id": 1, "items": [{{"sku": "{}", "qty": 1}}]}}]"#, "x".repeat(100));
        let error = aborted(outcome(&mut calls, 0, &big).await);
        assert_eq!(error.to_string(), "the arguments of shapes.total exceed 64 bytes");
        assert!(calls.log().take().is_empty(), "nothing was called");
    }

    #[tokio::test]
    async fn a_result_that_does_not_match_its_type_is_an_error_for_the_program() {
        let mut calls = shapes(100, 1 << 20);
        let error = thrown(outcome(&mut calls, 1, "[]").await);
        assert_eq!(error["name"], "Error");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("shapes.lie returned a value that does not match its declared type"), "{message}");
    }

    #[tokio::test]
    async fn error_data_passes_only_when_the_wit_declares_it() {
        let mut calls = shapes(100, 1 << 20);
        let declared = thrown(outcome(&mut calls, 2, "[]").await);
        assert_eq!((&declared["message"], &declared["data"]), (&json!("no"), &json!("declared")));
        let undeclared = thrown(outcome(&mut calls, 3, "[]").await);
        assert_eq!(undeclared["message"], "no");
        assert!(undeclared.get("data").is_none(), "{undeclared}");
    }

    #[tokio::test]
    async fn a_function_outside_the_grants_is_an_internal_error() {
        let mut calls = shapes(100, 1 << 20);
        assert_eq!(aborted(outcome(&mut calls, 9, "[]").await).kind(), "internal");
        assert_eq!(aborted(calls.begin(1, 0, b"[]").map(|_| ()).unwrap_err()).kind(), "internal");
    }
}
