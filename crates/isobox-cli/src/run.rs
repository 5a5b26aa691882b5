use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use isobox_core::{Limits, Request};

use crate::backends::{self, BackendChoice};
use crate::{capabilities, report};

/// Exit codes: the program succeeded, the program failed, the command was used wrongly.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Args)]
pub struct RunArgs {
    /// The program: a file, or `-` for standard input.
    file: PathBuf,
    /// The sandbox engine; `both` runs the program on each and shows the outcomes side by side.
    #[arg(long, value_enum, default_value_t = BackendChoice::Wasm)]
    backend: BackendChoice,
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
    /// Capabilities the program may call (see `isobox caps`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
    /// An origin the `http` capability may reach, such as `https://api.example.com` (repeatable; none by default).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// The tenant whose state capabilities such as `kv` use.
    #[arg(long)]
    tenant: Option<String>,
    /// Limit on capability calls.
    #[arg(long, default_value_t = Limits::DEFAULT_HOST_CALLS)]
    host_calls: u32,
    /// JSON value passed to the program as `input`.
    #[arg(long)]
    input: Option<String>,
    /// Print exactly one JSON object: {"ok", "result", "error", "logs", "metrics"} (with `--backend both`, one such
    /// object per backend, keyed by its name).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let request = match request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("isobox: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let capabilities = match capabilities::registry(&request.grants, &args.allow_origins) {
        Ok(capabilities) => capabilities,
        Err(error) => {
            eprintln!("isobox: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut outcomes = Vec::new();
    for &kind in args.backend.kinds() {
        match backends::start(kind, &capabilities, None) {
            Ok(backend) => outcomes.push((kind, backend.run(&request).await)),
            Err(error) => {
                eprintln!("isobox: {error}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    }
    match (args.json, outcomes.as_slice()) {
        (true, [(_, outcome)]) => report::json(outcome),
        (true, _) => report::json_by_backend(&outcomes),
        (false, [(_, outcome)]) => report::human(outcome),
        (false, _) => report::side_by_side(&outcomes),
    }
    ExitCode::from(if outcomes.iter().all(|(_, outcome)| outcome.is_ok()) { EXIT_OK } else { EXIT_FAILED })
}

fn request(args: &RunArgs) -> Result<Request, String> {
    let code = if args.file.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin().read_to_string(&mut code).map_err(|error| format!("reading standard input: {error}"))?;
        code
    } else {
        std::fs::read_to_string(&args.file).map_err(|error| format!("reading {}: {error}", args.file.display()))?
    };
    let input = match &args.input {
        Some(text) => Some(serde_json::from_str(text).map_err(|error| format!("--input is not JSON: {error}"))?),
        None => None,
    };
    let limits = Limits {
        timeout: Duration::from_millis(args.timeout_ms),
        fuel: args.fuel,
        memory_bytes: args.memory_mb << 20,
        stack_bytes: args.stack_kb << 10,
        output_bytes: args.output_kb << 10,
        host_calls: args.host_calls,
        host_call_bytes: Limits::DEFAULT_HOST_CALL_BYTES,
    };
    Ok(Request { code, input, limits, grants: args.grant.clone(), tenant: args.tenant.clone() })
}
