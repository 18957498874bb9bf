//! What telling costs (`cargo bench --profile dev --bench events`):
//!
//! 1. **Delay to a webhook**: sandboxes are made and run through a lifecycle on the local stack
//!    with a webhook registered at a receiver in this process; for every event, the time from
//!    its change (the event's `timestamp`, written with the change) to its signed delivery
//!    arriving. Prints the median, 95th percentile and maximum. Locally the stream is read
//!    every 100 ms; on AWS a DynamoDB stream invokes its function within about a second.
//! 2. **Deadlines at scale**: 100,000 sandbox records of which 1,000 have a deadline due,
//!    written straight into the table; one run of the `deadlines` workflow. Prints the items
//!    its index query read per deadline due (the sparse `by-deadline` index: goal ≤ 1.1) and its
//!    wall time.
//!
//! `SBX_EVENTS_BENCH_SANDBOXES` (default 5), `SBX_GC_BENCH_RECORDS` and `SBX_GC_BENCH_DUE`
//! change the sizes.

mod common;
mod http;

use http::{call, token, wait_state};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration as Span, Utc};
use sbx_lifecycle::{NewSandbox, Sandbox, SandboxOptions, State};
use sbx_sfn_local::service::Status;
use sbx_stack::{LocalStack, Options, local_sweep_settings, state_machine_arn};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn size(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (event timestamp, arrival) of every delivery.
type Arrivals = Arc<Mutex<Vec<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)>>>;

async fn receiver(arrivals: Arrivals) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/hook",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let arrivals = arrivals.clone();
            async move {
                let arrived = Utc::now();
                let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if let Some(at) = body["timestamp"].as_str().and_then(|t| t.parse().ok())
                    && let Ok(mut arrivals) = arrivals.lock()
                {
                    arrivals.push((at, arrived));
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn delay_to_webhook(sandboxes: usize) {
    let stack = LocalStack::start(Options {
        time_scale: 0.0,
        aws_delay: Duration::ZERO,
        pool_size: 1,
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let http = reqwest::Client::new();
    let api = stack.api_url.clone();
    let token = token(&http, &api, "alice", "Alice-sandbox-1").await;
    let arrivals: Arrivals = Arc::default();
    let url = receiver(arrivals.clone()).await;
    call(
        &http,
        reqwest::Method::POST,
        format!("{api}/webhooks"),
        &token,
        Some(json!({"url": url})),
    )
    .await;
    for i in 0..sandboxes {
        let created = call(
            &http,
            reqwest::Method::POST,
            format!("{api}/sandboxes"),
            &token,
            Some(json!({"name": format!("bench-{i}")})),
        )
        .await;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        wait_state(&http, &api, &token, &id, "started").await;
        call(
            &http,
            reqwest::Method::POST,
            format!("{api}/sandboxes/{id}/stop"),
            &token,
            None,
        )
        .await;
        wait_state(&http, &api, &token, &id, "stopped").await;
        call(
            &http,
            reqwest::Method::DELETE,
            format!("{api}/sandboxes/{id}"),
            &token,
            None,
        )
        .await;
        wait_state(&http, &api, &token, &id, "deleted").await;
    }
    // Six sandbox events each, and the account's.
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().map(|a| a.len()).unwrap_or_default() < sandboxes * 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut delays: Vec<f64> = arrivals
        .lock()
        .map(|a| {
            a.iter()
                .map(|(at, arrived)| (*arrived - *at).num_milliseconds() as f64)
                .collect()
        })
        .unwrap_or_default();
    delays.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("events delivered        {}", delays.len());
    println!("change -> webhook p50   {:.0} ms", pick(0.5));
    println!("change -> webhook p95   {:.0} ms", pick(0.95));
    println!("change -> webhook max   {:.0} ms", pick(1.0));
    stack.stop();
}

fn record(i: usize, due: bool) -> HashMap<String, AttributeValue> {
    let now = Utc::now();
    let new = NewSandbox {
        tenant: format!("tenant-{}", i % 100),
        id: format!("sb-{i:06}"),
        name: format!("bench {i}"),
        options: SandboxOptions::default(),
        expires_at: now + Span::days(20),
    };
    let mut sandbox: Sandbox = Sandbox::create(new, now - Span::hours(2)).record;
    sandbox.state = State::Started;
    sandbox.version = 2;
    let mut item: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&sandbox).unwrap_or_else(|e| panic!("{e}"));
    item.insert("live".into(), AttributeValue::S("live".into()));
    // A deadline due now, or in ten days.
    let deadline = if due {
        now - Span::minutes(1)
    } else {
        now + Span::days(10)
    };
    item.insert("deadline".into(), AttributeValue::S("due".into()));
    item.insert(
        "deadline_at".into(),
        AttributeValue::S(sbx_lifecycle::rfc3339_millis::format(
            &sbx_lifecycle::rfc3339_millis::truncate(deadline),
        )),
    );
    item
}

async fn deadlines_at_scale(records: usize, due: usize) {
    let stack = LocalStack::start(Options {
        time_scale: 0.0,
        aws_delay: Duration::ZERO,
        pool_size: 1,
        sweep: sbx_steps::SweepSettings {
            low_water: 0,
            batch: due.max(1),
            ..local_sweep_settings()
        },
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let every = (records / due.max(1)).max(1);
    let items: Vec<_> = (0..records)
        .map(|i| record(i, i % every == 0 && i / every < due))
        .collect();
    common::put_records(&stack, &items).await;
    let began = Instant::now();
    let execution = stack
        .service
        .start_execution(
            &state_machine_arn("deadlines"),
            Some("deadlines-bench"),
            Some("{}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = execution.finished().await;
    let wall = began.elapsed();
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    let report: Value = serde_json::from_str(outcome.output.as_deref().unwrap_or("null")).unwrap_or_default();
    let read = report["warnings"]["read"].as_u64().unwrap_or_default();
    let found = report["warnings"]["due"].as_u64().unwrap_or_default();
    println!("records                 {records}");
    println!("deadlines due           {due}");
    println!("found due               {found}");
    println!("items read              {read}");
    println!(
        "read / due              {:.3}  (goal <= 1.1)",
        read as f64 / due.max(1) as f64
    );
    println!("deadlines wall time     {:.2} s", wall.as_secs_f64());
    stack.stop();
}

#[tokio::main]
async fn main() {
    delay_to_webhook(size("SBX_EVENTS_BENCH_SANDBOXES", 5)).await;
    deadlines_at_scale(
        size("SBX_GC_BENCH_RECORDS", 100_000),
        size("SBX_GC_BENCH_DUE", 1_000),
    )
    .await;
}
