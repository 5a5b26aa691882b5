//! The errors isobox reports when a limit ends a program, worded as the wasm backend words them.

use isobox_core::{Limits, SandboxError};
use serde::Deserialize;

/// The wasm guest's message for a promise nothing can settle any more.
pub(crate) fn never_settled() -> SandboxError {
    SandboxError::Exception {
        name: "Error".into(),
        message: "the program's promise never settled: it awaited something that cannot complete".into(),
        stack: None,
    }
}

/// An error as isobox's prelude describes it (or the V8 binding, for `internal`).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Described {
    Syntax { message: String, line: u32, column: u32 },
    Exception { name: String, message: String, stack: Option<String> },
    StackOverflow,
    Memory,
    Internal { message: String },
}

/// The program's error from the JSON text the prelude wrote.
pub(crate) fn described(text: &str, limits: &Limits) -> SandboxError {
    match serde_json::from_str::<Described>(text) {
        Ok(Described::Syntax { message, line, column }) => SandboxError::Syntax { message, line, column },
        Ok(Described::Exception { name, message, stack }) => SandboxError::Exception { name, message, stack },
        Ok(Described::StackOverflow) => SandboxError::stack_overflow(),
        Ok(Described::Memory) => SandboxError::memory_limit(limits),
        Ok(Described::Internal { message }) => SandboxError::internal(message),
        Err(error) => SandboxError::internal(format!("the prelude reported a malformed error: {error}")),
    }
}
