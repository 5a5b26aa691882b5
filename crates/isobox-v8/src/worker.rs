//! The worker process: V8 sandboxes run here, one request at a time, so that whatever a program does to V8 (an abort
//! on memory exhaustion, a builtin that never stops) ends at most this process.
//!
//! A worker is the host's own executable started again with [`MARKER`] in its environment: [`HOOK`], in
//! `.init_array`, runs before the program's `main`, and when the marker is set it serves requests on its standard
//! input (one end of a socket pair) and exits without ever returning to `main`. Any program that links isobox-v8 can
//! therefore be a worker (the `isobox` CLI, an embedder's server, a test binary); `V8Config::worker_program` names
//! another one.

use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobox_core::Limits;

use crate::cpu::CpuWatcher;
use crate::engine::{self, Blank, Snapshot};
use crate::frame::{self, Fields, Frame};
use crate::sandbox::{self, Job, send};
use crate::seccomp;
use crate::stop::Stop;
use crate::watchdog::Watchdog;

/// The environment variable that makes a process a worker; its value is
/// `<parent pid>,<largest memory limit>,<memory limit of sandboxes made ahead>,<1 when a snapshot frame comes first>`.
pub(crate) const MARKER: &str = "ISOBOX_V8_WORKER";
/// The argument a worker is started with: a program that ignores the marker (it does not link isobox-v8) then fails
/// on an unknown option rather than doing its usual work.
pub(crate) const ARGUMENT: &str = "--isobox-v8-worker";
/// A worker's exit status when V8 ran out of memory for good, or the OS refused it memory (its data limit).
pub(crate) const OUT_OF_MEMORY_EXIT: i32 = 86;
/// A worker's exit status when it could not start or failed inside.
const FAILED_EXIT: i32 = 70;

/// The most JavaScript stack a request may ask for.
pub(crate) const MAX_STACK_BYTES: u32 = 4 << 20;

/// The sandbox thread's stack: the JavaScript stack limit is set below the thread's current position, and V8 needs
/// room past it for its own frames (and the thread for isobox's).
const THREAD_STACK_BYTES: usize = MAX_STACK_BYTES as usize + (4 << 20);

/// What a worker's data segment may grow by beyond its limits: V8's own bookkeeping, code, and the overshoot of a
/// program terminated at its heap limit.
const DATA_HEADROOM_BYTES: u64 = 96 << 20;

/// Runs before `main` in every process that links isobox-v8 (this static is referenced from `V8Backend::new`, so the
/// linker keeps it). In a worker it never returns.
#[used]
#[unsafe(link_section = ".init_array")]
pub(crate) static HOOK: extern "C" fn() = hook;

extern "C" fn hook() {
    let Some(settings) = std::env::var_os(MARKER) else { return };
    let code = catch_unwind(AssertUnwindSafe(|| serve(settings.to_str().unwrap_or_default()))).unwrap_or(FAILED_EXIT);
    exit(code)
}

/// Ends the worker at once, without running destructors or `atexit` handlers (V8's statics are not meant to be
/// destroyed while its threads run).
pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: `_exit` only ends the process.
    unsafe { libc::_exit(code) }
}

struct Settings {
    parent: i32,
    max_memory_bytes: u64,
    ahead_memory_bytes: u64,
    snapshot_given: bool,
}

fn parse(settings: &str) -> Option<Settings> {
    let mut parts = settings.split(',').map(str::parse::<u64>);
    let parent = i32::try_from(parts.next()?.ok()?).ok()?;
    Some(Settings {
        parent,
        max_memory_bytes: parts.next()?.ok()?,
        ahead_memory_bytes: parts.next()?.ok()?,
        snapshot_given: parts.next()?.ok()? == 1,
    })
}

fn serve(settings: &str) -> i32 {
    let Some(settings) = parse(settings) else { return FAILED_EXIT };
    // SAFETY: plain system calls on this process. The worker dies with the host thread that started it (and never
    // outlives a host that died before this line), and leaves no core file when V8 aborts.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != settings.parent {
            return FAILED_EXIT;
        }
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
    }
    // SAFETY: the host starts every worker with its end of the socket pair as standard input, owned by nothing else.
    let channel = unsafe { UnixStream::from_raw_fd(0) };
    // Building the snapshot is most of a worker's start: the host passes on the first worker's to the others.
    let mut snapshot = None;
    if settings.snapshot_given {
        let mut payload = Vec::new();
        let Ok(frame::SNAPSHOT) = frame::read(&channel, u64::MAX, &mut payload) else { return FAILED_EXIT };
        let mut fields = Fields::new(&payload);
        let Some(hooks_index) = fields.u64() else { return FAILED_EXIT };
        snapshot = Some(Snapshot { hooks_index, blob: fields.rest().to_vec() });
    }
    if let Err(error) = engine::initialize(OUT_OF_MEMORY_EXIT, snapshot.as_ref()) {
        send(Frame::new(frame::READY).u8(frame::READY_FAILED).rest(error.as_bytes()), &channel);
        return FAILED_EXIT;
    }
    drop(snapshot);
    let Ok(watchdog) = Watchdog::start() else { return FAILED_EXIT };
    let Ok(cpu) = CpuWatcher::start() else { return FAILED_EXIT };
    // Every thread the worker needs is up, V8's own included; the sandbox thread inherits the filter.
    if let Err(error) = seccomp::confine() {
        send(Frame::new(frame::READY).u8(frame::READY_FAILED).rest(error.as_bytes()), &channel);
        return FAILED_EXIT;
    }
    let thread = std::thread::Builder::new()
        .name("isobox-v8-sandbox".into())
        .stack_size(THREAD_STACK_BYTES)
        .spawn(move || work(&channel, &watchdog, &cpu, &settings));
    match thread.map(std::thread::JoinHandle::join) {
        Ok(Ok(())) => 0,
        _ => FAILED_EXIT,
    }
}

