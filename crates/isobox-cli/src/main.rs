//! `isobox`: run JavaScript in a fresh sandbox from the command line.

mod report;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "isobox",
    version,
    about = "Run untrusted JavaScript in a fresh sandbox per request"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program (the body of an async function; `return` its result) in a fresh sandbox.
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args)),
    }
}
