//! What AWS's faults cost (`cargo bench --profile dev --bench faults`): for fault rates of 0,
//! 10 and 20% of every AWS call (half refused, half with the answer lost after the call took
//! effect; seeded) and half that rate of the Lambda invocations (timed out, crashed or run
//! twice), on the realistic moto (asynchronous states, eventual consistency, slow
//! registrations, failing NAT gateways and account creations), a fresh local stack runs the
//! same sandboxes through create → stop → start → delete at once, and prints per rate: the
//! lifecycles completed (every execution `SUCCEEDED`), the calls the fault layer faulted (each
//! one an SDK retry), the Lambda invocations faulted, the step attempts that failed and were
//! retried by the state machines, the wall time, and create → started (median and slowest)
//! with its overhead over the cloud's own waits: a create waits at least for its account's NAT
//! gateway (D) and its instances' launch (2·D), D being moto's delay. "alone" is one create on
//! the fresh account before the others, with the part of it spent waiting for AWS to catch up
//! (`Sbx.NotYet` retries: new ids not visible yet, the eventual consistency the realistic mode
//! adds); the median and slowest are those of the sandboxes created at once, which queue for
//! the account lock.
//!
//! `SBX_BENCH_LIFECYCLES` (default 6), `SBX_BENCH_RATES` (default `0,10,20`, in percent),
//! `SBX_BENCH_AWS_DELAY` (seconds, default 0.2) and `SBX_BENCH_TIME_SCALE` (default 0.02: the
//! tests' scale) set the run.

use sbx_sfn_local::service::{Status, history_json};
use sbx_stack::faults::FaultSpec;
use sbx_stack::{LocalStack, Options, state_machine_arn};
use serde_json::json;
use std::time::{Duration, Instant};

fn number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .unwrap_or(default)
}

struct Figures {
    /// create → started of a sandbox alone on a fresh account, and how much of it waited for
    /// AWS to catch up (Sbx.NotYet).
    alone: (Duration, Duration),
    completed: usize,
    /// How long each create took, from its start to `started`.
    creates: Vec<Duration>,
    lambda: sbx_sfn_local::invoke::LambdaFaultStats,
    faulted: u64,
    calls: u64,
    step_retries: usize,
    lock_waits: usize,
    wall: Duration,
}

/// How long an execution waited for AWS to catch up: from each attempt that failed with
/// `Sbx.NotYet` to the next attempt.
fn not_yet_waits(history: &[serde_json::Value]) -> Duration {
    let mut total = 0.0;
    let mut since = None;
    for event in history {
        let at = event["timestamp"].as_f64().unwrap_or_default();
        match event["type"].as_str() {
            Some("LambdaFunctionFailed") if event.to_string().contains("Sbx.NotYet") => since = Some(at),
            Some("LambdaFunctionScheduled") => {
                if let Some(from) = since.take() {
                    total += at - from;
                }
            }
            _ => {}
        }
    }
    Duration::from_secs_f64(total.max(0.0))
}

/// Starts `machine` for the sandbox `sandbox` of tenant `bench`, named `<sandbox>-<machine>`.
fn start(
    stack: &LocalStack,
    machine: &str,
    sandbox: &str,
) -> Result<std::sync::Arc<sbx_sfn_local::service::Execution>, String> {
    let input = json!({"tenant": "bench", "sandbox_id": sandbox});
    stack
        .service
        .start_execution(
            &state_machine_arn(machine),
            Some(&format!("{sandbox}-{machine}")),
            Some(&input.to_string()),
        )
        .map_err(|e| format!("{machine} {sandbox}: {e}"))
}

/// Runs `machine` for the sandbox `sandbox` of tenant `bench` to its end; how long it took,
/// and how much of it was spent waiting for AWS to catch up.
async fn run(stack: &LocalStack, machine: &str, sandbox: &str) -> Result<(Duration, Duration), String> {
    let execution = start(stack, machine, sandbox)?;
    let outcome = execution.finished().await;
    match (outcome.status, outcome.stopped) {
        (Status::Succeeded, Some(stopped)) => Ok((
            (stopped - execution.started).to_std().unwrap_or_default(),
            not_yet_waits(&history_json(&execution)),
        )),
        (status, _) => Err(format!(
            "{machine} {sandbox} ended {status:?}: {:?}",
            outcome.error
        )),
    }
}

