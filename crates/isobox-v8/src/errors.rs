//! The errors isobox reports when a limit ends a program, worded as the wasm backend words them.

use isobox_core::SandboxError;

/// The wasm guest's message for a promise nothing can settle any more.
pub(crate) fn never_settled() -> SandboxError {
    SandboxError::Exception {
        name: "Error".into(),
        message: "the program's promise never settled: it awaited something that cannot complete".into(),
        stack: None,
    }
}
