use serde::{Deserialize, Serialize};

/// Why a request did not produce a result. The `kind` names (`syntax`, `exception`, …) are stable: they are part of
/// the JSON output contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SandboxError {
    /// The program does not parse. `line` and `column` are 1-based positions in the program as given.
    #[error("syntax error at {line}:{column}: {message}")]
    Syntax {
        /// The engine's description, such as "unexpected end of input".
        message: String,
        /// The 1-based line of the error.
        line: u32,
        /// The 1-based column, in UTF-16 code units as JavaScript counts them.
        column: u32,
    },

    /// The program threw, or its promise rejected, and nothing caught it.
    #[error("uncaught {name}: {message}")]
    Exception {
        /// The thrown error's `name` (`TypeError`, `Error`, …), or the type of a thrown value that is not an error.
        name: String,
        /// The thrown error's `message`, or the thrown value as text.
        message: String,
        /// The stack trace, its positions in the program as given, when the engine had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stack: Option<String>,
    },

    /// The program ran out of time (wall clock or CPU) or of its instruction budget (fuel).
    #[error("{message}")]
    Timeout {
        /// Which limit, and its value.
        message: String,
        /// The budget that ran out.
        budget: Budget,
    },

    /// The program tried to use more memory than its limit.
    #[error("{message}")]
    Memory {
        /// The limit the program reached, in words.
        message: String,
        /// The memory limit, in bytes.
        limit_bytes: u64,
    },

    /// The program recursed past its stack limit.
    #[error("{message}")]
    StackOverflow {
        /// The stack limit, in words.
        message: String,
    },

    /// The program's result and console output exceeded their limit.
    #[error("{message}")]
    OutputLimit {
        /// What went over, and the limit.
        message: String,
        /// The output limit, in bytes.
        limit_bytes: u64,
    },

    /// The program asked for a capability it cannot have, or went past a capability limit (host calls, argument or
    /// result size).
    #[error("{message}")]
    Capability {
        /// Which capability or limit, and why.
        message: String,
    },

    /// The request asked for what this backend cannot serve: a memory or stack limit above its maximum, or a fuel
    /// budget on V8. The caller's to change, not a fault of isobox or of the program.
    #[error("{message}")]
    Unsupported {
        /// What was asked and the backend's bound.
        message: String,
    },

    /// The program reached a capability call that needs a person's approval, and stopped before making it: nothing
    /// past that point happened (see [`ApprovalRequired`]).
    #[error("{}", .0.message)]
    ApprovalRequired(Box<ApprovalRequired>),

    /// Something went wrong in isobox itself, not in the program.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}

/// A run stopped before a call that needs approval. `run_id` names the kept run, to approve or deny with
/// [`Approvals::decide`](crate::approval::Approvals::decide); it is absent when the request was not run through
/// [`Approvals`](crate::approval::Approvals) (then the run cannot be continued). `args` are the call's arguments,
/// fields the capability marks secret masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequired {
    /// Which call waits for approval, in words.
    pub message: String,
    /// The kept run, 32 hexadecimal digits; `None` without [`Approvals`](crate::approval::Approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The capability called, as granted (`kv`).
    pub capability: String,
    /// The function called, as the program names it (`set`).
    pub method: String,
    /// The call's arguments, as an array, secret fields masked.
    pub args: serde_json::Value,
}

/// Why a backend or plugin host could not start (this build has no V8, the guest did not compile, a thread did not
/// start, …). An ordinary error type, so `?` turns it into `anyhow::Error` or `Box<dyn Error + Send + Sync>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    message: String,
}

impl StartError {
    /// A start error that says `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// `what` did not start because of `error`, whose causes are kept in the message.
    pub fn because(what: &str, error: impl std::fmt::Display) -> Self {
        Self::new(format!("{what} did not start: {error:#}"))
    }

