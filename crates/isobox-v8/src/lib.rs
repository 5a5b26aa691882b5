//! isobox's V8 backend: JavaScript in V8, a fresh isolate and context for every request, in worker processes.
//!
//! Each request gets its own isolate and context, disposed of afterwards: nothing survives from one request to the
//! next. Every context starts from a startup snapshot in which isobox's prelude was evaluated (the same prelude as the
//! wasm backend, so console formatting, error descriptions and result serialisation match).
//!
//! # Worker processes
//!
//! Isolates live in worker processes, never in the host's: V8 aborts its whole process when an allocation fails for
//! good (flattening a rope of a gigabyte in one builtin call does it), and a few builtins loop in C++ without ever
//! noticing termination (`Array.prototype.indexOf.call({length: 1e12}, 1)`). In a worker, such a program ends its
//! worker at most; the host reaps it, answers the request with an error, and starts a replacement.
//!
//! - A worker is the host's own executable, started again (`/proc/self/exe`, or [`V8Config::worker_program`]) with
//!   `ISOBOX_V8_WORKER` in its environment and `--isobox-v8-worker` as its argument. Start-up code of this crate,
//!   registered in `.init_array` (as the `ctor` crate does), runs before `main` in every program that links it; with
//!   the marker set it becomes the worker's loop and exits, so `main` never runs. The `isobox` CLI, an embedder's
//!   server and a test binary are all workers this way, with nothing to install. The argument makes a program that
//!   does not link isobox-v8 fail on an unknown option instead of running. A worker dies with the host thread that
//!   started it (`PR_SET_PDEATHSIG`). The first worker sends the startup snapshot it built (about 0.5 MB) with its
//!   ready frame, before it has run any program; later workers are given it rather than building their own.
//! - Each worker serves one request at a time and is kept for the next ones, up to [`V8Config::max_sandboxes`]
//!   workers; [`V8Config::warm_sandboxes`] are started with the backend. After each request a worker makes the next
//!   request's isolate and context ahead, off the next request's path.
//! - The channel is the worker's standard input, one end of a Unix socket pair: length-prefixed frames, each from the
//!   worker bounded by the request's output and host-call budgets and decoded field by field; a worker that sends
//!   anything else is ended. The host sends the program, its input, limits and the manifest of granted capabilities;
//!   the worker sends console lines, capability calls (which the host runs with the request's `HostCalls` on the
//!   request's tokio runtime, and answers) and its report. The host counts the output budget itself too.
//! - Memory: beyond the V8 heap limit and a counting ArrayBuffer allocator (each bounds its own part, so heap and
//!   ArrayBuffer contents together may reach twice the limit), and a check of the heap after every step (one
//!   allocation can overshoot the limit without V8 asking first), each worker runs under `RLIMIT_DATA` (private
//!   writable memory, which V8's reserved but unused address ranges do not count): its own data at start plus twice
//!   the request's memory limit plus 96 MiB. V8 running out of memory for good (its heap, or an allocation the OS
//!   refused) ends the worker with exit status 86 (V8's out-of-memory callbacks and C++'s `new` handler); the request
//!   then gets a `memory` error. Any other death of a worker is an `internal` error naming the signal or status.
//! - Time: a watchdog thread in the worker terminates the program at its deadline; one in the host kills (`SIGKILL`)
//!   a worker still running its request 200 ms later, and the request gets `timeout`. A request waits for a free
//!   worker until its deadline at most. Dropping a request's future kills its worker.
//!
//! Capabilities are those of the wasm backend, through the same backend-neutral dispatcher (`isobox-capabilities`):
//! [`V8Config::capabilities`] lists what requests may be granted, the prelude installs a global per granted capability,
//! and a call waits in the worker while the host function runs under the request's deadline. A capability limit or
//! the deadline reached during a call ends the program with the same error as on the wasm backend. Console lines are
//! counted against the output budget by the size they take in the JSON report (escapes included), and so are the
//! result and an error's description. V8 has no instruction budget: a request with `fuel` gets an `unsupported` error.
//!
//! Programs get no WebAssembly: the `WebAssembly` namespace is taken off each context's global object before anything
//! runs there, and no code but the binding's own may be compiled. The binding keeps one use for it: V8 marks the
//! `RangeError` it throws when the stack runs out as uncatchable by WebAssembly, invisibly to JavaScript, so a
//! `catch_all` in a tiny module tells that error (`stack_overflow`) from a look-alike a program threw (`exception`).
//!
//! V8 itself comes from Debian 12's `libnode108` (V8 10.2), unpacked by `scripts/setup-v8.sh`; without it this crate
//! still builds, and [`V8Backend::new`] explains what is missing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use isobox_core::{Backend, Request};
//! use isobox_v8::{V8Backend, V8Config};
//!
//! let backend = V8Backend::new(V8Config::default())?;
//! let outcome = backend.run(&Request::new("return 6 * 7")).await;
//! assert_eq!(outcome.result.unwrap(), 42);
//! # Ok(()) }
//! ```

mod backend;
mod config;
mod cpu;
mod engine;
mod errors;
mod frame;
mod pool;
mod sandbox;
mod seccomp;
mod stop;
mod watchdog;
mod worker;

pub use backend::V8Backend;
pub use config::V8Config;
