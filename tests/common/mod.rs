//! What the integration tests share: every backend, started once per test process as an embedder would, and
//! helpers that run one program on each of them with the same expectations.

#![allow(dead_code)] // each test crate uses its own part of this module

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use isobox::{Backend, Capabilities, Limits, Outcome, Request, SandboxError, WasmBackend, WasmConfig};
use isobox_capabilities::backend::CallOutcome;
use isobox_v8::{V8Backend, V8Config};
use serde_json::Value;

static ALL: LazyLock<Backends> = LazyLock::new(|| backends(&Capabilities::new()));

/// Every backend, started once per test process without capabilities, as an embedder would keep them.
pub fn all() -> &'static Backends {
    &ALL
}

/// Runs `code` with `limits` on every backend: each backend's name and outcome.
pub async fn run_with(code: &str, limits: Limits) -> Vec<(&'static str, Outcome)> {
    let request = Request::new(code).with_limits(limits);
    let mut outcomes = Vec::new();
    for (name, backend) in all() {
        outcomes.push((*name, backend.run(&request).await));
    }
    outcomes
}

pub async fn run(code: &str) -> Vec<(&'static str, Outcome)> {
    run_with(code, Limits::default()).await
}

/// The value `code` returns, which must be the same on every backend.
pub async fn value(code: &str) -> Value {
    value_with(code, Limits::default()).await
}

pub async fn value_with(code: &str, limits: Limits) -> Value {
    let mut values = run_with(code, limits).await.into_iter().map(|(name, outcome)| match outcome.result {
        Ok(value) => (name, value),
        Err(error) => panic!("{name}: `{code}` failed: {error:?}"),
    });
    let (first_name, first) = values.next().expect("a backend");
    for (name, value) in values {
        assert_eq!(value, first, "`{code}` returned differently on {name} than on {first_name}");
    }
    first
}

/// The error of `code` on every backend, each of which must fail.
pub async fn errors(code: &str) -> Vec<(&'static str, SandboxError)> {
    errors_with(code, Limits::default()).await
}

pub async fn errors_with(code: &str, limits: Limits) -> Vec<(&'static str, SandboxError)> {
    let outcomes = run_with(code, limits).await;
    outcomes
        .into_iter()
        .map(|(name, outcome)| match outcome.result {
            Ok(value) => panic!("{name}: `{code}` succeeded with {value}"),
            Err(error) => (name, error),
        })
        .collect()
}

/// The error of `code`, which must be the same on every backend.
pub async fn error(code: &str) -> SandboxError {
    error_with(code, Limits::default()).await
}

pub async fn error_with(code: &str, limits: Limits) -> SandboxError {
    let mut errors = errors_with(code, limits).await.into_iter();
    let (first_name, first) = errors.next().expect("a backend");
    for (name, error) in errors {
        assert_eq!(error, first, "`{code}` failed differently on {name} than on {first_name}");
    }
    first
}

pub fn short_timeout() -> Limits {
    Limits { timeout: Duration::from_millis(300), ..Limits::default() }
}

/// Backends by name, as the conformance tests go through them.
pub type Backends = Vec<(&'static str, Arc<dyn Backend>)>;

/// Every backend isobox has (wasm, then V8), each offering `capabilities`, with its `Backend::name`: the conformance tests
/// run each case on all of them, with the same expectations. A backend that does not start fails the test (V8 needs
/// `scripts/setup-v8.sh`); none is skipped.
pub fn backends(capabilities: &Capabilities) -> Backends {
    backends_with(capabilities, None)
}

/// As [`backends`], each running at most `max_sandboxes` sandboxes at once when given.
pub fn backends_with(capabilities: &Capabilities, max_sandboxes: Option<u32>) -> Backends {
    let mut wasm = WasmConfig { capabilities: capabilities.clone(), ..WasmConfig::default() };
    let mut v8 = V8Config { capabilities: capabilities.clone(), ..V8Config::default() };
    if let Some(max) = max_sandboxes {
        wasm.max_sandboxes = max;
        v8.max_sandboxes = max;
    }
    let wasm = WasmBackend::new(wasm).expect("the wasm backend starts");
    let v8 = V8Backend::new(v8).unwrap_or_else(|error| panic!("the V8 backend does not start: {error}"));
    let all: [Arc<dyn Backend>; 2] = [Arc::new(wasm), Arc::new(v8)];
    all.into_iter().map(|backend| (backend.name(), backend)).collect()
}

/// Calls `grant.method(...args)` (`args` the JSON argument array) as `request`'s program would, with no sandbox:
/// `grant` is the only capability `request` grants. The call's outcome, its argument checks included.
pub async fn call_granted(
    capabilities: &Capabilities,
    request: &Request,
    grant: &str,
    method: &str,
    args: &Value,
) -> CallOutcome {
    let mut calls = capabilities.host_calls(request).unwrap();
    let functions = &capabilities.get(grant).unwrap().functions;
    let index = functions.iter().position(|function| function.method == method).expect("a method of that name");
    match calls.begin(0, index as u32, args.to_string().as_bytes()) {
        Ok(pending) => pending.finish().await,
        Err(outcome) => outcome,
    }
}
