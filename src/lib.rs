//! isobox runs untrusted, AI-generated JavaScript in a fresh sandbox for every request, reaching only what it was
//! granted.
//!
//! This crate gathers the pieces an embedder needs: the backend-neutral API of [`isobox_core`], the WebAssembly
//! backend of [`isobox_wasm`], capabilities declared in WIT ([`capabilities`]) and the built-in ones ([`builtins`]),
//! and TypeScript programs turned into JavaScript with their positions kept ([`typescript`]).
//!
//! ```no_run
//! use isobox::{Backend, Request, WasmBackend, WasmConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = WasmBackend::new(WasmConfig::default())?;
//! let request = Request::new("const xs = await Promise.all([1, 2, 3].map(async x => x * x)); return xs;");
//! let outcome = backend.run(&request).await;
//! println!("{}", serde_json::to_string(&outcome)?);
//! # Ok(()) }
//! ```

pub use isobox_builtins as builtins;
pub use isobox_capabilities as capabilities;
pub use isobox_capabilities::{CallContext, CallError, Capabilities, Capability};
pub use isobox_core::*;
pub use isobox_typescript as typescript;
pub use isobox_wasm::{WasmBackend, WasmConfig};
