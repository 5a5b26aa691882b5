//! The guest as a Javy plugin: the exports javy-codegen compiles against and links modules to, implemented with
//! isobox's semantics (inputs, results and errors as data; capabilities; a JavaScript error never traps).
//!
//! javy-codegen compiles a plugin's source with `compile-src` and emits a module whose `_start` copies the bytecode
//! into this instance (`cabi_realloc`, `memory`) and calls `invoke`. isobox's host runs a plugin as:
//! `isobox-plugin-begin` (capabilities and stack limit), the module's `_start` (evaluates the plugin's module once and
//! keeps its exports), `isobox-outcome` (how that went), then `isobox-plugin-call` for each function it calls.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::slice;

use javy::quickjs::{Ctx, Function, Module, Object, Persistent};

use crate::{STATUS_ERROR, STATUS_OK, failure, internal, publish, publish_bytes, settle, with_hooks};

/// The module name of every plugin: stack frames read `plugin.js:LINE:COLUMN`.
const MODULE_NAME: &str = "plugin.js";

/// Modules compiled with dynamic linking import this instance's exports from this namespace. It names the interface
/// between a compiled module and the guest, which changes only with it.
#[used]
#[unsafe(link_section = "import_namespace")]
static IMPORT_NAMESPACE: [u8; 15] = *b"isobox-guest-v1";

thread_local! {
    /// The evaluated plugin module's exports.
    static EXPORTS: RefCell<Option<Persistent<Object<'static>>>> = const { RefCell::new(None) };
}

/// Zero-sized allocations need no unique address, only a non-null one.
const ZERO_SIZE_ALLOCATION: *mut u8 = 1 as _;

/// The canonical ABI's allocator, through which the host and compiled modules place data in this instance.
///
/// # Safety
/// `original_ptr` is null or was returned by this function for `original_size` bytes with `alignment`.
#[unsafe(export_name = "cabi_realloc")]
pub unsafe extern "C" fn cabi_realloc(
    original_ptr: *mut u8,
    original_size: usize,
    alignment: usize,
    new_size: usize,
) -> *mut u8 {
    assert!(new_size >= original_size, "cabi_realloc never shrinks");
    let new = match new_size {
        0 => ZERO_SIZE_ALLOCATION,
        _ => unsafe { alloc::alloc(Layout::from_size_align(new_size, alignment).expect("a valid layout")) },
    };
    if !original_ptr.is_null() && original_size != 0 {
        unsafe {
            std::ptr::copy_nonoverlapping(original_ptr, new, original_size);
            alloc::dealloc(original_ptr, Layout::from_size_align_unchecked(original_size, alignment));
        }
    }
    new
}

/// Compiles a plugin's source (an ES module) to QuickJS bytecode: `[0, bytecode]`, or `[1, error text]`.
///
/// # Safety
/// `src_ptr` and `src_len` describe readable memory of this instance.
#[unsafe(export_name = "compile-src")]
pub unsafe extern "C" fn compile_src(src_ptr: *const u8, src_len: usize) -> *const u32 {
    let source = String::from_utf8_lossy(unsafe { slice::from_raw_parts(src_ptr, src_len) });
    let compiled = crate::GUEST.with(|guest| match guest.get() {
        Some(guest) => guest.runtime.compile_to_bytecode(MODULE_NAME, &source).map_err(|error| error.to_string()),
        None => Err("the guest was not initialised".to_string()),
    });
    match compiled {
        Ok(bytecode) => publish_bytes(STATUS_OK, bytecode),
        Err(error) => publish_bytes(STATUS_ERROR, error.into_bytes()),
    }
}

/// Evaluates a plugin's bytecode and keeps its exports; with a function name, also calls that function without
/// input. The outcome is kept for `isobox-outcome`.
///
/// # Safety
/// The pointers describe readable memory of this instance.
#[unsafe(export_name = "invoke")]
pub unsafe extern "C" fn invoke(
    bytecode_ptr: *const u8,
    bytecode_len: usize,
    has_name: u32,
    name_ptr: *const u8,
    name_len: usize,
) {
    let bytecode = unsafe { slice::from_raw_parts(bytecode_ptr, bytecode_len) };
    let name = (has_name != 0).then(|| String::from_utf8_lossy(unsafe { slice::from_raw_parts(name_ptr, name_len) }));
    publish(with_hooks(None, |ctx, hooks| load(ctx, hooks, bytecode, name.as_deref())));
}

