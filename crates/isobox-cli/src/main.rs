//! `isobox`: run JavaScript in a fresh sandbox from the command line.

/// `println!` for standard output that ends the process quietly when its reader has gone (`isobox run | head -c 100`),
/// as command-line tools do, rather than panicking.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::report::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for standard output, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::report::stdout(format_args!($($arg)*)) };
}

mod args;
mod backends;
mod bench;
mod capabilities;
mod mcp;
mod plugin;
mod report;
mod run;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "isobox", version, about = "Run untrusted JavaScript in a fresh sandbox per request")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program (the body of an async function; `return` its result) in a fresh sandbox.
    Run(run::RunArgs),
    /// Compile a JavaScript plugin (an ES module exporting functions) to a WebAssembly module.
    Compile(plugin::CompileArgs),
    /// Call a compiled plugin's exported function in a fresh sandbox.
    Call(plugin::CallArgs),
    /// Print the TypeScript declarations of capabilities: the API to prompt a model with.
    Types(capabilities::TypesArgs),
    /// List the capabilities a program can be granted.
    Caps(capabilities::CapsArgs),
    /// Find the functions of the granted API that fit a task, as TypeScript within a size budget (what the MCP
    /// `search` tool answers).
    Search(capabilities::SearchArgs),
    /// Compare the backends on the same workloads, interleaved in one run.
    Bench(bench::BenchArgs),
    /// Serve MCP on standard input and output: `search` the granted API, `execute` a program in a fresh sandbox.
    Mcp(mcp::McpArgs),
    /// Serve HTTP for the tenants of an `isobox.toml`: `/v1/execute`, `/v1/types`, `/v1/search`, MCP at `/mcp`.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args)),
        Command::Compile(args) => runtime.block_on(plugin::compile(args)),
        Command::Call(args) => runtime.block_on(plugin::call(args)),
        Command::Types(args) => runtime.block_on(capabilities::types(args)),
        Command::Caps(args) => runtime.block_on(capabilities::list(args)),
        Command::Search(args) => runtime.block_on(capabilities::search(args)),
        Command::Bench(args) => runtime.block_on(bench::bench(args)),
        Command::Mcp(args) => runtime.block_on(mcp::mcp(args)),
        Command::Serve(args) => runtime.block_on(serve::serve(args)),
    }
}
