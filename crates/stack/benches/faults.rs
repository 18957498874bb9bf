//! What AWS's faults cost (`cargo bench --profile dev --bench faults`): for fault rates of 0,
//! 5, 10 and 20% of every AWS call (half refused, half with the answer lost after the call took
//! effect; seeded), a fresh local stack runs the same sandboxes through create → stop → start
//! → delete at once, and prints per rate: the lifecycles completed (every execution
//! `SUCCEEDED`), the calls the fault layer faulted (each one an SDK retry), the step attempts
//! that failed and were retried by the state machines, and the wall time.
//!
//! `SBX_BENCH_LIFECYCLES` (default 6), `SBX_BENCH_RATES` (default `0,5,10,20`, in percent),
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
    completed: usize,
    faulted: u64,
    calls: u64,
    step_retries: usize,
    lock_waits: usize,
    wall: Duration,
}

async fn lifecycles(count: usize, rate: f64, delay: Duration, time_scale: f64) -> Result<Figures, String> {
    let stack = LocalStack::start(Options {
        time_scale,
        aws_delay: delay,
        pool_size: 1,
        quota: u32::try_from(count).unwrap_or(u32::MAX).max(1),
        faults: (rate > 0.0).then(|| FaultSpec::split(rate, 7)),
        ..Options::default()
    })
    .await
    .map_err(|e| format!("the local stack did not start: {e}"))?;
    let began = Instant::now();
    let mut completed = vec![true; count];
    let mut step_retries = 0;
    let mut lock_waits = 0;
    for machine in ["create", "stop", "start", "delete"] {
        let mut executions = Vec::new();
        for (i, ok) in completed.iter().enumerate() {
            if !ok {
                continue;
            }
            let sandbox = format!("f-{i}");
            let input = json!({"tenant": "bench", "sandbox_id": sandbox});
            let execution = stack
                .service
                .start_execution(
                    &state_machine_arn(machine),
                    Some(&format!("{sandbox}-{machine}")),
                    Some(&input.to_string()),
                )
                .map_err(|e| format!("{machine} {sandbox}: {e}"))?;
            executions.push((i, execution));
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
    let stats = stack.fault_stats().unwrap_or_default();
    stack.stop();
    Ok(Figures {
        completed: completed.iter().filter(|ok| **ok).count(),
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
        .unwrap_or_else(|_| "0,5,10,20".into())
        .split(',')
        .filter_map(|r| r.trim().parse::<f64>().ok())
        .filter(|r| (0.0..=100.0).contains(r))
        .collect();
    println!(
        "{count} lifecycles (create, stop, start, delete) at once, per fault rate; moto's asynchronous states {:.1} s, time scale {time_scale}",
        delay.as_secs_f64()
    );
    println!(
        "{:>6} {:>10} {:>14} {:>13} {:>11} {:>9}",
        "faults", "completed", "faulted calls", "step retries", "lock waits", "wall"
    );
    for rate in rates {
        match lifecycles(count, rate / 100.0, delay, time_scale).await {
            Ok(f) => println!(
                "{:>5}% {:>6}/{:<3} {:>7}/{:<6} {:>13} {:>11} {:>8.1}s",
                rate,
                f.completed,
                count,
                f.faulted,
                f.calls,
                f.step_retries,
                f.lock_waits,
                f.wall.as_secs_f64()
            ),
            Err(err) => {
                eprintln!("sbx bench faults: {err}");
                std::process::exit(1);
            }
        }
    }
}
