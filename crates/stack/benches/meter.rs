//! What the spend meter costs at scale (`cargo bench --profile dev --bench meter`): 100,000 open
//! meters (stopped sandboxes, 100 to an account, metered five minutes ago) written straight
//! into the local stack's table; then `meter-spend` runs one simulated minute apart, as the
//! schedule runs it, until every meter has been moved on once. Prints, per run, the items read
//! per meter due and per meter moved on, the meters moved on and left for the next run, and
//! the wall time; then how many runs it took for every meter to move.
//!
//! `SBX_METER_BENCH_METERS` (default 100,000), `SBX_METER_BENCH_PER_ACCOUNT` (100) and
//! `SBX_METER_BENCH_RUNS` (the most runs, default 20) change the sizes.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration as Span, Utc};
use sbx_lifecycle::{NewSandbox, Sandbox, SandboxOptions, State, rfc3339_millis};
use sbx_stack::{LocalStack, Options};
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A stopped sandbox of account `i / per_account`, metered up to `metered_at`.
fn record(i: usize, per_account: usize, metered_at: DateTime<Utc>) -> HashMap<String, AttributeValue> {
    let account = i / per_account;
    let new = NewSandbox {
        tenant: format!("tenant-{account:05}"),
        id: format!("sb-{i:06}"),
        name: format!("bench {i}"),
        options: SandboxOptions::default(),
        expires_at: metered_at + Span::days(7),
    };
    let mut sandbox: Sandbox = Sandbox::create(new, metered_at - Span::hours(1)).record;
    sandbox.state = State::Stopped;
    sandbox.version = 2;
    sandbox.account_id = Some(format!("{:012}", 200_000_000_000u64 + account as u64));
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&sandbox).unwrap_or_else(|e| panic!("{e}"));
    let text = |v: &str| AttributeValue::S(v.to_owned());
    item.insert("live".into(), text("live"));
    item.insert("meter".into(), text("open"));
    item.insert(
        "meter_at".into(),
        text(&rfc3339_millis::format(&rfc3339_millis::truncate(metered_at))),
    );
    item.insert("meter_version".into(), AttributeValue::N("2".into()));
    item.insert("meter_state".into(), text("stopped"));
    item.insert("meter_micros".into(), AttributeValue::N("0".into()));
    item.insert("metered".into(), AttributeValue::Bool(true));
    item
}

#[tokio::main]
async fn main() {
    let meters = size("SBX_METER_BENCH_METERS", 100_000);
    let per_account = size("SBX_METER_BENCH_PER_ACCOUNT", 100).max(1);
    let most_runs = size("SBX_METER_BENCH_RUNS", 20);
    let stack = LocalStack::start(Options {
        time_scale: 0.0,
        aws_delay: std::time::Duration::ZERO,
        pool_size: 1,
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let start = rfc3339_millis::truncate(Utc::now());
    let began = Instant::now();
    let items: Vec<_> = (0..meters)
        .map(|i| record(i, per_account, start - Span::minutes(5)))
        .collect();
    common::put_records(&stack, &items).await;
    drop(items);
    eprintln!(
        "wrote {meters} open meters ({} accounts) in {:.1} s",
        meters.div_ceil(per_account),
        began.elapsed().as_secs_f64()
    );

    println!("open meters             {meters} ({per_account} to an account)");
    println!("run   read     due      moved on  left     read/due  read/moved  wall");
    let (mut moved, mut runs, mut walls) = (0usize, 0usize, Vec::new());
    while moved < meters && runs < most_runs {
        runs += 1;
        let at = start + Span::minutes(runs as i64);
        let began = Instant::now();
        let report = sbx_steps::functions::invoke(
            &stack.steps,
            "meter-spend",
            json!({"execution": format!("meter-bench-{runs}"), "as_of": at.to_rfc3339()}),
        )
        .await
        .unwrap_or_else(|e| panic!("meter-spend: {e}"));
        let wall = began.elapsed().as_secs_f64();
        walls.push(wall);
        let figure = |name: &str| report[name].as_u64().unwrap_or_default() as usize;
        let (read, due, metered, deferred) = (
            figure("read"),
            figure("due"),
            figure("metered"),
            figure("deferred"),
        );
        assert!(report["failed"].as_array().is_none_or(Vec::is_empty), "{report}");
        moved += metered;
        println!(
            "{runs:<5} {read:<8} {due:<8} {metered:<9} {deferred:<8} {:<9.3} {:<11.3} {wall:.1} s",
            read as f64 / due.max(1) as f64,
            read as f64 / metered.max(1) as f64,
        );
    }
    if moved < meters {
        let per_run = moved as f64 / runs.max(1) as f64;
        println!(
            "at {per_run:.0} meters a run, every meter moves within {:.0} runs",
            (meters as f64 / per_run.max(1.0)).ceil()
        );
    }
    walls.sort_by(f64::total_cmp);
    if moved >= meters {
        println!(
            "every meter moved on    after {runs} runs (one a minute as deployed: none is more than {runs} min behind)"
        );
    } else {
        println!("every meter moved on    not yet, after {runs} runs");
    }
    println!(
        "run wall time           p50 {:.1} s, max {:.1} s (reading, then moving meters on: no tenant but the first is started 40 s after the read)",
        walls.get(walls.len() / 2).copied().unwrap_or_default(),
        walls.last().copied().unwrap_or_default()
    );
    stack.stop();
}
