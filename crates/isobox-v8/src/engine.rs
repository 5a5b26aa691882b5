//! The binding to the JavaScript engine: the narrow C interface of `shim/isobox_v8.h`, wrapped safely.
//!
//! Only this module knows the engine is reached through C; the rest of the crate sees a [`Sandbox`] whose steps
//! (`start`, `run_jobs`, `settle`) return a [`Step`], and a [`Host`] the engine reports console lines and memory
//! exhaustion to, and hands capability calls to.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::OnceLock;

/// isobox's engine-neutral prelude, shared with the wasm guest.
const PRELUDE: &str = include_str!("../../../guest/src/prelude.js");
/// What the wasm guest has and a bare V8 context lacks.
const GLOBALS: &str = include_str!("globals.js");

#[repr(C)]
struct RawSandbox {
    _opaque: [u8; 0],
}

#[repr(C)]
struct RawHost {
    data: *mut c_void,
    log: extern "C" fn(*mut c_void, u32, *const u8, usize) -> bool,
    out_of_memory: extern "C" fn(*mut c_void),
    call: extern "C" fn(*mut c_void, u32, u32, *const u8, usize, *mut *const u8, *mut usize) -> bool,
}

const STATUS_OK: c_int = 0;
const STATUS_ERROR: c_int = 1;
const STATUS_TERMINATED: c_int = 2;
const STATUS_PENDING: c_int = 3;
const STATUS_SETTLED: c_int = 4;

unsafe extern "C" {
    fn isobox_v8_unavailable() -> *const c_char;
    fn isobox_v8_initialize(
        prelude: *const c_char,
        prelude_len: usize,
        globals: *const c_char,
        globals_len: usize,
        out_of_memory_exit: c_int,
        snapshot: *const u8,
        snapshot_len: usize,
        hooks_index: u64,
    ) -> *const c_char;
    fn isobox_v8_snapshot(data: *mut *const u8, len: *mut usize, hooks_index: *mut u64);
    fn isobox_v8_sandbox_new(memory_bytes: u64) -> *mut RawSandbox;
    fn isobox_v8_sandbox_attach(sandbox: *mut RawSandbox, host: *const RawHost);
    fn isobox_v8_start(
        sandbox: *mut RawSandbox,
        code: *const u8,
        code_len: usize,
        input: *const u8,
        input_len: usize,
        manifest: *const u8,
        manifest_len: usize,
        stack_bytes: u32,
    ) -> c_int;
    fn isobox_v8_run_jobs(sandbox: *mut RawSandbox) -> c_int;
    fn isobox_v8_settle(sandbox: *mut RawSandbox) -> c_int;
    fn isobox_v8_outcome(sandbox: *const RawSandbox, text: *mut *const u8, len: *mut usize);
    fn isobox_v8_memory_bytes(sandbox: *mut RawSandbox) -> u64;
    fn isobox_v8_terminate(sandbox: *mut RawSandbox);
    fn isobox_v8_sandbox_free(sandbox: *mut RawSandbox);
    #[cfg(test)]
    fn isobox_v8_check_page_recycling() -> *const c_char;
}

/// Why this build has no V8 (isobox-v8 was built without libnode), without starting anything.
pub(crate) fn unavailable() -> Option<String> {
    // SAFETY: no arguments; the binding returns NULL or a static, NUL-terminated message.
    message(unsafe { isobox_v8_unavailable() })
}

/// Starts V8 once per process. Fails, with the same message every time, when V8 is unavailable (isobox-v8 was built
/// without libnode) or did not start. From then on, V8 running out of memory for good ends the process with status
/// `out_of_memory_exit` (where V8 would abort it). `snapshot` is one [`snapshot`] gave in another process of this
/// program, used instead of building one.
pub(crate) fn initialize(out_of_memory_exit: i32, snapshot: Option<&Snapshot>) -> Result<(), String> {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            // SAFETY: the sources are valid for the call; the binding copies them.
            let error = unsafe {
                isobox_v8_initialize(
                    PRELUDE.as_ptr().cast(),
                    PRELUDE.len(),
                    GLOBALS.as_ptr().cast(),
                    GLOBALS.len(),
                    out_of_memory_exit,
                    snapshot.map_or(std::ptr::null(), |snapshot| snapshot.blob.as_ptr()),
                    snapshot.map_or(0, |snapshot| snapshot.blob.len()),
                    snapshot.map_or(0, |snapshot| snapshot.hooks_index),
                )
            };
            message(error).map_or(Ok(()), Err)
        })
        .clone()
}

/// The startup snapshot every sandbox starts from (isobox's globals and prelude evaluated), as bytes another process
/// of the same program can start from.
pub(crate) struct Snapshot {
    pub blob: Vec<u8>,
    pub hooks_index: u64,
}

/// This process's snapshot. [`initialize`] must have succeeded.
pub(crate) fn snapshot() -> Snapshot {
    let (mut data, mut len, mut hooks_index) = (std::ptr::null(), 0, 0);
    // SAFETY: the engine is initialised; the binding points at its snapshot, valid for the life of the process.
    unsafe {
        isobox_v8_snapshot(&mut data, &mut len, &mut hooks_index);
        let blob = if data.is_null() { Vec::new() } else { std::slice::from_raw_parts(data, len).to_vec() };
        Snapshot { blob, hooks_index }
    }
}

