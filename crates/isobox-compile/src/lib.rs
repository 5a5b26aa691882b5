//! Compiles JavaScript plugins ahead of time against the isobox guest, with javy-codegen.
//!
//! A plugin is an ES module; the functions it exports are what a host calls (see [`isobox_wasm::plugin`]):
//!
//! ```js
//! export function slugify(input) {
//!   return input.toLowerCase().replace(/[^a-z0-9]+/g, "-");
//! }
//! ```
//!
//! The source is compiled to QuickJS bytecode by the guest itself and wrapped in a WebAssembly module: by default a
//! module of a few KiB that imports the guest ([`Linking::Dynamic`]), or a self-contained one with its own copy of the
//! guest ([`Linking::Static`]). Either records, in its `isobox-plugin` section, the guest it was compiled against and
//! the functions it exports.
//!
//! This crate pulls javy-codegen and with it binaryen's C++; hosts that only load and call plugins need
//! `isobox-wasm` alone.

mod exports;

use std::borrow::Cow;
use std::sync::OnceLock;

use javy_codegen::{Generator, JS, LinkingKind, Plugin, SourceEmbedding};

pub use exports::exported_functions;
pub use isobox_wasm::plugin::{Linking, PluginManifest};

/// How to compile a plugin.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    /// Whether the module imports the guest (small, but it runs only on a host with this very guest) or carries its
    /// own copy. Default: [`Linking::Dynamic`].
    pub linking: Linking,
}

/// Why a plugin did not compile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The source does not parse as an ES module. `line` and `column` are 1-based.
    #[error("syntax error at {line}:{column}: {message}")]
    Syntax {
        /// What the parser expected or found.
        message: String,
        /// The line of the error in the source, from 1.
        line: u32,
        /// The column of the error in its line, from 1.
        column: u32,
    },

    /// The module exports no function, so a host could call nothing in it.
    #[error("the plugin exports no functions: declare them as `export function name(input) {{ … }}`")]
    NoExports,

    /// QuickJS or javy-codegen rejected the plugin.
    #[error("compiling the plugin failed: {0}")]
    Codegen(String),
}

/// Compiles a plugin's source to a WebAssembly module that [`PluginHost::load`](isobox_wasm::plugin::PluginHost::load)
/// accepts. The first compilation in a process also pre-initialises the guest (about a second); later ones reuse it.
///
/// # Errors
/// [`CompileError::Syntax`] if the source does not parse as an ES module, [`CompileError::NoExports`] if it exports
/// no function, and [`CompileError::Codegen`] if the guest cannot be prepared or QuickJS or javy-codegen rejects the
/// plugin.
pub async fn compile(source: &str, options: CompileOptions) -> Result<Vec<u8>, CompileError> {
    let exports = exported_functions(source)?;
    if exports.is_empty() {
        return Err(CompileError::NoExports);
    }
    let codegen = |error: anyhow::Error| CompileError::Codegen(format!("{error:#}"));
    let mut generator = Generator::new(Plugin::new(Cow::Borrowed(guest()?)).map_err(codegen)?);
    generator
        .linking(match options.linking {
            Linking::Dynamic => LinkingKind::Dynamic,
            Linking::Static => LinkingKind::Static,
        })
        // The source is the plugin author's; the module carries bytecode only.
        .source_embedding(SourceEmbedding::Omitted);
    let mut module = generator.generate(&JS::from_string(source.to_string())).await.map_err(codegen)?;
    PluginManifest::new(options.linking, exports).append_to(&mut module);
    Ok(module)
}

/// The pre-initialised guest, made once per process (Wizer takes about a second) and shared by every compilation.
fn guest() -> Result<&'static [u8], CompileError> {
    static GUEST: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    GUEST
        .get_or_init(|| isobox_wasm::pre_initialised_guest().map_err(|error| format!("{error:#}")))
        .as_deref()
        .map_err(|error| CompileError::Codegen(error.clone()))
}
