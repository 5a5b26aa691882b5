//! A program's output as it leaves its sandbox: what it costs against [`Limits::output_bytes`](crate::Limits) and
//! how its result is read. Every backend counts and reads output through these, so that the budget means the same
//! on each.

use std::borrow::Cow;

use serde_json::Value;

use crate::{Limits, SandboxError};

/// The deepest nesting of arrays and objects a program's result may have. A deeper result is the program's error (an
/// `exception`, as for a result JSON cannot carry), not isobox's.
pub const MAX_RESULT_DEPTH: usize = 100;

/// `text` cut to at most `max_bytes` (at a character boundary) and marked `…` where it was cut: for what isobox passes on
/// from a source it does not control (an upstream's error, a document's description) into messages and prompts.
pub fn shorten(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut cut = max_bytes;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// The bytes `text` takes inside a JSON string (quotes excluded), as in `isobox run --json`'s report: console lines
/// and error messages are counted against the output budget by this length, so that a program cannot make its
/// report several times larger than its budget with characters JSON escapes (a control character is six bytes
/// there).
pub fn json_escaped_len(text: &str) -> u64 {
    let escapes: u64 = text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0..0x20 => 5,
            _ => 0,
        })
        .sum();
    text.len() as u64 + escapes
}

/// What a run may still write: its console lines and its result share [`Limits::output_bytes`]. A line counts as the
/// JSON string it becomes in the report ([`json_escaped_len`]), the result as its JSON text. Once something does not
/// fit, the run has hit its output limit ([`SandboxError::output_limit`]).
///
/// # Examples
///
/// ```
/// use isobox_core::Limits;
/// use isobox_core::output::OutputBudget;
///
/// let mut budget = OutputBudget::new(&Limits { output_bytes: 10, ..Limits::default() });
/// assert_eq!(budget.line(b"a\tb").as_deref(), Some("a\tb")); // 4 bytes: the tab is `\t` in JSON
/// assert!(!budget.result(7));
/// assert!(budget.result(6));
/// assert_eq!(budget.used(), 10);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OutputBudget {
    limit: u64,
    used: u64,
}

impl OutputBudget {
    /// Nothing written yet, within `limits.output_bytes`.
    pub fn new(limits: &Limits) -> Self {
        Self { limit: limits.output_bytes, used: 0 }
    }

    /// Bytes counted so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Counts a console line as the sandbox wrote it (invalid UTF-8 is replaced); returns its text when it fits, and
    /// counts nothing when it does not.
    pub fn line<'a>(&mut self, raw: &'a [u8]) -> Option<Cow<'a, str>> {
        // Decoding and escaping never shrink a line: one longer than what is left is over whatever it holds, and is
        // not decoded.
        if raw.len() as u64 > self.limit - self.used {
            return None;
        }
        let text = String::from_utf8_lossy(raw);
        let used = self.used + json_escaped_len(&text);
        if used > self.limit {
            return None;
        }
        self.used = used;
        Some(text)
    }

    /// Counts a result of `len` bytes of JSON text; whether it fits (nothing is counted when it does not).
    pub fn result(&mut self, len: u64) -> bool {
        let used = self.used.saturating_add(len);
        if used > self.limit {
            return false;
        }
        self.used = used;
        true
    }
}

/// The program's result from the JSON text its sandbox reported.
///
/// # Errors
/// A result nested deeper than [`MAX_RESULT_DEPTH`] is an `exception` (a `RangeError`): the program returned it. Text
/// that is not JSON is an `internal` error, since the sandbox's own serialisation wrote it.
pub fn decode_result(json: &[u8]) -> Result<Value, SandboxError> {
    if nesting_depth(json) > MAX_RESULT_DEPTH {
        return Err(SandboxError::Exception {
            name: "RangeError".into(),
            message: format!("the program's result is nested more than {MAX_RESULT_DEPTH} levels deep"),
            stack: None,
        });
    }
    serde_json::from_slice(json)
        .map_err(|error| SandboxError::internal(format!("the sandbox reported a result that is not JSON: {error}")))
}

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count). Linear, with no
/// recursion, so that it is safe on any input.
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(bytes: u64) -> OutputBudget {
        OutputBudget::new(&Limits { output_bytes: bytes, ..Limits::default() })
    }

    #[test]
    fn a_line_counts_as_its_json_string_and_one_that_does_not_fit_counts_nothing() {
        let mut output = budget(12);
        // A control character is six bytes in JSON.
        assert_eq!(output.line(b"\x01").as_deref(), Some("\u{1}"));
        assert_eq!(output.used(), 6);
        assert!(output.line(b"\x01\x01").is_none());
        assert_eq!(output.used(), 6);
        // Invalid UTF-8 becomes U+FFFD, three bytes.
        assert_eq!(output.line(&[0xff, b'a']).as_deref(), Some("\u{fffd}a"));
        assert_eq!(output.used(), 10);
        // Longer than what is left before decoding: refused without looking at it.
        assert!(output.line(b"abc").is_none());
        assert!(output.line(b"ab").is_some());
        assert!(output.line(b"").is_some());
        assert_eq!(output.used(), 12);
    }

    #[test]
    fn the_result_shares_the_budget_with_the_lines() {
        let mut output = budget(10);
        assert!(output.line(b"12345").is_some());
        assert!(!output.result(6));
        assert_eq!(output.used(), 5);
        assert!(output.result(5));
        assert!(!output.result(1));
        assert!(!output.result(u64::MAX));
        assert!(budget(0).result(0));
    }

    #[test]
    fn shortened_text_is_cut_at_a_character_boundary_and_marked() {
        assert_eq!(shorten("short", 5), "short");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("ééé", 3), "é…");
    }

    #[test]
    fn escaped_length_matches_serde_json() {
        for text in ["", "plain", "quote \" and \\ backslash", "\n\r\t\u{8}\u{c}", "\u{1}\u{1f}\u{7f}", "é€😀"] {
            let serialised = serde_json::to_string(text).unwrap();
            assert_eq!(json_escaped_len(text), serialised.len() as u64 - 2, "{text:?}");
        }
        assert_eq!(json_escaped_len(&"\u{1}".repeat(1000)), 6000);
    }

    #[test]
    fn results_deeper_than_the_bound_are_the_programs_error() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(decode_result(nested(MAX_RESULT_DEPTH).as_bytes()).unwrap().as_array().unwrap().len(), 1);
        let error = decode_result(nested(MAX_RESULT_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(matches!(&error, SandboxError::Exception { name, .. } if name == "RangeError"), "{error:?}");
        // Far deeper than serde_json's own recursion bound, and still the program's error.
        assert_eq!(decode_result(nested(100_000).as_bytes()).unwrap_err().kind(), "exception");
        // Brackets inside strings are text, not nesting.
        let text = serde_json::to_string(&"[{\\\"".repeat(500)).unwrap();
        assert!(decode_result(text.as_bytes()).unwrap().is_string());
        assert_eq!(decode_result(b"{\"a\":").unwrap_err().kind(), "internal");
    }
}
