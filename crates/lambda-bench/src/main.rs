//! `lambda-bench`: the Lambda artifacts' benchmark (`scripts/bench-lambdas`). For every
//! function of the template, and for a hello-world `lambda_runtime` function built the same way
//! (`crates/lambda-fixture`), it prints:
//!
//! - the executable's size and its size zipped as a deployment package (one `bootstrap`,
//!   deflated);
//! - the median **init**: from spawning the process to its first `GET /next` on a local Lambda
//!   Runtime API, and that as a multiple of the hello-world function's;
//! - the median **first invocation**: from handing it its first event to its answer, against a
//!   seeded local stack (moto), so it includes the SDK's first call (credentials, connection,
//!   and for tenant-account steps the AssumeRole).
//!
//! Each function runs with a cleared environment holding what Lambda and the template give it.

mod events;
mod runtime;

use clap::Parser;
use runtime::Probe;
use sbx_stack::{LocalStack, Options, state_machine_arn};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Size, zipped size, init and first-invocation latency of every Lambda")]
struct Args {
    /// Where the executables are (the release build's `target/release`).
    #[arg(long)]
    bin_dir: PathBuf,
    /// Runs per function; the medians are over these.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Measure only these functions (and the hello-world one).
    #[arg(long)]
    only: Vec<String>,
}

/// The goals of the lean-functions issue.
const MAX_INIT_FACTOR: f64 = 4.0;
const MAX_ZIPPED: u64 = 5_000_000;

struct Row {
    name: String,
    size: u64,
    zipped: u64,
    init: Option<Duration>,
    first: Option<Duration>,
    outcome: String,
}

fn zipped_size(path: &Path) -> std::io::Result<u64> {
    let bytes = std::fs::read(path)?;
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    archive
        .start_file("bootstrap", options)
        .map_err(std::io::Error::other)?;
    archive.write_all(&bytes)?;
    let cursor = archive.finish().map_err(std::io::Error::other)?;
    Ok(cursor.into_inner().len() as u64)
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    values.get(values.len() / 2).copied()
}

