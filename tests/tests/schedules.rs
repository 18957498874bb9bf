//! Schedules end to end, with time made to pass on the local stack: an autostop stops a
//! started sandbox at its time (once, though two deadline runs look at once), through the stop
//! workflow, with `schedule` as the actor in the trail and in the webhook; the autostart starts
//! it again the next morning; nothing happens before the time.

use sbx_e2e::api::Api;
use sbx_e2e::receiver::Receiver;
use sbx_stack::{LocalStack, Options};
use serde_json::{Value, json};
use std::time::Duration;

async fn stack() -> LocalStack {
    sbx_e2e::stack_with(Options {
        pool_size: 2,
        ..Options::default()
    })
    .await
}

async fn deadlines(stack: &LocalStack, name: &str, at: chrono::DateTime<chrono::Utc>) {
    sbx_e2e::succeed(stack, "deadlines", name, &json!({"as_of": at.to_rfc3339()})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autostop_and_autostart_run_the_workflows_once_at_their_time() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    let hook = api
        .send(
            "POST",
            "/webhooks",
            Some(&alice),
            Some(&json!({"url": receiver.url, "events": ["sandbox.stopping", "sandbox.starting"]})),
        )
        .await;
    assert_eq!(hook.status, 201, "{hook:?}");
    let created = api
        .send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "office-hours", "ttl_hours": 72})),
        )
        .await;
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    api.wait_for(&alice, &id, "started").await;

    // Stop at 19:00 and start at 07:00 in Tokyo, every day.
    let schedule = json!({
        "autostop": {"at": "19:00", "time_zone": "Asia/Tokyo"},
        "autostart": {"at": "07:00", "time_zone": "Asia/Tokyo"}
    });
    let set = api
        .send(
            "PUT",
            &format!("/sandboxes/{id}/schedule"),
            Some(&alice),
            Some(&schedule),
        )
        .await;
    assert_eq!(set.status, 200, "{set:?}");
    let now = chrono::Utc::now();
    let recurrence = |at: &str| sbx_lifecycle::Recurrence {
        at: at.into(),
        days: vec![],
        time_zone: "Asia/Tokyo".into(),
    };
    let stop_at = recurrence("19:00").next_after(now).unwrap_or(now);
    let start_at = recurrence("07:00").next_after(stop_at).unwrap_or(now);

    deadlines(&stack, "before", stop_at - chrono::Duration::minutes(1)).await;
    let record = api
        .send("GET", &format!("/sandboxes/{id}"), Some(&alice), None)
        .await;
    assert_eq!(record.body["state"], "started", "nothing before the time");

    let after = stop_at + chrono::Duration::seconds(20);
    tokio::join!(
        deadlines(&stack, "stop-a", after),
        deadlines(&stack, "stop-b", after)
    );
    api.wait_for(&alice, &id, "stopped").await;
    let trail = api
        .send("GET", &format!("/sandboxes/{id}/events"), Some(&alice), None)
        .await;
    let by_schedule: Vec<&Value> = trail.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["actor"] == "schedule")
        .collect();
    assert_eq!(by_schedule.len(), 1, "one stop, by the schedule: {trail:?}");
    assert_eq!(by_schedule[0]["to"], "stopping");

    deadlines(&stack, "start", start_at + chrono::Duration::seconds(20)).await;
    api.wait_for(&alice, &id, "started").await;

    let received = receiver
        .wait_until(Duration::from_secs(90), |r| r.len() >= 2)
        .await;
    let told: Vec<(String, String)> = received
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["data"]["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            ("sandbox.stopping".to_owned(), "schedule".to_owned()),
            ("sandbox.starting".to_owned(), "schedule".to_owned())
        ]
    );
    receiver.stop();
    stack.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_sandbox_is_warned_then_stopped_and_a_used_one_is_not() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    let hook = api
        .send(
            "POST",
            "/webhooks",
            Some(&alice),
            Some(&json!({"url": receiver.url, "events": ["sandbox.idle", "sandbox.idle-stopped", "sandbox.stopping"]})),
        )
        .await;
    assert_eq!(hook.status, 201, "{hook:?}");
    let mut ids = Vec::new();
    for name in ["quiet", "busy"] {
        let created = api
            .send(
                "POST",
                "/sandboxes",
                Some(&alice),
                Some(&json!({"name": name, "ttl_hours": 72})),
            )
            .await;
        ids.push(created.body["id"].as_str().unwrap_or_default().to_owned());
    }
    let (quiet, busy) = (ids[0].clone(), ids[1].clone());
    let mut account = String::new();
    for id in &ids {
        let record = api.wait_for(&alice, id, "started").await;
        account = record["account_id"].as_str().unwrap_or_default().to_owned();
        let set = api
            .send(
                "PUT",
                &format!("/sandboxes/{id}/schedule"),
                Some(&alice),
                Some(&json!({"idle_minutes": 60})),
            )
            .await;
        assert_eq!(set.status, 200, "{set:?}");
    }
    // Two hours from now both have been started for longer than their timeout.
    let now = chrono::Utc::now();
    let t1 = now + chrono::Duration::hours(2);
    let inspector = sbx_e2e::Account::open(&stack, "acme", &account).await;
    // Nothing reported yet for that hour (CloudWatch's data are late, or missing): the use of
    // both is unknown, and unknown is never idle.
    let ended = sbx_e2e::run(
        &stack,
        "deadlines",
        "idle-no-data",
        &json!({"as_of": t1.to_rfc3339()}),
    )
    .await;
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    let mut unknown: Vec<&str> = ended.output["warnings"]["unknown"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    unknown.sort_unstable();
    let mut expected = vec![format!("acme/{quiet}"), format!("acme/{busy}")];
    expected.sort();
    assert_eq!(unknown, expected, "{:#}", ended.output);
    // EC2's monitoring, as it reports every 5 minutes: the busy one's VMs worked (40% CPU) half
    // an hour before; the quiet one's idled (1%, under the 5% bar) the whole time.
    let minutes = |m: i64| t1 + chrono::Duration::minutes(m);
    for m in (-65..25).step_by(5) {
        inspector.put_cpu(&quiet, 1.0, minutes(m)).await;
    }
    inspector.put_cpu(&busy, 40.0, minutes(-30)).await;

    // The next look is the idle check's, five minutes on.
    deadlines(&stack, "idle-look", minutes(5)).await;
    let warned = receiver
        .wait_until(Duration::from_secs(60), |r| !r.is_empty())
        .await;
    let first: Value = serde_json::from_str(&warned[0].body).unwrap_or(Value::Null);
    assert_eq!(first["type"], "sandbox.idle", "{warned:#?}");
    assert_eq!(first["data"]["sandbox_id"], quiet.as_str());
    assert_eq!(first["data"]["idle_minutes"], 60);

    // A quarter of the timeout (15 minutes) later, still unused: stopped, by the idle stop.
    deadlines(&stack, "idle-stop", minutes(21)).await;
    api.wait_for(&alice, &quiet, "stopped").await;
    let record = api
        .send("GET", &format!("/sandboxes/{busy}"), Some(&alice), None)
        .await;
    assert_eq!(record.body["state"], "started", "the busy one is left running");
    let trail = api
        .send("GET", &format!("/sandboxes/{quiet}/events"), Some(&alice), None)
        .await;
    assert!(
        trail.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["to"] == "stopping" && e["actor"] == "idle"),
        "{trail:?}"
    );
    // The notices are in the sandbox's own partition of the events table, numbered after its
    // trail: one partition is one shard of the stream, so they reach receivers in the
    // sandbox's order (the local stream is read as several shards, as on AWS). The trail
    // shows none of them.
    assert!(
        trail.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| e["to"].is_string()),
        "{trail:?}"
    );
    let direct = sbx_stack::sdk_config(&stack.aws_upstream).await;
    let partition = aws_sdk_dynamodb::Client::new(&direct)
        .query()
        .table_name(&stack.tables.events)
        .key_condition_expression("#p = :p AND #seq >= :notices")
        .expression_attribute_names("#p", "sandbox")
        .expression_attribute_names("#seq", "seq")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("acme#{quiet}")),
        )
        .expression_attribute_values(
            ":notices",
            aws_sdk_dynamodb::types::AttributeValue::N(sbx_store::NOTICES_FROM.to_string()),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let kinds: Vec<&str> = partition
        .items()
        .iter()
        .filter_map(|item| item.get("kind").and_then(|k| k.as_s().ok()).map(String::as_str))
        .collect();
    assert_eq!(kinds, ["idle", "idle_stopped"], "{partition:?}");
    let received = receiver
        .wait_until(Duration::from_secs(60), |r| r.len() >= 3)
        .await;
    let types: Vec<String> = received
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null)["type"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        ["sandbox.idle", "sandbox.stopping", "sandbox.idle-stopped"],
        "{received:#?}"
    );
    receiver.stop();
    stack.stop();
}
