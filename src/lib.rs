//! isobox runs untrusted, AI-generated JavaScript in a fresh sandbox for every request, reaching only what it was
//! granted.
//!
//! This crate gathers the pieces an embedder needs: the backend-neutral API of [`isobox_core`], the WebAssembly
//! backend of [`isobox_wasm`], the V8 backend of [`isobox_v8`], capabilities declared in WIT ([`capabilities`]) and
//! the built-in ones ([`builtins`], and [`files`], a granted directory), and TypeScript programs ([`typescript`]): wrap
//! any backend in a [`TypeScript`] and its programs may be TypeScript, their types erased with every position kept.
//!
//! ```no_run
//! use std::sync::Arc;
//! use isobox::{Backend, Request, TypeScript, WasmBackend, WasmConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = TypeScript::new(Arc::new(WasmBackend::new(WasmConfig::default())?));
//! let request = Request::new("const xs: number[] = await Promise.all([1, 2, 3].map(async x => x * x)); return xs;");
//! let outcome = backend.run(&request).await;
//! println!("{}", serde_json::to_string(&outcome)?);
//! # Ok(()) }
//! ```

pub use isobox_builtins as builtins;
pub use isobox_capabilities as capabilities;
pub use isobox_capabilities::{CallContext, CallError, Capabilities, Capability};
pub use isobox_connectors as connectors;
pub use isobox_core::*;
pub use isobox_files as files;
pub use isobox_typescript as typescript;
pub use isobox_typescript::TypeScript;
pub use isobox_v8::{V8Backend, V8Config};
pub use isobox_wasm::plugin;
pub use isobox_wasm::{self as wasm, WasmBackend, WasmConfig};
