//! `sbx`: the command line client of an sbx API, local or deployed. It needs no AWS SDK: it
//! speaks the HTTPS API only (`cargo install --path crates/cli`). The local stack is a binary
//! of its own, `sbx-local` (`scripts/up`).

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sbx",
    version,
    about = "sbx: sandboxes of the core-banking system, over the sbx HTTPS API",
    after_help = "Exit codes: 0 success, 1 failed (an operation waited for failed), 2 usage, 3 not found,\n4 conflict or quota, 5 authentication, 6 the API unavailable.\n\nExamples:\n  sbx login alice\n  sbx create demo --wait\n  sbx ls -o json | jq -r '.items[].id'"
)]
struct Cli {
    #[command(flatten)]
    global: sbx_cli::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a shell's completion script.
    #[command(after_help = "Examples:
  sbx completions bash > ~/.local/share/bash-completion/completions/sbx
  sbx completions zsh > ~/.zfunc/_sbx")]
    Completions { shell: clap_complete::Shell },
    #[command(flatten)]
    Client(sbx_cli::Client),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sbx", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Client(command) => sbx_cli::run(cli.global, command).await,
    }
}
