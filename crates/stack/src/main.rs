//! `sbx-local`: the whole of sbx on this machine. `sbx-local up` runs the local stack
//! (`scripts/up`), `sbx-local gc` sweeps it now. The client of its API is `sbx` (`crates/cli`).

use clap::{CommandFactory, Parser, Subcommand};
use sbx_stack::{LocalStack, Options, state_machine_arn};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "sbx-local",
    about = "sbx-local: the whole of sbx on this machine (moto, the workflows, the API and the web console); drive it with the `sbx` client",
    after_help = "Examples:\n  sbx-local up\n  sbx-local gc --as-of 2026-12-03T12:00:00Z"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack and run until Ctrl-C or SIGTERM. Prints `export` lines to eval.
    #[command(
        after_help = "Examples:\n  sbx-local up > /tmp/sbx.env && eval \"$(grep ^export /tmp/sbx.env)\"\n  sbx-local up --aws-delay 0 --time-scale 0   # moto's instant mode, no waiting\n  sbx-local up --faults 20%,seed=7            # a fifth of AWS calls refused or their answers lost, a tenth of Lambda invocations timed out, crashed or run twice"
    )]
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
        /// How long moto's resources stay in each asynchronous state (pending, stopping,
        /// deleting, ...), in seconds, as AWS makes them take minutes (0: at once, as plain moto).
        #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
        aws_delay: f64,
        /// Customer accounts in the pool.
        #[arg(long, default_value_t = 5)]
        pool_size: u32,
        /// Port of the HTTP API on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8084)]
        api_port: u16,
        /// Live sandboxes a tenant may have.
        #[arg(long, default_value_t = 10)]
        quota: u32,
        /// Sweep every this many seconds (0: never). Default: the template's `GcSchedule`.
        #[arg(long, value_name = "SECONDS")]
        gc_every: Option<u64>,
        /// How long an account with no live sandbox stays its tenant's before it is cleaned.
        #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
        retention: u64,
        /// Fault every AWS call of the stack on purpose: `20%` (half refused, half with the
        /// answer lost after the call took effect, and 10% of the Lambda invocations timed out,
        /// crashed or run twice) or `refuse=0.05,lose=0.05,lambda=0.02,latency=50ms,seed=7`.
        #[arg(long, value_name = "SPEC")]
        faults: Option<sbx_stack::faults::FaultSpec>,
        /// The built web console to serve under /console/ (default: console/dist of this
        /// checkout, made by scripts/build-console).
        #[arg(long, value_name = "DIR")]
        console_dir: Option<std::path::PathBuf>,
        /// Do not enforce the template's roles: every function calls AWS with the management
        /// account's own credentials (by default each runs under its own role, and the local
        /// AWS refuses what that role does not allow).
        #[arg(long)]
        no_iam: bool,
        /// Give every account a new account's low service quotas: `instances=4,load_balancers=1`
        /// (RunInstances and CreateLoadBalancer beyond them are refused, as AWS refuses them).
        #[arg(long, value_name = "SPEC", default_value = "")]
        aws_quotas: String,
    },
    /// Run one sweep of the garbage collector on a running stack now, and print its report.
    #[command(
        after_help = "Examples:\n  sbx-local gc\n  sbx-local gc --as-of 2026-12-03T12:00:00Z   # as if two days had passed"
    )]
    Gc {
        /// The local Step Functions API (default: $AWS_ENDPOINT_URL_SFN, or the one `sbx-local up` serves).
        #[arg(long, value_name = "URL")]
        sfn_endpoint: Option<String>,
        /// Sweep as of this time (RFC 3339) instead of now: expiry and retention as if time had passed.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
    },
    /// List, per role, the actions its policies allow that no call used in a test run
    /// (`SBX_IAM_USAGE=DIR scripts/test` collects them); fails if one is not justified by a
    /// comment on its line in the template.
    IamUnused {
        /// The directory of usage logs.
        #[arg(long, value_name = "DIR")]
        usage: std::path::PathBuf,
    },
    /// Print a shell's completion script.
    #[command(after_help = "Examples:
  sbx completions bash > ~/.local/share/bash-completion/completions/sbx
  sbx completions zsh > ~/.zfunc/_sbx")]
    Completions { shell: clap_complete::Shell },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    sbx_telemetry::init();
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "sbx-local", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Up {
            aws_endpoint,
            sfn_port,
            time_scale,
            aws_delay,
            pool_size,
            api_port,
            quota,
            gc_every,
            retention,
            faults,
            console_dir,
            no_iam,
            aws_quotas,
        } => {
            if !(aws_delay >= 0.0 && aws_delay.is_finite()) {
                eprintln!("sbx-local: --aws-delay must be a non-negative number of seconds, not {aws_delay}");
                return ExitCode::from(2);
            }
            let gc_every = match gc_every {
                Some(0) => None,
                Some(seconds) => Some(Duration::from_secs(seconds)),
                None => match sbx_stack::scheduler::template_interval() {
                    Ok(every) => Some(every),
                    Err(err) => {
                        eprintln!("sbx-local: {err}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let options = Options {
                aws_endpoint,
                sfn_port,
                time_scale,
                aws_delay: Duration::from_secs_f64(aws_delay),
                pool_size,
                api_port,
                quota,
                gc_every,
                faults,
                console_dir: console_dir.or_else(built_console),
                iam: !no_iam,
                aws_quotas,
                sweep: sbx_steps::SweepSettings {
                    retention: chrono::Duration::seconds(i64::try_from(retention).unwrap_or(i64::MAX)),
                    ..sbx_stack::local_sweep_settings()
                },
                ..Options::default()
            };
            up(options).await
        }
        Command::Gc { sfn_endpoint, as_of } => gc(sfn_endpoint, as_of).await,
        Command::IamUnused { usage } => iam_unused(&usage),
    }
}

/// The console `scripts/build-console` built in this checkout, if it did: `console/dist` of the
/// working directory (where `scripts/up` runs), or of the checkout this binary was built from.
fn built_console() -> Option<std::path::PathBuf> {
    let candidates = [
        std::path::PathBuf::from("console/dist"),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/dist"),
    ];
    let found = candidates
        .into_iter()
        .find(|dir| dir.join("index.html").is_file());
    if found.is_none() {
        eprintln!("sbx-local: the web console is not built (scripts/build-console); serving the API only");
    }
    found
}

/// Starts a sweep on the running stack, waits for it, and prints its report.
async fn gc(sfn_endpoint: Option<String>, as_of: Option<String>) -> ExitCode {
    let endpoint = sfn_endpoint
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_SFN").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8083".to_owned());
    let input = match as_of {
        None => serde_json::json!({}),
        Some(at) => match chrono::DateTime::parse_from_rfc3339(&at) {
            Ok(at) => serde_json::json!({"as_of": at.to_rfc3339()}),
            Err(_) => {
                eprintln!(
                    "sbx-local: --as-of must be an RFC 3339 time such as 2026-12-03T12:00:00Z, not {at:?}"
                );
                return ExitCode::from(2);
            }
        },
    };
    let config = sbx_stack::sdk_config(&endpoint).await;
    let client = sbx_transient::client!(aws_sdk_sfn, &config);
    let name = format!("gc-manual-{}", chrono::Utc::now().timestamp_millis());
    let started = client
        .start_execution()
        .state_machine_arn(state_machine_arn("gc"))
        .name(&name)
        .input(input.to_string())
        .send()
        .await;
    let started = match started {
        Ok(started) => started,
        Err(err) => {
            eprintln!(
                "sbx: the sweep could not be started at {endpoint}: {}",
                aws_sdk_sfn::error::DisplayErrorContext(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(900);
    loop {
        let described = match client
            .describe_execution()
            .execution_arn(started.execution_arn())
            .send()
            .await
        {
            Ok(described) => described,
            Err(err) => {
                eprintln!("sbx-local: {}", aws_sdk_sfn::error::DisplayErrorContext(&err));
                return ExitCode::FAILURE;
            }
        };
        match described.status().as_str() {
            "RUNNING" if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            "SUCCEEDED" => {
                println!("{}", described.output().unwrap_or("{}"));
                return ExitCode::SUCCESS;
            }
            status => {
                eprintln!(
                    "sbx: sweep {name} {status}: {} {}",
                    described.error().unwrap_or_default(),
                    described.cause().unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
        }
    }
}

async fn up(options: Options) -> ExitCode {
    let time_scale = options.time_scale;
    if !(time_scale >= 0.0 && time_scale.is_finite()) {
        eprintln!("sbx-local: --time-scale must be a non-negative number, not {time_scale}");
        return ExitCode::FAILURE;
    }
    let gc_every = options.gc_every;
    let stack = match LocalStack::start(options).await {
        Ok(stack) => stack,
        Err(err) => {
            eprintln!("sbx-local: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", stack.exports());
    if stack.aws_endpoint != stack.aws_upstream {
        println!(
            "# The fault layer is on: the stack's AWS calls go through {}; AWS_ENDPOINT_URL is the endpoint behind it.",
            stack.aws_endpoint
        );
    }
    println!(
        "# aws stepfunctions start-execution --state-machine-arn {} --name demo-create-1 --input file://events/create.json",
        state_machine_arn("create")
    );
    if let Some(url) = &stack.console_url {
        println!("# The web console: {url} (sign in as one of the users below)");
    }
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
    match gc_every {
        Some(every) => println!(
            "# The garbage collector sweeps every {} s; sweep now with `sbx-local gc` (or `sbx-local gc --as-of TIME` to make time pass).",
            every.as_secs()
        ),
        None => println!("# The garbage collector runs only when asked: `sbx-local gc`."),
    }
    eprintln!("sbx-local: up; Ctrl-C to stop");
    sbx_sfn_local::signal::stop_requested().await;
    eprintln!("sbx-local: stopping");
    stack.stop();
    ExitCode::SUCCESS
}

/// `sbx-local iam-unused`: the roles' unused actions, from the usage logs of a test run.
fn iam_unused(usage: &std::path::Path) -> ExitCode {
    use sbx_stack::iam::unused;
    let used = match unused::used(usage) {
        Ok(used) => used,
        Err(err) => {
            eprintln!("sbx-local: the usage logs in {}: {err}", usage.display());
            return ExitCode::FAILURE;
        }
    };
    let mut grants = unused::grants(sbx_store::schema::TEMPLATE, &std::collections::BTreeMap::new());
    let provisioning = std::collections::BTreeMap::from([("ProvisioningRole", "sbx-provisioning")]);
    grants.extend(unused::grants(
        sbx_aws::organizations::PROVISIONING_TEMPLATE,
        &provisioning,
    ));
    let report = unused::check(&grants, &used);
    for (role, actions) in &report.justified {
        for (action, reason) in actions {
            println!("{role}: {action} unused here, kept: {reason}");
        }
    }
    if !report.not_run.is_empty() {
        println!("not run under locally: {}", report.not_run.join(", "));
    }
    if report.unjustified.is_empty() {
        println!("every action a role allows was used, or is justified beside it");
        return ExitCode::SUCCESS;
    }
    for (role, actions) in &report.unjustified {
        eprintln!(
            "{role}: allows {} but no test used it; remove it, or say why beside it",
            actions.join(", ")
        );
    }
    ExitCode::FAILURE
}
