//! `isobox mcp`: isobox as an MCP server on standard input and output, for Code Mode. A model gets two tools,
//! `search` (the TypeScript of the granted capabilities) and `execute` (a program in a fresh sandbox).

use std::process::ExitCode;

use clap::Args;
use isobox_mcp::{ContextSize, McpServer};

use crate::args::{GrantArgs, LimitArgs};
use crate::backends::{self, Engine, Serving};
use crate::capabilities;
use crate::run::{EXIT_FAILED, EXIT_OK};

#[derive(Args)]
pub struct McpArgs {
    #[command(flatten)]
    grants: GrantArgs,
    /// The sandbox engine.
    #[arg(long, value_enum, default_value_t = Engine::Wasm)]
    backend: Engine,
    #[command(flatten)]
    limits: LimitArgs,
    /// One tenant for every session, so that `kv` data outlives a session; by default each session is a tenant of its
    /// own, deleted when the session ends.
    #[arg(long, value_parser = crate::args::tenant)]
    tenant: Option<String>,
    /// The budget `execute` fits a result and logs to, in tokens, when a call does not name one.
    #[arg(long, value_name = "N", default_value_t = isobox_mcp::DEFAULT_RESULT_TOKENS as u64,
          value_parser = clap::value_parser!(u64).range(1..=isobox_core::fit::MAX_TOKENS as u64))]
    result_tokens: u64,
    /// Print what the granted API costs in a model's context, as Code Mode and as classic MCP tools, and exit.
    #[arg(long)]
    context_size: bool,
}

pub async fn mcp(args: McpArgs) -> ExitCode {
    if args.context_size {
        let granted = match capabilities::granted(&args.grants.config, &args.grants.grant).await {
            Ok(granted) => granted,
            Err(code) => return code,
        };
        out!("{}", ContextSize::of(&granted, &args.limits.limits()));
        return ExitCode::from(EXIT_OK);
    }
    let registry = match capabilities::registry(&args.grants, None).await {
        Ok(registry) => registry,
        Err(code) => return code,
    };
    // Runs that stop for approval are kept in the key-value store, so that they survive a restart.
    let approvals = if registry.capabilities.needs_approval(&args.grants.grant) {
        match crate::run::approvals(&args.grants, registry.kv.clone()) {
            Ok(approvals) => Some(approvals),
            Err(code) => return code,
        }
    } else {
        None
    };
    let capabilities = registry.capabilities;
    let server = backends::start(args.backend, &capabilities, Serving::Many(None))
        .map_err(|error| error.to_string())
        .and_then(|backend| McpServer::new(backend, &capabilities, &args.grants.grant).map_err(|e| e.to_string()))
        .map(|server| server.with_limits(args.limits.limits()).with_result_tokens(args.result_tokens as usize))
        .map(|server| match approvals {
            Some(approvals) => server.with_approvals(approvals),
            None => server,
        });
    let server = match (server, &args.tenant) {
        (Ok(server), Some(tenant)) => server.with_tenant(tenant),
        (Ok(server), None) => server,
        (Err(error), _) => {
            eprintln!("isobox: {error}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match server.serve_stdio().await {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(error) => {
            eprintln!("isobox: the MCP session failed: {error}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
