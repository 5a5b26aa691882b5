//! A program's error as isobox's prelude reports it: the prelude (`guest/prelude.js`, shared by every backend) turns
//! whatever the program threw into a small JSON description, which each backend hands to [`SandboxError::from_prelude`].

use serde::Deserialize;

use crate::{Limits, SandboxError};

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PreludeError {
    Syntax { message: String, line: u32, column: u32 },
    Exception { name: String, message: String, stack: Option<String> },
    StackOverflow,
    Memory,
    Internal { message: String },
}

impl SandboxError {
    /// The error described by the prelude's JSON. The bytes come from inside the sandbox, so a malformed description
    /// is an `internal` error, never a panic.
    pub fn from_prelude(json: &[u8], limits: &Limits) -> Self {
        match serde_json::from_slice::<PreludeError>(json) {
            Ok(PreludeError::Syntax { message, line, column }) => Self::Syntax { message, line, column },
            Ok(PreludeError::Exception { name, message, stack }) => Self::Exception { name, message, stack },
            Ok(PreludeError::StackOverflow) => Self::stack_overflow(),
            Ok(PreludeError::Memory) => Self::memory_limit(limits),
            Ok(PreludeError::Internal { message }) => Self::internal(message),
            Err(error) => Self::internal(format!("the sandbox reported a malformed error: {}", bounded(&error))),
        }
    }
}

/// The most of a decoding error's text that is kept: it may quote the guest's bytes, escaped, several times their size.
const MAX_DETAIL: usize = 200;

fn bounded(error: &serde_json::Error) -> String {
    let mut text = error.to_string();
    if text.len() > MAX_DETAIL {
        let end = (0..=MAX_DETAIL).rev().find(|&end| text.is_char_boundary(end)).unwrap_or(0);
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_decoded_and_garbage_is_internal() {
        let limits = Limits::default();
        let decode = |json: &str| SandboxError::from_prelude(json.as_bytes(), &limits);
        assert_eq!(
            decode(r#"{"kind":"syntax","message":"bad","line":2,"column":3}"#),
            SandboxError::Syntax { message: "bad".into(), line: 2, column: 3 }
        );
        assert_eq!(
            decode(r#"{"kind":"exception","name":"TypeError","message":"m","stack":null}"#),
            SandboxError::Exception { name: "TypeError".into(), message: "m".into(), stack: None }
        );
        assert_eq!(decode(r#"{"kind":"stack_overflow"}"#), SandboxError::stack_overflow());
        assert_eq!(decode(r#"{"kind":"memory"}"#), SandboxError::memory_limit(&limits));
        assert_eq!(decode(r#"{"kind":"internal","message":"x"}"#), SandboxError::internal("x"));
        for garbage in ["", "{", r#"{"kind":"timeout"}"#, r#"{"kind":"syntax","line":-1}"#, "\u{0}\u{ff}"] {
            assert_eq!(decode(garbage).kind(), "internal", "{garbage:?}");
        }
        // serde quotes a wrongly typed string escaped, so control characters grow sixfold; the message stays short.
        let quoted = format!(r#"{{"kind":"syntax","message":"m","line":"{}","column":1}}"#, "\\u0001".repeat(10_000));
        let message = decode(&quoted).to_string();
        assert!(message.len() < 400 && message.contains("malformed"), "{message}");
    }
}
