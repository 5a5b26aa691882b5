//! A capability: a WIT interface and the Rust functions that implement it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::TenantState;
use crate::wit::{self, Interface, WitError};

/// What a host function knows about the request that called it.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// The request's tenant (`Request::tenant`, else `"default"`): capabilities with state keep tenants apart.
    pub tenant: Arc<str>,
}

/// A host function's failure. It reaches the sandbox as a thrown `Error` with this message; `data` (for a WIT
/// `result<T, E>` function, the `E`) becomes the error's `data` property.
#[derive(Clone, Debug, PartialEq)]
pub struct CallError {
    /// The thrown `Error`'s message.
    pub message: String,
    /// The thrown `Error`'s `data`: a WIT `result<T, E>` function's `E`, checked against it (dropped when the
    /// function declares no `E`).
    pub data: Option<Value>,
}

impl CallError {
    /// An error with this message and no `data`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), data: None }
    }

    /// The `err` case of a WIT `result<T, E>`: `data` is checked against `E`.
    pub fn with_data(message: impl Into<String>, data: impl Serialize) -> Self {
        Self { message: message.into(), data: Some(serde_json::to_value(data).unwrap_or(Value::Null)) }
    }
}

/// Adds [`APPROVAL_NOTE`] to a function's docs, which become its TypeScript doc comment.
fn mark_approval(function: &mut wit::Function) {
    function.docs = Some(match function.docs.as_deref().filter(|docs| !docs.is_empty()) {
        Some(docs) => format!("{docs}\n{APPROVAL_NOTE}"),
        None => APPROVAL_NOTE.to_string(),
    });
}

pub(crate) type HostFuture = Pin<Box<dyn Future<Output = Result<Value, CallError>> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(CallContext, Value) -> HostFuture + Send + Sync>;

/// A WIT interface with its implementation, ready to register in [`Capabilities`](crate::Capabilities).
///
/// ```
/// use isobox_capabilities::{CallError, Capability};
///
/// let greeter = Capability::from_wit(
///     "greeter.wit",
///     "package demo:greeter; interface greeter { /// Says hello.\n hello: func(name: string) -> string; }",
///     "greeter",
/// )?
/// .func("hello", |_ctx, (name,): (String,)| async move { Ok::<_, CallError>(format!("hello, {name}")) });
/// # Ok::<(), isobox_capabilities::WitError>(())
/// ```
#[derive(Clone)]
pub struct Capability {
    pub(crate) interface: Interface,
    pub(crate) handlers: HashMap<String, Handler>,
    pub(crate) tenant_state: Option<Arc<dyn TenantState>>,
    /// Field names masked in the call log, in arguments and results.
    pub(crate) secret_fields: Vec<String>,
    /// Handlers whose Rust arguments do not take what their WIT function declares: function, and why.
    pub(crate) mismatches: Vec<(String, String)>,
    /// Functions (WIT names) whose calls need a person's approval (see `isobox_core::approval`).
    pub(crate) approval: HashSet<String>,
    /// Names given to [`with_approval`](Self::with_approval) that the interface does not declare.
    pub(crate) unknown_approvals: Vec<String>,
    /// Its parts of a request's grant manifest (see `HostCalls::manifest`), made once when it is registered: its
    /// global as a JSON string, and its method names each followed by a line break, then a line break.
    pub(crate) manifest_global: String,
    pub(crate) manifest_names: String,
    /// Each function's position by its name in JavaScript, for sandboxes that look methods up by name.
    pub(crate) method_indices: HashMap<String, u32>,
}

impl std::fmt::Debug for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let functions: Vec<&str> = self.interface.functions.iter().map(|function| function.name.as_str()).collect();
        f.debug_struct("Capability")
            .field("name", &self.interface.name)
            .field("functions", &functions)
            .field("keeps_tenant_state", &self.tenant_state.is_some())
            .field("secret_fields", &self.secret_fields)
            .field("needs_approval", &self.approval)
            .finish_non_exhaustive()
    }
}

/// The doc-comment line that marks a WIT function as needing approval.
pub const APPROVAL_TAG: &str = "@approval";

/// What a model reads in place of [`APPROVAL_TAG`], and after the docs of a function marked by configuration.
const APPROVAL_NOTE: &str = "Needs approval: the run stops before this call until a person approves it.";

impl Capability {
    /// A capability declaring `interface`, without implementations yet. A function whose doc comment has a line
    /// `@approval` needs approval (as [`with_approval`](Self::with_approval) marks it).
    pub fn new(mut interface: Interface) -> Self {
        let mut approval = HashSet::new();
        for function in &mut interface.functions {
            let Some(docs) = &function.docs else { continue };
            if docs.lines().any(|line| line.trim() == APPROVAL_TAG) {
                let kept: Vec<&str> = docs.lines().filter(|line| line.trim() != APPROVAL_TAG).collect();
                let kept = kept.join("\n");
                function.docs = Some(if kept.trim().is_empty() { String::new() } else { kept.trim().to_string() });
                mark_approval(function);
                approval.insert(function.name.clone());
            }
        }
        Self {
            interface,
            handlers: HashMap::new(),
            tenant_state: None,
            secret_fields: Vec::new(),
            mismatches: Vec::new(),
            approval,
            unknown_approvals: Vec::new(),
            manifest_global: String::new(),
            manifest_names: String::new(),
            method_indices: HashMap::new(),
        }
    }

