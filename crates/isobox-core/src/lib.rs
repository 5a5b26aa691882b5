//! The backend-neutral heart of isobox: what a request is, what comes back, and the [`Backend`] trait every sandbox
//! engine implements.
//!
//! A request carries a JavaScript program written as the body of an async function (`await` works at the top and the
//! `return`ed value is the result), an optional JSON input and the limits it runs under. Every request runs in a fresh
//! sandbox: nothing survives from one request to the next.

pub mod approval;
pub mod backend;
pub mod calls;
pub mod cpu;
mod error;
pub mod fit;
mod limits;
mod outcome;
pub mod output;
mod prelude_error;
pub mod private_dir;
mod request;
pub mod sync;

pub use backend::Backend;
pub use calls::Call;
pub use error::{ApprovalRequired, Budget, SandboxError, StartError};
pub use limits::Limits;
pub use outcome::{Level, LogLine, Metrics, Outcome};
pub use request::{Request, RunOptions};
