//! `sbx`: the local stack's command line. `sbx up` runs everything on this machine.

use clap::{Parser, Subcommand};
use sbx_stack::{LocalStack, Options, state_machine_arn};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sbx",
    about = "sbx on one machine: moto, the local Step Functions engine and every step function"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack and run until Ctrl-C or SIGTERM. Prints `export` lines to eval.
    Up {
        /// Use an AWS endpoint that is already running instead of starting moto.
        #[arg(long, value_name = "URL")]
        aws_endpoint: Option<String>,
        /// Port of the local Step Functions API on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8083)]
        sfn_port: u16,
        /// Scale of Wait states and retry delays (0: no waiting).
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
        /// Customer accounts in the pool.
        #[arg(long, default_value_t = 5)]
        pool_size: u32,
        /// Port of the HTTP API on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8084)]
        api_port: u16,
        /// Live sandboxes a tenant may have.
        #[arg(long, default_value_t = 10)]
        quota: u32,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    sbx_telemetry::init();
    let Cli {
        command:
            Command::Up {
                aws_endpoint,
                sfn_port,
                time_scale,
                pool_size,
                api_port,
                quota,
            },
    } = Cli::parse();
    if !(time_scale >= 0.0 && time_scale.is_finite()) {
        eprintln!("sbx: --time-scale must be a non-negative number, not {time_scale}");
        return ExitCode::FAILURE;
    }
    let options = Options {
        aws_endpoint,
        sfn_port,
        time_scale,
        pool_size,
        api_port,
        quota,
        ..Options::default()
    };
    let stack = match LocalStack::start(options).await {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("sbx: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", stack.exports());
    println!(
        "# aws stepfunctions start-execution --state-machine-arn {} --name demo-create-1 --input file://events/create.json",
        state_machine_arn("create")
    );
    println!("# Users (user / password / tenant):");
    for user in sbx_stack::identity::USERS {
        let tenant = match (user.tenant, user.admin) {
            (Some(tenant), _) => tenant.to_owned(),
            (None, true) => "(admins: any, with ?tenant=)".to_owned(),
            (None, false) => "-".to_owned(),
        };
        println!("#   {} / {} / {tenant}", user.username, user.password);
    }
    let alice = &sbx_stack::identity::USERS[0];
    println!(
        "# TOKEN=$(curl -s -X POST \"$SBX_API_URL/token\" -H 'content-type: application/json' -d '{{\"username\":\"{}\",\"password\":\"{}\"}}' | jq -r .access_token)",
        alice.username, alice.password
    );
    println!(
        "# curl -s -X POST \"$SBX_API_URL/sandboxes\" -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' -H 'idempotency-key: demo-1' -d '{{\"name\":\"demo\",\"amq\":true}}'"
    );
    eprintln!("sbx: up; Ctrl-C to stop");
    sbx_sfn_local::signal::stop_requested().await;
    eprintln!("sbx: stopping");
    stack.stop();
    ExitCode::SUCCESS
}
