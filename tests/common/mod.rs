//! What the integration tests share: one backend per test process, as an embedder would have.

#![allow(dead_code)] // each test crate uses its own part of this module

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use isobox::{Backend, Capabilities, Limits, Outcome, Request, SandboxError, WasmBackend, WasmConfig};
use isobox_v8::{V8Backend, V8Config};
use serde_json::Value;

static BACKEND: LazyLock<WasmBackend> =
    LazyLock::new(|| WasmBackend::new(WasmConfig::default()).expect("the wasm backend starts"));

pub fn backend() -> &'static WasmBackend {
    &BACKEND
}

pub async fn run(code: &str) -> Outcome {
    backend().run(&Request::new(code)).await
}

pub async fn run_with(code: &str, limits: Limits) -> Outcome {
    backend().run(&Request::new(code).with_limits(limits)).await
}

/// The result of a run that must succeed.
pub async fn value(code: &str) -> Value {
    let outcome = run(code).await;
    match outcome.result {
        Ok(value) => value,
        Err(error) => panic!("`{code}` failed: {error:?}"),
    }
}

/// The error of a run that must fail.
pub async fn error(code: &str) -> SandboxError {
    error_with(code, Limits::default()).await
}

pub async fn error_with(code: &str, limits: Limits) -> SandboxError {
    match run_with(code, limits).await.result {
        Ok(value) => panic!("`{code}` succeeded with {value}"),
        Err(error) => error,
    }
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
