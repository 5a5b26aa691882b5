use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use isobox_core::approval::{Approvals, Decision};
use isobox_core::fit::{self, FittedOutcome};
use isobox_core::{Backend, Outcome, Request, RunOptions};
use isobox_kv::KvStore;
use isobox_typescript::TypeScript;

use crate::args::{GrantArgs, LimitArgs, parse_input};
use crate::backends::{self, BackendChoice, Engine, Serving};
use crate::{capabilities, report};

/// Exit codes: the program succeeded, the program failed, the command was used wrongly.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Args)]
pub struct RunArgs {
    /// The program: a file, or `-` for standard input.
    #[arg(required_unless_present_any = ["approve", "deny"])]
    file: Option<PathBuf>,
    /// Continue the run RUN_ID, which stopped at a call needing approval (see --require-approval), making that call:
    /// the program runs again on the backend it ran on, with the calls before the stop served from the run's record,
    /// then goes on. Pass the grant flags (--config, --allow-origin, …) as for the first run.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["file", "deny"])]
    approve: Option<String>,
    /// Continue the run RUN_ID without making the call it stopped at: the call throws an Error the program can catch.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "file")]
    deny: Option<String>,
    /// With --deny: why, added to the Error's message.
    #[arg(long, requires = "deny")]
    reason: Option<String>,
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
    if let Some((run_id, decision)) = decision(&args) {
        return decide(&args, run_id, decision).await;
    }
    let (request, typescript) = match request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("isobox: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let registry = match capabilities::registry(&args.grants, None).await {
        Ok(registry) => registry,
        Err(code) => return code,
    };
    // A run that may stop for approval is kept in the key-value store, to be continued by a later `--approve`.
    let approvals = if registry.capabilities.needs_approval(&request.options.grants) {
        match approvals(&args.grants, registry.kv.clone()) {
            Ok(approvals) => Some(approvals),
            Err(code) => return code,
        }
    } else {
        None
    };
    let mut outcomes = Vec::new();
    for &engine in args.backend.engines() {
        match backends::start(engine, &registry.capabilities, Serving::One) {
            Ok(backend) => {
                let backend: Arc<dyn Backend> = if typescript { Arc::new(TypeScript::new(backend)) } else { backend };
                let outcome = match &approvals {
                    Some(approvals) => approvals.run(&*backend, request.clone()).await,
                    None => backend.run(&request).await,
                };
                outcomes.push((engine.name(), outcome));
            }
            Err(error) => {
                eprintln!("isobox: {error}");
                return ExitCode::from(EXIT_FAILED);
            }
        }
    }
    report(&args, &outcomes)
}

/// `--approve RUN_ID` or `--deny RUN_ID`, when given.
fn decision(args: &RunArgs) -> Option<(&str, Decision)> {
    match (&args.approve, &args.deny) {
        (Some(run_id), _) => Some((run_id, Decision::Approve)),
        (None, Some(run_id)) => Some((run_id, Decision::Deny { reason: args.reason.clone() })),
        (None, None) => None,
    }
}

/// Approvals kept in the key-value store (`kv`: the one already open, if any).
pub(crate) fn approvals(grants: &GrantArgs, kv: Option<KvStore>) -> Result<Approvals, ExitCode> {
    let store = match kv {
        Some(store) => store,
        None => capabilities::open_kv(grants).map_err(|message| {
            eprintln!("isobox: runs that may stop for approval are kept in the key-value store: {message}");
            ExitCode::from(EXIT_FAILED)
        })?,
    };
    Ok(Approvals::new(Arc::new(store)))
}

/// Continues a stopped run: on the backend it ran on, granted what it was granted.
async fn decide(args: &RunArgs, run_id: &str, decision: Decision) -> ExitCode {
    let failed = |message: String, code: u8| {
        eprintln!("isobox: {message}");
        ExitCode::from(code)
    };
    let store = match capabilities::open_kv(&args.grants) {
        Ok(store) => store,
        Err(message) => return failed(message, EXIT_FAILED),
    };
    let approvals = Approvals::new(Arc::new(store.clone()));
    let pending = match approvals.pending(args.tenant.as_deref(), run_id).await {
        Ok(pending) => pending,
        Err(error) => return failed(error.to_string(), EXIT_FAILED),
    };
    let engine = match pending.backend.as_str() {
        "wasm" => Engine::Wasm,
        "v8" => Engine::V8,
        other => return failed(format!("run {run_id} ran on a backend this command does not have: {other}"), 1),
    };
    let mut grants = args.grants.clone();
    grants.grant = pending.grants;
    let registry = match capabilities::registry(&grants, Some(store)).await {
        Ok(registry) => registry,
        Err(code) => return code,
    };
    let backend = match backends::start(engine, &registry.capabilities, Serving::One) {
        // A stopped TypeScript program was kept as the JavaScript it became.
        Ok(backend) => backend,
        Err(error) => return failed(error.to_string(), EXIT_FAILED),
    };
    match approvals.decide(&*backend, args.tenant.as_deref(), run_id, decision).await {
        Ok(outcome) => report(args, &[(engine.name(), outcome)]),
        Err(error) => failed(error.to_string(), EXIT_FAILED),
    }
}

/// Prints the outcomes as asked, and the exit code they make.
fn report(args: &RunArgs, outcomes: &[(&'static str, Outcome)]) -> ExitCode {
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
    let file = args.file.as_deref().ok_or("a program file is required")?;
    let code = if file.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin().read_to_string(&mut code).map_err(|error| format!("reading standard input: {error}"))?;
        code
    } else {
        std::fs::read_to_string(file).map_err(|error| format!("reading {}: {error}", file.display()))?
    };
    let input = parse_input(args.input.as_deref())?;
    let typescript = args.typescript
        || file.extension().is_some_and(|extension| extension == "ts" || extension == "mts")
        || isobox_typescript::is_fenced(&code);
    let options =
        RunOptions { limits: args.limits.limits(), grants: args.grants.grant.clone(), tenant: args.tenant.clone() };
    let request = Request { code, input, options, replay: None };
    Ok((request, typescript))
}
