//! Plugin hosts: JavaScript plugins compiled ahead of time (`isobox compile`), loaded once, and their exported
//! functions called many times, each call in a fresh sandbox with the same limits, capabilities and errors as
//! [`WasmBackend::run`](crate::WasmBackend).
//!
//! A plugin is an ES module whose exported functions take one JSON input and return (or resolve to) a JSON value.
//! Its compiled form is a WebAssembly module with the plugin's QuickJS bytecode and an `isobox-plugin` section (see
//! [`PluginManifest`]). Each call instantiates the guest (and, when dynamically linked, the plugin's small module
//! next to it), evaluates the module and calls the function: no JavaScript is parsed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use isobox_core::RunOptions;
//! use isobox_wasm::plugin::PluginHost;
//! use isobox_wasm::WasmConfig;
//!
//! let host = PluginHost::new(WasmConfig::default())?;
//! let plugin = host.load(&std::fs::read("slugify.wasm")?)?;
//! let outcome = plugin.call("slugify", Some(&"Hello, World".into()), &RunOptions::default()).await;
//! println!("{:?}", outcome.result);
//! # Ok(()) }
//! ```

pub mod emit;
mod error;
mod format;
mod instance;

use std::sync::Arc;
use std::time::Instant;

use isobox_core::backend::micros_since;
use isobox_core::{Metrics, Outcome, Request, RunOptions, SandboxError, StartError};
use serde_json::Value;
use wasmtime::{ExternType, InstancePre, Module};

pub use error::PluginError;
pub use format::{ABI, Linking, PluginManifest, SECTION, append_custom_section};

use crate::WasmConfig;
use crate::pool::{Fuel, Pool};
use crate::sandbox::SandboxState;
use instance::Instance;

/// Loads compiled plugins and runs their calls. Creating one compiles (or loads from the cache) the guest; share
/// one host for the life of the process.
#[derive(Debug)]
pub struct PluginHost {
    pool: Arc<Pool>,
}

/// A loaded plugin: validated, compiled and linked, ready to be called. Cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Plugin {
    loaded: Arc<Loaded>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("manifest", &self.loaded.manifest).finish_non_exhaustive()
    }
}

struct Loaded {
    pool: Arc<Pool>,
    manifest: PluginManifest,
    code: Code,
}

/// How a call instantiates the plugin.
pub(crate) enum Code {
    /// The guest from the pool, and this small module linked to it.
    Dynamic(Module),
    /// The module alone: it contains its own guest.
    Static(InstancePre<SandboxState>),
}

/// What a dynamically linked plugin may import from the guest: Javy's interface for compiled modules.
const PLUGIN_IMPORTS: [&str; 3] = ["memory", "cabi_realloc", "invoke"];

/// The exports of the guest that a statically linked plugin must still have, besides `_start`.
const GUEST_EXPORTS: [&str; 6] = [
    "memory",
    "cabi_realloc",
    "isobox-plugin-begin",
    "isobox-plugin-call",
    "cabi_post_isobox-plugin-call",
    "isobox-outcome",
];

impl PluginHost {
    /// Sets up the engine and its pooled slots, and compiles the guest (or loads it from `config.cache_dir`).
    ///
    /// # Errors
    /// The engine could not be set up with these settings, or the guest did not compile.
    pub fn new(config: WasmConfig) -> Result<Self, StartError> {
        // A dynamically linked plugin is two instances in one sandbox: the guest and the plugin's module. A plugin is
        // compiled for one engine, so that engine counts fuel for the calls that set a budget.
        let pool = Pool::new(&config, 2, Fuel::Counted, None)
            .map_err(|error| StartError::because("the plugin host", error))?;
        Ok(Self { pool: Arc::new(pool) })
    }

