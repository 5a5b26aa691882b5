//! Benchmarks that compare isobox's backends on the same work, in the same process run, interleaved so that a noisy
//! machine affects every backend alike. `isobox bench` drives them; the criterion benches in `benches/` reuse the
//! workloads.

mod capability;
mod charts;
mod memory;
mod report;
mod runner;
pub mod soak;
mod stats;
pub mod workloads;

pub use capability::{BenchCapability, capabilities};
pub use charts::write_charts;
pub use report::{Measurement, Report};
pub use runner::{MAX_LIVE_SANDBOXES, Options, run};
pub use stats::Summary;
