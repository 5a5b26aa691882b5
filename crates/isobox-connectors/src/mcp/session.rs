//! A session with an upstream MCP server: a child process speaking stdio, or a Streamable HTTP endpoint, with
//! isobox as its client.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use isobox_core::sync::lock;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, PaginatedRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{Peer, RoleClient, ServiceExt};

use super::tools::MAX_TOOLS;
use crate::config::{McpServerConfig, expand_env};

/// The longest upstream error text kept in a message, in bytes.
const MAX_ERROR_BYTES: usize = 500;

/// One initialised session. Dropping it closes the connection and kills the server's process.
pub(crate) struct Session {
    client: RunningService<RoleClient, ClientConfig>,
    /// A stdio server's process, killed when dropped.
    child: Option<Mutex<tokio::process::Child>>,
    /// Set when a call failed in the transport: the next call starts a new session.
    broken: AtomicBool,
}

impl Session {
    /// Starts the server (or connects to it) and initialises a session. Not bounded in time: callers are.
    ///
    /// # Errors
    /// A `${VAR}` that is not set, a header that is not one, a command that does not start, a server that does not
    /// initialise.
    pub(crate) async fn start(config: &McpServerConfig) -> Result<Self, String> {
        match config {
            McpServerConfig::Stdio { command, args, env, cwd } => {
                let mut process = tokio::process::Command::new(command);
                process.args(args).env_clear().kill_on_drop(true);
                process.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
                // A group of its own, killed whole: `npx` and shell scripts start the server as their child.
                #[cfg(unix)]
                process.process_group(0);
                for name in ["PATH", "HOME"] {
                    if let Some(value) = std::env::var_os(name) {
                        process.env(name, value);
                    }
                }
                for (name, value) in env {
                    process.env(name, expand_env(value)?);
                }
                if let Some(cwd) = cwd {
                    process.current_dir(cwd);
                }
                let mut child = process.spawn().map_err(|error| format!("cannot start `{command}`: {error}"))?;
                let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
                    return Err("the server's standard input and output are not pipes".into());
                };
                let transport = AsyncRwTransport::<RoleClient, _, _>::new(stdout, stdin);
                let client = client_info().serve(transport).await.map_err(|error| initialize_error(&error))?;
                Ok(Self { client, child: Some(Mutex::new(child)), broken: AtomicBool::new(false) })
            }
            McpServerConfig::Http { url, headers } => {
                let parsed = url::Url::parse(url).map_err(|error| format!("`{url}` is not a URL: {error}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!("`{url}` is not an http or https URL"));
                }
                let mut custom = HashMap::new();
                for (name, value) in headers {
                    let header =
                        HeaderName::try_from(name.as_str()).map_err(|_| format!("`{name}` is not a header"))?;
                    let mut value = HeaderValue::try_from(expand_env(value)?)
                        .map_err(|_| format!("the value of header `{name}` is not a header value"))?;
                    value.set_sensitive(true);
                    custom.insert(header, value);
                }
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
                let transport = StreamableHttpClientTransport::with_client(http_client()?, config);
                let client = client_info().serve(transport).await.map_err(|error| initialize_error(&error))?;
                Ok(Self { client, child: None, broken: AtomicBool::new(false) })
            }
        }
    }

    pub(crate) fn peer(&self) -> &Peer<RoleClient> {
        self.client.peer()
    }

    /// Every tool the server offers, page after page.
    ///
    /// # Errors
    /// A failed listing, or more than [`MAX_TOOLS`] tools.
    pub(crate) async fn tools(&self) -> Result<Vec<Tool>, String> {
        let mut tools = Vec::new();
        let mut cursor = None;
        loop {
            let params = PaginatedRequestParams::default().with_cursor(cursor);
            let page = self
                .peer()
                .list_tools(Some(params))
                .await
                .map_err(|error| format!("the server did not list its tools: {}", cut(&error.to_string())))?;
            tools.extend(page.tools);
            if tools.len() > MAX_TOOLS {
                return Err(format!("the server offers more than {MAX_TOOLS} tools"));
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(tools);
            }
        }
    }

    /// Whether calls can still go through: the connection is open and the process, if any, running.
    pub(crate) fn is_alive(&self) -> bool {
        let running =
            |child: &Mutex<tokio::process::Child>| lock(child).try_wait().is_ok_and(|status| status.is_none());
        !self.broken.load(Ordering::Relaxed)
            && !self.client.is_transport_closed()
            && self.child.as_ref().is_none_or(running)
    }

    /// Has the next call start a new session.
    pub(crate) fn set_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
    }

    /// The id of a stdio server's process.
    pub(crate) fn process_id(&self) -> Option<u32> {
        lock(self.child.as_ref()?).id()
    }
}

impl Drop for Session {
    /// Kills the server's process group: the server and what it started. (The process itself is killed on drop too.)
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(group) = self.process_id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill has no memory preconditions. The process leads the group and has not been reaped (its id
            // is known only until then), so the group's id cannot belong to anything else yet.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
    }
}

/// The live session with one upstream, restarted in place when it has died.
pub(crate) struct Upstream {
    config: McpServerConfig,
    current: tokio::sync::Mutex<Arc<Session>>,
}

impl Upstream {
    pub(crate) fn new(config: McpServerConfig, session: Session) -> Self {
        Self { config, current: tokio::sync::Mutex::new(Arc::new(session)) }
    }

    /// The current session if it is alive, else a new one in its place. Callers arriving while one is being started
    /// wait for it and share it: a dead server is restarted once.
    ///
    /// # Errors
    /// As [`Session::start`]; the dead session stays, and the next call tries again.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, String> {
        let mut current = self.current.lock().await;
        if !current.is_alive() {
            *current = Arc::new(Session::start(&self.config).await?);
        }
        Ok(Arc::clone(&current))
    }

    pub(crate) async fn process_id(&self) -> Option<u32> {
        self.current.lock().await.process_id()
    }
}

/// `text`, cut to [`MAX_ERROR_BYTES`]: an upstream's errors are hostile input too.
pub(crate) fn cut(text: &str) -> String {
    isobox_core::output::shorten(text, MAX_ERROR_BYTES)
}

/// How isobox introduces itself to a server: by name, asking for no client features (no sampling, no roots).
fn client_info() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("isobox", env!("CARGO_PKG_VERSION")))
}

fn initialize_error(error: &impl std::fmt::Display) -> String {
    format!("the server did not initialise: {}", cut(&error.to_string()))
}

/// The HTTP client for Streamable HTTP servers: rustls with ring and the operating system's certificates, no proxy,
/// no redirects (a redirect would carry the configured headers elsewhere).
fn http_client() -> Result<reqwest::Client, String> {
    let tls = isobox_http::tls_config().map_err(|error| error.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|error| error.to_string())
}
