//! The isobox guest: QuickJS compiled to WebAssembly, built as a Javy plugin.
//!
//! Its interface with the host is `wit/guest.wit` (world `isobox:guest/guest@1.0.0`), bound here by `wit-bindgen`:
//! the host's functions (`log`, `call`, `take`) are imported from `isobox:guest/host@1.0.0`, and isobox's per-request
//! export is `isobox-run`. It compiles a program as the body of an async function, runs it with its input, drives its
//! promises to completion and returns the outcome as data. A JavaScript error never traps. The guest is also a Javy
//! plugin (see `plugin.rs`), so that JavaScript plugins are compiled ahead of time against it.

mod capability;
mod plugin;

use std::cell::OnceCell;
use std::ffi::c_int;

use javy::quickjs::{
    Ctx, Error as JsError, Function, Object, Persistent, Promise, String as JsString, Value, context::EvalOptions,
    prelude::Func, promise::PromiseState, qjs,
};
use javy::{Config, Runtime, to_string_lossy};

wit_bindgen::generate!({ path: "../wit/guest.wit", world: "guest" });

use isobox::guest::host;

/// The implementation of the world's exports.
struct IsoboxGuest;

export!(IsoboxGuest);

unsafe extern "C" {
    /// From isobox's QuickJS patch (`guest/patches/rquickjs-sys-engine-limit-errors.patch`): 1 when the value is the
    /// last stack overflow error the engine threw, 2 when it is its last out-of-memory error, else 0.
    fn JS_IsoboxEngineLimit(ctx: *mut qjs::JSContext, value: qjs::JSValue) -> i32;
}

/// The program is wrapped as the body of an async function. The wrapper has a line of its own, so that the prelude
/// maps positions back to the program by subtracting one line, and columns are never shifted. It is a comma
/// expression rather than a parenthesised one: at a `(`, QuickJS first scans ahead to the matching `)` to tell an
/// arrow function's parameters from an expression, which for the wrapper is a second pass over the whole program
/// (6 % of a small request's time).
const SOURCE_PREFIX: &str = "0, async function (input) {\n";
const SOURCE_SUFFIX: &str = "\n}";
const FILE_NAME: &str = "agent.js";
const PRELUDE: &str = include_str!("prelude.js");

/// What a program, a plugin's module or a plugin's function came to: the JSON text of its value, or of an error
/// object with a `kind`.
type Outcome = Result<String, String>;

struct State {
    runtime: Runtime,
    hooks: Persistent<Object<'static>>,
}

thread_local! {
    static GUEST: OnceCell<State> = const { OnceCell::new() };
}

fn new_guest() -> State {
    let mut config = Config::default();
    config.text_encoding(true);
    let runtime = Runtime::new(config).expect("the QuickJS runtime starts");
    let hooks = runtime.context().with(|ctx| {
        let factory: Function =
            ctx.eval_with_options(PRELUDE, script_options("isobox:prelude")).expect("the isobox prelude evaluates");
        let options = Object::new(ctx.clone()).expect("an options object");
        options.set("engineLimit", Func::from(engine_limit)).expect("the options take the native");
        capability::register(&ctx);
        options
            .set("capabilityObject", Func::from(capability::capability_object))
            .expect("the options take the native");
        // No `hostCall`: the prelude's `method` is not used here, the capability objects make their own
        // (`capability::call_method`).
        let hooks: Object = factory
            .call((Func::from(console_line), Value::new_undefined(ctx.clone()), FILE_NAME, options))
            .expect("the isobox prelude initialises");
        capability::set_call_error(hooks.get("callError").expect("prelude hook `callError`"));
        Persistent::save(&ctx, hooks)
    });
    State { runtime, hooks }
}

/// Runs `f` in the guest's context with the prelude's hooks; with `stack_bytes`, the JavaScript stack is bounded
/// from this call (`Context::with` re-reads the stack top).
fn with_hooks<F>(stack_bytes: Option<u32>, f: F) -> Outcome
where
    F: for<'js> FnOnce(&Ctx<'js>, &Object<'js>) -> Outcome,
{
    GUEST.with(|guest| {
        let Some(guest) = guest.get() else {
            return Err(internal("the guest was not initialised"));
        };
        let context = guest.runtime.context();
        if let Some(stack_bytes) = stack_bytes {
            context.runtime().set_max_stack_size(stack_bytes as usize);
        }
        context.with(|ctx| match guest.hooks.clone().restore(&ctx) {
            Ok(hooks) => f(&ctx, &hooks),
            Err(_) => Err(internal("the guest's hooks are missing")),
        })
    })
}

fn script_options(file_name: &str) -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.backtrace_barrier = true;
    options.promise = false;
    options.filename = Some(file_name.to_string());
    options
}

