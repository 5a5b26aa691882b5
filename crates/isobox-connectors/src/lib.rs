//! Connectors: MCP servers and OpenAPI documents offered to sandboxes as capabilities, declared in `isobox.toml`
//! ([`Config`]) or built from Rust ([`OpenApi`], [`McpConnector`]).
//!
//! An OpenAPI operation, or an MCP tool, becomes a method of the connector's global taking one object; its JSON Schema
//! becomes the TypeScript a model reads and the check every call passes before it leaves the sandbox. The host makes
//! the upstream call, adds the configured credentials, and hands back the result: a program never sees a credential.

pub mod config;
mod mcp;
pub mod openapi;
pub mod serving;

use isobox_capabilities::Capability;
use isobox_http::HttpClient;

pub use config::{Config, ConfigError, ConnectorConfig, FilesSection, McpServerConfig, expand_env};
pub use mcp::McpConnector;
pub use openapi::OpenApi;
pub use serving::{LimitsConfig, ServeConfig, StoreConfig, TenantConfig};

/// What [`load`] made of a configuration.
#[derive(Default)]
pub struct Loaded {
    /// The connectors that work, as capabilities named as in the configuration.
    pub capabilities: Vec<Capability>,
    /// One error for each connector that does not, naming it.
    pub errors: Vec<ConfigError>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> =
            self.capabilities.iter().map(|capability| capability.interface().name.as_str()).collect();
        f.debug_struct("Loaded").field("capabilities", &names).field("errors", &self.errors).finish()
    }
}

/// The connectors of `config` that `wanted` selects (by name), loaded: OpenAPI documents read, MCP servers started
/// and connected (at the same time). A connector that fails does not stop the others.
pub async fn load(config: &Config, wanted: impl Fn(&str) -> bool) -> Loaded {
    let mut loaded = Loaded::default();
    let mut servers = tokio::task::JoinSet::new();
    for (name, connector) in config.connectors.iter().filter(|(name, _)| wanted(name)) {
        if let Some(server) = &connector.mcp {
            let (name, server, connector) = (name.clone(), server.clone(), connector.clone());
            servers.spawn(async move {
                let connected =
                    McpConnector::connect(&name, &server, connector.timeout(), connector.max_response_bytes()).await;
                let marked = |capability: Capability| capability.with_approval(&connector.require_approval);
                (name, connected.map(|connector| marked(connector.capability())))
            });
            continue;
        }
        let capability = OpenApi::load(name, connector).and_then(|api| {
            let http = HttpClient::new(&api.http_config(connector))
                .map_err(|error| ConfigError::connector(name, error.to_string()))?;
            let mut capability = api.capability(http).with_approval(&connector.require_approval);
            if connector.require_approval_writes {
                capability = capability.with_approval(api.writes());
            }
            Ok(capability)
        });
        match capability {
            Ok(capability) => loaded.capabilities.push(capability),
            Err(error) => loaded.errors.push(error),
        }
    }
    let mut started = Vec::new();
    while let Some(joined) = servers.join_next().await {
        match joined {
            Ok((name, Ok(capability))) => started.push((name, capability)),
            Ok((_, Err(error))) => loaded.errors.push(error),
            Err(panic) => loaded.errors.push(ConfigError::connector("?", format!("connecting failed: {panic}"))),
        }
    }
    started.sort_by(|a, b| a.0.cmp(&b.0));
    loaded.capabilities.extend(started.into_iter().map(|(_, capability)| capability));
    loaded
}
