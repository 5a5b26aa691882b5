//! The capability dispatcher, as a sandbox reaches it: `HostCalls::begin` with the JSON text of the arguments, then
//! `PendingCall::finish`. The host functions record what they are given and return what the fuzz bytes say.
//!
//! Properties: no panic; every call is accepted, rejected with a TypeError-shaped throw, or aborted for exactly the
//! reasons the limits give; the dispatcher accepts exactly the arguments an independent checker accepts, and the host
//! function sees them as given (missing trailing options as null), in a form a typed Rust function can deserialise; a
//! result reaches the sandbox only if it fits its type and survives a JSON round trip; error data only if it fits.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use arbitrary::{Result, Unstructured};
use isobox_capabilities::backend::CallOutcome;
use isobox_capabilities::types::ValueType;
use isobox_capabilities::{CallError, Capabilities, Capability, Function, Interface};
use isobox_core::{Limits, Request};
use serde_json::Value;

use crate::json::{any_value, fits, value_for};

/// Types the built-in WIT does not use: variants, flags, tuples, results in argument position, options within lists
/// and lists, every integer width, and trailing optional parameters.
const EXTRA_WIT: &str = r#"
package fuzz:types;

interface odd-types {
    variant shape { dot, circle(f64), poly(list<tuple<s16, s16>>), named(option<string>) }
    flags perms { read, write, exec-all }
    enum mood { calm, very-angry }
    record inner { level: s8, chars: list<char>, mood: mood }
    record crate { id: u64, label: option<string>, shape: shape, perms: perms, inner: option<inner> }
    variant deep { leaf(u8), nested(list<list<option<u32>>>) }

    integers: func(a: u8, b: u16, c: u32, d: u64, e: s8, f: s16, g: s32, h: s64) -> tuple<u8, s64>;
    floats: func(a: f32, b: f64, c: char, d: bool) -> list<f32>;
    shapes: func(s: shape, p: perms, m: mood) -> result<shape, mood>;
    crates: func(b: list<crate>, more: option<list<crate>>) -> option<crate>;
    results: func(r: result<u32, string>, e: result<_, list<u8>>, n: result) -> result<_, string>;
    tuples: func(t: tuple<string, tuple<bool, option<char>>>, d: deep) -> deep;
    nothing: func();
    optional-tail: func(a: string, b: option<u32>, c: option<list<option<string>>>) -> result;
}
"#;

const WITS: [(&str, &str, &str); 4] = [
    ("kv.wit", include_str!("../../../wit/kv.wit"), "kv"),
    ("http.wit", include_str!("../../../wit/http.wit"), "http"),
    ("shop.wit", include_str!("../../../wit/shop.wit"), "shop"),
    ("odd.wit", EXTRA_WIT, "odd-types"),
];

/// What the host functions were called with, and what the next one returns.
struct Exchange {
    received: Option<Value>,
    reply: std::result::Result<Value, CallError>,
}

thread_local! {
    // Host functions run on the thread that polls them: this one.
    static EXCHANGE: RefCell<Exchange> = const { RefCell::new(Exchange { received: None, reply: Ok(Value::Null) }) };
}

struct Setup {
    capabilities: Capabilities,
    interfaces: Vec<Interface>,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let mut capabilities = Capabilities::new();
    let mut interfaces = Vec::new();
    for (file, source, name) in WITS {
        let mut capability = Capability::from_wit(file, source, name).expect("the fuzzed WIT parses");
        interfaces.push(capability.interface().clone());
        for function in &capability.interface().functions.clone() {
            capability = capability.func(&function.name, |_, args: Value| async move {
                EXCHANGE.with_borrow_mut(|exchange| {
                    exchange.received = Some(args);
                    exchange.reply.clone()
                })
            });
        }
        capabilities.register(capability).expect("the fuzzed capabilities register");
    }
    Setup { capabilities, interfaces }
});

/// The `dispatch` target: builds a call from `data` and passes it through the dispatcher. Panics when one of this
/// module's properties fails.
pub fn dispatch(data: &[u8]) {
    let _ = run(&mut Unstructured::new(data));
}