/// What Lambda and the template put in every function's environment, for this stack.
fn environment(stack: &LocalStack, function: &str) -> Vec<(String, String)> {
    let tables = &stack.tables;
    let images = &stack.seed.images;
    let mut vars: Vec<(&str, String)> = vec![
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", stack.aws_endpoint.clone()),
        ("AWS_ENDPOINT_URL_SFN", stack.sfn_endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", sbx_moto::ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", sbx_moto::SECRET_ACCESS_KEY.into()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
        ("SBX_SANDBOXES_TABLE", tables.sandboxes.clone()),
        ("SBX_EVENTS_TABLE", tables.events.clone()),
        ("SBX_TENANTS_TABLE", tables.tenants.clone()),
        ("SBX_LOCKS_TABLE", tables.locks.clone()),
        ("SBX_ACCOUNTS_TABLE", tables.accounts.clone()),
        ("SBX_ACP_IMAGE_ID", images.acp.clone()),
        ("SBX_OCP_IMAGE_ID", images.ocp.clone()),
        ("SBX_PROXY_IMAGE_ID", images.proxy.clone()),
        ("SBX_PROVISIONING_ROLE", "sbx-provisioning".into()),
        ("SBX_INGRESS_DOMAIN", "sandboxes.sbx.localhost".into()),
        ("SBX_USER_POOL_ID", stack.identity.user_pool_id.clone()),
        ("SBX_USER_POOL_CLIENT_ID", stack.identity.client_id.clone()),
        (
            "SBX_PAGE_TOKEN_KEY",
            "a-benchmark-page-token-key-of-32-bytes".into(),
        ),
        ("SBX_QUOTA", "1000".into()),
    ];
    for operation in sbx_lifecycle::Operation::ALL {
        let name = operation.as_str();
        let var = match name {
            "create" => "SBX_CREATE_STATE_MACHINE_ARN",
            "start" => "SBX_START_STATE_MACHINE_ARN",
            "stop" => "SBX_STOP_STATE_MACHINE_ARN",
            _ => "SBX_DELETE_STATE_MACHINE_ARN",
        };
        vars.push((var, state_machine_arn(name)));
    }
    let units = &stack.seed.organization.units;
    vars.extend([
        ("SBX_OU_POOL", units.pool.clone()),
        ("SBX_OU_CUSTOMERS", units.customers.clone()),
        ("SBX_OU_EXPIRED", units.expired.clone()),
        ("SBX_OU_QUARANTINE", units.quarantine.clone()),
        (
            "SBX_ACCOUNT_EMAIL_DOMAIN",
            stack.seed.organization.email_domain.clone(),
        ),
        ("SBX_MANAGEMENT_ACCOUNT_ID", sbx_stack::MANAGEMENT_ACCOUNT.into()),
        ("SBX_POOL_LOW_WATER", "0".into()),
    ]);
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// One cold start of `executable` with `event`: (init, first invocation, outcome).
async fn cold_start(
    executable: &Path,
    env: &[(String, String)],
    event: String,
) -> std::io::Result<(Option<Duration>, Option<Duration>, String)> {
    let probe = Probe::new(event);
    let (address, server) = runtime::serve(probe.clone()).await?;
    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(executable)
        .env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let ended = tokio::select! {
        _ = probe.done.notified() => true,
        _ = child.wait() => false,
        _ = tokio::time::sleep(Duration::from_secs(15)) => false,
    };
    let _ = child.kill().await;
    server.abort();
    let seen = probe.seen();
    let init = seen.first_next.map(|t| t - spawned);
    let first = match (seen.first_next, seen.answered) {
        (Some(next), Some(answered)) => Some(answered - next),
        _ => None,
    };
    let outcome = match (ended, seen.outcome) {
        (_, Some(outcome)) => outcome,
        (false, None) => "no answer".to_owned(),
        (true, None) => "unknown".to_owned(),
    };
    Ok((init, first, outcome))
}

fn millis(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "—".into())
}

fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_000_000.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // `cargo run` gives the package's directory at run time; the build-time one may be another
    // clone's, where target directories are shared.
    let package = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let root = PathBuf::from(package).join("../..");
    let stack = LocalStack::start(Options {
        time_scale: 0.0,
        // No waiting, so moto's instant transitions.
        aws_delay: std::time::Duration::ZERO,
        pool_size: 2,
        ..Options::default()
    })
    .await?;
    let account = stack.seed.accounts.first().cloned().unwrap_or_default();
    let mut functions: Vec<(String, String)> = vec![("hello".into(), "lambda-fixture".into())];
    for name in sbx_steps::FUNCTIONS
        .iter()
        .chain(sbx_api::routes::FUNCTIONS.iter())
    {
        if args.only.is_empty() || args.only.iter().any(|o| o == name) {
            functions.push((name.to_string(), name.to_string()));
        }
    }
    let mut rows = Vec::new();
    for (name, binary) in &functions {
        let executable = args.bin_dir.join(binary);
        let size = std::fs::metadata(&executable)
            .map_err(|e| {
                format!(
                    "{}: {e} (build it first: scripts/bench-lambdas)",
                    executable.display()
                )
            })?
            .len();
        let zipped = zipped_size(&executable)?;
        let env = environment(&stack, name);
        let (mut inits, mut firsts, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..args.runs {
            let event = events::event(name, run, &account, &root).ok_or(format!("no event for {name}"))?;
            let (init, first, outcome) = cold_start(&executable, &env, event.to_string()).await?;
            inits.extend(init);
            firsts.extend(first);
            outcomes.push(outcome);
        }
        outcomes.sort();
        outcomes.dedup();
        eprintln!("measured {name}");
        rows.push(Row {
            name: name.clone(),
            size,
            zipped,
            init: median(inits),
            first: median(firsts),
            outcome: outcomes.join(", "),
        });
    }
    stack.stop();

    let hello = rows.first().and_then(|row| row.init);
    println!(
        "{} runs per function; init: spawn to first GET /next; first invocation: event to answer",
        args.runs
    );
    println!(
        "{:<24} {:>9} {:>9} {:>10} {:>8} {:>12}  goals  first answer",
        "function", "size", "zipped", "init", "×hello", "1st invoke"
    );
    let mut failed = Vec::new();
    for row in &rows {
        let factor = match (row.init, hello) {
            (Some(init), Some(hello)) if !hello.is_zero() => Some(init.as_secs_f64() / hello.as_secs_f64()),
            _ => None,
        };
        let meets = row.zipped <= MAX_ZIPPED && factor.is_some_and(|f| f <= MAX_INIT_FACTOR);
        if !meets {
            failed.push(row.name.clone());
        }
        println!(
            "{:<24} {:>9} {:>9} {:>10} {:>8} {:>12}  {:<5}  {}",
            row.name,
            megabytes(row.size),
            megabytes(row.zipped),
            millis(row.init),
            factor.map(|f| format!("{f:.2}×")).unwrap_or_else(|| "—".into()),
            millis(row.first),
            if meets { "met" } else { "MISSED" },
            row.outcome,
        );
    }
    println!(
        "goals: zipped ≤ {}, init ≤ {MAX_INIT_FACTOR}× hello; missed by: {}",
        megabytes(MAX_ZIPPED),
        if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.join(", ")
        }
    );
    Ok(())
}