    /// What did not start, and why.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Which budget a [`SandboxError::Timeout`] exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// [`Limits::timeout`](crate::Limits::timeout): time since the request was received.
    WallClock,
    /// [`Limits::cpu_time`](crate::Limits::cpu_time).
    CpuTime,
    /// [`Limits::fuel`](crate::Limits::fuel): the instruction budget (wasm only).
    Fuel,
}

/// The 1-based line and column just past `before`, counted as JavaScript engines count them for the program they run:
/// a line ends at `\n`, `\r\n`, a lone `\r`, U+2028 or U+2029, and a column is a UTF-16 code unit.
pub fn line_and_column(before: &str) -> (u32, u32) {
    PositionCounter::new(before).position(before.len())
}

/// Lines and columns of positions in one text, counted as [`line_and_column`] counts them, in one pass however many
/// positions are asked for in increasing order (an engine's stack may name many).
#[derive(Debug)]
pub struct PositionCounter<'a> {
    text: &'a str,
    at: usize,
    line: u32,
    column: u32,
}

impl<'a> PositionCounter<'a> {
    /// A counter at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self { text, at: 0, line: 1, column: 1 }
    }

    /// The line and column at byte offset `to` of the text: clamped to the text and rounded down to a character
    /// boundary, and never before a position asked for earlier (the counter only goes forwards).
    pub fn position(&mut self, to: usize) -> (u32, u32) {
        let mut to = to.min(self.text.len());
        while !self.text.is_char_boundary(to) {
            to -= 1;
        }
        let bytes = self.text.as_bytes();
        for (offset, c) in self.text.get(self.at..to).unwrap_or_default().char_indices() {
            match c {
                // `\r\n` is one line break: the `\n` counts it.
                '\r' if bytes.get(self.at + offset + 1) == Some(&b'\n') => {}
                '\n' | '\r' | '\u{2028}' | '\u{2029}' => (self.line, self.column) = (self.line.saturating_add(1), 1),
                _ => self.column = self.column.saturating_add(c.len_utf16() as u32),
            }
        }
        self.at = self.at.max(to);
        (self.line, self.column)
    }
}

impl SandboxError {
    /// This error for a request whose program is `code`: a syntax error placed past the program's end (in what isobox
    /// wraps a program in) is the program ending early, reported as "unexpected end of input" at its end, as the
    /// program was written. Backends pass every outcome through this.
    pub fn within_program(self, code: &str) -> Self {
        let Self::Syntax { message, line, column } = self else { return self };
        let (last_line, end_column) = line_and_column(code);
        if line > last_line || (line == last_line && column > end_column) {
            Self::Syntax { message: "unexpected end of input".into(), line: last_line, column: end_column }
        } else {
            Self::Syntax { message, line, column }
        }
    }

