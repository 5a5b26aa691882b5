//! The guest as a Javy plugin: the exports plugins are compiled against and linked to, implemented with isobox's
//! semantics (inputs, results and errors as data; capabilities; a JavaScript error never traps).
//!
//! `isobox compile` compiles a plugin's source with `compile-src` and emits a module whose `_start` copies the
//! bytecode into this instance (`cabi_realloc`, `memory`) and calls `invoke`, as Javy's compiled modules do. The
//! exports themselves are declared in `wit/guest.wit` and bound in `lib.rs`; isobox's host runs a plugin as:
//! `isobox-plugin-begin` (capabilities and stack limit), the module's `_start` (evaluates the plugin's module once and
//! keeps its exports), `isobox-outcome` (how that went), then `isobox-plugin-call` for each function it calls.

use std::cell::RefCell;

use javy::quickjs::{Ctx, Function, Module, Object, Persistent};

use crate::{Outcome, failure, internal, settle, with_hooks};

/// The module name of every plugin: stack frames read `plugin.js:LINE:COLUMN`.
const MODULE_NAME: &str = "plugin.js";

/// Modules compiled with dynamic linking import this instance's exports from this namespace: the package of
/// `wit/guest.wit`, which names the interface and changes only with it.
#[used]
#[unsafe(link_section = "import_namespace")]
static IMPORT_NAMESPACE: [u8; 18] = *b"isobox:guest@1.0.0";

thread_local! {
    /// The evaluated plugin module's exports.
    static EXPORTS: RefCell<Option<Persistent<Object<'static>>>> = const { RefCell::new(None) };
    /// The outcome of the last `invoke`, until `isobox-outcome` takes it.
    static OUTCOME: RefCell<Option<Outcome>> = const { RefCell::new(None) };
}

/// `compile-src`: a plugin's source (an ES module) as QuickJS bytecode, or the error text.
pub(crate) fn compile_src(source: &[u8]) -> Result<Vec<u8>, String> {
    let source = String::from_utf8_lossy(source);
    crate::GUEST.with(|guest| match guest.get() {
        Some(guest) => guest.runtime.compile_to_bytecode(MODULE_NAME, &source).map_err(|error| error.to_string()),
        None => Err("the guest was not initialised".to_string()),
    })
}

/// `invoke`: evaluates a plugin's bytecode and keeps its exports; with a function name, also calls that function
/// without input. The outcome is kept for `isobox-outcome`.
pub(crate) fn invoke(bytecode: &[u8], name: Option<&str>) {
    let outcome = with_hooks(None, |ctx, hooks| load(ctx, hooks, bytecode, name));
    OUTCOME.with(|kept| *kept.borrow_mut() = Some(outcome));
}

fn load<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, bytecode: &[u8], name: Option<&str>) -> Outcome {
    // SAFETY: QuickJS trusts the bytecode it loads. The host only links modules compiled against this very guest (it
    // checks the guest's hash), and whatever bytecode does stays inside this sandboxed instance.
    let evaluated = unsafe { Module::load(ctx.clone(), bytecode) }.and_then(|module| module.eval());
    let (module, promise) = match evaluated {
        Ok(evaluated) => evaluated,
        Err(error) => return failure(ctx, hooks, error, false),
    };
    settle(ctx, hooks, promise)?;
    let exports = match module.namespace() {
        Ok(exports) => exports,
        Err(error) => return failure(ctx, hooks, error, false),
    };
    EXPORTS.with(|kept| *kept.borrow_mut() = Some(Persistent::save(ctx, exports.clone())));
    match name {
        Some(name) => call(ctx, hooks, exports, name, ""),
        None => Ok("null".into()),
    }
}

/// `isobox-outcome`: the outcome of the last `invoke`, once.
pub(crate) fn outcome() -> Outcome {
    OUTCOME
        .with(|kept| kept.borrow_mut().take())
        .unwrap_or_else(|| Err(internal("no plugin module was evaluated in this instance")))
}

/// `isobox-plugin-begin`: installs the granted capabilities (the JSON manifest, or empty for none) and bounds the
/// JavaScript stack.
pub(crate) fn begin(manifest: &str, stack_bytes: u32) -> Result<(), String> {
    with_hooks(Some(stack_bytes), |ctx, hooks| {
        let grant: Function = hooks.get("grant").expect("prelude hook `grant`");
        match grant.call::<_, ()>((manifest,)) {
            Ok(()) => Ok("null".into()),
            Err(error) => failure(ctx, hooks, error, false),
        }
    })
    .map(drop)
}

/// `isobox-plugin-call`: calls the plugin's exported function with an input (JSON text, or empty for none).
pub(crate) fn call_export(name: &str, input: &str, stack_bytes: u32) -> Outcome {
    with_hooks(Some(stack_bytes), |ctx, hooks| {
        match EXPORTS.with(|kept| kept.borrow().clone()).map(|exports| exports.restore(ctx)) {
            Some(Ok(exports)) => call(ctx, hooks, exports, name, input),
            _ => Err(internal("the plugin's module was not evaluated in this instance")),
        }
    })
}

fn call<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, exports: Object<'js>, name: &str, input: &str) -> Outcome {
    let call: Function = hooks.get("call").expect("prelude hook `call`");
    match call.call((exports, name, input)) {
        Ok(promise) => settle(ctx, hooks, promise),
        Err(error) => failure(ctx, hooks, error, false),
    }
}
