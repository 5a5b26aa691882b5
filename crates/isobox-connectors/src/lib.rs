//! Connectors: MCP servers and OpenAPI documents offered to sandboxes as capabilities, declared in `isobox.toml`
//! ([`Config`]) or built from Rust.
//!
//! An OpenAPI operation, or an MCP tool, becomes a method of the connector's global taking one object; its JSON Schema
//! becomes the TypeScript a model reads and the check every call passes before it leaves the sandbox. The host makes
//! the upstream call, adds the configured credentials, and hands back the result: a program never sees a credential.

pub mod config;
mod mcp;

pub use config::{Config, ConfigError, ConnectorConfig, McpServerConfig, expand_env};
pub use mcp::McpConnector;