    /// The stable name of this error's kind, as in the JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "syntax",
            Self::Exception { .. } => "exception",
            Self::Timeout { .. } => "timeout",
            Self::Memory { .. } => "memory",
            Self::StackOverflow { .. } => "stack_overflow",
            Self::OutputLimit { .. } => "output_limit",
            Self::Capability { .. } => "capability",
            Self::Unsupported { .. } => "unsupported",
            Self::ApprovalRequired(_) => "approval_required",
            Self::Internal { .. } => "internal",
        }
    }

    /// The program ran past its wall-clock deadline. Every backend words its limit errors through these constructors.
    pub fn wall_clock_timeout(limits: &crate::Limits) -> Self {
        Self::Timeout {
            message: format!("the program ran past its {} ms deadline", limits.timeout.as_millis()),
            budget: Budget::WallClock,
        }
    }

    /// The program ran past its CPU-time budget.
    pub fn cpu_time_exceeded(limits: &crate::Limits) -> Self {
        let ms = limits.cpu_time.map_or(0, |budget| budget.as_millis());
        Self::Timeout {
            message: format!(
                "the program used more than its {ms} ms of CPU time (time awaiting capability calls is not counted)"
            ),
            budget: Budget::CpuTime,
        }
    }

    /// The program asked for more memory than its limit.
    pub fn memory_limit(limits: &crate::Limits) -> Self {
        Self::Memory {
            message: format!("the program exceeded its memory limit of {} bytes", limits.memory_bytes),
            limit_bytes: limits.memory_bytes,
        }
    }

    /// The program's result and logs exceeded their limit.
    pub fn output_limit(limits: &crate::Limits) -> Self {
        Self::OutputLimit {
            message: format!("the program's result and logs exceeded {} bytes", limits.output_bytes),
            limit_bytes: limits.output_bytes,
        }
    }

    /// Uncaught recursion past the stack limit.
    pub fn stack_overflow() -> Self {
        Self::StackOverflow { message: "maximum call stack size exceeded".into() }
    }

    /// The program stopped before `capability.method`, which needs approval (see
    /// [`ApprovalRequired`]).
    pub fn approval_required(run_id: Option<String>, capability: &str, method: &str, args: serde_json::Value) -> Self {
        let message = match &run_id {
            Some(run_id) => format!(
                "{capability}.{method} needs approval: the run stopped before calling it; approve or deny run {run_id} \
                 to continue"
            ),
            None => format!(
                "{capability}.{method} needs approval: the run stopped before calling it (run the request through \
                 isobox's approvals to be able to continue it)"
            ),
        };
        let stop = ApprovalRequired { message, run_id, capability: capability.into(), method: method.into(), args };
        Self::ApprovalRequired(Box::new(stop))
    }

    /// A failure of isobox rather than of the program.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal { message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_as_engines_do_and_columns_in_utf16() {
        assert_eq!(line_and_column(""), (1, 1));
        assert_eq!(line_and_column("a€😀"), (1, 5));
        assert_eq!(line_and_column("a\r\nb\rc\u{2028}d\u{2029}e\nf"), (6, 2));
        let text = "x = '€';\r\ny = '😀'; z";
        let mut counter = PositionCounter::new(text);
        let z = text.find('z').unwrap();
        // Inside a character rounds down; past the end is the end; backwards stays put.
        assert_eq!(counter.position(6), (1, 6));
        assert_eq!(counter.position(5), (1, 6));
        assert_eq!(counter.position(text.find('\n').unwrap()), (1, 9));
        assert_eq!(counter.position(z), line_and_column(&text[..z]));
        assert_eq!(counter.position(z), (2, 11));
        assert_eq!(counter.position(usize::MAX), line_and_column(text));
    }

    #[test]
    fn serialises_with_a_kind_tag() {
        let error = SandboxError::Syntax { message: "unexpected token".into(), line: 3, column: 7 };
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(json, serde_json::json!({"kind": "syntax", "message": "unexpected token", "line": 3, "column": 7}));
        assert_eq!(error.kind(), "syntax");
        let back: SandboxError = serde_json::from_value(json).unwrap();
        assert_eq!(back, error);
    }

    #[test]
    fn kind_matches_the_serialised_tag() {
        let errors = [
            SandboxError::Exception { name: "Error".into(), message: "x".into(), stack: None },
            SandboxError::Timeout { message: "x".into(), budget: Budget::Fuel },
            SandboxError::Memory { message: "x".into(), limit_bytes: 1 },
            SandboxError::StackOverflow { message: "x".into() },
            SandboxError::OutputLimit { message: "x".into(), limit_bytes: 1 },
            SandboxError::Capability { message: "x".into() },
            SandboxError::Unsupported { message: "x".into() },
            SandboxError::approval_required(Some("r".into()), "kv", "set", serde_json::json!(["a", "b"])),
            SandboxError::internal("x"),
        ];
        for error in errors {
            let json = serde_json::to_value(&error).unwrap();
            assert_eq!(json["kind"], error.kind());
        }
    }
}