async fn lifecycles(count: usize, rate: f64, delay: Duration, time_scale: f64) -> Result<Figures, String> {
    let stack = LocalStack::start(Options {
        time_scale,
        aws_delay: delay,
        pool_size: 1,
        quota: u32::try_from(count + 1).unwrap_or(u32::MAX),
        faults: (rate > 0.0).then(|| FaultSpec::split(rate, 7)),
        ..Options::default()
    })
    .await
    .map_err(|e| format!("the local stack did not start: {e}"))?;
    // One create alone first, on the fresh account: what the cloud's own waits (its NAT
    // gateway, its instances' launch) and sbx's steps cost without a queue for the lock.
    let alone = run(&stack, "create", "solo").await?;
    let began = Instant::now();
    let mut completed = vec![true; count];
    let mut step_retries = 0;
    let mut lock_waits = 0;
    let mut creates = Vec::new();
    for machine in ["create", "stop", "start", "delete"] {
        let mut executions = Vec::new();
        for (i, ok) in completed.iter().enumerate() {
            if !ok {
                continue;
            }
            executions.push((i, start(&stack, machine, &format!("f-{i}"))?));
        }
        for (i, execution) in executions {
            let outcome = execution.finished().await;
            for event in history_json(&execution) {
                if !matches!(
                    event["type"].as_str(),
                    Some("LambdaFunctionFailed" | "TaskFailed")
                ) {
                    continue;
                }
                // A step failing with Sbx.LockHeld is waiting for the account lock, not retried.
                if event.to_string().contains("Sbx.LockHeld") {
                    lock_waits += 1;
                } else {
                    step_retries += 1;
                }
            }
            if machine == "create"
                && outcome.status == Status::Succeeded
                && let Some(stopped) = outcome.stopped
            {
                creates.push((stopped - execution.started).to_std().unwrap_or_default());
            }
            if outcome.status != Status::Succeeded {
                eprintln!(
                    "  {machine} of f-{i} ended {:?}: {:?}",
                    outcome.status, outcome.error
                );
                completed[i] = false;
            }
        }
    }
    let wall = began.elapsed();
    run(&stack, "delete", "solo").await?;
    let stats = stack.fault_stats().unwrap_or_default();
    let lambda = stack.lambda_fault_stats().unwrap_or_default();
    stack.stop();
    creates.sort();
    Ok(Figures {
        alone,
        completed: completed.iter().filter(|ok| **ok).count(),
        creates,
        lambda,
        faulted: stats.refused + stats.lost,
        calls: stats.calls,
        step_retries,
        lock_waits,
        wall,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let count = number("SBX_BENCH_LIFECYCLES", 6.0) as usize;
    let delay = Duration::from_secs_f64(number("SBX_BENCH_AWS_DELAY", 0.2));
    let time_scale = number("SBX_BENCH_TIME_SCALE", 0.02);
    let rates: Vec<f64> = std::env::var("SBX_BENCH_RATES")
        .unwrap_or_else(|_| "0,10,20".into())
        .split(',')
        .filter_map(|r| r.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=100.0).contains(r))
        .collect();
    println!(
        "{count} lifecycles (create, stop, start, delete) at once, per fault rate (AWS calls; half \
         that of Lambda invocations); realistic moto with D = {:.1} s, time scale {time_scale}",
        delay.as_secs_f64()
    );
    let cloud = delay * 3;
    println!(
        "{:>6} {:>26} {:>10} {:>14} {:>16} {:>13} {:>11} {:>8} {:>22} {:>10}",
        "faults",
        "alone (overhead; not yet)",
        "completed",
        "faulted calls",
        "Lambda t/c/d",
        "step retries",
        "lock waits",
        "wall",
        "create→started p50/max",
        "overhead"
    );
    for rate in rates {
        match lifecycles(count, rate / 100.0, delay, time_scale).await {
            Ok(f) => {
                let p50 = f.creates.get(f.creates.len() / 2).copied().unwrap_or_default();
                let max = f.creates.last().copied().unwrap_or_default();
                println!(
                    "{:>5}% {:>26} {:>6}/{:<3} {:>7}/{:<6} {:>16} {:>13} {:>11} {:>7.1}s {:>22} {:>9.2}s",
                    rate,
                    format!(
                        "{:.2}s ({:.2}s; {:.2}s)",
                        f.alone.0.as_secs_f64(),
                        f.alone.0.saturating_sub(cloud).as_secs_f64(),
                        f.alone.1.as_secs_f64()
                    ),
                    f.completed,
                    count,
                    f.faulted,
                    f.calls,
                    format!(
                        "{}/{}/{} of {}",
                        f.lambda.timeouts, f.lambda.crashes, f.lambda.duplicates, f.lambda.invocations
                    ),
                    f.step_retries,
                    f.lock_waits,
                    f.wall.as_secs_f64(),
                    format!("{:.2}s/{:.2}s", p50.as_secs_f64(), max.as_secs_f64()),
                    p50.saturating_sub(cloud).as_secs_f64()
                );
            }
            Err(err) => {
                eprintln!("sbx bench faults: {err}");
                std::process::exit(1);
            }
        }
    }
}
