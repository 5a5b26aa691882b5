//! `isobox compile` and `isobox call`: JavaScript plugins compiled ahead of time, and calls of their functions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use isobox_compile::{CompileOptions, Linking};
use isobox_core::RunOptions;
use isobox_core::fit::FittedOutcome;
use isobox_wasm::WasmConfig;
use isobox_wasm::plugin::{PluginHost, PluginManifest};

use crate::args::{GrantArgs, LimitArgs, parse_input};
use crate::run::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::{capabilities, report};

#[derive(Args)]
pub struct CompileArgs {
    /// The plugin: an ES module whose exported functions take one JSON input and return a JSON value.
    file: PathBuf,
    /// Where to write the compiled module.
    #[arg(short, long)]
    output: PathBuf,
    /// Include the guest in the module (about 1.6 MiB, and seconds to compile), so that it loads on any isobox with
    /// the same guest interface; by default the module is a few KiB and loads on this very isobox guest only.
    #[arg(long = "static")]
    statically: bool,
}

pub async fn compile(args: CompileArgs) -> ExitCode {
    let source = match std::fs::read_to_string(&args.file) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("isobox: reading {}: {error}", args.file.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let linking = if args.statically { Linking::Static } else { Linking::Dynamic };
    let module = match isobox_compile::compile(&source, CompileOptions { linking }).await {
        Ok(module) => module,
        Err(error) => {
            eprintln!("isobox: {}: {error}", args.file.display());
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if let Err(error) = std::fs::write(&args.output, &module) {
        eprintln!("isobox: writing {}: {error}", args.output.display());
        return ExitCode::from(EXIT_FAILED);
    }
    let exports = PluginManifest::read(&module).map(|manifest| manifest.exports).unwrap_or_default();
    eprintln!(
        "{} → {} ({} bytes, {} linking), exports: {}",
        args.file.display(),
        args.output.display(),
        module.len(),
        if args.statically { "static" } else { "dynamic" },
        exports.join(", ")
    );
    ExitCode::from(EXIT_OK)
}

#[derive(Args)]
pub struct CallArgs {
    /// The compiled plugin (from `isobox compile`).
    plugin: PathBuf,
    /// The exported function to call.
    function: String,
    /// JSON value passed to the function (`undefined` when absent).
    #[arg(long)]
    input: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grants: GrantArgs,
    /// The tenant whose state capabilities such as `kv` use.
    #[arg(long, value_parser = crate::args::tenant)]
    tenant: Option<String>,
    /// Print exactly one JSON object: {"ok", "result", "error", "logs", "calls", "metrics"}, as `isobox run --json` does.
    #[arg(long)]
    json: bool,
}

pub async fn call(args: CallArgs) -> ExitCode {
    let input = match parse_input(args.input.as_deref()) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("isobox: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let module = match std::fs::read(&args.plugin) {
        Ok(module) => module,
        Err(error) => {
            eprintln!("isobox: reading {}: {error}", args.plugin.display());
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let capabilities = match capabilities::registry(&args.grants, None).await {
        Ok(registry) => registry.capabilities,
        Err(code) => return code,
    };
    let host = match PluginHost::new(WasmConfig { capabilities, ..WasmConfig::default() }) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("isobox: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let plugin = match host.load(&module) {
        Ok(plugin) => plugin,
        Err(error) => {
            eprintln!("isobox: {}: {error}", args.plugin.display());
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let options = RunOptions { limits: args.limits.limits(), grants: args.grants.grant, tenant: args.tenant };
    let outcome = plugin.call(&args.function, input.as_ref(), &options).await;
    if args.json {
        report::json(&FittedOutcome::whole(&outcome))
    } else {
        report::human(&FittedOutcome::whole(&outcome))
    }
    ExitCode::from(if outcome.is_ok() { EXIT_OK } else { EXIT_FAILED })
}