fn console_line<'js>(ctx: Ctx<'js>, level: u32, text: JsString<'js>) {
    host::log(level, &lossy(&ctx, &text));
}

/// The prelude's `engineLimit(value)`: which limit, if any, the engine itself hit when it threw `value` (1 the stack,
/// 2 memory, 0 none). A program's own `RangeError` with the same message is 0.
fn engine_limit<'js>(ctx: Ctx<'js>, value: Value<'js>) -> i32 {
    // SAFETY: both come from this live context; the patched QuickJS only compares the value with what it holds.
    unsafe { JS_IsoboxEngineLimit(ctx.as_raw().as_ptr(), value.as_raw()) }
}

/// A JavaScript string as UTF-8, with lone surrogates replaced.
fn lossy<'js>(ctx: &Ctx<'js>, text: &JsString<'js>) -> String {
    match text.to_string() {
        Ok(text) => text,
        Err(error @ JsError::Utf8(_)) => to_string_lossy(ctx, text, error),
        Err(_) => String::new(),
    }
}

unsafe extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

/// Leaves the C allocator with a single free chunk, its top: the free chunks that building the runtime and the
/// warm-up left between live objects (about 32 KiB in some 2,000 pieces) are allocated and kept for good. A request's
/// allocations then come from one contiguous region rather than from small chunks spread across the snapshot's pages,
/// so a request writes fewer of the snapshot's pages (each written page is a private copy while the sandbox lives and
/// is copied back when it ends). The top is then grown by what was taken, so that a request has as much room before
/// its memory must grow as it had before.
///
/// # Safety
/// Only while nothing else allocates: at the end of pre-initialisation.
unsafe fn gather_free_memory() {
    /// The smallest allocation: one 16-byte chunk, the allocator's smallest, is room enough for the chain's link.
    const PIECE: usize = 8;
    /// Stop this close to the memory's end, before the allocator would grow the memory.
    const MARGIN: usize = 4096;
    /// A bound, in case the allocator behaves unlike dlmalloc: 1 MiB of pieces.
    const MAX_PIECES: usize = 1 << 16;
    let end = core::arch::wasm32::memory_size(0) * 65536;
    // The pieces are chained through their first word, newest first.
    let mut newest: *mut u8 = std::ptr::null_mut();
    let mut pieces = 0;
    while pieces < MAX_PIECES {
        // SAFETY: plain allocations, each written only within its 8 bytes.
        let piece = unsafe { malloc(PIECE) };
        if piece.is_null() {
            break;
        }
        unsafe { piece.cast::<*mut u8>().write(newest) };
        newest = piece;
        pieces += 1;
        if end.saturating_sub(piece as usize) < MARGIN {
            break;
        }
    }
    if newest.is_null() {
        return;
    }
    // The last run of pieces at consecutive addresses was cut from the top chunk (a free chunk is never next to the
    // top: they would have been merged): it goes back, and the top is whole again.
    // SAFETY: each piece holds the link written above.
    let stride = (newest as usize).wrapping_sub(unsafe { *newest.cast::<*mut u8>() } as usize);
    let (mut kept, mut top) = (pieces, end);
    while !newest.is_null() {
        let previous = unsafe { *newest.cast::<*mut u8>() };
        let consecutive = (newest as usize).wrapping_sub(previous as usize) == stride;
        unsafe { free(newest) };
        (kept, top) = (kept - 1, newest as usize);
        newest = previous;
        if !consecutive {
            break;
        }
    }
    // Room for what was kept, past the top: the allocator grows the memory for it, and takes it back into the top.
    // (`black_box`: an allocation freed unused would be left out by the compiler.)
    let room = std::hint::black_box(unsafe { malloc(end.saturating_sub(top) + kept * 2 * PIECE) });
    if !room.is_null() {
        unsafe { free(room) };
    }
}

