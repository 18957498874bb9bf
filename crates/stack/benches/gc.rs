//! What a sweep costs at scale (`cargo bench --bench gc`): 100,000 sandbox records, of which
//! 1,000 are past their expiry, written straight into the local stack's table; then one sweep
//! of the garbage collector (`statemachines/gc.asl.json`, every part), run by the local engine
//! against moto. Prints the items the sweep's queries read over the items due (the sparse
//! index's promise: goal ≤ 1.1) and the sweep's wall time.
//!
//! `SBX_GC_BENCH_RECORDS` and `SBX_GC_BENCH_DUE` change the sizes.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration as Span, Utc};
use sbx_lifecycle::{NewSandbox, Sandbox, SandboxOptions, State};
use sbx_sfn_local::service::Status;
use sbx_stack::{LocalStack, Options, local_sweep_settings, state_machine_arn};
use std::collections::HashMap;
use std::time::Instant;

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(i: usize, due: bool) -> HashMap<String, AttributeValue> {
    let now = Utc::now();
    let new = NewSandbox {
        tenant: format!("tenant-{}", i % 100),
        id: format!("sb-{i:06}"),
        name: format!("bench {i}"),
        options: SandboxOptions::default(),
        expires_at: if due {
            now - Span::hours(1)
        } else {
            now + Span::hours(8)
        },
    };
    let mut sandbox: Sandbox = Sandbox::create(new, now - Span::hours(2)).record;
    sandbox.state = if due { State::Stopped } else { State::Started };
    sandbox.version = 2;
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&sandbox).unwrap_or_else(|e| panic!("{e}"));
    item.insert("live".into(), AttributeValue::S("live".into()));
    item
}

#[tokio::main]
async fn main() {
    let (records, due) = (
        size("SBX_GC_BENCH_RECORDS", 100_000),
        size("SBX_GC_BENCH_DUE", 1_000),
    );
    let options = Options {
        time_scale: 0.0,
        // No waiting, so moto's instant transitions.
        aws_delay: std::time::Duration::ZERO,
        pool_size: 1,
        sweep: sbx_steps::SweepSettings {
            low_water: 0,
            batch: due.max(1),
            ..local_sweep_settings()
        },
        ..Options::default()
    };
    let stack = LocalStack::start(options)
        .await
        .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let began = Instant::now();
    // Every `records / due`-th record is due, spread through the table.
    let every = (records / due.max(1)).max(1);
    let items: Vec<_> = (0..records)
        .map(|i| record(i, i % every == 0 && i / every < due))
        .collect();
    common::put_records(&stack, &items).await;
    eprintln!(
        "wrote {records} records ({due} due) in {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let began = Instant::now();
    let execution = stack
        .service
        .start_execution(&state_machine_arn("gc"), Some("gc-bench"), Some("{}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = execution.finished().await;
    let wall = began.elapsed();
    if outcome.status != Status::Succeeded {
        for event in sbx_sfn_local::service::history_json(&execution) {
            if event["type"].as_str().is_some_and(|t| t.ends_with("Failed")) {
                eprintln!("{event}");
            }
        }
        panic!("the sweep did not succeed: {outcome:?}");
    }
    let report: serde_json::Value =
        serde_json::from_str(outcome.output.as_deref().unwrap_or("null")).unwrap_or_default();
    let read = report["expired"]["read"].as_u64().unwrap_or_default()
        + report["stuck"]["read"].as_u64().unwrap_or_default();
    let found = report["expired"]["due"].as_u64().unwrap_or_default();
    let begun = report["expired"]["begun"].as_u64().unwrap_or_default();
    println!("records                 {records}");
    println!("due                     {due}");
    println!("found due               {found}");
    println!("sandbox items read      {read}");
    println!(
        "read / due              {:.3}  (goal <= 1.1)",
        read as f64 / due.max(1) as f64
    );
    println!("deletes begun           {begun}");
    println!("sweep wall time         {:.2} s", wall.as_secs_f64());
    stack.stop();
}