    /// Marks functions as needing a person's approval, by WIT name (`create-order`) or method (`createOrder`): a
    /// program that calls one stops before the call with an `approval_required` outcome, and continues only once it
    /// is approved (see `isobox_core::approval`). Their TypeScript docs say so. A name the interface does not
    /// declare makes [`Capabilities::register`](crate::Capabilities::register) refuse the capability.
    pub fn with_approval<S: AsRef<str>>(mut self, functions: impl IntoIterator<Item = S>) -> Self {
        for name in functions {
            let name = name.as_ref();
            match self.interface.functions.iter_mut().find(|f| f.name == name || f.method == name) {
                Some(function) => {
                    if self.approval.insert(function.name.clone()) {
                        mark_approval(function);
                    }
                }
                None => self.unknown_approvals.push(name.to_string()),
            }
        }
        self
    }

    /// Whether calls of the WIT function `name` need approval.
    pub fn needs_approval(&self, name: &str) -> bool {
        self.approval.contains(name)
    }

    /// The interface named `interface` in a WIT package given as text (`source_name` appears in parse errors). Its
    /// functions still need their implementations ([`func`](Self::func)) before it can be registered.
    ///
    /// # Errors
    /// The text is not valid WIT ([`WitError::Parse`]), declares no interface of that name
    /// ([`WitError::NoSuchInterface`]), or one of its functions uses what a sandbox cannot be given
    /// ([`WitError::Unsupported`]: resources, streams, futures, `option<option<T>>`).
    pub fn from_wit(source_name: &str, source: &str, interface: &str) -> Result<Self, WitError> {
        wit::parse_str(source_name, source)?
            .into_iter()
            .find(|candidate| candidate.name == interface)
            .map(Self::new)
            .ok_or_else(|| WitError::NoSuchInterface(interface.to_string()))
    }

    /// The capability's shape: its name, global, functions and their types, as the WIT declares them.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// The state this capability keeps per tenant, which [`Capabilities::end_tenant`](crate::Capabilities::end_tenant)
    /// deletes.
    pub fn with_tenant_state(mut self, state: Arc<dyn TenantState>) -> Self {
        self.tenant_state = Some(state);
        self
    }

    /// Fields whose values the call log shows as `***` wherever they appear in this capability's arguments and
    /// results (a password, a token): the program still gets them, an operator reading the log does not.
    pub fn with_secret_fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.secret_fields.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Implements the WIT function `name` (its WIT name, such as `list-orders`). The arguments arrive, already checked
    /// against the WIT types, deserialised as a tuple (`(String, u32)`; `()` for none); records use the camelCase
    /// field names of the sandbox. The returned value is checked against the WIT result type.
    ///
    /// Argument types that cannot take what the WIT function declares (a tuple of another length, a `u32` for a
    /// `string`, a `String` for an `option<string>`) make [`Capabilities::register`](crate::Capabilities::register)
    /// refuse the capability, rather than every call fail.
    pub fn func<A, R, F, Fut>(mut self, name: &str, function: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        F: Fn(CallContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, CallError>> + Send + 'static,
    {
        if let Some(declared) = self.interface.functions.iter().find(|declared| declared.name == name) {
            let fits = |nones: bool| {
                let args = if declared.params.is_empty() {
                    Value::Null
                } else {
                    Value::Array(declared.params.iter().map(|param| param.ty.sample(nones, 32)).collect())
                };
                serde_json::from_value::<A>(args.clone()).map_err(|error| format!("arguments such as {args}: {error}"))
            };
            if let Err(error) = fits(false).and_then(|_| fits(true)) {
                self.mismatches.push((name.to_string(), error));
            }
        }
        let function = Arc::new(function);
        let handler: Handler = Arc::new(move |context, args: Value| {
            let function = Arc::clone(&function);
            Box::pin(async move {
                let args: A = serde_json::from_value(args)
                    .map_err(|error| CallError::new(format!("arguments do not fit the host function: {error}")))?;
                let result = function(context, args).await?;
                serde_json::to_value(result)
                    .map_err(|error| CallError::new(format!("the result does not serialise: {error}")))
            })
        });
        self.handlers.insert(name.to_string(), handler);
        self
    }

    /// Implements function `name` with a function of the JSON arguments, for capabilities whose functions are known
    /// only at run time (connectors): `args` is the array of arguments, already checked against the declared types
    /// (`null` for a function without parameters), and the result is checked as for [`func`](Self::func).
    pub fn handler<F, Fut>(mut self, name: &str, function: F) -> Self
    where
        F: Fn(CallContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, CallError>> + Send + 'static,
    {
        let function = Arc::new(function);
        let handler: Handler = Arc::new(move |context, args: Value| {
            let function = Arc::clone(&function);
            Box::pin(async move { function(context, args).await })
        });
        self.handlers.insert(name.to_string(), handler);
        self
    }
}
