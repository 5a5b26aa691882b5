//! isobox's WebAssembly backend: QuickJS compiled to WebAssembly, run in a fresh wasmtime `Store` and instance for
//! every request.
//!
//! The guest is pre-initialised once (its QuickJS runtime, context and isobox's prelude are in a memory snapshot),
//! compiled once and cached on disk, and pre-linked; a request then costs one copy-on-write instantiation from a
//! pooled slot, the program's own work, and nothing else. Nothing survives from one request to the next.
//!
//! The same guest runs plugins compiled ahead of time: see [`plugin`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use isobox_core::{Backend, Request};
//! use isobox_wasm::{WasmBackend, WasmConfig};
//!
//! let backend = WasmBackend::new(WasmConfig::default())?;
//! let outcome = backend.run(&Request::new("return 6 * 7")).await;
//! assert_eq!(outcome.result.unwrap(), 42);
//! # Ok(()) }
//! ```

mod backend;
mod config;
mod cpu;
mod epoch;
mod fault_around;
mod guest;
#[cfg(test)]
mod guest_wit;
mod imports;
pub mod plugin;
mod pool;
mod positions;
mod program;
mod sandbox;
mod trap;
mod wasi;

pub use backend::WasmBackend;
pub use config::{WasmConfig, default_cache_dir};
pub use guest::{guest_id, pre_initialised_guest};
