//! How soon a budget acts (`cargo bench --profile dev --bench spend`).
//!
//! Sandboxes run on the local stack with a budget whose 50% threshold and per-sandbox cap they
//! will cross; time is made to pass as the deployed schedule passes it, one `deadlines` run a
//! minute (`as_of` one minute on each time). For each sandbox it prints when it crossed the cap
//! (from the meter's own figures: the last estimate below it and the rate), when a run first
//! acted, the delay between the two (goal: within one sweep, ≤ 15 min deployed; the schedule
//! runs every minute), and the wall time from that run's start to the stop begun and to the
//! sandbox stopped. The same for the threshold's event.
//!
//! `SBX_SPEND_BENCH_SANDBOXES` (default 3) changes the number of sandboxes.

use chrono::{DateTime, Duration as Span, Utc};
use sbx_sfn_local::service::Status;
use sbx_stack::{LocalStack, Options, state_machine_arn};
mod http;

use http::{call, token, wait_state};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One `deadlines` run as of `at`; its output.
async fn deadlines(stack: &LocalStack, at: DateTime<Utc>, n: usize) -> Value {
    let input = json!({"as_of": at.to_rfc3339()}).to_string();
    let execution = stack
        .service
        .start_execution(
            &state_machine_arn("deadlines"),
            Some(&format!("spend-bench-{n}")),
            Some(&input),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = execution.finished().await;
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    serde_json::from_str(outcome.output.as_deref().unwrap_or("null")).unwrap_or_default()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
}

#[tokio::main]
async fn main() {
    let sandboxes: usize = std::env::var("SBX_SPEND_BENCH_SANDBOXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
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
    let alice = token(&http, &api, "alice", "Alice-sandbox-1").await;
    let olivia = token(&http, &api, "olivia", "Olivia-operator-1").await;
    let mut ids = Vec::new();
    let mut start = None;
    for i in 0..sandboxes {
        let created = call(
            &http,
            reqwest::Method::POST,
            format!("{api}/sandboxes"),
            &alice,
            Some(json!({"name": format!("spend-{i}"), "ttl_hours": 72})),
        )
        .await;
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        start.get_or_insert(time(&created["created_at"]));
        wait_state(&http, &api, &alice, &id, "started").await;
        ids.push(id);
    }
    let start = start.unwrap_or_else(Utc::now);
    // Each sandbox costs about $0.29 + $0.016 an hour and a share of $0.114: a $0.50 cap is
    // crossed a little after an hour and a half; the 50% threshold of $1 per sandbox soon after.
    let cap = 0.5;
    let monthly = sandboxes as f64 * 1.0;
    let set = call(
        &http,
        reqwest::Method::PUT,
        format!("{api}/tenants/acme/budget"),
        &olivia,
        Some(json!({"monthly_usd": monthly, "sandbox_cap_usd": cap, "thresholds": [50]})),
    )
    .await;
    assert!(set["budget"].is_object(), "{set}");

    // (estimate, rate, as_of) at the last run before the cap, per sandbox.
    let mut last: Vec<(f64, f64, DateTime<Utc>)> = vec![(0.0, 0.0, start); sandboxes];
    let mut crossed: Vec<Option<DateTime<Utc>>> = vec![None; sandboxes];
    let mut acted: Vec<Option<(DateTime<Utc>, Instant)>> = vec![None; sandboxes];
    let mut threshold: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut last_spent = (0.0, start);
    let mut run_ms = Vec::new();
    let mut run_ms_by_minute = std::collections::HashMap::new();
    let mut minute = 0;
    while acted.iter().any(Option::is_none) && minute < 24 * 60 {
        minute += 1;
        let at = start + Span::minutes(minute);
        let began = Instant::now();
        let report = deadlines(&stack, at, minute as usize).await;
        run_ms.push(began.elapsed().as_secs_f64() * 1000.0);
        run_ms_by_minute.insert(minute, began.elapsed().as_secs_f64() * 1000.0);
        let stopped: Vec<String> = report["spend"]["stopped"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let record = call(
                &http,
                reqwest::Method::GET,
                format!("{api}/sandboxes/{id}"),
                &alice,
                None,
            )
            .await;
            let cost = &record["cost"];
            let (usd, rate) = (
                cost["estimated_usd"].as_f64().unwrap_or_default(),
                cost["rate_usd_per_hour"].as_f64().unwrap_or_default(),
            );
            if crossed[i].is_none() && usd >= cap {
                // Crossed between the last run and this one, at the rate the last run saw.
                let (before, rate_before, when) = last[i];
                let hours = ((cap - before) / rate_before.max(1e-9)).max(0.0);
                crossed[i] = Some(when + Span::milliseconds((hours * 3_600_000.0) as i64));
            }
            if acted[i].is_none() && stopped.iter().any(|s| s.ends_with(id.as_str())) {
                acted[i] = Some((at, began));
            }
            if usd < cap {
                last[i] = (usd, rate, at);
            }
        }
        if threshold.is_none() {
            let view = call(
                &http,
                reqwest::Method::GET,
                format!("{api}/tenants/acme/budget"),
                &alice,
                None,
            )
            .await;
            let spent = view["spent_usd"].as_f64().unwrap_or_default();
            if view["warned"] == json!([50]) {
                let (before, when) = last_spent;
                let per_hour = (spent - before) / ((at - when).num_milliseconds() as f64 / 3_600_000.0);
                let hours = ((monthly * 0.5 - before) / per_hour.max(1e-9)).max(0.0);
                threshold = Some((when + Span::milliseconds((hours * 3_600_000.0) as i64), at));
            }
            last_spent = (spent, at);
        }
    }
    println!("sandboxes               {sandboxes}");
    println!("deadlines runs          {minute} (one a simulated minute, as the schedule runs them)");
    run_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "run wall time           p50 {:.0} ms, max {:.0} ms",
        run_ms.get(run_ms.len() / 2).copied().unwrap_or_default(),
        run_ms.last().copied().unwrap_or_default()
    );
    // The run that acted began each stop (the record in `stopping`) before it ended.
    let acting_run_ms = run_ms_by_minute.get(&minute).copied().unwrap_or_default();
    for (i, id) in ids.iter().enumerate() {
        let (Some(crossed), Some((at, _))) = (crossed[i], acted[i]) else {
            println!("{id}: did not cross its cap");
            continue;
        };
        println!(
            "{id}: cap crossed at +{:.1} min, acted by the run at +{} min: delay {:.0} s",
            (crossed - start).num_milliseconds() as f64 / 60_000.0,
            (at - start).num_minutes(),
            (at - crossed).num_milliseconds() as f64 / 1000.0,
        );
    }
    let first = acted.iter().flatten().map(|(_, began)| *began).min();
    for id in &ids {
        wait_state(&http, &api, &alice, id, "stopped").await;
    }
    if let Some(first) = first {
        println!(
            "stops begun within the acting run ({acting_run_ms:.0} ms); all stopped {:.0} ms after it began",
            first.elapsed().as_secs_f64() * 1000.0
        );
    }
    if let Some((crossed, at)) = threshold {
        println!(
            "50% threshold: crossed at +{:.1} min, recorded by the run at +{} min: delay {:.0} s",
            (crossed - start).num_milliseconds() as f64 / 60_000.0,
            (at - start).num_minutes(),
            (at - crossed).num_milliseconds() as f64 / 1000.0,
        );
    }
    stack.stop();
}
