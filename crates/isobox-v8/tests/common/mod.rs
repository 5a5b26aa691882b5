//! What the integration tests share: one backend per test process, as an embedder would have.

#![allow(dead_code)] // each test crate uses its own part of this module

use std::sync::LazyLock;
use std::time::Duration;

use isobox_core::{Backend, Limits, Outcome, Request, SandboxError};
use isobox_v8::{V8Backend, V8Config};
use serde_json::Value;

static BACKEND: LazyLock<V8Backend> = LazyLock::new(|| match V8Backend::new(V8Config::default()) {
    Ok(backend) => backend,
    Err(error) => panic!("the V8 backend does not start: {error}"),
});

pub fn backend() -> &'static V8Backend {
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
