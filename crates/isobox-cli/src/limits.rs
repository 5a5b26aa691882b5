//! The per-request limits, as flags shared by the commands that run programs (`run`, `mcp`).

use std::time::Duration;

use clap::Args;
use isobox_core::Limits;

#[derive(Args)]
pub struct LimitArgs {
    /// Wall-clock limit for the whole request, in milliseconds.
    #[arg(long, default_value_t = Limits::DEFAULT_TIMEOUT.as_millis() as u64)]
    timeout_ms: u64,
    /// Memory limit, in MiB.
    #[arg(long, default_value_t = Limits::DEFAULT_MEMORY_BYTES >> 20)]
    memory_mb: u64,
    /// A deterministic instruction budget (wasm fuel); none by default.
    #[arg(long)]
    fuel: Option<u64>,
    /// JavaScript stack limit, in KiB.
    #[arg(long, default_value_t = Limits::DEFAULT_STACK_BYTES >> 10)]
    stack_kb: u32,
    /// Limit on result plus console output, in KiB.
    #[arg(long, default_value_t = Limits::DEFAULT_OUTPUT_BYTES >> 10)]
    output_kb: u64,
    /// Limit on capability calls.
    #[arg(long, default_value_t = Limits::DEFAULT_HOST_CALLS)]
    host_calls: u32,
}

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            fuel: self.fuel,
            memory_bytes: self.memory_mb << 20,
            stack_bytes: self.stack_kb << 10,
            output_bytes: self.output_kb << 10,
            host_calls: self.host_calls,
            host_call_bytes: Limits::DEFAULT_HOST_CALL_BYTES,
        }
    }
}
