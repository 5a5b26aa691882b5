//! isobox as an [MCP](https://modelcontextprotocol.io) server, for Code Mode: instead of one tool per host function,
//! a model gets two tools.
//!
//! - `search` answers with the TypeScript declarations of the granted capabilities (all of them, or the functions
//!   matching a query): the typed API the model writes against.
//! - `execute` runs the model's program (JavaScript or TypeScript, the body of an async function, even in a markdown
//!   code fence) in a fresh sandbox with the server's grants and limits, and answers with its result, logs and typed
//!   error as JSON, the contract of `isobox run --json` (`isError` when the program failed), its result and logs
//!   fitted to a token budget ([`DEFAULT_RESULT_TOKENS`] unless the server or the call says otherwise).
//!
//! Every MCP session is a tenant of its own, so capabilities with state (`kv`) keep an agent's data from one `execute`
//! to the next while every program runs in a fresh sandbox.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use std::sync::Arc;
//! use isobox_capabilities::Capabilities;
//! use isobox_mcp::McpServer;
//!
//! let mut capabilities = Capabilities::new();
//! capabilities.register(isobox_shop::capability())?;
//! let backend = isobox_wasm::WasmBackend::new(isobox_wasm::WasmConfig {
//!     capabilities: capabilities.clone(),
//!     ..Default::default()
//! })?;
//! McpServer::new(Arc::new(backend), &capabilities, &["shop"])?.serve_stdio().await?;
//! # Ok(()) }
//! ```

mod classic;
mod context_size;
mod execute;
mod http;
mod search;
mod server;
mod tools;

pub use classic::{classic_tools, classic_tools_with_results, schema};
pub use context_size::{ContextSize, tokens};
pub use execute::{CALLS_META, execute_report};
pub use http::McpHttp;
pub use search::{DEFAULT_SEARCH_BUDGET, catalogue, search};
pub use server::{McpServer, ServeError};
pub use tools::{DEFAULT_RESULT_TOKENS, tools};