fn run(u: &mut Unstructured) -> Result<()> {
    let setup = &*SETUP;
    let limits = Limits {
        host_calls: u.int_in_range(0..=4)?,
        host_call_bytes: if u.ratio(1, 4)? { u.int_in_range(0..=300)? } else { Limits::default().host_call_bytes },
        ..Limits::default()
    };
    let grants: Vec<&str> = setup.interfaces.iter().map(|interface| interface.name.as_str()).collect();
    let request = Request::new("").with_grants(grants).with_limits(limits.clone());
    let mut host_calls = setup.capabilities.host_calls(&request).expect("every grant is registered");
    let mut calls_made = 0;
    for _ in 0..u.int_in_range(1..=3)? {
        let capability = if u.ratio(1, 32)? { u.arbitrary()? } else { u.choose_index(setup.interfaces.len())? as u32 };
        let declared = setup.interfaces.get(capability as usize).map(|interface| &interface.functions);
        let function = match declared {
            Some(functions) if !u.ratio(1, 32)? => u.choose_index(functions.len())? as u32,
            _ => u.arbitrary()?,
        };
        let declared = declared.and_then(|functions| functions.get(function as usize));
        let reply = match declared {
            Some(declared) => reply_for(u, declared)?,
            None => Ok(any_value(u, 2)?),
        };
        let args = arguments(u, declared)?;

        EXCHANGE.with_borrow_mut(|exchange| *exchange = Exchange { received: None, reply: reply.clone() });
        let begun = host_calls.begin(capability, function, &args);
        let Some(declared) = declared else {
            let Err(CallOutcome::Abort(error)) = begun else { panic!("a call of no function was not aborted") };
            assert_eq!(error.kind(), "internal");
            continue;
        };
        calls_made += 1;
        if calls_made > limits.host_calls {
            assert_aborted(begun, "host calls");
            continue;
        }
        if args.len() as u64 > limits.host_call_bytes {
            assert_aborted(begun, "exceed");
            continue;
        }
        let expected = accepted_arguments(declared, &args);
        let pending = match (begun, &expected) {
            (Ok(pending), Some(_)) => pending,
            (Err(CallOutcome::Throw(thrown)), None) => {
                assert_thrown(&thrown, "TypeError", false);
                continue;
            }
            (Ok(_), None) => panic!("accepted arguments that do not fit {}: {}", declared.name, show(&args)),
            (Err(other), _) => panic!("refused arguments that fit {}: {}: {other:?}", declared.name, show(&args)),
        };
        let outcome = poll_once(pending.finish());
        let received = EXCHANGE.with_borrow_mut(|exchange| exchange.received.take());
        assert!(
            same(received.as_ref().unwrap_or(&Value::Bool(false)), expected.as_ref().unwrap()),
            "{}: the host function saw {received:?}, not {expected:?}",
            declared.name
        );
        for (param, value) in
            declared.params.iter().zip(received.as_ref().and_then(Value::as_array).into_iter().flatten())
        {
            assert!(
                fits(&param.ty, value, true),
                "{}: a typed host function cannot read argument `{}` = {value}",
                declared.name,
                param.name
            );
        }
        check_outcome(declared, &reply, outcome, limits.host_call_bytes);
    }
    Ok(())
}

/// The host function's answer: mostly shaped by the declared result, sometimes anything.
fn reply_for(u: &mut Unstructured, declared: &Function) -> Result<std::result::Result<Value, CallError>> {
    let (ok, err) = split_result(declared.result.as_ref());
    if u.ratio(1, 4)? {
        let data = match (err, u.ratio(1, 2)?) {
            (Some(err), true) => Some(value_for(u, err)?),
            _ if u.ratio(1, 2)? => Some(any_value(u, 2)?),
            _ => None,
        };
        return Ok(Err(CallError { message: u.arbitrary()?, data }));
    }
    Ok(Ok(match ok {
        Some(ok) => value_for(u, ok)?,
        None => any_value(u, 1)?,
    }))
}

/// The JSON text of the arguments: raw bytes, any value, or values shaped by the parameters.
fn arguments(u: &mut Unstructured, declared: Option<&Function>) -> Result<Vec<u8>> {
    let params = declared.map_or(&[][..], |declared| &declared.params[..]);
    Ok(match u.int_in_range(0..=7)? {
        0 => u.arbitrary::<&[u8]>()?.to_vec(),
        1 => any_value(u, 3)?.to_string().into_bytes(),
        _ => {
            let mut args = params.iter().map(|param| value_for(u, &param.ty)).collect::<Result<Vec<_>>>()?;
            match u.int_in_range(0..=7)? {
                0 => {
                    args.pop();
                }
                1 => args.push(any_value(u, 1)?),
                _ => {}
            }
            Value::Array(args).to_string().into_bytes()
        }
    })
}

/// What the host function should be given for `args`, by the independent checker: `None` when they must be refused.
fn accepted_arguments(declared: &Function, args: &[u8]) -> Option<Value> {
    let Ok(Value::Array(mut values)) = serde_json::from_slice::<Value>(args) else { return None };
    let required =
        declared.params.iter().rposition(|param| !matches!(param.ty, ValueType::Option(_))).map_or(0, |i| i + 1);
    if values.len() < required || values.len() > declared.params.len() {
        return None;
    }
    values.resize(declared.params.len(), Value::Null);
    if !declared.params.iter().zip(&values).all(|(param, value)| fits(&param.ty, value, false)) {
        return None;
    }
    Some(if declared.params.is_empty() { Value::Null } else { Value::Array(values) })
}