fn message(text: *const c_char) -> Option<String> {
    // SAFETY: the binding returns NULL or a static, NUL-terminated message.
    (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned())
}

/// What the engine reports while a program runs, on the sandbox's thread.
pub(crate) trait Host {
    /// One console line at `level` (0 log, 1 info, 2 warn, 3 error, 4 debug), as UTF-8. Returns false when the line
    /// does not fit the output limit, having stopped the program.
    fn log(&self, level: u32, text: &[u8]) -> bool;
    /// The program went past its memory limit: stop it.
    fn out_of_memory(&self);
    /// A capability call: function `function` of granted capability `capability`, with `args` the JSON text of its
    /// argument array. May block the thread until the call is done.
    fn call(&self, capability: u32, function: u32, args: &[u8]) -> Reply;
}

/// The host's answer to a capability call.
#[derive(Debug)]
pub(crate) enum Reply {
    /// The call's value, as JSON text: the program's promise resolves to it.
    Return(String),
    /// The error the program's promise rejects with, as JSON text (`{name, message, data?}`).
    Throw(String),
    /// The program must end: the host has stopped it, and knows why.
    Stop,
}

extern "C" fn log_trampoline<H: Host>(data: *mut c_void, level: u32, text: *const u8, len: usize) -> bool {
    // SAFETY: `data` is the `&H` given to `Blank::attach`, which outlives the sandbox; the binding passes `len`
    // readable bytes at `text` for the duration of the call.
    let (host, text) = unsafe { (&*data.cast::<H>(), std::slice::from_raw_parts(text, len)) };
    host.log(level, text)
}

extern "C" fn out_of_memory_trampoline<H: Host>(data: *mut c_void) {
    // SAFETY: as in `log_trampoline`.
    unsafe { &*data.cast::<H>() }.out_of_memory()
}

thread_local! {
    /// The reply to the last capability call made on this thread (each sandbox has a thread of its own), until the
    /// binding has copied it into the program's heap.
    static REPLY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn call_trampoline<H: Host>(
    data: *mut c_void,
    capability: u32,
    function: u32,
    args: *const u8,
    args_len: usize,
    reply: *mut *const u8,
    reply_len: *mut usize,
) -> bool {
    // SAFETY: as in `log_trampoline`.
    let (host, args) = unsafe { (&*data.cast::<H>(), std::slice::from_raw_parts(args, args_len)) };
    // A panic must not unwind into V8 (the host catches its functions' own; this is the last guard): the program
    // then ends, and the host, not knowing why, reports an internal error.
    let answer = catch_unwind(AssertUnwindSafe(|| host.call(capability, function, args))).unwrap_or(Reply::Stop);
    // The prelude's reply: the JSON text, after a `!` for an error.
    let (marker, text): (&[u8], _) = match answer {
        Reply::Return(text) => (b"", text),
        Reply::Throw(text) => (b"!", text),
        Reply::Stop => return false,
    };
    REPLY.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.extend_from_slice(marker);
        buffer.extend_from_slice(text.as_bytes());
        // SAFETY: the binding passes valid out-pointers; the buffer is left alone until the next call on this thread,
        // and the binding copies the reply before that.
        unsafe {
            *reply = buffer.as_ptr();
            *reply_len = buffer.len();
        }
    });
    true
}

/// Where a sandbox stands after a step.
#[derive(Debug)]
pub(crate) enum Step {
    /// The program's promise is pending.
    Pending,
    /// The program's promise has settled: call [`Sandbox::settle`].
    Settled,
    /// The program's result as JSON text.
    Result(String),
    /// The JSON text of an error with a `kind`, as isobox's prelude describes it.
    Error(String),
    /// The program was terminated through a [`Terminator`].
    Terminated,
}

/// A fresh V8 isolate and context with isobox's prelude, disposed of when dropped. It stays on the thread that created
/// it (it is neither `Send` nor `Sync`).
pub(crate) struct Sandbox<'host> {
    raw: NonNull<RawSandbox>,
    _host: PhantomData<&'host ()>,
}

/// A fresh isolate and context made ahead of its request, reporting to no host yet: [`Blank::attach`] makes it a
/// [`Sandbox`]. Like a sandbox, it stays on the thread that made it, and is disposed of when dropped.
pub(crate) struct Blank {
    raw: NonNull<RawSandbox>,
}

impl Blank {
    /// A new isolate and context whose memory limit is `memory_bytes`, or `None` when V8 could not set one up.
    /// [`initialize`] must have succeeded.
    pub(crate) fn new(memory_bytes: u64) -> Option<Self> {
        // SAFETY: the engine is initialised; the binding returns NULL or a sandbox this value now owns.
        NonNull::new(unsafe { isobox_v8_sandbox_new(memory_bytes) }).map(|raw| Self { raw })
    }

