use serde_json::Value;

use crate::Limits;

/// One program to run, with its input and limits.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The program: the body of an async function whose parameter is `input`; its `return`ed value is the result.
    pub code: String,
    /// The value of `input` inside the program (`undefined` when absent).
    pub input: Option<Value>,
    /// What the program may consume.
    pub limits: Limits,
    /// The capabilities the program may call, by name; no others exist in its sandbox.
    pub grants: Vec<String>,
    /// Whose request this is: capabilities that keep state (such as `kv`) keep tenants apart. `None` is `"default"`.
    pub tenant: Option<String>,
    /// The replayable run this request belongs to, set by [`Approvals`](crate::approval::Approvals): its seed and
    /// clock, and the calls to serve from its record. `None` for a request run on its own.
    pub replay: Option<crate::approval::Replay>,
}

impl Request {
    /// A request with no input and the default limits.
    pub fn new(code: impl Into<String>) -> Self {
        Self { code: code.into(), ..Self::default() }
    }

    /// Sets the program's `input`.
    pub fn with_input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    /// Grants capabilities by name.
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.grants = grants.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
