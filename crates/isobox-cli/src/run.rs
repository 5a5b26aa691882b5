use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use isobox_core::fit::{self, FittedOutcome};
use isobox_core::{Backend, Request};
use isobox_typescript::TypeScript;

use crate::args::{GrantArgs, LimitArgs, parse_input};
use crate::backends::{self, BackendChoice, Serving};
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
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grants: GrantArgs,
    /// The tenant whose state capabilities such as `kv` use.
    #[arg(long, value_parser = crate::args::tenant)]
    tenant: Option<String>,
    /// JSON value passed to the program as `input`.
    #[arg(long)]
    input: Option<String>,
    /// The program is TypeScript: its types are erased, keeping every line and column (implied by a `.ts` file; a
    /// program in a markdown code fence is read as TypeScript too).
    #[arg(long)]
    typescript: bool,
    /// Fit the result and logs to about this many tokens of JSON (4 bytes each), cutting long strings, arrays and
    /// objects with markers that say what was cut (the report then has `"truncated": true`); off by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=fit::MAX_TOKENS as u64))]
    result_tokens: Option<u64>,
    /// Print exactly one JSON object: {"ok", "result", "error", "logs", "calls", "metrics"}, and "truncated": true when
    /// `--result-tokens` cut anything (with `--backend both`, one such object per backend, keyed by its name).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: RunArgs) -> ExitCode {
    let (request, typescript) = match request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("isobox: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let capabilities = match capabilities::registry(&args.grants).await {
        Ok(capabilities) => capabilities,
        Err(code) => return code,
    };
    let mut outcomes = Vec::new();
    for &engine in args.backend.engines() {
        match backends::start(engine, &capabilities, Serving::One) {
            Ok(backend) => {
                let backend: Arc<dyn Backend> = if typescript { Arc::new(TypeScript::new(backend)) } else { backend };
                outcomes.push((engine.name(), backend.run(&request).await));
            }
            Err(error) => {
                eprintln!("isobox: {error}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    }
    let outcomes: Vec<_> = outcomes
        .iter()
        .map(|(name, outcome)| {
            let fitted = match args.result_tokens {
                Some(tokens) => FittedOutcome::new(outcome, tokens as usize),
                None => FittedOutcome::whole(outcome),
            };
            (*name, fitted)
        })
        .collect();
    match (args.json, outcomes.as_slice()) {
        (true, [(_, outcome)]) => report::json(outcome),
        (true, _) => report::json_by_backend(&outcomes),
        (false, [(_, outcome)]) => report::human(outcome),
        (false, _) => report::side_by_side(&outcomes),
    }
    ExitCode::from(if outcomes.iter().all(|(_, fitted)| fitted.outcome().is_ok()) { EXIT_OK } else { EXIT_FAILED })
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
    let input = parse_input(args.input.as_deref())?;
    let typescript = args.typescript
        || args.file.extension().is_some_and(|extension| extension == "ts" || extension == "mts")
        || isobox_typescript::is_fenced(&code);
    let grants = args.grants.grant.clone();
    let request = Request { code, input, limits: args.limits.limits(), grants, tenant: args.tenant.clone() };
    Ok((request, typescript))
}