    /// Validates, compiles and links a compiled plugin. A statically linked plugin is compiled here (about a second);
    /// a dynamically linked one takes milliseconds. Loading never runs the plugin's code.
    ///
    /// # Errors
    /// The bytes are not a plugin `isobox compile` made ([`PluginError::NotWasm`], [`PluginError::NotAPlugin`],
    /// [`PluginError::Malformed`]), were compiled for another guest or guest interface
    /// ([`PluginError::GuestMismatch`], [`PluginError::AbiMismatch`]), import what isobox does not offer
    /// ([`PluginError::UnknownImport`]), or do not compile ([`PluginError::Invalid`]).
    pub fn load(&self, module: &[u8]) -> Result<Plugin, PluginError> {
        let manifest = PluginManifest::read(module)?;
        if manifest.abi != ABI {
            return Err(PluginError::AbiMismatch { built_for: manifest.abi, host: ABI.into() });
        }
        let code = match manifest.linking {
            Linking::Dynamic => self.dynamic(module, &manifest)?,
            Linking::Static => self.statically_linked(module)?,
        };
        Ok(Plugin { loaded: Arc::new(Loaded { pool: Arc::clone(&self.pool), manifest, code }) })
    }

    fn dynamic(&self, bytes: &[u8], manifest: &PluginManifest) -> Result<Code, PluginError> {
        let host = crate::guest_id();
        if manifest.guest != host {
            return Err(PluginError::GuestMismatch { built_for: manifest.guest.clone(), host: host.into() });
        }
        // The guest's memory is the one the sandbox's limits bound.
        if format::defined_memories(bytes)? > 0 {
            return Err(PluginError::Invalid(
                "a dynamically linked plugin uses the guest's memory and must not define its own".into(),
            ));
        }
        let module = compile(&self.pool, bytes)?;
        let guest = self.pool.guest.module();
        for import in module.imports() {
            let offered = import.module() == ABI && PLUGIN_IMPORTS.contains(&import.name());
            let export = offered.then(|| guest.get_export(import.name())).flatten();
            let Some(export) = export else {
                return Err(PluginError::UnknownImport { module: import.module().into(), name: import.name().into() });
            };
            if !links(&import.ty(), &export) {
                return Err(PluginError::Invalid(format!(
                    "the plugin imports `{ABI}::{}` with a type the guest does not export",
                    import.name()
                )));
            }
        }
        require_exports(&module, &["_start"])?;
        Ok(Code::Dynamic(module))
    }

    fn statically_linked(&self, bytes: &[u8]) -> Result<Code, PluginError> {
        let module = compile(&self.pool, bytes)?;
        // The module is the guest and the plugin in one: it may import what the guest imports, and nothing else.
        let guest = self.pool.guest.module();
        for import in module.imports() {
            if !guest.imports().any(|offered| offered.module() == import.module() && offered.name() == import.name()) {
                return Err(PluginError::UnknownImport { module: import.module().into(), name: import.name().into() });
            }
        }
        require_exports(&module, &GUEST_EXPORTS)?;
        require_exports(&module, &["_start"])?;
        let pre =
            self.pool.linker.instantiate_pre(&module).map_err(|error| PluginError::Invalid(format!("{error:#}")))?;
        Ok(Code::Static(pre))
    }
}

fn compile(pool: &Pool, bytes: &[u8]) -> Result<Module, PluginError> {
    Module::new(&pool.engine, bytes).map_err(|error| PluginError::Invalid(format!("{error:#}")))
}

fn require_exports(module: &Module, names: &[&str]) -> Result<(), PluginError> {
    match names.iter().find(|name| module.get_export(name).is_none()) {
        Some(name) => Err(PluginError::Invalid(format!("the module does not export `{name}`"))),
        None => Ok(()),
    }
}

/// Whether the guest's export satisfies a plugin's import.
fn links(import: &ExternType, export: &ExternType) -> bool {
    match (import, export) {
        (ExternType::Func(wanted), ExternType::Func(offered)) => offered.matches(wanted),
        (ExternType::Memory(wanted), ExternType::Memory(offered)) => {
            wanted.is_64() == offered.is_64()
                && wanted.is_shared() == offered.is_shared()
                && wanted.minimum() <= offered.minimum()
                && wanted.maximum().is_none()
        }
        _ => false,
    }
}

impl Plugin {
    /// What the plugin's `isobox-plugin` section says: its exports, how it is linked, and what it was built for.
    pub fn manifest(&self) -> &PluginManifest {
        &self.loaded.manifest
    }

