//! MCP connectors: isobox as a client of an upstream MCP server, each of its tools a method of the connector's global.

use std::time::Duration;

use isobox_capabilities::Capability;

use crate::config::{ConfigError, McpServerConfig};

/// A connection to one upstream MCP server, started once and shared by every sandbox that calls it.
#[derive(Clone)]
pub struct McpConnector {}

impl McpConnector {
    /// Starts (or connects to) the server and lists its tools.
    ///
    /// # Errors
    /// A server that does not start or answer within `timeout`, or whose tools cannot be offered.
    pub async fn connect(
        name: &str,
        _config: &McpServerConfig,
        _timeout: Duration,
        _max_response_bytes: usize,
    ) -> Result<Self, ConfigError> {
        Err(ConfigError::connector(name, "MCP connectors are not built yet"))
    }

    /// The capability: one method per tool.
    pub fn capability(&self) -> Result<Capability, ConfigError> {
        Err(ConfigError::connector("?", "MCP connectors are not built yet"))
    }
}
