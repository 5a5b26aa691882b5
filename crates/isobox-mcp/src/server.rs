//! The server: what every session shares (the backend, the grants, the limits), and one session's handler.

use std::sync::Arc;

use isobox_capabilities::{Capabilities, Interface};
use isobox_core::approval::{Approvals, Decision};
use isobox_core::{Backend, Limits, Request, RunOptions, SandboxError, fit};
use isobox_typescript::TypeScript;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::execute::Execution;
use crate::search::search;
use crate::tools::{DEFAULT_RESULT_TOKENS, EXECUTE, SEARCH, tools_fitting};

/// An isobox MCP server: `search` declares the granted capabilities, `execute` runs a program in a fresh sandbox with
/// them. Cheap to clone; serve as many sessions as you like, each with [`McpServer::serve`].
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.shared;
        f.debug_struct("McpServer")
            .field("backend", &shared.backend.name())
            .field("grants", &shared.grants)
            .field("limits", &shared.limits)
            .field("result_tokens", &shared.result_tokens)
            .field("tenant", &shared.tenant)
            .field("approvals", &shared.approvals.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub(crate) struct Shared {
    /// The given backend, taking TypeScript.
    backend: Arc<dyn Backend>,
    /// The given backend, which continues stopped runs.
    plain: Arc<dyn Backend>,
    /// Where runs that stop for approval are kept, when a granted function needs approval.
    approvals: Option<Arc<Approvals>>,
    grants: Vec<String>,
    interfaces: Vec<Interface>,
    limits: Limits,
    /// `execute`'s default budget for a result and logs, in tokens.
    result_tokens: usize,
    tools: Vec<Tool>,
    tenant: Option<String>,
    /// To end each session's tenant in the capabilities that keep state per tenant.
    capabilities: Capabilities,
}

/// Why a session ended other than by the client closing it.
pub type ServeError = Box<dyn std::error::Error + Send + Sync>;

impl McpServer {
    /// A server whose programs run on `backend` and may call the capabilities named in `grants`, each of which must be
    /// registered in `capabilities`. Programs may be TypeScript or JavaScript, and run under the default [`Limits`]
    /// ([`with_limits`](Self::with_limits) changes them).
    ///
    /// # Errors
    /// [`SandboxError::Capability`] naming the first grant that is not registered in `capabilities`, and the ones
    /// that are.
    pub fn new(
        backend: Arc<dyn Backend>,
        capabilities: &Capabilities,
        grants: &[impl AsRef<str>],
    ) -> Result<Self, SandboxError> {
        let interfaces = grants
            .iter()
            .map(|grant| {
                capabilities.get(grant.as_ref()).cloned().ok_or_else(|| SandboxError::Capability {
                    message: format!(
                        "unknown capability `{}` (registered: {})",
                        grant.as_ref(),
                        capabilities
                            .interfaces()
                            .map(|interface| interface.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limits = Limits::default();
        let result_tokens = DEFAULT_RESULT_TOKENS;
        // Kept in memory unless the embedder gives a store that outlives the process (`with_approvals`).
        let gated = capabilities.needs_approval(grants);
        let approvals = gated.then(|| Arc::new(Approvals::new(Arc::new(isobox_core::approval::MemoryRuns::default()))));
        Ok(Self {
            shared: Arc::new(Shared {
                backend: Arc::new(TypeScript::new(Arc::clone(&backend))),
                plain: backend,
                approvals,
                grants: grants.iter().map(|grant| grant.as_ref().to_string()).collect(),
                tools: tools_fitting(&interfaces, &limits, result_tokens, gated),
                interfaces,
                limits,
                result_tokens,
                tenant: None,
                capabilities: capabilities.clone(),
            }),
        })
    }

    /// The limits every program of every session runs under, in place of the default [`Limits`]; `execute`'s
    /// description states them to the model.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.tools = tools_fitting(&shared.interfaces, &limits, shared.result_tokens, shared.approvals.is_some());
        shared.limits = limits;
        self
    }

    /// The budget `execute` fits a program's result and logs to, in tokens, when the call does not name one
    /// ([`DEFAULT_RESULT_TOKENS`] by default; at most [`fit::MAX_TOKENS`]). The full output is still bounded only by
    /// the limits' `output_bytes`; this is how much of it the model reads.
    pub fn with_result_tokens(mut self, tokens: usize) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.result_tokens = tokens.clamp(1, fit::MAX_TOKENS);
        let approvals = shared.approvals.is_some();
        shared.tools = tools_fitting(&shared.interfaces, &shared.limits, shared.result_tokens, approvals);
        self
    }

    /// Where runs that stop at a call needing approval are kept until `execute` continues them (`approve` or `deny`
    /// with the run id). By default, when a granted function needs approval, in this process's memory; give a store
    /// such as the `kv` store's for runs that survive a restart and are shared by replicas. Unused when no granted
    /// function needs approval.
    pub fn with_approvals(mut self, approvals: Approvals) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        if shared.approvals.is_some() {
            shared.approvals = Some(Arc::new(approvals));
        }
        self
    }

    /// One tenant for every session, so that stateful capabilities such as `kv` keep their data from one session to
    /// the next. By default each session is a temporary tenant of its own: its data is deleted when the session ends,
    /// or, should the process stop first, once it has been idle for the period the capability is configured with.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.shared).tenant = Some(tenant.into());
        self
    }

    /// Serves one MCP session over a byte stream (newline-delimited JSON-RPC), until the client closes it.
    ///
    /// # Errors
    /// The session could not be set up (the MCP handshake failed or the stream broke), or beginning or ending its
    /// temporary tenant failed in a capability's storage.
    pub async fn serve<R, W>(&self, read: R, write: W) -> Result<(), ServeError>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let Some(tenant) = &self.shared.tenant else {
            let tenant = format!("mcp-{}", uuid::Uuid::new_v4().simple());
            self.tenant_state(&tenant, Capabilities::begin_temporary_tenant).await?;
            let served = self.serve_as(tenant.clone(), read, write).await;
            let ended = self.tenant_state(&tenant, Capabilities::end_tenant).await;
            return served.and(ended);
        };
        self.serve_as(tenant.clone(), read, write).await
    }

    async fn serve_as<R, W>(&self, tenant: String, read: R, write: W) -> Result<(), ServeError>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let session = Session { shared: Arc::clone(&self.shared), tenant };
        session.serve((read, write)).await?.waiting().await?;
        Ok(())
    }

    /// What every session of this server shares, and the tenant its sessions run as (`default` without one).
    pub(crate) fn session_parts(&self, default: &str) -> (Arc<Shared>, String) {
        (Arc::clone(&self.shared), self.shared.tenant.clone().unwrap_or_else(|| default.to_string()))
    }

    /// Begins or ends a session's tenant, off the async threads: capabilities' storage may block.
    async fn tenant_state(
        &self,
        tenant: &str,
        change: fn(&Capabilities, &str) -> Result<(), String>,
    ) -> Result<(), ServeError> {
        let (capabilities, tenant) = (self.shared.capabilities.clone(), tenant.to_string());
        tokio::task::spawn_blocking(move || change(&capabilities, &tenant))
            .await?
            .map_err(|message| format!("the session's tenant state: {message}").into())
    }

    /// Serves one MCP session on standard input and output, as MCP clients launch local servers.
    ///
    /// # Errors
    /// As [`serve`](Self::serve).
    pub async fn serve_stdio(&self) -> Result<(), ServeError> {
        self.serve(tokio::io::stdin(), tokio::io::stdout()).await
    }
}

/// One client's session: its programs share a tenant, and nothing else.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tenant: String,
}

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("isobox", env!("CARGO_PKG_VERSION")))
            .with_instructions("Call `search` for the typed API, then `execute` a program that uses it.")
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.shared.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut arguments = request.arguments.unwrap_or_default();
        let mut string = |name: &str| match arguments.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("`{name}` must be a string")),
        };
        let result = match request.name.as_ref() {
            SEARCH => match (string("query"), string("code"), budget(arguments.remove("budget"))) {
                (Ok(_), Ok(Some(code)), Ok(budget)) => self.search_by_program(code, budget).await,
                (Ok(query), Ok(None), Ok(budget)) => CallToolResult::success(vec![ContentBlock::text(search(
                    &self.shared.interfaces,
                    query.as_deref(),
                    budget,
                ))]),
                (Err(message), _, _) | (_, Err(message), _) | (_, _, Err(message)) => invalid(message),
            },
            EXECUTE => {
                let decision = match (string("approve"), string("deny"), string("reason")) {
                    (Ok(Some(run_id)), Ok(None), Ok(None)) => Ok(Some((run_id, Decision::Approve))),
                    (Ok(None), Ok(Some(run_id)), Ok(reason)) => Ok(Some((run_id, Decision::Deny { reason }))),
                    (Ok(None), Ok(None), Ok(None)) => Ok(None),
                    (Err(message), _, _) | (_, Err(message), _) | (_, _, Err(message)) => Err(message),
                    _ => Err("give `approve` or `deny` (with an optional `reason`), not both".to_string()),
                };
                let code = string("code");
                match (code, decision, result_tokens(arguments.remove("result_tokens"), &self.shared)) {
                    (Ok(code), Ok(decision), Ok(result_tokens)) => {
                        let execution = Execution {
                            backend: self.shared.backend.as_ref(),
                            plain: self.shared.plain.as_ref(),
                            grants: &self.shared.grants,
                            limits: &self.shared.limits,
                            tenant: &self.tenant,
                            result_tokens,
                            approvals: self.shared.approvals.as_deref(),
                        };
                        match (code, decision) {
                            (None, Some((run_id, decision))) => execution.decide(&run_id, decision).await,
                            (Some(code), None) => execution.run(code, arguments.remove("input")).await,
                            (Some(_), Some(_)) => {
                                invalid("give `code` to run a program, or `approve`/`deny` to continue one".into())
                            }
                            (None, None) => invalid("`code` is required: the program to run".into()),
                        }
                    }
                    (Err(message), _, _) | (_, Err(message), _) | (_, _, Err(message)) => invalid(message),
                }
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!("no tool named `{other}` (isobox has `{SEARCH}` and `{EXECUTE}`)"),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// `search`'s size budget in bytes: the default, or a number from 200 to 100,000.
fn budget(value: Option<Value>) -> Result<usize, String> {
    match value {
        None | Some(Value::Null) => Ok(crate::search::DEFAULT_SEARCH_BUDGET as usize),
        Some(Value::Number(number)) => number
            .as_u64()
            .filter(|budget| (200..=100_000).contains(budget))
            .map(|budget| budget as usize)
            .ok_or_else(|| "`budget` must be a whole number of bytes from 200 to 100000".to_string()),
        Some(_) => Err("`budget` must be a number".to_string()),
    }
}

/// `execute`'s budget in tokens: the server's, or a number from 1 to [`fit::MAX_TOKENS`].
fn result_tokens(value: Option<Value>, shared: &Shared) -> Result<usize, String> {
    match value {
        None | Some(Value::Null) => Ok(shared.result_tokens),
        Some(Value::Number(number)) => number
            .as_u64()
            .filter(|tokens| (1..=fit::MAX_TOKENS as u64).contains(tokens))
            .map(|tokens| tokens as usize)
            .ok_or_else(|| format!("`result_tokens` must be a whole number of tokens from 1 to {}", fit::MAX_TOKENS)),
        Some(_) => Err("`result_tokens` must be a number".to_string()),
    }
}

impl Session {
    /// `search` with `code`: the program runs in a fresh sandbox, granted nothing, with the catalogue of the granted
    /// API as `input`; its result, within the budget, is the answer.
    async fn search_by_program(&self, code: String, budget: usize) -> CallToolResult {
        let request = Request {
            code,
            input: Some(crate::search::catalogue(&self.shared.interfaces)),
            options: RunOptions {
                limits: self.shared.limits.clone(),
                grants: Vec::new(),
                tenant: Some(self.tenant.clone()),
            },
            replay: None,
        };
        let outcome = self.shared.backend.run(&request).await;
        let text = match &outcome.result {
            Ok(value) => value.to_string(),
            Err(_) => {
                return CallToolResult::error(vec![ContentBlock::text(
                    serde_json::to_string(&outcome).unwrap_or_default(),
                )]);
            }
        };
        if text.len() > budget {
            return invalid(format!(
                "the program's answer is {} bytes, more than the budget of {budget}: return fewer entries or fields",
                text.len()
            ));
        }
        CallToolResult::success(vec![ContentBlock::text(text)])
    }
}

/// Arguments a tool cannot use: said to the model as a tool error, which it reads and can correct.
fn invalid(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}
