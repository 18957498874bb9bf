//! Events out, end to end, as a tenant's receiver and an EventBridge consumer see them: every
//! event of a lifecycle once, in order, signed as the Standard Webhooks specification says
//! (checked with the specification's own library, `standardwebhooks`); a receiver that fails
//! three times gets the event once more and the log says so; a rotated secret and the old one
//! both verify during the grace period; the `sbx` bus carries the same events; and a record of
//! the events table of a shape this version cannot read is parked, never holding up the rest.

use sbx_e2e::api::Api;
use sbx_e2e::receiver::{Received, Receiver};
use sbx_stack::{LocalStack, Options};
use serde_json::{Value, json};
use std::time::Duration;

/// Wait states and retries at a five-hundredth: the schedule's 5 s, 5 min and 30 min are 10 ms,
/// 0.6 s and 3.6 s.
const TIME_SCALE: f64 = 0.002;
const WITHIN: Duration = Duration::from_secs(90);

async fn stack() -> LocalStack {
    LocalStack::start(Options {
        pool_size: 2,
        time_scale: TIME_SCALE,
        aws_delay: sbx_e2e::AWS_DELAY,
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"))
}

/// Registers `url` for alice's tenant; returns the endpoint id and its secret.
async fn register(api: &Api, token: &str, url: &str, events: Value) -> (String, String) {
    let reply = api
        .send(
            "POST",
            "/webhooks",
            Some(token),
            Some(&json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    (
        reply.body["id"].as_str().unwrap_or_default().to_owned(),
        reply.body["secret"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Whether `secret` verifies the request as the specification says (id, timestamp, body).
fn verifies(secret: &str, request: &Received) -> bool {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in [
        ("webhook-id", &request.id),
        ("webhook-timestamp", &request.timestamp),
        ("webhook-signature", &request.signature),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    standardwebhooks::Webhook::new(secret)
        .and_then(|hook| hook.verify(request.body.as_bytes(), &headers))
        .is_ok()
}

fn body(request: &Received) -> Value {
    serde_json::from_str(&request.body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lifecycle_reaches_the_receiver_once_each_in_order_and_signed() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&api, &alice, &receiver.url, json!([])).await;
    let bus = Bus::watch(&stack);

    let id = api.create(&alice, "told").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.wait_for(&alice, &id, "started").await;
    assert_eq!(
        api.send("POST", &format!("/sandboxes/{id}/stop"), Some(&alice), None)
            .await
            .status,
        202
    );
    api.wait_for(&alice, &id, "stopped").await;
    assert_eq!(
        api.send("DELETE", &format!("/sandboxes/{id}"), Some(&alice), None)
            .await
            .status,
        202
    );
    api.wait_for(&alice, &id, "deleted").await;

    let of_sandbox = |r: &Received| body(r)["data"]["sandbox_id"] == id.as_str();
    let received = receiver
        .wait_until(WITHIN, |r| {
            r.iter()
                .any(|x| of_sandbox(x) && body(x)["type"] == "sandbox.deleted")
        })
        .await;
    let mine: Vec<&Received> = received.iter().filter(|r| of_sandbox(r)).collect();
    for request in &mine {
        assert!(verifies(&secret, request), "a bad signature: {request:?}");
        assert!(!verifies("whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCEhIQ==", request));
        assert_eq!(
            body(request)["id"],
            request.id.as_str(),
            "the body's id is the webhook-id"
        );
    }
    let types: Vec<String> = mine
        .iter()
        .map(|r| body(r)["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "sandbox.created",
            "sandbox.started",
            "sandbox.stopping",
            "sandbox.stopped",
            "sandbox.deleting",
            "sandbox.deleted"
        ],
        "each event once, in order"
    );
    let seqs: Vec<u64> = mine
        .iter()
        .map(|r| body(r)["data"]["seq"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>(), "no gap, no duplicate");
    let ids: std::collections::BTreeSet<&str> = mine.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 6);
    // The account the sandbox lived in changed too; the tenant hears of its assignment.
    assert!(
        received.iter().any(|r| body(r)["type"] == "account.assigned"),
        "{received:#?}"
    );

    // The bus carries the same events under the same ids.
    let on_bus = bus.wait_for(WITHIN, &id, 6);
    let bus_ids: std::collections::BTreeSet<String> = on_bus
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bus_ids, ids.iter().map(|s| s.to_string()).collect());
    assert!(on_bus.iter().all(|e| e["source"] == "sbx"), "{on_bus:?}");
    receiver.stop();
    stack.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_gets_the_event_once_more_and_a_rotated_secret_verifies_beside_the_old() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = register(
        &api,
        &alice,
        &receiver.url,
        json!(["sandbox.created", "sandbox.stopped"]),
    )
    .await;
    receiver.fail_next(3);
    let id = api.create(&alice, "flaky").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let received = receiver
        .wait_until(WITHIN, |r| r.iter().any(|x| x.status == 200))
        .await;
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 500, 200],
        "three failures, then one delivery"
    );
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "one event, one id"
    );
    assert!(received.iter().all(|r| verifies(&old, r)));
    let log = api
        .send(
            "GET",
            &format!("/webhooks/{endpoint}/deliveries"),
            Some(&alice),
            None,
        )
        .await;
    let entry = &log.body["items"][0];
    assert_eq!(
        (
            entry["status"].as_str(),
            entry["attempts"].as_u64(),
            entry["last"]["status"].as_u64()
        ),
        (Some("delivered"), Some(4), Some(200)),
        "{log:?}"
    );

    // Rotation: the new secret and the old one both sign what follows.
    let rotated = api
        .send(
            "POST",
            &format!("/webhooks/{endpoint}/rotate"),
            Some(&alice),
            None,
        )
        .await;
    let new = rotated.body["secret"].as_str().unwrap_or_default().to_owned();
    api.wait_for(&alice, &id, "started").await;
    assert_eq!(
        api.send("POST", &format!("/sandboxes/{id}/stop"), Some(&alice), None)
            .await
            .status,
        202
    );
    let received = receiver
        .wait_until(WITHIN, |r| r.iter().any(|x| body(x)["type"] == "sandbox.stopped"))
        .await;
    let stopped = received
        .iter()
        .find(|r| body(r)["type"] == "sandbox.stopped")
        .unwrap_or_else(|| panic!("no sandbox.stopped"));
    assert!(verifies(&new, stopped) && verifies(&old, stopped), "{stopped:?}");
    assert_eq!(stopped.signature.split(' ').count(), 2);

    // Both secrets signed, and neither is in any table: what is stored is KMS's ciphertext.
    let found = secrets_in_tables(&stack, &[&old, &new]).await;
    assert!(found.is_empty(), "secrets stored in plain text: {found:#?}");
    receiver.stop();
    stack.stop();
}

/// Every item of every table, scanned whole past the fault layer, that holds one of `secrets`
/// (or the key inside it, without its `whsec_`), as `table: item`.
async fn secrets_in_tables(stack: &LocalStack, secrets: &[&str]) -> Vec<String> {
    let direct = sbx_stack::sdk_config(&stack.aws_upstream).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&direct);
    let tables = &stack.tables;
    let mut found = Vec::new();
    let mut scanned = 0;
    for table in [
        &tables.sandboxes,
        &tables.events,
        &tables.tenants,
        &tables.locks,
        &tables.accounts,
    ] {
        let mut start = None;
        loop {
            let page = dynamo
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap_or_else(|e| panic!("Scan {table}: {e:?}"));
            for item in page.items() {
                scanned += 1;
                let text = format!("{item:?}");
                let keys = secrets.iter().map(|s| s.trim_start_matches("whsec_"));
                if secrets
                    .iter()
                    .copied()
                    .chain(keys)
                    .any(|s| !s.is_empty() && text.contains(s))
                {
                    found.push(format!("{table}: {text}"));
                }
            }
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
    }
    assert!(scanned > 0, "the tables hold nothing: the scan saw nothing");
    found
}

/// The `sbx` bus, watched as a consumer would: a rule for `source: sbx` sending to an SQS
/// queue, read with boto3 (the workspace has no SQS SDK).
struct Bus {
    endpoint: String,
    queue: String,
}

impl Bus {
    fn watch(stack: &LocalStack) -> Self {
        let queue = python(&stack.aws_upstream, WATCH_PY, &[sbx_stack::EVENT_BUS]);
        Self {
            endpoint: stack.aws_upstream.clone(),
            queue: queue.trim().to_owned(),
        }
    }

    /// The bus events of sandbox `id`, once `count` of them are there.
    fn wait_for(&self, within: Duration, id: &str, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + within;
        let mut events = Vec::new();
        loop {
            let text = python(&self.endpoint, RECEIVE_PY, &[&self.queue]);
            events.extend(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()));
            let mine: Vec<Value> = events
                .iter()
                .filter(|e| e["detail"]["data"]["sandbox_id"] == id)
                .cloned()
                .collect();
            if mine.len() >= count {
                return mine;
            }
            assert!(std::time::Instant::now() < deadline, "the bus had only {mine:#?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn python(endpoint: &str, script: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(sbx_moto::python())
        .arg("-c")
        .arg(script)
        .arg(endpoint)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", sbx_moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", sbx_moto::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", sbx_moto::REGION)
        .output()
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const WATCH_PY: &str = r#"
import sys, json, boto3
endpoint, bus = sys.argv[1:3]
sqs = boto3.client("sqs", endpoint_url=endpoint)
events = boto3.client("events", endpoint_url=endpoint)
url = sqs.create_queue(QueueName="sbx-events")["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
events.put_rule(Name="sbx-all", EventBusName=bus, EventPattern=json.dumps({"source": ["sbx"]}))
events.put_targets(Rule="sbx-all", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
print(url)
"#;

const RECEIVE_PY: &str = r#"
import sys, boto3
endpoint, url = sys.argv[1:3]
sqs = boto3.client("sqs", endpoint_url=endpoint)
while True:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    if not got:
        break
    for m in got:
        print(m["Body"].replace("\n", " "))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
"#;

/// Runs the deadlines as of `at` (the local stack's clock may be moved).
async fn deadlines(stack: &LocalStack, name: &str, at: chrono::DateTime<chrono::Utc>) {
    sbx_e2e::succeed(stack, "deadlines", name, &json!({"as_of": at.to_rfc3339()})).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_warnings_come_once_at_each_threshold_and_again_after_an_extension() {
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    register(&api, &alice, &receiver.url, json!(["sandbox.expiring"])).await;
    let created = api
        .send(
            "POST",
            "/sandboxes",
            Some(&alice),
            Some(&json!({"name": "soon", "ttl_hours": 48})),
        )
        .await;
    assert_eq!(created.status, 202, "{created:?}");
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let expires: chrono::DateTime<chrono::Utc> = created.body["expires_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{created:?}"));
    let hours = |h: i64| chrono::Duration::hours(h);

    deadlines(&stack, "d-47h", expires - hours(47)).await;
    // 23 h before the expiry, twice at once: one warning.
    let (a, b) = tokio::join!(
        deadlines(&stack, "d-23h-a", expires - hours(23)),
        deadlines(&stack, "d-23h-b", expires - hours(23))
    );
    let _ = (a, b);
    deadlines(&stack, "d-22h", expires - hours(22)).await;
    deadlines(&stack, "d-30m", expires - chrono::Duration::minutes(30)).await;
    let told = |r: &[Received]| -> Vec<u64> {
        r.iter()
            .map(|x| body(x)["data"]["threshold_seconds"].as_u64().unwrap_or_default())
            .collect()
    };
    let received = receiver.wait_until(WITHIN, |r| r.len() >= 2).await;
    assert_eq!(told(&received), [86_400, 3_600], "{received:#?}");
    let warning = body(&received[0]);
    assert_eq!(warning["type"], "sandbox.expiring");
    assert_eq!(warning["data"]["sandbox_id"], id.as_str());
    assert_eq!(warning["data"]["links"]["extend"]["method"], "PATCH");
    assert!(
        warning["data"]["links"]["extend"]["href"]
            .as_str()
            .is_some_and(|h| h.ends_with(&format!("/sandboxes/{id}"))),
        "{warning}"
    );

    // Extended by a day: each threshold is told again, for the new expiry.
    let later = expires + hours(24);
    let extended = api
        .send(
            "PATCH",
            &format!("/sandboxes/{id}"),
            Some(&alice),
            Some(&json!({"expires_at": later.to_rfc3339()})),
        )
        .await;
    assert_eq!(extended.status, 200, "{extended:?}");
    deadlines(&stack, "e-23h", later - hours(23)).await;
    deadlines(&stack, "e-30m", later - chrono::Duration::minutes(30)).await;
    deadlines(&stack, "e-20m", later - chrono::Duration::minutes(20)).await;
    let received = receiver.wait_until(WITHIN, |r| r.len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        told(&receiver.received()),
        [86_400, 3_600, 86_400, 3_600],
        "{received:#?}"
    );
    receiver.stop();
    stack.stop();
}

/// A record this version cannot read (put straight into the events table, as a newer version
/// might during an upgrade) is parked whole in the parked-events queue, and the events behind it
/// still reach the receiver: the stream is never held up by it.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_of_an_unknown_shape_is_parked_and_never_holds_up_the_events_behind_it() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = stack().await;
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let receiver = Receiver::start().await;
    register(&api, &alice, &receiver.url, json!(["sandbox.created"])).await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.config);
    dynamodb
        .put_item()
        .table_name(&stack.tables.events)
        .item("sandbox", AttributeValue::S("acme#sb-from-the-future".into()))
        .item("seq", AttributeValue::N("1".into()))
        .item("next_state", AttributeValue::S("hibernated".into()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));
    let id = api.create(&alice, "behind").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    receiver
        .wait_until(WITHIN, |r| {
            r.iter().any(|x| body(x)["data"]["sandbox_id"] == id.as_str())
        })
        .await;
    let sqs = aws_sdk_sqs::Client::new(&stack.config);
    let deadline = std::time::Instant::now() + WITHIN;
    let parked = loop {
        let received = sqs
            .receive_message()
            .queue_url(&stack.parked_events)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)));
        let bodies: Vec<Value> = received
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_str(m.body.as_deref().unwrap_or_default()).ok())
            .collect();
        if let Some(parked) = bodies.into_iter().next() {
            break parked;
        }
        assert!(std::time::Instant::now() < deadline, "nothing was parked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        parked["new_image"]["sandbox"]["S"], "acme#sb-from-the-future",
        "the record is parked whole: {parked}"
    );
    assert_eq!(parked["new_image"]["next_state"]["S"], "hibernated");
    assert!(
        parked["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cannot read")),
        "{parked}"
    );
    assert!(parked["sequence_number"].as_str().is_some_and(|s| !s.is_empty()));
    receiver.stop();
    stack.stop();
}

/// A receiver that fails every delivery for the disabling period (2 s here, 5 days deployed)
/// is disabled: the tenant's other endpoint hears `webhook.disabled`, the endpoint says why,
/// and once enabled it is told `webhook.enabled` and receives again.
#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_down_for_the_whole_period_is_disabled_with_an_event_and_enabled_again() {
    let stack = LocalStack::start(Options {
        pool_size: 2,
        time_scale: TIME_SCALE,
        aws_delay: sbx_e2e::AWS_DELAY,
        webhook_disable_after: Duration::from_secs(2),
        ..Options::default()
    })
    .await
    .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let api = Api::new(&stack);
    let alice = api.token("alice").await;
    let (dead, watcher) = (Receiver::start().await, Receiver::start().await);
    dead.fail_next(usize::MAX);
    let (dead_id, _) = register(&api, &alice, &dead.url, json!(["sandbox.created"])).await;
    register(
        &api,
        &alice,
        &watcher.url,
        json!(["webhook.disabled", "webhook.enabled", "sandbox.created"]),
    )
    .await;

    api.create(&alice, "unheard").await;
    let told = watcher
        .wait_until(WITHIN, |r| {
            r.iter().any(|x| body(x)["type"] == "webhook.disabled")
        })
        .await;
    let disabled = told
        .iter()
        .map(body)
        .find(|b| b["type"] == "webhook.disabled")
        .unwrap_or_default();
    assert_eq!(disabled["data"]["webhook_id"], dead_id.as_str(), "{disabled}");
    assert!(
        disabled["data"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("failed")),
        "{disabled}"
    );
    assert!(
        dead.received().len() >= 2,
        "it was tried until the period ran out"
    );

    let shown = api
        .send("GET", &format!("/webhooks/{dead_id}"), Some(&alice), None)
        .await;
    assert!(shown.body["disabled"]["reason"].is_string(), "{:?}", shown.body);
    let tried = dead.received().len();
    let unsent = api.create(&alice, "unsent").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Published (to the watcher) while the endpoint was disabled.
    watcher
        .wait_until(WITHIN, |r| {
            r.iter().any(|x| body(x)["data"]["sandbox_id"] == unsent.as_str())
        })
        .await;

    let enabled = api
        .send("POST", &format!("/webhooks/{dead_id}/enable"), Some(&alice), None)
        .await;
    assert_eq!(enabled.status, 200, "{enabled:?}");
    assert_eq!(enabled.body["disabled"], Value::Null);
    watcher
        .wait_until(WITHIN, |r| r.iter().any(|x| body(x)["type"] == "webhook.enabled"))
        .await;
    assert_eq!(
        dead.received().len(),
        tried,
        "nothing was sent to it while it was disabled"
    );
    dead.stop();
    watcher.stop();
    stack.stop();
}
