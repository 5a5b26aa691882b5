use serde_json::Value;

use crate::Limits;

/// Who runs code and under which limits: everything of a run but the code and its input. A [`Request`] carries one,
/// and a plugin call takes one.
///
/// # Examples
///
/// ```
/// use isobox_core::{Limits, RunOptions};
///
/// let options = RunOptions::default().with_grants(["kv"]).with_tenant("acme").with_limits(Limits::default());
/// assert_eq!(options.grants, ["kv"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// What the code may consume. Default: [`Limits::default`].
    pub limits: Limits,
    /// The capabilities the code may call, by name; no others exist in its sandbox. Default: none.
    pub grants: Vec<String>,
    /// Whose run this is: capabilities that keep state (such as `kv`) keep tenants apart. Default: `None`, which is
    /// `"default"`.
    pub tenant: Option<String>,
}

impl RunOptions {
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
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
}

/// One program to run, with its input, limits, grants and tenant.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The program: the body of an async function whose parameter is `input`; its `return`ed value is the result.
    pub code: String,
    /// The value of `input` inside the program (`undefined` when absent).
    pub input: Option<Value>,
    /// Its limits, grants and tenant.
    pub options: RunOptions,
    /// The replayable run this request belongs to, set by [`Approvals`](crate::approval::Approvals): its seed and
    /// clock, and the calls to serve from its record. `None` for a request run on its own.
    pub replay: Option<crate::approval::Replay>,
}

impl Request {
    /// A request with no input and the default options.
    pub fn new(code: impl Into<String>) -> Self {
        Self { code: code.into(), ..Self::default() }
    }

    /// Sets the program's `input`.
    pub fn with_input(mut self, input: Value) -> Self {
        self.input = Some(input);
        self
    }

    /// Sets the limits, grants and tenant at once.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Grants capabilities by name ([`RunOptions::with_grants`]).
    pub fn with_grants(mut self, grants: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.options = self.options.with_grants(grants);
        self
    }

    /// Sets the tenant ([`RunOptions::with_tenant`]).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.options = self.options.with_tenant(tenant);
        self
    }

    /// Sets the limits ([`RunOptions::with_limits`]).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.options = self.options.with_limits(limits);
        self
    }
}
