//! End to end under faults: the fault layer (`sbx_stack::faults`) refuses and loses the
//! answers of a share of every AWS call the stack makes, the engine times out, crashes and
//! duplicates a share of the Lambda invocations, and every lifecycle still completes, no
//! record is left in a transitional state, the store is consistent (no lock held, counters
//! right, accounts explained), and nothing is left behind in any account. Half
//! the sandboxes go through the HTTP API (whose calls to the engine are faulted as well), half
//! through executions started as an operator starts them.

use sbx_e2e::api::{Api, Reply};
use sbx_e2e::{Account, direct_store, run, stack_with};
use sbx_lifecycle::{Event, State};
use sbx_stack::Options;
use sbx_stack::faults::FaultSpec;
use sbx_store::SandboxStore;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PER_TENANT: usize = 10;

/// The audit trail of a sandbox that went create → stop → start → delete, each once.
const LIFECYCLE: [State; 8] = [
    State::Initializing,
    State::Started,
    State::Stopping,
    State::Stopped,
    State::Starting,
    State::Started,
    State::Deleting,
    State::Deleted,
];

fn consistent(events: &[Event]) -> Result<(), String> {
    let states: Vec<State> = events.iter().map(|e| e.to).collect();
    if states != LIFECYCLE {
        return Err(format!("states {states:?}"));
    }
    for (i, event) in events.iter().enumerate() {
        if event.seq != i as u64 + 1 {
            return Err(format!("event {i} has seq {}", event.seq));
        }
        let before = i.checked_sub(1).map(|j| events[j].to);
        if event.from != before {
            return Err(format!(
                "event {} goes from {:?}, the one before ended {before:?}",
                event.seq, event.from
            ));
        }
        if event.error.is_some() {
            return Err(format!("event {} carries an error: {event:?}", event.seq));
        }
    }
    Ok(())
}

/// A client that behaves as the API asks: a 503 or 429 is tried again after a moment with the
/// same request (a create with the same Idempotency-Key), and a write answered 409 because
/// its own earlier try (whose answer was a 503) began the operation counts as accepted.
struct Client {
    api: Api,
    token: String,
}

