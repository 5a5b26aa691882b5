//! The call log: every capability call a program made, in order, with bounded copies of its arguments and result.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One capability call, as the outcome's `calls` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The capability's name (`kv`, a connector's name).
    pub capability: String,
    /// The method as the program called it (`listOrders`).
    pub method: String,
    /// The arguments, one per declared parameter (`null` for a function without any), fields marked secret masked.
    pub args: Value,
    /// Whether the call returned (else it threw, or did not finish before the request ended).
    pub ok: bool,
    /// What it returned, fields marked secret masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed, as the program saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `args` or `result` was cut to [`MAX_LOGGED_BYTES`]: in its place, the start of its JSON and its size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The call was not made again: a replay of an approved run served its recorded result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
    /// When the call started, from the start of the request, in µs.
    pub started_us: u64,
    /// How long the host took to answer, in µs.
    pub duration_us: u64,
}

/// The largest copy of one call's arguments or result kept in the log, as JSON text.
pub const MAX_LOGGED_BYTES: usize = 1024;

/// Past this many bytes of copies in one request's log, further calls are logged without their arguments and result.
pub const MAX_LOG_BYTES: usize = 64 << 10;

/// The text that marks a masked secret.
pub const MASKED: &str = "***";

/// `value` with every object field named in `secrets` replaced by [`MASKED`], at any depth.
pub fn mask(value: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    // An explicit stack: a value's depth is bounded where it is parsed, and a loop cannot overflow either way.
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (name, field) in map.iter_mut() {
                    if secrets.iter().any(|secret| secret == name) {
                        *field = Value::String(MASKED.into());
                    } else {
                        stack.push(field);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// A copy of `value` of at most `budget` bytes of JSON: the value itself, or the start of its JSON text and its size
/// as a string. The second element says whether it was cut.
pub fn bounded(value: &Value, budget: usize) -> (Value, bool) {
    bounded_as(value, &value.to_string(), budget)
}

/// [`bounded`] for a value whose JSON text, `text`, is at hand.
pub fn bounded_as(value: &Value, text: &str, budget: usize) -> (Value, bool) {
    if text.len() <= budget {
        return (value.clone(), false);
    }
    let keep = budget.saturating_sub(64).min(text.len());
    let cut = (0..=keep).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
    (Value::String(format!("{}… ({} bytes of JSON in all)", &text[..cut], text.len())), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let mut value = json!({"token": "t", "a": [{"password": {"x": 1}, "keep": "k"}], "b": {"token": null}});
        mask(&mut value, &["token".into(), "password".into()]);
        assert_eq!(value, json!({"token": "***", "a": [{"password": "***", "keep": "k"}], "b": {"token": "***"}}));
    }

    #[test]
    fn copies_are_bounded_on_character_boundaries() {
        let small = json!({"a": 1});
        assert_eq!(bounded(&small, 100), (small.clone(), false));
        let big = json!("€".repeat(10_000));
        let (cut, truncated) = bounded(&big, 1000);
        let text = cut.as_str().unwrap();
        assert!(truncated && text.len() <= 1000 && text.ends_with("(30002 bytes of JSON in all)"), "{text}");
    }
}
