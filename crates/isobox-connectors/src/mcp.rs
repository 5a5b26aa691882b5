//! MCP connectors: isobox as a client of an upstream MCP server, each of its tools a method of the connector's global.
//!
//! The server is started (or connected to) once, when the connector is, and every sandbox's calls share its one
//! session, concurrently. A tool `create_entities` becomes `memory.createEntities(args)`: `args` is the tool's
//! arguments object, checked against its `inputSchema` before the call leaves the sandbox; the promise resolves to the
//! tool's `structuredContent`, else its content (text parsed when it is a JSON object or array), and rejects with the tool's text when it
//! reports an error. Every call is bounded in time and in the size of its result. A server that has died (its process
//! exited, its connection closed) is started again by the next call.

mod session;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use isobox_capabilities::{CallError, Capability, Interface, camel_case};
use rmcp::ServiceError;
use rmcp::model::CallToolRequestParams;
use serde_json::{Map, Value};

use self::session::{Session, Upstream, cut};
use crate::config::{ConfigError, McpServerConfig};

/// A connection to one upstream MCP server, started once and shared by every sandbox that calls it. Cheap to clone;
/// the server's process is killed once the connector, its clones and its capabilities are all dropped.
#[derive(Clone)]
pub struct McpConnector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for McpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<&str> =
            self.inner.interface.functions.iter().map(|function| function.method.as_str()).collect();
        f.debug_struct("McpConnector")
            .field("name", &self.inner.name)
            .field("methods", &methods)
            .field("timeout", &self.inner.timeout)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: String,
    interface: Interface,
    upstream: Upstream,
    timeout: Duration,
    max_response_bytes: usize,
}

impl McpConnector {
    /// Starts (or connects to) the server and lists its tools, within `timeout`. `${VAR}`s in the server's
    /// environment and headers are read from the host's environment now (and again whenever the server is restarted).
    /// A stdio server's process gets `PATH`, `HOME` and its configured environment, nothing else, and the host's
    /// standard error.
    ///
    /// # Errors
    /// A `${VAR}` that is not set, a command that does not start, a server that does not initialise and list its
    /// tools within `timeout`, or tools that cannot be offered (more than 1,000, a name longer than 128 bytes or
    /// listed twice): each naming the connector.
    pub async fn connect(
        name: &str,
        config: &McpServerConfig,
        timeout: Duration,
        max_response_bytes: usize,
    ) -> Result<Self, ConfigError> {
        let error = |message: String| ConfigError::connector(name, message);
        let start = async {
            let session = Session::start(config).await?;
            let tools = session.tools().await?;
            Ok::<_, String>((session, tools))
        };
        let (session, tools) = tokio::time::timeout(timeout, start)
            .await
            .map_err(|_| {
                error(format!("the MCP server did not start and list its tools within {} ms", timeout.as_millis()))
            })?
            .map_err(error)?;
        let instructions = session.peer().peer_info().and_then(|info| info.instructions.clone());
        let interface = Interface {
            name: name.to_string(),
            global: camel_case(name),
            docs: instructions.and_then(|text| {
                isobox_capabilities::schema::SchemaConverter::docs(&serde_json::json!({ "description": text }))
            }),
            functions: tools::functions(&tools).map_err(error)?,
        };
        let upstream = Upstream::new(config.clone(), session);
        Ok(Self { inner: Arc::new(Inner { name: name.to_string(), interface, upstream, timeout, max_response_bytes }) })
    }

    /// The capability: one method per tool, each calling the tool through this connector's session.
    pub fn capability(&self) -> Capability {
        let interface = self.inner.interface.clone();
        interface.functions.iter().fold(Capability::new(interface.clone()), |capability, function| {
            let (inner, tool) = (Arc::clone(&self.inner), Arc::<str>::from(function.name.as_str()));
            capability.handler(&function.name, move |_, args| {
                let (inner, tool) = (Arc::clone(&inner), Arc::clone(&tool));
                async move { inner.call(&tool, args).await }
            })
        })
    }

    /// The id of a stdio server's current process (for tests that kill it).
    #[doc(hidden)]
    pub async fn process_id(&self) -> Option<u32> {
        self.inner.upstream.process_id().await
    }
}

impl Inner {
    /// Calls `tool` with `args`, the checked argument array (`[arguments]`, `[null]` for arguments left out).
    async fn call(&self, tool: &str, args: Value) -> Result<Value, CallError> {
        let arguments = match args.get(0).cloned().unwrap_or(Value::Null) {
            Value::Object(arguments) => arguments,
            Value::Null => Map::new(),
            other => {
                let found = if other.is_array() { "an array" } else { "not an object" };
                return Err(CallError::new(format!("the arguments of `{tool}` must be an object, got {found}")));
            }
        };
        let name = &self.name;
        let call = async {
            let session = self.upstream.session().await.map_err(|message| {
                CallError::new(format!("the MCP server `{name}` could not be restarted: {message}"))
            })?;
            let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
            session.peer().call_tool(params).await.map_err(|error| match error {
                ServiceError::McpError(error) => CallError::new(cut(&error.message)),
                ServiceError::TransportSend(_) | ServiceError::TransportClosed => {
                    session.set_broken();
                    CallError::new(format!(
                        "the MCP server `{name}` is gone ({}): it is restarted on the next call",
                        cut(&error.to_string())
                    ))
                }
                other => CallError::new(format!("the MCP server `{name}` failed: {}", cut(&other.to_string()))),
            })
        };
        let result = tokio::time::timeout(self.timeout, call).await.map_err(|_| {
            CallError::new(format!(
                "the MCP server `{name}` did not answer `{tool}` within {} ms",
                self.timeout.as_millis()
            ))
        })??;
        let value = tools::result_value(result)?;
        let size = value.to_string().len();
        if size > self.max_response_bytes {
            return Err(CallError::new(format!(
                "the result of `{tool}` from the MCP server `{name}` is {size} bytes, more than the {} allowed",
                self.max_response_bytes
            )));
        }
        Ok(value)
    }
}