impl Client {
    async fn send(&self, method: &str, path: &str, body: Option<&Value>, key: Option<&str>) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut request = self.api.request(method, path, Some(&self.token));
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let reply = Api::reply(request).await;
            if !matches!(reply.status, 503 | 429) {
                return reply;
            }
            assert!(
                Instant::now() < deadline,
                "{method} {path} unavailable for a minute: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the sandbox is in `state`; `Err` with the record when it failed instead.
    async fn settled(&self, id: &str, state: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(400);
        loop {
            let reply = self.send("GET", &format!("/sandboxes/{id}"), None, None).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let now = reply.body["state"].as_str().unwrap_or_default();
            if now == state {
                return Ok(());
            }
            if now == "failed" {
                return Err(format!("{id} failed: {}", reply.body));
            }
            assert!(Instant::now() < deadline, "{id} is still {now}, not {state}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One lifecycle step through the API; `Err` when it did not reach its end state.
    async fn step(&self, id: &str, machine: &str) -> Result<(), String> {
        let (method, path, running, done) = match machine {
            "stop" => ("POST", format!("/sandboxes/{id}/stop"), "stopping", "stopped"),
            "start" => ("POST", format!("/sandboxes/{id}/start"), "starting", "started"),
            _ => ("DELETE", format!("/sandboxes/{id}"), "deleting", "deleted"),
        };
        let reply = self.send(method, &path, None, None).await;
        let state = reply.body["state"].as_str().unwrap_or_default();
        let accepted = reply.status == 202 || (reply.status == 409 && (state == running || state == done));
        if !accepted {
            return Err(format!("{machine} {id}: {reply:?}"));
        }
        self.settled(id, done).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_lifecycles_complete_with_a_fifth_of_aws_calls_faulted() {
    let stack = stack_with(Options {
        pool_size: 2,
        faults: Some(FaultSpec::split(0.2, 12)),
        ..Options::default()
    })
    .await;
    // globex's sandboxes are driven as an operator drives them, by executions; acme's through
    // the HTTP API, as alice (whose calls to the engine are faulted too).
    let operated: Vec<String> = (0..PER_TENANT).map(|i| format!("g-f{i}")).collect();
    let api = Api::new(&stack);
    let alice = Client {
        token: api.token("alice").await,
        api,
    };
    let mut through_api = Vec::new();
    for i in 0..PER_TENANT {
        let key = format!("faults-create-{i}");
        let body = json!({"name": format!("a-f{i}")});
        let reply = alice.send("POST", "/sandboxes", Some(&body), Some(&key)).await;
        assert_eq!(reply.status, 202, "create a-f{i}: {reply:?}");
        through_api.push(reply.body["id"].as_str().unwrap_or_default().to_owned());
    }
    for machine in ["create", "stop", "start", "delete"] {
        let operate = futures::future::join_all(operated.iter().map(|id| {
            let stack = &stack;
            async move {
                let input = json!({"tenant": "globex", "sandbox_id": id});
                let ended = run(stack, machine, &format!("{id}-{machine}"), &input).await;
                if ended.status == "SUCCEEDED" {
                    Ok(())
                } else {
                    Err(format!("{machine} {id}: {ended:?}"))
                }
            }
        }));
        let drive = futures::future::join_all(through_api.iter().map(|id| {
            let alice = &alice;
            async move {
                match machine {
                    "create" => alice.settled(id, "started").await,
                    _ => alice.step(id, machine).await,
                }
            }
        }));
        let (operated, driven) = futures::join!(operate, drive);
        let failed: Vec<String> = operated
            .into_iter()
            .chain(driven)
            .filter_map(Result::err)
            .collect();
        assert!(failed.is_empty(), "{machine} did not succeed: {failed:#?}");
    }
    let stats = stack.fault_stats().unwrap_or_default();
    assert!(
        stats.refused > 50 && stats.lost > 50,
        "the layer faulted calls: {stats:?}"
    );
    let engine = stack.engine_fault_stats().unwrap_or_default();
    assert!(
        engine.refused + engine.lost > 0,
        "calls to the engine were faulted: {engine:?}"
    );
    let sandboxes: Vec<(&str, String)> = through_api
        .iter()
        .map(|id| ("acme", id.clone()))
        .chain(operated.iter().map(|id| ("globex", id.clone())))
        .collect();

    let store = direct_store(&stack).await;
    let mut accounts = std::collections::BTreeSet::new();
    for (tenant, id) in &sandboxes {
        let record = store.get(tenant, id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.state, State::Deleted, "{id}");
        let events = store
            .events(tenant, id, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if let Err(why) = consistent(&events) {
            panic!("{id}'s audit trail: {why}: {events:#?}");
        }
        accounts.insert((
            *tenant,
            record.account_id.unwrap_or_else(|| panic!("{id} has no account")),
        ));
    }
    assert_eq!(accounts.len(), 2, "one account per tenant: {accounts:?}");
    for (tenant, id) in accounts {
        let account = Account::open(&stack, tenant, &id).await;
        assert_eq!(
            account.leftovers().await,
            Vec::<String>::new(),
            "left in {tenant}'s account {id}"
        );
    }
    let problems = sbx_e2e::dynamo_problems(&stack, &["acme", "globex"]).await;
    assert!(problems.is_empty(), "the store after the run: {problems:#?}");
    let lambda = stack.lambda_fault_stats().unwrap_or_default();
    assert!(
        lambda.timeouts > 0 && lambda.crashes > 0 && lambda.duplicates > 0,
        "Lambda's own failures were injected: {lambda:?}"
    );
    eprintln!("faults before AWS: {stats:?}; before the engine: {engine:?}; Lambda: {lambda:?}");
    stack.stop();
}
