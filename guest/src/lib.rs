//! The isobox guest: QuickJS compiled to WebAssembly, built as a Javy plugin.
//!
//! isobox's own per-request export is `isobox-run`: it compiles a program as the body of an async function, runs it
//! with its input, drives its promises to completion and reports the outcome as data through guest memory. A
//! JavaScript error never traps. The guest is also a Javy plugin (see `plugin.rs`), so that javy-codegen compiles
//! JavaScript plugins ahead of time against it.
//!
//! Host imports (module `isobox`):
//! - `log(level, ptr, len)`: one console line (levels: 0 log, 1 info, 2 warn, 3 error, 4 debug).
//! - `call(capability, function, ptr, len) -> status << 32 | length`: calls a granted capability's function with the
//!   JSON text of its argument array; the host keeps the reply (status 0: the JSON value, 1: the JSON of an error to
//!   throw) until `take(ptr)` copies it into guest memory.

mod plugin;

use std::cell::{OnceCell, RefCell};
use std::slice;

use javy::quickjs::{
    Ctx, Error as JsError, Function, Object, Persistent, Promise, String as JsString, Value, context::EvalOptions,
    prelude::Func, promise::PromiseState, qjs,
};
use javy::{Config, Runtime, to_string_lossy};

#[link(wasm_import_module = "isobox")]
unsafe extern "C" {
    #[link_name = "log"]
    fn host_log(level: u32, ptr: *const u8, len: usize);
    #[link_name = "call"]
    fn host_call(capability: u32, function: u32, ptr: *const u8, len: usize) -> u64;
    #[link_name = "take"]
    fn host_take(ptr: *mut u8);
}

unsafe extern "C" {
    /// From isobox's QuickJS patch (`guest/patches/rquickjs-sys-engine-limit-errors.patch`): 1 when the value is the
    /// last stack overflow error the engine threw, 2 when it is its last out-of-memory error, else 0.
    fn JS_IsoboxEngineLimit(ctx: *mut qjs::JSContext, value: qjs::JSValue) -> i32;
}

/// The program is wrapped as the body of an async function. The wrapper has a line of its own, so that the prelude
/// maps positions back to the program by subtracting one line, and columns are never shifted.
const SOURCE_PREFIX: &str = "(async function (input) {\n";
const SOURCE_SUFFIX: &str = "\n})";
const FILE_NAME: &str = "agent.js";
const PRELUDE: &str = include_str!("prelude.js");

/// Outcome statuses written to the return area.
const STATUS_OK: u32 = 0;
const STATUS_ERROR: u32 = 1;

struct Guest {
    runtime: Runtime,
    hooks: Persistent<Object<'static>>,
}

thread_local! {
    static GUEST: OnceCell<Guest> = const { OnceCell::new() };
    // The outcome of the last call: the payload and the return area `[status, pointer, length]`.
    static OUTCOME: RefCell<(Vec<u8>, [u32; 3])> = const { RefCell::new((Vec::new(), [0; 3])) };
}

fn new_guest() -> Guest {
    let mut config = Config::default();
    config.text_encoding(true);
    let runtime = Runtime::new(config).expect("the QuickJS runtime starts");
    let hooks = runtime.context().with(|ctx| {
        let factory: Function =
            ctx.eval_with_options(PRELUDE, script_options("isobox:prelude")).expect("the isobox prelude evaluates");
        let options = Object::new(ctx.clone()).expect("an options object");
        options.set("engineLimit", Func::from(engine_limit)).expect("the options take the native");
        let hooks: Object = factory
            .call((Func::from(console_line), Func::from(call_capability), FILE_NAME, options))
            .expect("the isobox prelude initialises");
        Persistent::save(&ctx, hooks)
    });
    Guest { runtime, hooks }
}

/// Runs `f` in the guest's context with the prelude's hooks; with `stack_bytes`, the JavaScript stack is bounded
/// from this call (`Context::with` re-reads the stack top).
fn with_hooks<F>(stack_bytes: Option<usize>, f: F) -> (u32, String)
where
    F: for<'js> FnOnce(&Ctx<'js>, &Object<'js>) -> (u32, String),
{
    GUEST.with(|guest| {
        let Some(guest) = guest.get() else {
            return (STATUS_ERROR, internal("the guest was not initialised"));
        };
        let context = guest.runtime.context();
        if let Some(stack_bytes) = stack_bytes {
            context.runtime().set_max_stack_size(stack_bytes);
        }
        context.with(|ctx| match guest.hooks.clone().restore(&ctx) {
            Ok(hooks) => f(&ctx, &hooks),
            Err(_) => (STATUS_ERROR, internal("the guest's hooks are missing")),
        })
    })
}

/// Keeps an outcome for the host and returns its area `[status, payload pointer, payload length]`.
fn publish((status, payload): (u32, String)) -> *const u32 {
    publish_bytes(status, payload.into_bytes())
}

