//! The `sbx` command line's client commands (the binary `sbx`, `src/main.rs`; the local stack is
//! `sbx-local`): sign in once, then manage sandboxes and accounts over the HTTPS API.
//!
//! - `sbx login` / `sbx logout`: tokens in the user's config directory, mode 0600 ([`config`]),
//!   refreshed when they expire ([`api`]); [`session`];
//! - `sbx create | ls | get | start | stop | rm | extend | open | events | schedule`:
//!   [`sandboxes`]; `sbx accounts ...`: [`accounts`]; `sbx cost`, `sbx budget ...`: [`spend`];
//!   `sbx webhooks ...`, `sbx notifications`: [`notifications`];
//! - `-o table|json|yaml` ([`output`]); `--wait` shows live progress on a terminal ([`wait`]);
//! - `--api-url` or `SBX_API_URL`, and `SBX_TOKEN` to use a token as it is (CI);
//! - errors are one line, `sbx: <type> (<status>): <detail>`, with the exit codes of
//!   [`api::exit`]: 2 usage, 3 not found, 4 conflict or quota, 5 authentication, 6 unavailable,
//!   1 anything else (a failed operation waited for).
//!
//! Each command group's module holds its clap definitions beside what its commands do.

pub mod accounts;
pub mod api;
pub mod config;
pub mod duration;
pub mod notifications;
pub mod output;
pub mod sandboxes;
pub mod session;
pub mod spend;
pub mod wait;

pub use duration::{duration, duration_of};

use api::CliError;
use clap::{Args, Subcommand};
use output::Format;

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The API's base URL (default: $SBX_API_URL, or the one `sbx login` signed in to).
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// How to print results: a table for people, or the API's JSON or YAML for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Client {
    /// Sign in; the password is read without echo (or from stdin with --password-stdin).
    #[command(
        after_help = "Examples:\n  sbx login alice\n  echo \"$PASSWORD\" | sbx login alice --password-stdin"
    )]
    Login {
        /// The user name (asked for when left out).
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the saved tokens.
    #[command(after_help = "Example:\n  sbx logout")]
    Logout,
    #[command(flatten)]
    Sandboxes(sandboxes::Sandboxes),
    /// What your tenant is told and when: show it, or set the expiry warnings.
    #[command(after_help = "Examples:
  sbx notifications
  sbx notifications --expiry-warnings 8h,30m
  sbx notifications --no-expiry-warnings")]
    Notifications {
        /// How long before an expiry to warn, comma-separated (`24h,1h`).
        #[arg(
            long,
            value_name = "DURATIONS",
            value_delimiter = ',',
            conflicts_with = "no_expiry_warnings"
        )]
        expiry_warnings: Vec<String>,
        /// Give no expiry warnings.
        #[arg(long)]
        no_expiry_warnings: bool,
        /// The tenant (admins); your own by default.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// What sandboxes cost: one sandbox's estimate, or each of your tenant's and its month
    /// against its budget.
    #[command(after_help = "Examples:
  sbx cost
  sbx cost sb-1a2b3c4d5e6f
  sbx cost --tenant acme -o json")]
    Cost {
        id: Option<String>,
        /// The tenant (admins); your own by default.
        #[arg(long, value_name = "T")]
        tenant: Option<String>,
    },
    /// A tenant's monthly budget: show it (members), or set it (admins).
    #[command(subcommand)]
    Budget(spend::Budget),
    /// The account pool (admins).
    #[command(subcommand)]
    Accounts(accounts::Accounts),
    /// The tenant's webhook endpoints: signed deliveries of every event (Standard Webhooks).
    #[command(subcommand)]
    Webhooks(notifications::Webhooks),
}

/// Runs a client command; what it prints goes to stdout, errors to stderr as one line.
pub async fn run(global: Global, command: Client) -> std::process::ExitCode {
    match execute(&global, command).await {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sbx: {err}");
            std::process::ExitCode::from(err.exit_code())
        }
    }
}

async fn execute(global: &Global, command: Client) -> Result<String, CliError> {
    match command {
        Client::Login {
            username,
            password_stdin,
        } => session::login(global, username, password_stdin).await,
        Client::Logout => session::logout(),
        Client::Sandboxes(command) => sandboxes::run(global, command).await,
        Client::Notifications {
            expiry_warnings,
            no_expiry_warnings,
            tenant,
        } => notifications::expiry_warnings(global, expiry_warnings, no_expiry_warnings, tenant).await,
        Client::Cost { id, tenant } => spend::cost(global, id, tenant).await,
        Client::Budget(command) => spend::budget(global, command).await,
        Client::Accounts(command) => accounts::run(global, command).await,
        Client::Webhooks(command) => notifications::webhooks(global, command).await,
    }
}
