//! isobox runs untrusted, AI-generated JavaScript in a fresh sandbox for every request, reaching only what it was
//! granted.
//!
//! This crate gathers the pieces an embedder needs: the backend-neutral API of [`isobox_core`], the WebAssembly
//! backend ([`WasmBackend`], QuickJS compiled to WebAssembly, in [`wasm`]) and capabilities declared in WIT
//! ([`capabilities`]), and, each behind a Cargo feature of the same name (all but `mcp` and `compile` on by default):
//!
//! | feature | adds |
//! |---|---|
//! | `v8` | the V8 backend, [`V8Backend`] (on libnode) |
//! | `typescript` | TypeScript programs: wrap any backend in a [`TypeScript`] and its programs may be TypeScript, their types erased with every position kept |
//! | `kv` | the [`kv`] capability: a key-value store per tenant, on redb or PostgreSQL |
//! | `http` | the [`http`] capability: outbound HTTP to the origins the embedder allows |
//! | `files` | the [`files`] capability: a granted directory |
//! | `shop` | the [`shop`] capability: a read-only demo API |
//! | `connectors` | [`connectors`]: MCP servers and OpenAPI documents as capabilities |
//! | `mcp` | `mcp`: isobox's own MCP server (the crate `isobox-mcp`) |
//! | `compile` | `compile`: JavaScript plugins compiled ahead of time for the [`plugin`] host (the crate `isobox-compile`) |
//!
//! With `default-features = false` an embedder links the wasm backend and its own capabilities only.
//!
//! ```
//! use isobox::{Backend, Request, WasmBackend, WasmConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = WasmBackend::new(WasmConfig::default())?;
//! let request = Request::new("const xs = await Promise.all(input.map(async x => x * x)); return xs;")
//!     .with_input(serde_json::json!([1, 2, 3]));
//! let outcome = backend.run(&request).await;
//! assert_eq!(outcome.result?, serde_json::json!([1, 4, 9]));
//! # Ok(()) }
//! ```

pub use isobox_capabilities as capabilities;
pub use isobox_capabilities::{CallContext, CallError, Capabilities, Capability};
pub use isobox_core::*;
pub use isobox_wasm::plugin;
pub use isobox_wasm::{self as wasm, WasmBackend, WasmConfig};

#[cfg(feature = "compile")]
pub use isobox_compile as compile;
#[cfg(feature = "connectors")]
pub use isobox_connectors as connectors;
#[cfg(feature = "files")]
pub use isobox_files as files;
#[cfg(feature = "http")]
pub use isobox_http as http;
#[cfg(feature = "kv")]
pub use isobox_kv as kv;
#[cfg(feature = "mcp")]
pub use isobox_mcp as mcp;
#[cfg(feature = "shop")]
pub use isobox_shop as shop;
#[cfg(feature = "typescript")]
pub use isobox_typescript::{self as typescript, TypeScript};
#[cfg(feature = "v8")]
pub use isobox_v8::{V8Backend, V8Config};
