//! The sandbox engines the CLI can start.

use std::sync::Arc;

use clap::ValueEnum;
use isobox_capabilities::Capabilities;
use isobox_core::Backend;
use isobox_v8::{V8Backend, V8Config};
use isobox_wasm::{WasmBackend, WasmConfig};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// QuickJS compiled to WebAssembly, a fresh wasmtime instance per request.
    Wasm,
    /// V8, a fresh isolate and context per request.
    V8,
    /// Each of them, one after the other.
    Both,
}

impl BackendChoice {
    /// The backends this choice names, by name.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            Self::Wasm => &["wasm"],
            Self::V8 => &["v8"],
            Self::Both => &["wasm", "v8"],
        }
    }
}

/// Starts the backend named `kind` with `capabilities` to grant; `max_sandboxes` overrides the backend's default
/// number of sandboxes that may be live at once.
pub fn start(kind: &str, capabilities: &Capabilities, max_sandboxes: Option<u32>) -> Result<Arc<dyn Backend>, String> {
    match kind {
        "wasm" => {
            let defaults = WasmConfig::default();
            let max_sandboxes = max_sandboxes.unwrap_or(defaults.max_sandboxes);
            WasmBackend::new(WasmConfig { capabilities: capabilities.clone(), max_sandboxes, ..defaults })
                .map(|backend| Arc::new(backend) as Arc<dyn Backend>)
                .map_err(|error| format!("the wasm backend failed to start: {error:#}"))
        }
        "v8" => {
            let defaults = V8Config::default();
            let max_sandboxes = max_sandboxes.unwrap_or(defaults.max_sandboxes);
            V8Backend::new(V8Config { capabilities: capabilities.clone(), max_sandboxes, ..defaults })
                .map(|backend| Arc::new(backend) as Arc<dyn Backend>)
                .map_err(|error| format!("the v8 backend failed to start: {error}"))
        }
        other => Err(format!("unknown backend `{other}`")),
    }
}
