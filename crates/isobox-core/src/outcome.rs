use std::time::Instant;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::{Call, SandboxError};

/// What a request produced: its result or error, what it logged, and what it cost.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The program's `return`ed value as JSON (`null` for `undefined`), or why there is none.
    pub result: Result<Value, SandboxError>,
    /// Console lines in the order they were written, up to the request's output limit.
    pub logs: Vec<LogLine>,
    /// The capability calls the program made, in order (see [`Call`]).
    pub calls: Vec<Call>,
    /// Where the time went, and what the sandbox used.
    pub metrics: Metrics,
}

impl Outcome {
    /// The outcome of a request that failed before its program started (refused, or its sandbox never came):
    /// `error`, no logs or calls, and only the time since `received` counted.
    pub fn rejected(backend: &str, error: SandboxError, received: Instant) -> Self {
        Self {
            result: Err(error),
            logs: Vec::new(),
            calls: Vec::new(),
            metrics: Metrics { backend: backend.into(), total_us: micros_since(received), ..Metrics::default() },
        }
    }

    /// Whether the program produced a result.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The error, when the request failed.
    pub fn error(&self) -> Option<&SandboxError> {
        self.result.as_ref().err()
    }
}

/// The JSON output contract:
/// `{"ok": bool, "result": value|null, "error": null|{"kind": …, "message": …}, "logs": [...], "calls": [...],
/// "metrics": {...}}`, and `"truncated": true` when a [`FittedOutcome`](crate::fit::FittedOutcome) cut anything.
impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Contract {
            ok: self.is_ok(),
            result: self.result.as_ref().ok(),
            error: self.error(),
            logs: &self.logs,
            calls: &self.calls,
            metrics: &self.metrics,
            truncated: false,
        }
        .serialize(serializer)
    }
}

/// The outcome as reported, in full or fitted to a budget.
#[derive(Serialize)]
pub(crate) struct Contract<'a> {
    pub ok: bool,
    pub result: Option<&'a Value>,
    pub error: Option<&'a SandboxError>,
    pub logs: &'a [LogLine],
    pub calls: &'a [Call],
    pub metrics: &'a Metrics,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One console call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The console method that wrote it.
    pub level: Level,
    /// The arguments, formatted and joined by spaces as a browser console shows them.
    pub message: String,
}

/// The console method that wrote a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `console.log`.
    Log,
    /// `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
    /// `console.debug`.
    Debug,
}

impl Level {
    /// The level of a console line as the prelude numbers it (`console.log`, `info`, `warn`, `error`, `debug`: 0 to
    /// 4); any other number is `log`.
    pub fn from_prelude(code: u32) -> Self {
        match code {
            1 => Self::Info,
            2 => Self::Warn,
            3 => Self::Error,
            4 => Self::Debug,
            _ => Self::Log,
        }
    }

    /// The console method's name (`log`, `warn`, …), as the JSON output writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Debug => "debug",
        }
    }
}

/// Microseconds since `since`, as [`Metrics`] counts time.
pub fn micros_since(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// What a request cost. Times are in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// The backend that ran the request.
    pub backend: String,
    /// Creating the fresh sandbox.
    pub start_us: u64,
    /// Compiling and running the program, up to its outcome.
    pub run_us: u64,
    /// The whole request, including waiting for a free sandbox slot.
    pub total_us: u64,
    /// The sandbox's memory when the request ended.
    pub memory_bytes: u64,
    /// Guest instructions used, when the request had a fuel budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    /// Bytes of result and console output.
    pub output_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_follows_the_contract() {
        let outcome = Outcome {
            result: Ok(json!({"a": 1})),
            logs: vec![LogLine { level: Level::Warn, message: "careful".into() }],
            calls: Vec::new(),
            metrics: Metrics { backend: "wasm".into(), ..Metrics::default() },
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["ok"], true);
        assert_eq!(json["result"], json!({"a": 1}));
        assert_eq!(json["error"], Value::Null);
        assert_eq!(json["logs"], json!([{"level": "warn", "message": "careful"}]));
        assert_eq!(json["metrics"]["backend"], "wasm");
    }

    #[test]
    fn failure_follows_the_contract() {
        let outcome = Outcome {
            result: Err(SandboxError::StackOverflow { message: "too deep".into() }),
            logs: vec![],
            calls: Vec::new(),
            metrics: Metrics::default(),
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["result"], Value::Null);
        assert_eq!(json["error"], json!({"kind": "stack_overflow", "message": "too deep"}));
    }
}