fn check_outcome(
    declared: &Function,
    reply: &std::result::Result<Value, CallError>,
    outcome: CallOutcome,
    max_bytes: u64,
) {
    let (ok, err) = split_result(declared.result.as_ref());
    match (reply, outcome) {
        (Ok(value), CallOutcome::Return(text)) => {
            let returned: Value = serde_json::from_str(&text).expect("a returned value is JSON");
            match ok {
                Some(ok) => {
                    assert!(fits(ok, value, false), "{}: returned {value}, which does not fit", declared.name);
                    assert!(close(&returned, value), "{}: {value} came back as {returned}", declared.name);
                }
                None => {
                    assert_eq!(returned, Value::Null, "{}: a function with no result returned {text}", declared.name)
                }
            }
            assert!(text.len() as u64 <= max_bytes, "{}: a result over the byte limit came back", declared.name);
        }
        (Ok(value), CallOutcome::Throw(thrown)) => {
            assert!(ok.is_some_and(|ok| !fits(ok, value, false)), "{}: {value} fits but was refused", declared.name);
            assert_thrown(&thrown, "Error", false);
        }
        (Ok(value), CallOutcome::Abort(error)) => {
            assert_eq!(error.kind(), "capability", "{error:?}");
            // A function without a result resolves to null, whatever its host function returned.
            let sent = if ok.is_some() { value.to_string() } else { "null".into() };
            assert!(sent.len() as u64 > max_bytes, "{}: aborted a small result: {error:?}", declared.name);
        }
        (Err(error), CallOutcome::Throw(thrown)) => {
            let thrown = assert_thrown(&thrown, "Error", true);
            assert_eq!(thrown["message"], error.message.as_str());
            let passed = error.data.as_ref().filter(|data| err.is_some_and(|err| fits(err, data, false)));
            assert_eq!(thrown.get("data"), passed, "{}: error data passed on wrongly", declared.name);
        }
        (Err(_), outcome) => panic!("{}: a failed host function gave {outcome:?}", declared.name),
    }
}

/// The same JSON value, numbers compared by value (`2.0` is `2`).
fn same(a: &Value, b: &Value) -> bool {
    equal(a, b, 0)
}

/// The same JSON value but for floats that differ in their last bits: serde_json (without its `float_roundtrip`
/// feature) parses some floats one or two units in the last place off, which is not the dispatcher's doing.
fn close(a: &Value, b: &Value) -> bool {
    equal(a, b, 4)
}

fn equal(a: &Value, b: &Value, ulps: u64) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
            (Some(a), Some(b), _, _) => a == b,
            (_, _, Some(a), Some(b)) => a == b,
            _ => {
                let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= ulps)
            }
        },
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| equal(a, b, ulps)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, a)| b.get(key).is_some_and(|b| equal(a, b, ulps)))
        }
        _ => a == b,
    }
}

fn split_result(result: Option<&ValueType>) -> (Option<&ValueType>, Option<&ValueType>) {
    match result {
        Some(ValueType::Result { ok, err }) => (ok.as_deref(), err.as_deref()),
        other => (other, None),
    }
}

/// A thrown error as the sandbox receives it: `{"name", "message", "data"?}`.
fn assert_thrown(thrown: &str, name: &str, data_allowed: bool) -> Value {
    let error: Value = serde_json::from_str(thrown).expect("a thrown error is JSON");
    let object = error.as_object().expect("a thrown error is an object");
    assert_eq!(object.get("name").and_then(Value::as_str), Some(name), "{thrown}");
    assert!(object.get("message").is_some_and(Value::is_string), "{thrown}");
    let allowed = if data_allowed { &["name", "message", "data"][..] } else { &["name", "message"][..] };
    assert!(object.keys().all(|key| allowed.contains(&key.as_str())), "{thrown}");
    error
}

fn assert_aborted(begun: std::result::Result<isobox_capabilities::backend::PendingCall, CallOutcome>, reason: &str) {
    match begun {
        Err(CallOutcome::Abort(error)) => {
            assert_eq!(error.kind(), "capability", "{error:?}");
            assert!(error.to_string().contains(reason), "{error}");
        }
        Err(other) => panic!("expected an abort ({reason}), got {other:?}"),
        Ok(_) => panic!("expected an abort ({reason}), the call went ahead"),
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Host functions that answer at once: one poll finishes them.
fn poll_once<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a host function that answers at once did not finish"),
    }
}
