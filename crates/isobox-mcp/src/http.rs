//! The MCP server over Streamable HTTP, stateless: every request is answered on its own, so any replica behind a load
//! balancer can answer any request, with no sticky sessions and no session state to share.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use crate::server::{McpServer, Session};

/// An [`McpServer`] answering MCP requests over HTTP (POST, one JSON answer per request). Cheap to clone.
#[derive(Clone)]
pub struct McpHttp {
    service: StreamableHttpService<Session, NeverSessionManager>,
}

impl std::fmt::Debug for McpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpHttp").finish_non_exhaustive()
    }
}

impl McpServer {
    /// This server as a stateless Streamable HTTP endpoint. Its programs run as the server's tenant
    /// ([`with_tenant`](Self::with_tenant)), or, without one, as a tenant named `mcp`: there are no sessions to give
    /// each client a tenant of its own. `allowed_hosts` are the `Host` values accepted (empty: any), the guard against
    /// DNS rebinding for a server a browser could reach.
    pub fn http(&self, allowed_hosts: &[String]) -> McpHttp {
        let (shared, tenant) = self.session_parts("mcp");
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_allowed_hosts(allowed_hosts.iter().cloned());
        let factory = move || Ok(Session { shared: Arc::clone(&shared), tenant: tenant.clone() });
        McpHttp { service: StreamableHttpService::new(factory, Arc::new(NeverSessionManager::default()), config) }
    }
}

impl McpHttp {
    /// Answers one HTTP request to the MCP endpoint.
    pub async fn handle<B>(&self, request: http::Request<B>) -> http::Response<BoxBody<Bytes, Infallible>>
    where
        B: http_body::Body + Send + 'static,
        B::Error: std::fmt::Display,
        B::Data: Send + 'static,
    {
        self.service.handle(request).await
    }
}
