//! Spend end to end, with time made to pass on the local stack (the `deadlines` workflow run
//! `as_of` later, as `sbx-local gc --as-of` does): the estimates are the pinned prices times the
//! hours, worked out here by hand; two sandboxes split their account's NAT, ALB and proxies;
//! thresholds are recorded once each; the cap stops the sandbox through the stop workflow, with
//! `budget` as the actor; a start the budget cannot pay for is refused, naming the figures.

use chrono::{DateTime, Duration, Utc};
use sbx_e2e::api::Api;
use sbx_stack::{LocalStack, Options};
use serde_json::{Value, json};

/// The pinned prices (infra/prices.json), per hour: an m5.xlarge and an m5.large; 150 GiB of
/// gp3 at $0.08 a GiB-month of 730 hours; the NAT gateway and its address, the ALB and two
/// t3.small proxies.
const RUNNING: f64 = 0.192 + 0.096;
const STORED: f64 = 150.0 * 0.08 / 730.0;
const SHARED: f64 = 0.045 + 0.005 + 0.0225 + 2.0 * 0.0208;

async fn stack() -> LocalStack {
    sbx_e2e::stack_with(Options {
        pool_size: 2,
        ..Options::default()
    })
    .await
}

async fn meter(stack: &LocalStack, name: &str, at: DateTime<Utc>) -> Value {
    let ended = sbx_e2e::run(stack, "deadlines", name, &json!({"as_of": at.to_rfc3339()})).await;
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    ended.output
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("a time: {value}"))
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 3_600_000.0
}

async fn started(api: &Api, token: &str, name: &str) -> (String, DateTime<Utc>) {
    let created = api
        .send(
            "POST",
            "/sandboxes",
            Some(token),
            Some(&json!({"name": name, "ttl_hours": 72})),
        )
        .await;
    assert_eq!(created.status, 202, "{created:?}");
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    api.wait_for(token, &id, "started").await;
    (id, time(&created.body["created_at"]))
}

async fn cost(api: &Api, token: &str, id: &str) -> (f64, f64) {
    let record = api
        .send("GET", &format!("/sandboxes/{id}"), Some(token), None)
        .await;
    let cost = &record.body["cost"];
    (
        cost["estimated_usd"].as_f64().unwrap_or(-1.0),
        cost["rate_usd_per_hour"].as_f64().unwrap_or(-1.0),
    )
}