    /// The functions the plugin exports.
    pub fn exports(&self) -> &[String] {
        &self.loaded.manifest.exports
    }

    /// Calls `function` with `input` (`undefined` when `None`) in a fresh sandbox.
    pub async fn call(&self, function: &str, input: Option<&Value>, options: &RunOptions) -> Outcome {
        let received = Instant::now();
        if let Err(error) = self.check_function(function) {
            return Outcome::rejected("wasm", error, received);
        }
        let mut session = match self.open(options).await {
            Ok(session) => session,
            Err(error) => {
                return Outcome::rejected("wasm", error, received);
            }
        };
        let mut outcome = session.call(function, input).await;
        outcome.metrics.total_us = micros_since(received);
        outcome
    }

    /// Opens a session: one sandbox, kept for a sequence of calls of the same caller, in which the plugin's module is
    /// evaluated once and its state lives on from call to call. Each call gets the wall-clock, fuel and output limits
    /// of `options`; memory and capability calls are bounded over the whole session. A call stopped by a limit ends
    /// the session: every later call returns the same error.
    ///
    /// # Errors
    /// What a call would report had its sandbox not started: limits above the host's, an unknown grant, no free
    /// sandbox before the deadline, or the plugin's module failing as it is evaluated.
    pub async fn session(&self, options: &RunOptions) -> Result<PluginSession, SandboxError> {
        let session = self.open(options).await?;
        match &session.instance.stopped {
            Some(error) => Err(error.clone()),
            None => Ok(session),
        }
    }

    /// A session whose sandbox has started, or stopped while starting (the first call then reports why).
    async fn open(&self, options: &RunOptions) -> Result<PluginSession, SandboxError> {
        let pool = &self.loaded.pool;
        // A plugin's sandbox is admitted as a program's is; it has no code of its own to record for a replay.
        let request = Request { options: options.clone(), ..Request::default() };
        let deadline = Instant::now() + options.limits.timeout;
        let host_calls = pool.admit(&request)?;
        let log = host_calls.log();
        let slot = pool.slot(deadline, &options.limits).await?;
        let started = Instant::now();
        let mut instance = Instance::new(pool, options.limits.clone(), host_calls, slot, deadline);
        instance.start(pool, &self.loaded.code).await;
        Ok(PluginSession { plugin: self.clone(), instance, log, start_us: Some(micros_since(started)) })
    }

    fn check_function(&self, function: &str) -> Result<(), SandboxError> {
        if self.exports().iter().any(|export| export == function) {
            return Ok(());
        }
        Err(SandboxError::Exception {
            name: "TypeError".into(),
            message: format!(
                "the plugin exports no function named {function:?} (it exports: {})",
                self.exports().join(", ")
            ),
            stack: None,
        })
    }
}

/// One sandbox kept for a sequence of calls of one caller (see [`Plugin::session`]).
pub struct PluginSession {
    plugin: Plugin,
    instance: Instance,
    /// The session's calls: each outcome reports those of its own call.
    log: isobox_capabilities::backend::CallLog,
    /// How long the sandbox took to start, reported with the first call.
    start_us: Option<u64>,
}

impl std::fmt::Debug for PluginSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSession").field("plugin", &self.plugin).finish_non_exhaustive()
    }
}

impl PluginSession {
    /// Calls `function` with `input` (`undefined` when `None`) in this session's sandbox.
    pub async fn call(&mut self, function: &str, input: Option<&Value>) -> Outcome {
        let received = Instant::now();
        let result = match self.plugin.check_function(function) {
            Ok(()) => self.instance.call(function, input).await,
            Err(error) => Err(error),
        };
        let metrics = Metrics {
            start_us: self.start_us.take().unwrap_or(0),
            run_us: micros_since(received),
            memory_bytes: self.instance.memory_bytes(),
            fuel_used: self.instance.fuel_used(),
            output_bytes: self.instance.output_bytes(),
            ..metrics(received)
        };
        Outcome { result, logs: self.instance.take_logs(), calls: self.log.take(), metrics }
    }
}

fn metrics(received: Instant) -> Metrics {
    Metrics { backend: "wasm".into(), total_us: micros_since(received), ..Metrics::default() }
}
