//! One request's host calls: every argument from the sandbox is checked against the WIT types before host code sees
//! it, every result against its WIT type before the sandbox does, and both are bounded. Backend-neutral: each
//! backend moves bytes in and out of its sandbox and leaves every decision here.

use std::sync::Arc;

use isobox_core::{Request, SandboxError};
use serde_json::{Value, json};

use crate::Capability;
use crate::capability::{CallContext, CallError, HostFuture};
use crate::types::ValueType;
use crate::wit::Function;

/// The granted capabilities of one request, and what it has left to spend on them.
pub struct HostCalls {
    granted: Vec<Arc<Capability>>,
    context: CallContext,
    calls_left: u32,
    max_calls: u32,
    max_bytes: u64,
}

/// What the sandbox gets back from one host call.
#[derive(Debug, PartialEq)]
pub enum CallOutcome {
    /// The call's value as JSON text: the sandbox's promise resolves to it.
    Return(String),
    /// `{"name": "TypeError" | "Error", "message": …, "data"?: …}` as JSON text: the sandbox's promise rejects with it.
    Throw(String),
    /// A limit was hit: the request ends with this error.
    Abort(SandboxError),
}

/// A host function that has been called and not yet finished.
pub struct PendingCall {
    future: HostFuture,
    label: String,
    result: Option<ValueType>,
    max_bytes: u64,
}

impl HostCalls {
    pub(crate) fn new(granted: Vec<Arc<Capability>>, request: &Request) -> Self {
        let tenant = request.tenant.as_deref().unwrap_or("default");
        Self {
            granted,
            context: CallContext { tenant: tenant.into() },
            calls_left: request.limits.host_calls,
            max_calls: request.limits.host_calls,
            max_bytes: request.limits.host_call_bytes,
        }
    }

    /// What the sandbox builds its globals from: `[[global, [method, …]], …]` as JSON text, in grant order; calls
    /// name a capability and a function by their indices in it. Empty when nothing is granted.
    pub fn manifest(&self) -> String {
        if self.granted.is_empty() {
            return String::new();
        }
        let entries: Vec<Value> = self
            .granted
            .iter()
            .map(|capability| {
                let interface = &capability.interface;
                json!([interface.global, interface.functions.iter().map(|f| &f.method).collect::<Vec<_>>()])
            })
            .collect();
        Value::Array(entries).to_string()
    }

    /// Starts the call of function `function` of granted capability `capability` with `args`, the JSON text of the
    /// argument array. Errors the sandbox can catch, and limits that end it, come back at once.
    pub fn begin(&mut self, capability: u32, function: u32, args: &[u8]) -> Result<PendingCall, CallOutcome> {
        let Some((granted, declared)) = self
            .granted
            .get(capability as usize)
            .and_then(|granted| granted.interface.functions.get(function as usize).map(|declared| (granted, declared)))
        else {
            return Err(CallOutcome::Abort(SandboxError::internal(format!(
                "no host function {capability}.{function}"
            ))));
        };
        let label = format!("{}.{}", granted.interface.global, declared.method);
        if self.calls_left == 0 {
            return Err(abort(format!("the program made more than {} host calls", self.max_calls)));
        }
        self.calls_left -= 1;
        if args.len() as u64 > self.max_bytes {
            return Err(abort(format!("the arguments of {label} exceed {} bytes", self.max_bytes)));
        }
        let args = check_arguments(&label, declared, args).map_err(|message| throw("TypeError", message, None))?;
        let handler = &granted.handlers[&declared.name];
        let args = if declared.params.is_empty() { Value::Null } else { Value::Array(args) };
        Ok(PendingCall {
            future: handler(self.context.clone(), args),
            label,
            result: declared.result.clone(),
            max_bytes: self.max_bytes,
        })
    }
}

impl PendingCall {
    /// Runs the host function to completion and checks what it returned.
    pub async fn finish(self) -> CallOutcome {
        let (ok, err) = match self.result {
            Some(ValueType::Result { ok, err }) => (ok.map(|ok| *ok), err.map(|err| *err)),
            other => (other, None),
        };
        match self.future.await {
            Ok(value) => {
                let value = if ok.is_none() { Value::Null } else { value };
                if let Some(Err(mismatch)) = ok.as_ref().map(|ty| ty.check(&value)) {
                    let at = if mismatch.path.is_empty() { String::new() } else { format!(" at `{}`", mismatch.path) };
                    let message = format!(
                        "{} returned a value that does not match its declared type{at}: expected {}, got {}",
                        self.label, mismatch.expected, mismatch.found
                    );
                    return throw("Error", message, None);
                }
                let text = value.to_string();
                if text.len() as u64 > self.max_bytes {
                    return CallOutcome::Abort(SandboxError::Capability {
                        message: format!("the result of {} exceeds {} bytes", self.label, self.max_bytes),
                    });
                }
                CallOutcome::Return(text)
            }
            Err(CallError { message, data }) => {
                // Data the WIT does not declare is not passed on.
                let data = data.filter(|data| err.as_ref().is_some_and(|ty| ty.check(data).is_ok()));
                throw("Error", message, data)
            }
        }
    }
}

fn check_arguments(label: &str, function: &Function, args: &[u8]) -> Result<Vec<Value>, String> {
    let mut args: Vec<Value> =
        serde_json::from_slice(args).map_err(|_| format!("{label}: arguments are not JSON values"))?;
    let params = &function.params;
    let required = function.required_params();
    if args.len() < required || args.len() > params.len() {
        let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
        let count =
            if required == params.len() { params.len().to_string() } else { format!("{required} to {}", params.len()) };
        return Err(format!("{label} expects {count} argument(s) ({}), got {}", names.join(", "), args.len()));
    }
    args.resize(params.len(), Value::Null);
    for (param, value) in params.iter().zip(&mut args) {
        if let Err(mismatch) = param.ty.check(value) {
            return Err(format!(
                "{label}: argument `{}{}` must be {}, got {}",
                param.name, mismatch.path, mismatch.expected, mismatch.found
            ));
        }
        // Host functions take Rust integers, which do not deserialise from `2.0`.
        param.ty.integers_as_integers(value);
    }
    Ok(args)
}

fn throw(name: &str, message: String, data: Option<Value>) -> CallOutcome {
    let mut error = json!({ "name": name, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    CallOutcome::Throw(error.to_string())
}

fn abort(message: String) -> CallOutcome {
    CallOutcome::Abort(SandboxError::Capability { message })
}