fn publish_bytes(status: u32, payload: Vec<u8>) -> *const u32 {
    OUTCOME.with(|outcome| {
        let mut outcome = outcome.borrow_mut();
        let (bytes, area) = &mut *outcome;
        *bytes = payload;
        *area = [status, bytes.as_ptr() as u32, bytes.len() as u32];
        // The host reads the outcome before it calls into this instance again, so the pointer stays valid.
        area.as_ptr()
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
    let text = lossy(&ctx, &text);
    // SAFETY: the host reads `len` bytes at `ptr` from this instance's memory during the call.
    unsafe { host_log(level, text.as_ptr(), text.len()) };
}

/// Calls a capability; the reply is its status digit (`0` value, `1` error) followed by its JSON text.
fn call_capability<'js>(ctx: Ctx<'js>, capability: u32, function: u32, args: JsString<'js>) -> String {
    let args = lossy(&ctx, &args);
    // SAFETY: the host reads `args` during the call, then writes exactly `len` bytes of its reply at `reply`.
    let packed = unsafe { host_call(capability, function, args.as_ptr(), args.len()) };
    let (status, len) = ((packed >> 32) as u32, packed as u32 as usize);
    let mut reply = vec![0u8; len];
    unsafe { host_take(reply.as_mut_ptr()) };
    let mut text = String::with_capacity(len + 1);
    text.push(if status == 0 { '0' } else { '1' });
    text.push_str(&String::from_utf8_lossy(&reply));
    text
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

/// A program that exercises what most programs use, run once while pre-initialising: whatever QuickJS sets up lazily
/// on first use (atoms, shapes, the allocator's free lists) is then part of the snapshot instead of being rebuilt in
/// every request. It leaves no globals behind.
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

/// Builds the runtime and the prelude, once: javy-codegen's static linking calls this again on the pre-initialised
/// guest (where isobox's imports trap), and it must then leave the snapshot as it is.
#[unsafe(export_name = "initialize-runtime")]
pub extern "C" fn initialize_runtime() {
    let initialised = GUEST.with(|cell| cell.get().is_none() && cell.set(new_guest()).is_ok());
    if !initialised {
        return;
    }
    let (status, outcome) =
        with_hooks(Some(256 << 10), |ctx, hooks| run(ctx, hooks, WARM_UP, r#"{"items":[1,2,3]}"#, ""));
    assert_eq!(status, STATUS_OK, "the warm-up program runs: {outcome}");
    GUEST.with(|guest| guest.get().expect("set above").runtime.context().runtime().run_gc());
}

/// Runs one program. `code` is UTF-8 source; `input` is JSON text or empty for none; `grants` is the JSON manifest of
/// granted capabilities (`[[global, [method, …]], …]`) or empty; `stack_bytes` bounds the JavaScript stack. Returns a pointer to `[status, payload pointer, payload length]`: on `STATUS_OK` the payload is the
/// JSON text of the result, on `STATUS_ERROR` the JSON text of an error object with a `kind`.
///
/// # Safety
/// The pointers must describe readable memory of this instance, as written by the host through `cabi_realloc`.
#[unsafe(export_name = "isobox-run")]
pub unsafe extern "C" fn isobox_run(
    code_ptr: *const u8,
    code_len: usize,
    input_ptr: *const u8,
    input_len: usize,
    grants_ptr: *const u8,
    grants_len: usize,
    stack_bytes: usize,
) -> *const u32 {
    let code = String::from_utf8_lossy(unsafe { slice::from_raw_parts(code_ptr, code_len) });
    let input = String::from_utf8_lossy(unsafe { slice::from_raw_parts(input_ptr, input_len) });
    let grants = String::from_utf8_lossy(unsafe { slice::from_raw_parts(grants_ptr, grants_len) });
    publish(with_hooks(Some(stack_bytes), |ctx, hooks| run(ctx, hooks, &code, &input, &grants)))
}

fn run<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, code: &str, input: &str, grants: &str) -> (u32, String) {
    let source = format!("{SOURCE_PREFIX}{code}{SOURCE_SUFFIX}");
    let program: Value = match ctx.eval_with_options(source, script_options(FILE_NAME)) {
        Ok(program) => program,
        Err(error) => return failure(ctx, hooks, error, true),
    };
    let start: Function = hooks.get("start").expect("prelude hook `start`");
    match start.call((program, input, grants)) {
        Ok(promise) => settle(ctx, hooks, promise),
        Err(error) => failure(ctx, hooks, error, false),
    }
}

/// Drives `promise` to completion and reports its value (as JSON) or its error.
fn settle<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, promise: Promise<'js>) -> (u32, String) {
    while promise.state() == PromiseState::Pending && ctx.execute_pending_job() {}
    match promise.result::<Value>() {
        None => (
            STATUS_ERROR,
            r#"{"kind":"exception","name":"Error","message":"the program's promise never settled: it awaited something that cannot complete"}"#.to_string(),
        ),
        Some(Ok(value)) => {
            let success: Function = hooks.get("success").expect("prelude hook `success`");
            match success.call::<_, JsString>((value,)) {
                Ok(text) => (STATUS_OK, lossy(ctx, &text)),
                Err(error) => failure(ctx, hooks, error, false),
            }
        }
        Some(Err(error)) => failure(ctx, hooks, error, false),
    }
}

fn failure<'js>(ctx: &Ctx<'js>, hooks: &Object<'js>, error: JsError, compiling: bool) -> (u32, String) {
    let thrown = match error {
        JsError::Exception => ctx.catch(),
        other => return (STATUS_ERROR, internal(&other.to_string())),
    };
    let described =
        hooks.get::<_, Function>("failure").and_then(|failure| failure.call::<_, JsString>((thrown, compiling)));
    match described {
        Ok(text) => (STATUS_ERROR, lossy(ctx, &text)),
        Err(_) => {
            // Describing the thrown value threw in turn (a hostile getter, say); report it without details.
            let _ = ctx.catch();
            (
                STATUS_ERROR,
                r#"{"kind":"exception","name":"Error","message":"the program threw a value that cannot be described"}"#
                    .to_string(),
            )
        }
    }
}

fn internal(message: &str) -> String {
    let escaped: String = message.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    format!(r#"{{"kind":"internal","message":"{escaped}"}}"#)
}
