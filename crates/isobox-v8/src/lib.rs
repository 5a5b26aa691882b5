//! isobox's V8 backend: JavaScript in V8, a fresh isolate and context for every request.
//!
//! Each request gets its own thread, isolate and context, and everything is disposed of afterwards: nothing survives
//! from one request to the next. A few threads ([`V8Config::warm_sandboxes`]) make their isolate and context before
//! their request comes, so that creating them (most of a fresh request's cost) is off the request's path. Every context starts from a startup snapshot built once per process, in which
//! isobox's prelude was evaluated (the same prelude as the wasm backend, so console formatting, error descriptions and
//! result serialisation match). The async side only waits: tokio is never blocked by a running program.
//!
//! Capabilities are those of the wasm backend, through the same backend-neutral dispatcher (`isobox-capabilities`):
//! [`V8Config::capabilities`] lists what requests may be granted, the prelude installs a global per granted capability,
//! and a call blocks the sandbox's thread while the host function runs on the request's tokio runtime (its timers and
//! blocking pool as on any task), under the request's deadline. A capability limit or the deadline reached during a
//! call ends the program with the same error as on the wasm backend.
//!
//! Limits: a watchdog thread terminates programs at their wall-clock deadline; the V8 heap limit and a counting
//! ArrayBuffer allocator enforce the memory limit (each bounds its own part, so heap and ArrayBuffer contents together
//! may reach twice the limit); the isolate's stack limit is set from the request; console output and the result share
//! the output budget. V8 has no instruction budget: a request with `fuel` gets an `internal` error.
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
mod engine;
mod errors;
mod frame;
mod pool;
mod sandbox;
mod stop;
mod watchdog;
mod worker;

pub use backend::{Unavailable, V8Backend};
pub use config::V8Config;