fn close(got: f64, wanted: f64, tolerance: f64, what: &str) {
    assert!(
        (got - wanted).abs() <= tolerance,
        "{what}: estimated {got}, by hand {wanted}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sandboxes_pay_for_their_vms_and_split_the_shared_infrastructure() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let (a, a_created) = started(&api, &alice, "first").await;
    let (b, b_created) = started(&api, &alice, "second").await;
    let at = a_created + Duration::hours(3);
    let report = meter(&stack, "three-hours", at).await;
    assert_eq!(report["spend"]["metered"], 2, "{report}");

    // a had the shared infrastructure alone until b was created, then half of it.
    let own = RUNNING + STORED;
    let a_wanted = own * hours(a_created, at)
        + SHARED * hours(a_created, b_created)
        + SHARED / 2.0 * hours(b_created, at);
    let b_wanted = own * hours(b_created, at) + SHARED / 2.0 * hours(b_created, at);
    let (a_cost, a_rate) = cost(&api, &alice, &a).await;
    let (b_cost, _) = cost(&api, &alice, &b).await;
    // Before its account was assigned (its first seconds), a sandbox shares nothing.
    close(a_cost, a_wanted, 0.001, "a");
    close(b_cost, b_wanted, 0.001, "b");
    close(a_rate, own + SHARED / 2.0, 0.000_01, "a's rate");

    // The tenant's month is the sum, and the account's too.
    let budget = api.send("GET", "/tenants/acme/budget", Some(&alice), None).await;
    close(
        budget.body["spent_usd"].as_f64().unwrap_or_default(),
        a_cost + b_cost,
        0.000_01,
        "the month",
    );
    let olivia = api.token("olivia").await;
    let record = api
        .send("GET", &format!("/sandboxes/{a}"), Some(&alice), None)
        .await;
    let account = record.body["account_id"].as_str().unwrap_or_default().to_owned();
    let account = api
        .send("GET", &format!("/accounts/{account}"), Some(&olivia), None)
        .await;
    close(
        account.body["cost"]["estimated_usd"].as_f64().unwrap_or_default(),
        a_cost + b_cost,
        0.000_01,
        "the account",
    );

    // A run as of the same time counts nothing twice.
    meter(&stack, "three-hours-again", at).await;
    assert_eq!(cost(&api, &alice, &a).await.0, a_cost);

    // b stops: from then on it pays for its volumes only, and a has the NAT alone.
    let stop = api
        .send("POST", &format!("/sandboxes/{b}/stop"), Some(&alice), None)
        .await;
    assert_eq!(stop.status, 202, "{stop:?}");
    api.wait_for(&alice, &b, "stopped").await;
    let later = at + Duration::hours(2);
    meter(&stack, "five-hours", later).await;
    close(
        cost(&api, &alice, &b).await.0,
        b_cost + STORED * 2.0,
        0.000_01,
        "b stopped",
    );
    close(
        cost(&api, &alice, &a).await.0,
        a_cost + (own + SHARED) * 2.0,
        0.000_01,
        "a alone",
    );
    stack.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn thresholds_fire_once_the_cap_stops_and_a_start_over_budget_is_refused() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let (alice, olivia) = (api.token("alice").await, api.token("olivia").await);
    let (id, created) = started(&api, &alice, "metered").await;
    let set = api
        .send(
            "PUT",
            "/tenants/acme/budget",
            Some(&olivia),
            Some(&json!({"monthly_usd": 5, "sandbox_cap_usd": 3})),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    let rate = RUNNING + STORED + SHARED;

    // 5 h: about $2.09, 42% of the budget and under the cap: nothing happens.
    let report = meter(&stack, "five", created + Duration::hours(5)).await;
    assert_eq!(report["spend"]["thresholds"], json!([]), "{report}");
    close(cost(&api, &alice, &id).await.0, rate * 5.0, 0.001, "5 h");

    // 7.5 h: about $3.14, past 50% and past the $3 cap: one threshold, one stop, by the budget.
    let at = created + Duration::hours(7) + Duration::minutes(30);
    let (first, second) = tokio::join!(meter(&stack, "seven-a", at), meter(&stack, "seven-b", at));
    let told: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|r| r["spend"]["thresholds"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        told,
        [json!("acme: 50%")],
        "once, though two runs looked: {first} {second}"
    );
    let stopped: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|r| r["spend"]["stopped"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(stopped.len(), 1, "{first} {second}");
    api.wait_for(&alice, &id, "stopped").await;
    let trail = api
        .send("GET", &format!("/sandboxes/{id}/events"), Some(&alice), None)
        .await;
    let stop = trail.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["to"] == "stopping").cloned())
        .unwrap_or_default();
    assert_eq!(stop["actor"], "budget", "{trail:?}");
    let budget = api.send("GET", "/tenants/acme/budget", Some(&alice), None).await;
    assert_eq!(budget.body["warned"], json!([50]), "{budget:?}");

    // A start would run it on to its expiry: past the budget, refused with the figures.
    let start = api
        .send("POST", &format!("/sandboxes/{id}/start"), Some(&alice), None)
        .await;
    assert_eq!(start.status, 409, "{start:?}");
    assert_eq!(start.body["type"], "budget-exceeded");
    assert_eq!(start.body["budget_usd"], 5.0);
    let spent = start.body["spent_usd"].as_f64().unwrap_or_default();
    close(spent, rate * 7.5, 0.001, "the month when refused");
    assert!(
        start.body["forecast_usd"].as_f64().unwrap_or_default() > 5.0,
        "{start:?}"
    );
    let record = api
        .send("GET", &format!("/sandboxes/{id}"), Some(&alice), None)
        .await;
    assert_eq!(record.body["state"], "stopped", "a refused start changes nothing");

    // Stopped, it pays for its volumes only.
    let (before, _) = cost(&api, &alice, &id).await;
    meter(&stack, "eight", at + Duration::minutes(30)).await;
    close(
        cost(&api, &alice, &id).await.0,
        before + STORED * 0.5,
        0.000_01,
        "stopped",
    );
    stack.stop();
}