    /// The sandbox, now reporting to `host`.
    pub(crate) fn attach<H: Host>(self, host: &H) -> Sandbox<'_> {
        let raw_host = RawHost {
            data: (host as *const H).cast_mut().cast(),
            log: log_trampoline::<H>,
            out_of_memory: out_of_memory_trampoline::<H>,
            call: call_trampoline::<H>,
        };
        let raw = std::mem::ManuallyDrop::new(self).raw;
        // SAFETY: the sandbox is alive and on its thread; the binding copies `raw_host`, and `host` outlives the
        // returned sandbox (its lifetime).
        unsafe { isobox_v8_sandbox_attach(raw.as_ptr(), &raw_host) };
        Sandbox { raw, _host: PhantomData }
    }
}

impl Drop for Blank {
    fn drop(&mut self) {
        // SAFETY: the sandbox is alive and on its thread, and never used again.
        unsafe { isobox_v8_sandbox_free(self.raw.as_ptr()) }
    }
}

impl<'host> Sandbox<'host> {
    /// Installs the capabilities of `manifest` (as `HostCalls::manifest` writes it, empty for none), compiles `code`
    /// as the body of an async function and calls it with `input` (JSON text, empty for none). The JavaScript stack
    /// may grow `stack_bytes` below the current stack position.
    pub(crate) fn start(&self, code: &str, input: &str, manifest: &str, stack_bytes: u32) -> Step {
        // SAFETY: the sandbox is alive and on its thread; the strings are valid for the call.
        let status = unsafe {
            isobox_v8_start(
                self.raw.as_ptr(),
                code.as_ptr(),
                code.len(),
                input.as_ptr(),
                input.len(),
                manifest.as_ptr(),
                manifest.len(),
                stack_bytes,
            )
        };
        self.step(status)
    }

    /// Runs queued jobs until none is left or the program's promise settles: [`Step::Pending`] then means nothing
    /// left can settle it.
    pub(crate) fn run_jobs(&self) -> Step {
        // SAFETY: the sandbox is alive and on its thread.
        self.step(unsafe { isobox_v8_run_jobs(self.raw.as_ptr()) })
    }

    /// Reports the settled promise.
    pub(crate) fn settle(&self) -> Step {
        // SAFETY: the sandbox is alive and on its thread.
        self.step(unsafe { isobox_v8_settle(self.raw.as_ptr()) })
    }

    /// The JavaScript heap in use plus live ArrayBuffer contents.
    pub(crate) fn memory_bytes(&self) -> u64 {
        // SAFETY: the sandbox is alive and on its thread.
        unsafe { isobox_v8_memory_bytes(self.raw.as_ptr()) }
    }

    /// A handle that stops this sandbox's program from any thread. It must not be used once the sandbox is dropped.
    pub(crate) fn terminator(&self) -> Terminator {
        Terminator(self.raw)
    }

    fn step(&self, status: c_int) -> Step {
        match status {
            STATUS_PENDING => Step::Pending,
            STATUS_SETTLED => Step::Settled,
            STATUS_TERMINATED => Step::Terminated,
            STATUS_OK => Step::Result(self.outcome()),
            STATUS_ERROR => Step::Error(self.outcome()),
            other => Step::Error(format!(
                r#"{{"kind":"internal","message":"the V8 binding returned an unknown status {other}"}}"#
            )),
        }
    }

    fn outcome(&self) -> String {
        let (mut text, mut len) = (std::ptr::null(), 0);
        // SAFETY: the sandbox is alive; the binding points at its outcome, valid until the next call on it.
        unsafe {
            isobox_v8_outcome(self.raw.as_ptr(), &mut text, &mut len);
            String::from_utf8_lossy(std::slice::from_raw_parts(text, len)).into_owned()
        }
    }
}

impl Drop for Sandbox<'_> {
    fn drop(&mut self) {
        // SAFETY: the sandbox is alive and on its thread, and never used again.
        unsafe { isobox_v8_sandbox_free(self.raw.as_ptr()) }
    }
}

/// Stops a sandbox's program from another thread.
pub(crate) struct Terminator(NonNull<RawSandbox>);

// SAFETY: the binding's terminate function may be called from any thread while the sandbox exists.
unsafe impl Send for Terminator {}
unsafe impl Sync for Terminator {}

impl Terminator {
    /// # Safety
    /// The sandbox this came from must not have been dropped.
    pub(crate) unsafe fn terminate(&self) {
        unsafe { isobox_v8_terminate(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Isolates take their heap from a page allocator that recycles freed heap chunks and code ranges
    /// (`shim/platform.h`): what it recycles must read as zero, as a new mapping does, however it was written, trimmed,
    /// uncommitted or freed.
    #[test]
    fn recycled_heap_chunks_read_as_zero() {
        // SAFETY: the check takes no arguments and returns a static string or NULL.
        let problem = unsafe { isobox_v8_check_page_recycling() };
        if !problem.is_null() {
            // SAFETY: a NUL-terminated static string.
            panic!("{}", unsafe { CStr::from_ptr(problem) }.to_string_lossy());
        }
    }
}
