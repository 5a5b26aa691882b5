use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use isobox_core::{Backend, Metrics, Outcome, Request, SandboxError};
use isobox_wasm::{WasmBackend, WasmConfig};

use crate::limits::LimitArgs;
use crate::{capabilities, report};

/// Exit codes: the program succeeded, the program failed, the command was used wrongly.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Args)]
pub struct RunArgs {
    /// The program: a file, or `-` for standard input.
    file: PathBuf,
    /// The sandbox engine.
    #[arg(long, value_enum, default_value_t = BackendKind::Wasm)]
    backend: BackendKind,
    #[command(flatten)]
    limits: LimitArgs,
    /// Capabilities the program may call (see `isobox caps`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<String>,
    /// The tenant whose state capabilities such as `kv` use.
    #[arg(long)]
    tenant: Option<String>,
    /// JSON value passed to the program as `input`.
    #[arg(long)]
    input: Option<String>,
    /// The program is TypeScript: its types are erased, keeping every line and column (implied by a `.ts` file; a
    /// program in a markdown code fence is read as TypeScript too).
    #[arg(long)]
    typescript: bool,
    /// Print exactly one JSON object: {"ok", "result", "error", "logs", "metrics"}.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BackendKind {
    /// QuickJS compiled to WebAssembly, a fresh wasmtime instance per request.
    Wasm,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let (request, typescript) = match request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("isobox: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let backend: Box<dyn Backend> = match args.backend {
        BackendKind::Wasm => {
            match capabilities::registry(&request.grants).map_err(|error| error.to_string()).and_then(|capabilities| {
                WasmBackend::new(WasmConfig { capabilities, ..WasmConfig::default() }).map_err(|e| format!("{e:#}"))
            }) {
                Ok(backend) => Box::new(backend),
                Err(error) => {
                    eprintln!("isobox: the wasm backend failed to start: {error}");
                    return ExitCode::from(EXIT_FAILED);
                }
            }
        }
    };
    let outcome = match javascript(request, typescript) {
        Ok(request) => backend.run(&request).await,
        Err(error) => Outcome {
            result: Err(error),
            logs: Vec::new(),
            metrics: Metrics { backend: backend.name().to_string(), ..Metrics::default() },
        },
    };
    if args.json {
        report::json(&outcome);
    } else {
        report::human(&outcome);
    }
    ExitCode::from(if outcome.is_ok() { EXIT_OK } else { EXIT_FAILED })
}

/// The request, and whether its program is TypeScript.
fn request(args: &RunArgs) -> Result<(Request, bool), String> {
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
    let typescript = args.typescript
        || args.file.extension().is_some_and(|extension| extension == "ts" || extension == "mts")
        || isobox_typescript::is_fenced(&code);
    let request =
        Request { code, input, limits: args.limits.limits(), grants: args.grant.clone(), tenant: args.tenant.clone() };
    Ok((request, typescript))
}

/// The request as the sandbox runs it: a TypeScript (or fenced) program has its types erased, its positions kept.
fn javascript(mut request: Request, typescript: bool) -> Result<Request, SandboxError> {
    if typescript {
        request.code = isobox_typescript::to_javascript(&request.code)?;
    }
    Ok(request)
}
