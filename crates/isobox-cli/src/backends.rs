//! The sandbox engines the CLI can start.

use std::sync::Arc;

use clap::ValueEnum;
use isobox_capabilities::Capabilities;
use isobox_core::Backend;
use isobox_v8::{V8Backend, V8Config};
use isobox_wasm::{WasmBackend, WasmConfig};

/// One sandbox engine.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// QuickJS compiled to WebAssembly, a fresh wasmtime instance per request.
    Wasm,
    /// V8, a fresh isolate and context per request.
    V8,
}

impl Engine {
    /// The name reports use, as the backend's own `name()`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::V8 => "v8",
        }
    }
}

/// The engines a command runs on: one, or each for a comparison.
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
    /// The engines this choice names.
    pub fn engines(self) -> &'static [Engine] {
        match self {
            Self::Wasm => &[Engine::Wasm],
            Self::V8 => &[Engine::V8],
            Self::Both => &[Engine::Wasm, Engine::V8],
        }
    }
}

/// How many requests a started backend serves.
#[derive(Clone, Copy)]
pub enum Serving {
    /// One request, then the process ends: nothing is prepared ahead of requests.
    One,
    /// Requests for as long as the process runs, with at most this many sandboxes live at once (`None`: the
    /// backend's default).
    Many(Option<u32>),
}

/// Starts `engine` with `capabilities` to grant, set up for `serving`.
pub fn start(engine: Engine, capabilities: &Capabilities, serving: Serving) -> Result<Arc<dyn Backend>, String> {
    let max_sandboxes = match serving {
        Serving::Many(max_sandboxes) => max_sandboxes,
        Serving::One => None,
    };
    match engine {
        Engine::Wasm => {
            let defaults = WasmConfig::default();
            let max_sandboxes = max_sandboxes.unwrap_or(defaults.max_sandboxes);
            WasmBackend::new(WasmConfig { capabilities: capabilities.clone(), max_sandboxes, ..defaults })
                .map(|backend| Arc::new(backend) as Arc<dyn Backend>)
                .map_err(|error| error.to_string())
        }
        Engine::V8 => {
            let defaults = V8Config::default();
            let max_sandboxes = max_sandboxes.unwrap_or(defaults.max_sandboxes);
            // Isolates made ahead would only compete with the one request for the cores.
            let warm_sandboxes = if matches!(serving, Serving::One) { 0 } else { defaults.warm_sandboxes };
            V8Backend::new(V8Config { capabilities: capabilities.clone(), max_sandboxes, warm_sandboxes, ..defaults })
                .map(|backend| Arc::new(backend) as Arc<dyn Backend>)
                .map_err(|error| format!("the v8 backend failed to start: {error}"))
        }
    }
}