/// Serves requests until the host closes the channel: each in a fresh sandbox, made ahead of it.
fn work(channel: &UnixStream, watchdog: &Watchdog, cpu: &CpuWatcher, settings: &Settings) {
    let mut ready = false;
    let mut data_bytes = None;
    let mut payload = Vec::new();
    loop {
        let blank = Blank::new(settings.ahead_memory_bytes);
        // The worker's own data (V8, the snapshot, a fresh sandbox) is measured once; each request may add its own
        // limits to it, and the OS refuses memory past that.
        let baseline = *data_bytes.get_or_insert_with(|| {
            let baseline = data_segment_bytes().unwrap_or(0);
            limit_data(baseline, settings.max_memory_bytes, true);
            baseline
        });
        if !ready {
            let mut frame = Frame::new(frame::READY).u8(frame::READY_OK);
            if !settings.snapshot_given {
                let snapshot = engine::snapshot();
                frame = frame.u64(snapshot.hooks_index).rest(&snapshot.blob);
            }
            send(frame, channel);
            ready = true;
        }
        let Ok(frame::REQUEST) = frame::read(channel, u64::MAX, &mut payload) else { return };
        let Some(job) = decode(&payload) else { return };
        limit_data(baseline, job.limits.memory_bytes, false);
        let made = if job.limits.memory_bytes == settings.ahead_memory_bytes {
            blank
        } else {
            drop(blank);
            None
        };
        let stop = Arc::new(Stop::default());
        let watch = watchdog.watch(job.deadline, stop.clone());
        let cpu_watch = job.limits.cpu_time.map(|budget| cpu.watch(budget, stop.clone()));
        let run = sandbox::run(&job, &stop, channel, made);
        drop((watch, cpu_watch));
        let mut report = Frame::new(frame::REPORT).u64(run.start_us).u64(run.run_us).u64(run.memory_bytes);
        report = match &run.result {
            Ok(json) => report.u8(frame::REPORT_OK).rest(json.as_bytes()),
            Err(error) => {
                report.u8(frame::REPORT_ERROR).rest(serde_json::to_string(error).unwrap_or_default().as_bytes())
            }
        };
        send(report, channel);
    }
}

/// A request frame: the timeout (for the wording of errors), the time left of it, the memory, stack and output
/// limits, the CPU-time budget in µs (0: none), then the program, its input and the capability manifest.
fn decode(payload: &[u8]) -> Option<Job> {
    let mut fields = Fields::new(payload);
    let timeout = Duration::from_micros(fields.u64()?);
    let left = Duration::from_micros(fields.u64()?);
    let limits = Limits {
        timeout,
        memory_bytes: fields.u64()?,
        stack_bytes: fields.u32()?,
        output_bytes: fields.u64()?,
        cpu_time: match fields.u64()? {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        },
        ..Limits::default()
    };
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).ok();
    let code = text(fields.bytes()?)?;
    let input = text(fields.bytes()?)?;
    let manifest = text(fields.bytes()?)?;
    Some(Job { limits, deadline: Instant::now() + left, code, input, manifest })
}

/// Limits the process's data segment (`RLIMIT_DATA`: private writable memory, where V8's heap, ArrayBuffer contents
/// and malloc live; V8's reserved but unused address ranges do not count) to `baseline` plus twice `memory_bytes` (the
/// heap and ArrayBuffers are each bounded by it) plus headroom. With `hard`, for the life of the worker; else the soft
/// limit, for one request.
fn limit_data(baseline: u64, memory_bytes: u64, hard: bool) {
    let bytes = baseline.saturating_add(memory_bytes.saturating_mul(2)).saturating_add(DATA_HEADROOM_BYTES);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on this process with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_DATA, &mut limit) != 0 {
            return;
        }
        limit.rlim_cur = bytes.min(limit.rlim_max);
        if hard {
            limit.rlim_max = limit.rlim_cur;
        }
        libc::setrlimit(libc::RLIMIT_DATA, &limit);
    }
}

/// `VmData` of `/proc/self/status`.
fn data_segment_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|line| line.strip_prefix("VmData:"))?;
    line.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kib| kib << 10)
}
