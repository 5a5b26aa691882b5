//! Compiles JavaScript plugins ahead of time against the isobox guest.
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
//! The modules are written by [`isobox_wasm::plugin::emit`]; this crate adds finding the functions a plugin exports
//! (with swc's parser). Hosts that only load and call plugins need `isobox-wasm` alone.

mod exports;

use exports::exported_functions;
use isobox_wasm::plugin::emit::{self, EmitError};
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

    /// QuickJS rejected the plugin, or the guest could not be run to compile it.
    #[error("compiling the plugin failed: {0}")]
    Codegen(String),
}

/// Compiles a plugin's source to a WebAssembly module that [`PluginHost::load`](isobox_wasm::plugin::PluginHost::load)
/// accepts. The first compilation in a process also pre-initialises the guest (about two seconds); later ones reuse
/// it.
///
/// # Errors
/// [`CompileError::Syntax`] if the source does not parse as an ES module, [`CompileError::NoExports`] if it exports
/// no function, and [`CompileError::Codegen`] if the guest cannot be prepared or QuickJS rejects the plugin otherwise
/// (a nesting deeper than its stack, a source too large for its memory).
pub async fn compile(source: &str, options: CompileOptions) -> Result<Vec<u8>, CompileError> {
    // QuickJS first: it is the engine that runs the plugin, so its verdict on the syntax is the one that matters, and
    // its bounded stack bounds how deeply a source it accepts can nest, which bounds the stack swc needs below.
    let bytecode = emit::bytecode(source).map_err(rejected)?;
    let exports = exported_functions(source)?;
    if exports.is_empty() {
        return Err(CompileError::NoExports);
    }
    let mut module = match options.linking {
        Linking::Dynamic => emit::dynamically_linked(&bytecode),
        Linking::Static => emit::statically_linked(&bytecode),
    }
    .map_err(rejected)?;
    PluginManifest::new(options.linking, exports).append_to(&mut module);
    Ok(module)
}

/// QuickJS's refusal: an error at a position in the source (`Error: MESSAGE`, then `at plugin.js:LINE:COLUMN`) is
/// the source's syntax error (compiling runs none of it), anything else is reported as it is.
fn rejected(error: EmitError) -> CompileError {
    let EmitError::Rejected(text) = &error else {
        return CompileError::Codegen(error.to_string());
    };
    let syntax = text.split_once(": ").and_then(|(class, rest)| {
        if !class.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let (message, frames) = rest.split_once('\n')?;
        let at = frames.trim_start().strip_prefix("at plugin.js:")?;
        let (line, column) = at.split_once(':')?;
        let column = column.split(|c: char| !c.is_ascii_digit()).next()?;
        Some(CompileError::Syntax {
            message: message.to_string(),
            line: line.parse().ok()?,
            column: column.parse().ok()?,
        })
    });
    syntax.unwrap_or_else(|| CompileError::Codegen(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin whose body nests `open … close` `depth` times.
    fn nested(open: &str, close: &str, depth: usize) -> String {
        let (open, close) = (open.repeat(depth), close.repeat(depth));
        format!("export const f = () => 1;\nlet x, y, a;\nx = {open}1{close};\n")
    }

    /// For each construct that nests, at the deepest nesting QuickJS compiles (and one deeper): compiling ends in a
    /// module or a typed error, and swc, which finds the exports after QuickJS, never runs off its stack.
    #[tokio::test]
    async fn no_nesting_ends_the_host() {
        let constructs = [
            ("(", ")"),
            ("[", "]"),
            ("{a:", "}"),
            ("!", ""),
            ("- ", ""),
            ("a=>", ""),
            ("x?y:", ""),
            ("y=", ""),
            ("`${", "}`"),
            ("new ", ""),
            ("(function(){return ", "})"),
        ];
        for (open, close) in constructs {
            let compiles = |depth| emit::bytecode(&nested(open, close, depth)).is_ok();
            let (mut accepted, mut refused) = (1, 1 << 17);
            assert!(compiles(accepted) && !compiles(refused), "`{open}`: QuickJS bounds its nesting");
            while refused - accepted > 1 {
                let depth = (accepted + refused) / 2;
                *(if compiles(depth) { &mut accepted } else { &mut refused }) = depth;
            }
            let options = CompileOptions::default();
            let module = compile(&nested(open, close, accepted), options).await;
            assert!(module.is_ok(), "`{open}` × {accepted}: {:?}", module.err());
            let refused = compile(&nested(open, close, refused), options).await;
            assert!(matches!(refused, Err(CompileError::Codegen(_) | CompileError::Syntax { .. })), "{refused:?}");
        }
    }

    #[tokio::test]
    async fn quickjs_syntax_errors_carry_their_position() {
        match compile("export function f(input) {\n  return input +;\n}", CompileOptions::default()).await {
            Err(CompileError::Syntax { line: 2, column, message }) => {
                assert!(column > 1 && !message.is_empty(), "{column} {message}")
            }
            other => panic!("expected a syntax error on line 2, got {other:?}"),
        }
    }
}