/// A program that exercises what most programs use, run once while pre-initialising: whatever QuickJS sets up lazily
/// on first use (atoms, shapes) is then part of the snapshot instead of being rebuilt in every request. It leaves no
/// globals behind.
const WARM_UP: &str = r#"
    const items = input.items.map((n, i) => ({ id: i, n, square: n * n, label: `item ${i}` }));
    const total = items.filter((item) => item.n > 1).reduce((sum, item) => sum + item.square, 0);
    const text = JSON.stringify({ total, items, nested: { list: [1.5, "two", null, true] } });
    const again = JSON.parse(text);
    const words = new Map(Object.entries({ a: 1, b: 2 }));
    const found = /item (\d+)/.exec(items[1].label);
    class Counter { #n = 0; next() { return ++this.#n } }
    const counter = new Counter();
    const later = await Promise.all([1, 2].map(async (x) => x + counter.next()));
    console.log("warm-up", total, items.length, [...words.keys()].join(","), found?.[1], String(later));
    try { null.x } catch (error) { String(error.stack) }
    return { total: again.total, count: items.length, when: new Date(0).toISOString(), ok: true };
"#;

impl Guest for IsoboxGuest {
    /// Builds the runtime and the prelude, once: called again on a pre-initialised guest (a Javy plugin's
    /// initialisation may be), it leaves the snapshot as it is.
    fn initialize_runtime() {
        let initialised = GUEST.with(|cell| cell.get().is_none() && cell.set(new_guest()).is_ok());
        if !initialised {
            return;
        }
        let outcome = with_hooks(Some(256 << 10), |ctx, hooks| run(ctx, hooks, WARM_UP, r#"{"items":[1,2,3]}"#, ""));
        if let Err(error) = &outcome {
            panic!("the warm-up program runs: {error}");
        }
        drop(outcome);
        GUEST.with(|guest| guest.get().expect("set above").runtime.context().runtime().run_gc());
        // SAFETY: the last step of pre-initialisation: nothing allocated after it is freed before a request.
        unsafe { gather_free_memory() };
    }

    fn compile_src(source: Vec<u8>) -> Result<Vec<u8>, String> {
        plugin::compile_src(&source)
    }

    fn invoke(bytecode: Vec<u8>, function: Option<String>) {
        plugin::invoke(&bytecode, function.as_deref());
    }

    /// Runs one program (see `isobox-run` in `wit/guest.wit`).
    fn isobox_run(code: String, input: String, grants: String, stack_bytes: u32) -> Outcome {
        with_hooks(Some(stack_bytes), |ctx, hooks| run(ctx, hooks, &code, &input, &grants))
    }

    fn isobox_plugin_begin(grants: String, stack_bytes: u32) -> Result<(), String> {
        plugin::begin(&grants, stack_bytes)
    }

    fn isobox_outcome() -> Outcome {
        plugin::outcome()
    }

    fn isobox_plugin_call(function: String, input: String, stack_bytes: u32) -> Outcome {
        plugin::call_export(&function, &input, stack_bytes)
    }
}

fn run<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, code: &str, input: &str, grants: &str) -> Outcome {
    // Concatenated by hand: `format!`'s machinery costs a few percent of a small request.
    let mut source = String::with_capacity(SOURCE_PREFIX.len() + code.len() + SOURCE_SUFFIX.len());
    source.push_str(SOURCE_PREFIX);
    source.push_str(code);
    source.push_str(SOURCE_SUFFIX);
    let program: Value = match ctx.eval_with_options(source, script_options(FILE_NAME)) {
        Ok(program) => program,
        Err(error) => return failure(ctx, hooks, error, true),
    };
    // The usual manifest is granted here; the prelude grants the others (see `grant`).
    let grants = match grant(ctx, grants) {
        Ok(true) => "",
        Ok(false) => grants,
        Err(error) => return failure(ctx, hooks, error, false),
    };
    // With nothing left to grant the program is called here, as the prelude's `start` would: calling into the prelude
    // writes the reference counts of its objects, on pages of the snapshot the request then owns.
    let called = match program.as_function() {
        Some(program) if grants.is_empty() => call_program(ctx, program, input),
        _ => hooks.get::<_, Function>("start").and_then(|start| start.call((program, input, grants))),
    };
    match called {
        // A program that closes its wrapper early may leave a plain function in its place: its value is the result.
        Ok(result) => match result.try_into_promise() {
            Ok(promise) => settle(ctx, hooks, promise),
            Err(result) => success(ctx, hooks, result),
        },
        Err(error) => failure(ctx, hooks, error, false),
    }
}

/// Calls `program` with its input, `undefined` when there is none (the host gives the input as JSON text).
fn call_program<'js>(ctx: &Ctx<'js>, program: &Function<'js>, input: &str) -> Result<Value<'js>, JsError> {
    if input.is_empty() {
        program.call((Value::new_undefined(ctx.clone()),))
    } else {
        program.call((ctx.json_parse(input)?,))
    }
}

/// Makes the global objects of a manifest that is the plain list of globals (`["shop","kv"]`, see
/// `HostCalls::manifest`), as the prelude's `grant` would: each a capability object (`capability::capability_object`)
/// defined on the global object as non-writable, non-enumerable and non-configurable, throwing as
/// `Object.defineProperty` does where that cannot be. Returns whether that left nothing for the prelude to grant: true
/// for an empty manifest too, false, having done nothing, for any other (a run that replays deterministically, or one
/// this does not read), which the prelude then grants. Here rather than in
/// the prelude because a request pays for the prelude's grant in interpreted code: 24.7k of the 84.6k WebAssembly
/// instructions of `return 1` granted one capability, 4.1k here.
fn grant<'js>(ctx: &Ctx<'js>, manifest: &str) -> Result<bool, JsError> {
    let Some(globals) = plain_globals(manifest) else {
        return Ok(manifest.is_empty());
    };
    let raw = ctx.as_raw().as_ptr();
    for (index, name) in globals.enumerate() {
        let object = capability::capability_object(ctx.clone(), index as u32)?;
        // SAFETY: the context is live; the atom is freed here, and `JS_DefinePropertyValue` takes the value over.
        let defined = unsafe {
            let global = qjs::JS_GetGlobalObject(raw);
            let atom = qjs::JS_NewAtomLen(raw, name.as_ptr().cast(), name.len() as _);
            let defined = if atom == qjs::JS_ATOM_NULL {
                -1
            } else {
                let value = qjs::JS_DupValue(raw, object.as_raw());
                let defined = qjs::JS_DefinePropertyValue(raw, global, atom, value, qjs::JS_PROP_THROW as c_int);
                qjs::JS_FreeAtom(raw, atom);
                defined
            };
            qjs::JS_FreeValue(raw, global);
            defined
        };
        if defined < 0 {
            return Err(JsError::Exception);
        }
    }
    Ok(true)
}

/// The names of a manifest `["a","b",…]` whose names need no unescaping; `None` for any other text.
fn plain_globals(manifest: &str) -> Option<impl Iterator<Item = &str>> {
    let list = manifest.strip_prefix('[')?.strip_suffix(']')?;
    fn name(quoted: &str) -> Option<&str> {
        quoted.strip_prefix('"')?.strip_suffix('"').filter(|name| !name.is_empty())
    }
    // A comma within a name leaves a piece without its closing quote, and any quote within one comes escaped.
    let plain = |quoted: &str| name(quoted).is_some_and(|name| !name.contains(['"', '\\']));
    list.split(',').all(plain).then(|| list.split(',').filter_map(name))
}

/// Drives `promise` to completion and reports its value (as JSON) or its error.
fn settle<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, promise: Promise<'js>) -> Outcome {
    while promise.state() == PromiseState::Pending && ctx.execute_pending_job() {}
    match promise.result::<Value>() {
        None => Err(
            r#"{"kind":"exception","name":"Error","message":"the program's promise never settled: it awaited something that cannot complete"}"#.to_string(),
        ),
        Some(Ok(value)) => success(ctx, hooks, value),
        Some(Err(error)) => failure(ctx, hooks, error, false),
    }
}

