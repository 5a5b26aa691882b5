//! The guest boundary as the host decodes it: the prelude's JSON description of a program's error
//! (`SandboxError::from_prelude`), and console levels (`Level::from_prelude`). Both come from inside the sandbox.
//!
//! Properties: no panic; a guest can only report the kinds the prelude reports (syntax, exception, stack overflow,
//! memory), anything else is `internal`; what is decoded is what the JSON says; the error survives isobox's JSON
//! output (serialise, deserialise); a malformed description gives an error message of bounded size.

use arbitrary::{Result, Unstructured};
use isobox_core::{Level, Limits, SandboxError};
use serde_json::{Map, Value};

use crate::json::any_value;

const KINDS: [&str; 9] =
    ["syntax", "exception", "stack_overflow", "memory", "internal", "timeout", "capability", "output_limit", "Syntax"];
const FIELDS: [&str; 7] = ["message", "line", "column", "name", "stack", "limit_bytes", "budget"];

/// The `prelude_outcome` target: decodes an error description and a console level built from `data`. Panics when a
/// property of this module fails.
pub fn prelude_outcome(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

fn run(u: &mut Unstructured) -> Result<()> {
    let level = Level::from_prelude(u.arbitrary()?);
    let named: Level = serde_json::from_value(Value::String(level.as_str().into())).expect("levels have their names");
    assert_eq!(named, level);

    let limits = Limits { memory_bytes: u.arbitrary()?, ..Limits::default() };
    // Raw bytes are the rest of the input, so that a seed can be a header and then JSON as the prelude writes it.
    let json = if u.arbitrary()? { u.bytes(u.len())?.to_vec() } else { description(u)? };
    check(&json, &limits);
    Ok(())
}

/// A description shaped like the prelude's: a `kind` and some of the fields the kinds have, each of any type.
fn description(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut object = Map::new();
    if !u.ratio(1, 16)? {
        object.insert("kind".into(), u.choose(&KINDS)?.to_string().into());
    }
    for _ in 0..u.int_in_range(0..=4)? {
        let field = u.choose(&FIELDS)?.to_string();
        let value = match u.int_in_range(0..=3)? {
            0 => Value::String(u.arbitrary()?),
            1 => u.arbitrary::<u32>()?.into(),
            _ => any_value(u, 2)?,
        };
        object.insert(field, value);
    }
    Ok(Value::Object(object).to_string().into_bytes())
}

fn check(json: &[u8], limits: &Limits) {
    let error = SandboxError::from_prelude(json, limits);
    let view: Option<Value> = serde_json::from_slice(json).ok();
    let field = |name: &str| view.as_ref().and_then(|view| view.get(name));
    let kind = field("kind").and_then(Value::as_str);
    match &error {
        SandboxError::Syntax { message, line, column } => {
            assert_eq!(kind, Some("syntax"));
            assert_eq!(field("message").and_then(Value::as_str), Some(message.as_str()));
            assert_eq!(field("line").and_then(Value::as_u64), Some(u64::from(*line)));
            assert_eq!(field("column").and_then(Value::as_u64), Some(u64::from(*column)));
        }
        SandboxError::Exception { name, message, stack } => {
            assert_eq!(kind, Some("exception"));
            assert_eq!(field("name").and_then(Value::as_str), Some(name.as_str()));
            assert_eq!(field("message").and_then(Value::as_str), Some(message.as_str()));
            assert_eq!(field("stack").and_then(Value::as_str), stack.as_deref());
        }
        SandboxError::StackOverflow { .. } => assert_eq!(kind, Some("stack_overflow")),
        SandboxError::Memory { limit_bytes, .. } => {
            assert_eq!(kind, Some("memory"));
            assert_eq!(*limit_bytes, limits.memory_bytes);
        }
        SandboxError::Internal { message } => {
            if kind == Some("internal") && field("message").and_then(Value::as_str) == Some(message.as_str()) {
                // The prelude's own internal error, passed on as it is.
            } else {
                assert!(
                    message.starts_with("the sandbox reported a malformed error"),
                    "an internal error that is neither reported nor malformed: {message}"
                );
                assert!(
                    message.len() <= json.len() + 200,
                    "a malformed error's message grew to {} bytes",
                    message.len()
                );
            }
        }
        other => panic!("a guest reported an error only the host may raise: {other:?}"),
    }
    let output = serde_json::to_string(&error).expect("errors serialise");
    let back: SandboxError = serde_json::from_str(&output).expect("errors deserialise");
    assert_eq!(back, error, "the error changed through isobox's JSON output");
}
