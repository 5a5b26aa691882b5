//! The flags shared by the commands that run programs (`run`, `call`, `mcp`): limits, grants and the input.

use std::time::Duration;

use clap::Args;
use isobox_connectors::LimitsConfig;
use isobox_core::Limits;
use isobox_kv::KvConfig;

#[derive(Args)]
pub struct LimitArgs {
    /// Wall-clock limit for the whole request, in milliseconds.
    #[arg(long, default_value_t = Limits::DEFAULT_TIMEOUT.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    timeout_ms: u64,
    /// Memory limit, in MiB.
    #[arg(long, default_value_t = Limits::DEFAULT_MEMORY_BYTES >> 20,
          value_parser = clap::value_parser!(u64).range(1..=MAX_MEMORY_MB))]
    memory_mb: u64,
    /// A deterministic instruction budget (wasm fuel); none by default.
    #[arg(long)]
    fuel: Option<u64>,
    /// A budget of CPU time for the program's own execution, in milliseconds; time awaiting capability calls counts
    /// only against --timeout-ms. None by default.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_TIMEOUT_MS))]
    cpu_ms: Option<u64>,
    /// JavaScript stack limit, in KiB.
    #[arg(long, default_value_t = Limits::DEFAULT_STACK_BYTES >> 10,
          value_parser = clap::value_parser!(u32).range(1..=MAX_STACK_KB))]
    stack_kb: u32,
    /// Limit on result plus console output, in KiB.
    #[arg(long, default_value_t = Limits::DEFAULT_OUTPUT_BYTES >> 10,
          value_parser = clap::value_parser!(u64).range(1..=MAX_OUTPUT_KB))]
    output_kb: u64,
    /// Limit on capability calls.
    #[arg(long, default_value_t = Limits::DEFAULT_HOST_CALLS)]
    host_calls: u32,
}

// The flags' bounds are the configuration file's (`LimitsConfig`), so a limit means the same in both.
const MAX_TIMEOUT_MS: u64 = LimitsConfig::MAX_TIMEOUT_MS;
const MAX_MEMORY_MB: u64 = LimitsConfig::MAX_MEMORY_MB;
const MAX_STACK_KB: i64 = LimitsConfig::MAX_STACK_KB as i64;
const MAX_OUTPUT_KB: u64 = LimitsConfig::MAX_OUTPUT_KB;

impl LimitArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout_ms),
            cpu_time: self.cpu_ms.map(Duration::from_millis),
            fuel: self.fuel,
            memory_bytes: self.memory_mb << 20,
            stack_bytes: self.stack_kb << 10,
            output_bytes: self.output_kb << 10,
            host_calls: self.host_calls,
            host_call_bytes: Limits::DEFAULT_HOST_CALL_BYTES,
        }
    }
}

#[derive(Args, Clone)]
pub struct GrantArgs {
    /// Capabilities the code may call (see `isobox caps`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub grant: Vec<String>,
    /// An origin the `http` capability may reach, such as `https://api.example.com` (repeatable; none by default).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,
    /// Let allowed origins given by name resolve to private, loopback and link-local addresses (refused by default;
    /// an origin given as a literal IP address is reached either way).
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// The bytes of keys and values each `kv` tenant may store.
    #[arg(long, value_name = "BYTES", default_value_t = KvConfig::default().max_bytes_per_tenant)]
    pub kv_max_bytes: u64,
    /// The keys each `kv` tenant may store.
    #[arg(long, value_name = "N", default_value_t = KvConfig::default().max_keys_per_tenant)]
    pub kv_max_keys: u64,
    /// Functions whose calls need a person's approval, as CAPABILITY.METHOD (`kv.set`), comma-separated: a program
    /// stops before such a call, and `isobox run --approve RUN_ID` continues it.
    #[arg(long, value_delimiter = ',', value_name = "CAPABILITY.METHOD")]
    pub require_approval: Vec<String>,
    /// The directory the `files` capability grants, the same for every tenant (default: a directory per tenant in
    /// isobox's data dir; overrides `[files] root` of `--config`).
    #[arg(long, value_name = "DIR")]
    pub files_root: Option<std::path::PathBuf>,
    /// Let `files` read but not change anything (also `[files] read-only = true` of `--config`).
    #[arg(long)]
    pub files_read_only: bool,
    #[command(flatten)]
    pub config: crate::capabilities::ConfigArgs,
}

/// A `--tenant` name, checked as every request's tenant is (1 to 128 bytes of letters, digits and `._:@-`).
pub fn tenant(text: &str) -> Result<String, String> {
    isobox_capabilities::check_tenant(text).map(|()| text.to_string())
}

/// `--input`, parsed.
pub fn parse_input(text: Option<&str>) -> Result<Option<serde_json::Value>, String> {
    text.map(|text| serde_json::from_str(text).map_err(|error| format!("--input is not JSON: {error}"))).transpose()
}