/// Reports the program's `value` as JSON, as the prelude's `success` does: serialised by the engine's own
/// `JSON.stringify` (which the prelude's captured copy calls, and no program can replace), here without the cost of
/// calling into the prelude; the prelude's `withoutLoneSurrogates` only for a text that may need it.
fn success<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, value: Value<'js>) -> Outcome {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: the context and value are live; the text made is owned by the `Value` from here on.
    let text = unsafe {
        let text = qjs::JS_JSONStringify(raw, value.as_raw(), qjs::JS_UNDEFINED, qjs::JS_UNDEFINED);
        if qjs::JS_IsException(text) {
            return failure(ctx, hooks, JsError::Exception, false);
        }
        Value::from_raw(ctx.clone(), text)
    };
    // Nothing to serialise (`undefined`, a function, a symbol) is `null`.
    let Some(text) = text.as_string() else { return Ok("null".to_string()) };
    let text = lossy(ctx, text);
    if !text.contains("\\ud") {
        return Ok(text);
    }
    let fix: Function = hooks.get("withoutLoneSurrogates").expect("prelude hook `withoutLoneSurrogates`");
    match fix.call::<_, JsString>((text,)) {
        Ok(text) => Ok(lossy(ctx, &text)),
        Err(error) => failure(ctx, hooks, error, false),
    }
}

fn failure<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, error: JsError, compiling: bool) -> Outcome {
    let thrown = match error {
        JsError::Exception => ctx.catch(),
        other => return Err(internal(&other.to_string())),
    };
    let described =
        hooks.get::<_, Function>("failure").and_then(|failure| failure.call::<_, JsString>((thrown, compiling)));
    match described {
        Ok(text) => Err(lossy(ctx, &text)),
        Err(_) => {
            // Describing the thrown value threw in turn (a hostile getter, say); report it without details.
            let _ = ctx.catch();
            Err(r#"{"kind":"exception","name":"Error","message":"the program threw a value that cannot be described"}"#
                .to_string())
        }
    }
}

fn internal(message: &str) -> String {
    let escaped: String = message.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    format!(r#"{{"kind":"internal","message":"{escaped}"}}"#)
}
