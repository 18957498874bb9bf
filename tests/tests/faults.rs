//! End to end under faults: the fault layer (`sbx_stack::faults`) refuses and loses the
//! answers of a share of every AWS call the stack makes, and every lifecycle still completes,
//! no record is left in a transitional state, and nothing is left behind in any account.

use sbx_e2e::{Account, direct_store, run, stack_with};
use sbx_lifecycle::{Event, State};
use sbx_stack::Options;
use sbx_stack::faults::FaultSpec;
use sbx_store::SandboxStore;
use serde_json::json;

const TENANTS: [&str; 2] = ["acme", "globex"];
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_lifecycles_complete_with_a_fifth_of_aws_calls_faulted() {
    let stack = stack_with(Options {
        pool_size: 2,
        faults: Some(FaultSpec::split(0.2, 12)),
        ..Options::default()
    })
    .await;
    let sandboxes: Vec<(&str, String)> = TENANTS
        .iter()
        .flat_map(|tenant| (0..PER_TENANT).map(move |i| (*tenant, format!("{}-f{i}", &tenant[..1]))))
        .collect();
    for machine in ["create", "stop", "start", "delete"] {
        let ended = futures::future::join_all(sandboxes.iter().map(|(tenant, id)| {
            let stack = &stack;
            async move {
                let input = json!({"tenant": tenant, "sandbox_id": id});
                (
                    id.clone(),
                    run(stack, machine, &format!("{id}-{machine}"), &input).await,
                )
            }
        }))
        .await;
        let failed: Vec<_> = ended.iter().filter(|(_, e)| e.status != "SUCCEEDED").collect();
        assert!(failed.is_empty(), "{machine} did not succeed for {failed:#?}");
    }
    let stats = stack.fault_stats().unwrap_or_default();
    assert!(
        stats.refused > 50 && stats.lost > 50,
        "the layer faulted calls: {stats:?}"
    );

    let store = direct_store(&stack).await;
    let mut accounts = std::collections::BTreeSet::new();
    for (tenant, id) in &sandboxes {
        let record = store.get(tenant, id).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.state, State::Deleted, "{id}");
        let events = store.events(tenant, id).await.unwrap_or_else(|e| panic!("{e}"));
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
    eprintln!("faults: {stats:?}");
    stack.stop();
}
