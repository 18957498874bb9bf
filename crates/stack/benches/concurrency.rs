//! What the account lock costs concurrent creates (`cargo bench --profile dev --bench
//! concurrency`): 1, 6 and 20 creates started at once in one account, on a fresh local stack
//! each, in the realistic mode (moto keeps instances, NAT gateways and SSM commands in their
//! asynchronous states; the engine waits). Prints, for each count, the time of the last create
//! to finish and its ratio to the time of one alone. Goal: ≤ 1.5 at 6.
//!
//! The lock covers only the account's shared infrastructure, so the creates queue only while
//! the first one makes the NAT gateway, the ALB and the proxies; the rest of each create runs
//! in parallel.
//!
//! `SBX_BENCH_AWS_DELAY` (seconds, default 3, as `sbx-local up`) and `SBX_BENCH_TIME_SCALE` (default
//! 1) scale the whole run down; `SBX_BENCH_COUNTS` (default `1,6,20`) sets the counts.

use sbx_sfn_local::service::Status;
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

/// Starts `count` creates at once in one tenant's account; the time until the last ended.
async fn creates(count: usize, delay: Duration, time_scale: f64) -> Result<Duration, String> {
    let stack = LocalStack::start(Options {
        time_scale,
        aws_delay: delay,
        pool_size: 1,
        quota: u32::try_from(count).unwrap_or(u32::MAX).max(1),
        ..Options::default()
    })
    .await
    .map_err(|e| format!("the local stack did not start: {e}"))?;
    let began = Instant::now();
    let mut executions = Vec::new();
    for i in 0..count {
        let sandbox = format!("c-{i}");
        let input = json!({"tenant": "bench", "sandbox_id": sandbox, "constellations": ["payments"]});
        let execution = stack
            .service
            .start_execution(
                &state_machine_arn("create"),
                Some(&format!("{sandbox}-create")),
                Some(&input.to_string()),
            )
            .map_err(|e| format!("create {sandbox}: {e}"))?;
        executions.push((sandbox, execution));
    }
    for (sandbox, execution) in &executions {
        let outcome = execution.finished().await;
        if outcome.status != Status::Succeeded {
            return Err(format!(
                "create of {sandbox} ended {:?}: {:?} {:?}",
                outcome.status, outcome.error, outcome.cause
            ));
        }
    }
    let last = began.elapsed();
    stack.stop();
    Ok(last)
}

#[tokio::main]
async fn main() {
    let delay = Duration::from_secs_f64(number("SBX_BENCH_AWS_DELAY", 3.0));
    let time_scale = number("SBX_BENCH_TIME_SCALE", 1.0);
    let counts: Vec<usize> = std::env::var("SBX_BENCH_COUNTS")
        .unwrap_or_else(|_| "1,6,20".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .filter(|c| *c > 0)
        .collect();
    println!(
        "concurrent creates in one account: moto's asynchronous states last {:.1} s, time scale {time_scale}",
        delay.as_secs_f64()
    );
    println!("{:>8} {:>18} {:>12}", "creates", "last done (s)", "÷ one alone");
    let mut alone = None;
    for count in counts {
        match creates(count, delay, time_scale).await {
            Ok(last) => {
                let one = *alone.get_or_insert(last);
                println!(
                    "{count:>8} {:>18.2} {:>12.2}",
                    last.as_secs_f64(),
                    last.as_secs_f64() / one.as_secs_f64()
                );
            }
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        }
    }
}