fn load<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, bytecode: &[u8], name: Option<&str>) -> (u32, String) {
    // SAFETY: QuickJS trusts the bytecode it loads. The host only links modules compiled against this very guest (it
    // checks the guest's hash), and whatever bytecode does stays inside this sandboxed instance.
    let evaluated = unsafe { Module::load(ctx.clone(), bytecode) }.and_then(|module| module.eval());
    let (module, promise) = match evaluated {
        Ok(evaluated) => evaluated,
        Err(error) => return failure(ctx, hooks, error, false),
    };
    let (status, payload) = settle(ctx, hooks, promise);
    if status != STATUS_OK {
        return (status, payload);
    }
    let exports = match module.namespace() {
        Ok(exports) => exports,
        Err(error) => return failure(ctx, hooks, error, false),
    };
    EXPORTS.with(|kept| *kept.borrow_mut() = Some(Persistent::save(ctx, exports.clone())));
    match name {
        Some(name) => call(ctx, hooks, exports, name, ""),
        None => (STATUS_OK, "null".into()),
    }
}

/// The outcome of the last call into this instance, as `[status, payload pointer, payload length]`.
#[unsafe(export_name = "isobox-outcome")]
pub extern "C" fn outcome() -> *const u32 {
    crate::OUTCOME.with(|outcome| outcome.borrow().1.as_ptr())
}

/// Prepares this instance for a plugin: installs the granted capabilities (the JSON manifest, or empty for none) and
/// bounds the JavaScript stack.
///
/// # Safety
/// `manifest_ptr` and `manifest_len` describe readable memory of this instance.
#[unsafe(export_name = "isobox-plugin-begin")]
pub unsafe extern "C" fn begin(manifest_ptr: *const u8, manifest_len: usize, stack_bytes: usize) -> *const u32 {
    let manifest = String::from_utf8_lossy(unsafe { slice::from_raw_parts(manifest_ptr, manifest_len) });
    publish(with_hooks(Some(stack_bytes), |ctx, hooks| {
        let grant: Function = hooks.get("grant").expect("prelude hook `grant`");
        match grant.call::<_, ()>((manifest.as_ref(),)) {
            Ok(()) => (STATUS_OK, "null".into()),
            Err(error) => failure(ctx, hooks, error, false),
        }
    }))
}

/// Calls the plugin's exported function with an input (JSON text, or empty for none). The name and the input lie
/// back to back at `ptr`, in one allocation made with `cabi_realloc` that this call frees.
///
/// # Safety
/// `ptr` was returned by `cabi_realloc` for `name_len + input_len` bytes with alignment 1, and is not used again.
#[unsafe(export_name = "isobox-plugin-call")]
pub unsafe extern "C" fn plugin_call(
    ptr: *mut u8,
    name_len: usize,
    input_len: usize,
    stack_bytes: usize,
) -> *const u32 {
    let (name, input) = {
        let bytes = unsafe { slice::from_raw_parts(ptr, name_len + input_len) };
        let (name, input) = bytes.split_at(name_len);
        (String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(input).into_owned())
    };
    if name_len + input_len != 0 {
        unsafe { alloc::dealloc(ptr, Layout::from_size_align_unchecked(name_len + input_len, 1)) };
    }
    publish(with_hooks(Some(stack_bytes), |ctx, hooks| {
        match EXPORTS.with(|kept| kept.borrow().clone()).map(|exports| exports.restore(ctx)) {
            Some(Ok(exports)) => call(ctx, hooks, exports, &name, &input),
            _ => (STATUS_ERROR, internal("the plugin's module was not evaluated in this instance")),
        }
    }))
}

fn call<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, exports: Object<'js>, name: &str, input: &str) -> (u32, String) {
    let call: Function = hooks.get("call").expect("prelude hook `call`");
    match call.call((exports, name, input)) {
        Ok(promise) => settle(ctx, hooks, promise),
        Err(error) => failure(ctx, hooks, error, false),
    }
}
