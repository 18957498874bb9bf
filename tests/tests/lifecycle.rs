//! End to end: the four state machines run by the local engine against moto, checked on the
//! AWS resources in the tenant's account and on the records.

use sbx_aws::infra::Present;
use sbx_e2e::{Account, BASE, run, stack, succeed};
use sbx_lifecycle::State;
use sbx_stack::LocalStack;
use sbx_store::{AccountState, AccountStore, LockStore, SandboxStore};
use serde_json::{Value, json};

fn ids(tenant: &str, sandbox: &str) -> Value {
    json!({"tenant": tenant, "sandbox_id": sandbox})
}

async fn state(stack: &LocalStack, tenant: &str, sandbox: &str) -> State {
    stack
        .store
        .get(tenant, sandbox)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .state
}

async fn account_of(stack: &LocalStack, tenant: &str, sandbox: &str) -> String {
    let record = stack
        .store
        .get(tenant, sandbox)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    record
        .account_id
        .unwrap_or_else(|| panic!("{sandbox} has no account"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_stop_start_delete_one_sandbox() {
    let stack = stack(3).await;
    let create =
        json!({"tenant": "acme", "sandbox_id": "s1", "name": "Payments", "constellations": ["payments"]});
    succeed(&stack, "create", "s1-create", &create).await;
    assert_eq!(state(&stack, "acme", "s1").await, State::Started);
    let account = Account::open(&stack, "acme", &account_of(&stack, "acme", "s1").await).await;
    assert_eq!(
        account.sandbox_instances("s1").await,
        ["acp=running", "ocp=running"]
    );
    assert_eq!(account.sandbox_network("s1").await, (1, 1));
    assert_eq!(
        account.target_groups("s1").await,
        1,
        "HTTP only: the sandbox has no amq"
    );
    assert_eq!(account.infrastructure().await, BASE);
    let route = account.sandbox_route_out("s1").await.unwrap_or_default();
    assert!(
        route.starts_with("nat-") && route.ends_with("=available"),
        "the sandbox subnet routes out through an available NAT gateway: {route:?}"
    );
    let record = stack
        .store
        .get("acme", "s1")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoints = record
        .endpoints
        .unwrap_or_else(|| panic!("a started sandbox says where it is reached"));
    assert_eq!(endpoints.web, "http://s1.acme.sandboxes.sbx.localhost/");
    assert_eq!(endpoints.rest, "http://s1.acme.sandboxes.sbx.localhost/api/");
    assert_eq!(endpoints.amq, None, "no amq, no AMQ endpoint");
    let profiles = account.sandbox_instance_profiles("s1").await;
    assert_eq!(profiles.len(), 2);
    assert!(
        profiles.iter().all(|arn| arn.ends_with(&format!(
            "instance-profile/{}",
            sbx_aws::instances::INSTANCE_PROFILE
        ))),
        "ACP and OCP run with the SSM instance profile: {profiles:?}"
    );
    assert!(
        account.has_role("sbx-provisioning").await,
        "the seed put the provisioning role there"
    );
    assert!(
        account.has_role(sbx_aws::instances::INSTANCE_PROFILE).await,
        "the bootstrap put the sandbox VMs' role there"
    );
    assert!(!account.has_role("sbx-no-such-role").await);
    let images = &stack.seed.images;
    let shared = sbx_aws::images::shared_with(&aws_sdk_ec2::Client::new(&stack.config), &images.acp).await;
    assert_eq!(
        shared.ok(),
        Some(vec![account.id.clone()]),
        "the ACP image is shared with the account"
    );

    succeed(&stack, "stop", "s1-stop", &ids("acme", "s1")).await;
    assert_eq!(state(&stack, "acme", "s1").await, State::Stopped);
    assert_eq!(
        account.sandbox_instances("s1").await,
        ["acp=stopped", "ocp=stopped"]
    );
    assert_eq!(account.target_groups("s1").await, 0, "ingress is deregistered");
    assert!(
        account.infrastructure().await.is_empty(),
        "no active sandbox: the account costs nothing"
    );
    assert_eq!(
        account.sandbox_route_out("s1").await,
        None,
        "the route went with the NAT"
    );
    let stopped = stack.store.get("acme", "s1").await.ok();
    assert_eq!(
        stopped.and_then(|r| r.endpoints),
        None,
        "a stopped sandbox is not reached anywhere"
    );
    assert_eq!(
        account.nat_states().await,
        ["deleted"],
        "the stop waited for the NAT to be deleted"
    );
    assert_eq!(account.elastic_ips().await, 0, "and then released its address");
    assert_eq!(
        account.sandbox_network("s1").await,
        (1, 1),
        "the network stays while stopped"
    );

    succeed(&stack, "start", "s1-start", &ids("acme", "s1")).await;
    assert_eq!(state(&stack, "acme", "s1").await, State::Started);
    assert_eq!(
        account.sandbox_instances("s1").await,
        ["acp=running", "ocp=running"]
    );
    assert_eq!(account.target_groups("s1").await, 1);
    assert_eq!(account.infrastructure().await, BASE);
    let route = account.sandbox_route_out("s1").await.unwrap_or_default();
    assert!(route.ends_with("=available"), "a new NAT, a new route: {route:?}");

    succeed(&stack, "delete", "s1-delete", &ids("acme", "s1")).await;
    assert_eq!(state(&stack, "acme", "s1").await, State::Deleted);
    assert!(account.sandbox_instances("s1").await.is_empty());
    assert_eq!(account.sandbox_network("s1").await, (0, 0));
    assert_eq!(account.target_groups("s1").await, 0);
    assert!(account.infrastructure().await.is_empty());
    assert!(account.live_instance_tags().await.is_empty());
    let retired = stack.store.account(&account.id).await.map(|a| a.state);
    assert_eq!(
        retired.ok(),
        Some(AccountState::Expired),
        "the tenant's last sandbox is gone"
    );

    let trail: Vec<(String, String)> = stack
        .store
        .events("acme", "s1", 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| (e.operation.to_string(), e.to.to_string()))
        .collect();
    let expected = [
        ("create", "initializing"),
        ("create", "started"),
        ("stop", "stopping"),
        ("stop", "stopped"),
        ("start", "starting"),
        ("start", "started"),
        ("delete", "deleting"),
        ("delete", "deleted"),
    ];
    assert_eq!(trail, expected.map(|(o, s)| (o.to_owned(), s.to_owned())));
    let lock = stack.store.holder(&format!("account:{}", account.id)).await;
    assert_eq!(lock.ok(), Some(None), "every path released the lock");
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_nlb_exists_only_while_an_amq_sandbox_is_active() {
    let stack = stack(2).await;
    succeed(
        &stack,
        "create",
        "plain-create",
        &json!({"tenant": "acme", "sandbox_id": "plain"}),
    )
    .await;
    let account = Account::open(&stack, "acme", &account_of(&stack, "acme", "plain").await).await;
    assert_eq!(account.infrastructure().await, BASE);

    succeed(
        &stack,
        "create",
        "mq-create",
        &json!({"tenant": "acme", "sandbox_id": "mq", "amq": true}),
    )
    .await;
    assert_eq!(
        account_of(&stack, "acme", "mq").await,
        account.id,
        "one account per tenant"
    );
    assert_eq!(account.infrastructure().await, Present { nlb: true, ..BASE });
    assert_eq!(account.target_groups("mq").await, 2, "HTTP and AMQ target groups");

    succeed(&stack, "stop", "mq-stop", &ids("acme", "mq")).await;
    assert_eq!(
        account.infrastructure().await,
        BASE,
        "the NLB goes with the last active amq sandbox"
    );
    succeed(&stack, "start", "mq-start", &ids("acme", "mq")).await;
    assert_eq!(account.infrastructure().await, Present { nlb: true, ..BASE });
    succeed(&stack, "delete", "mq-delete", &ids("acme", "mq")).await;
    assert_eq!(account.infrastructure().await, BASE);
    assert_eq!(
        account.sandbox_instances("plain").await,
        ["acp=running", "ocp=running"],
        "the other sandbox is untouched"
    );
    succeed(&stack, "delete", "plain-delete", &ids("acme", "plain")).await;
    assert!(account.infrastructure().await.is_empty());
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tenants_live_in_different_accounts() {
    let stack = stack(3).await;
    let (a1, g1) = (
        json!({"tenant": "acme", "sandbox_id": "a1", "smart_client": true}),
        json!({"tenant": "globex", "sandbox_id": "g1"}),
    );
    tokio::join!(
        succeed(&stack, "create", "a-create", &a1),
        succeed(&stack, "create", "g-create", &g1),
    );
    let (acme, globex) = (
        account_of(&stack, "acme", "a1").await,
        account_of(&stack, "globex", "g1").await,
    );
    assert_ne!(acme, globex);
    let acme = Account::open(&stack, "acme", &acme).await;
    let globex = Account::open(&stack, "globex", &globex).await;
    assert_eq!(acme.sandbox_instances("a1").await.len(), 2);
    assert!(
        acme.sandbox_instances("g1").await.is_empty(),
        "acme's account holds nothing of globex"
    );
    assert!(
        globex.sandbox_instances("a1").await.is_empty(),
        "globex's account holds nothing of acme"
    );
    assert!(
        acme.live_instance_tags()
            .await
            .iter()
            .all(|tags| tags.contains("sbx:tenant=acme"))
    );
    assert!(
        globex
            .live_instance_tags()
            .await
            .iter()
            .all(|tags| tags.contains("sbx:tenant=globex"))
    );
    assert_eq!(
        acme.infrastructure().await,
        Present { fleet: true, ..BASE },
        "smart_client: the fleet (stand-in)"
    );
    assert_eq!(globex.infrastructure().await, BASE);
    let other = stack.store.get("globex", "a1").await;
    assert!(other.is_err(), "one tenant cannot read another's record");
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_failure_mid_create_leaves_nothing_behind() {
    let stack = stack(2).await;
    // The SSM installation fails after the instances, network and ingress exist.
    stack
        .functions()
        .handler("install-constellations", |_payload: Value| async {
            Err(sbx_sfn_local::FunctionError::new(
                "Sbx.InstallFailed",
                "constellation cards: package not found",
            ))
        });
    let create = json!({"tenant": "acme", "sandbox_id": "broken", "amq": true, "constellations": ["cards"]});
    let ended = run(&stack, "create", "broken-create", &create).await;
    assert_eq!(ended.status, "FAILED");
    assert_eq!(ended.error.as_deref(), Some("Sbx.InstallFailed"));

    let record = stack
        .store
        .get("acme", "broken")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.state, State::Failed);
    let failure = record
        .failure
        .unwrap_or_else(|| panic!("a failed record says why"));
    assert_eq!(failure.operation, sbx_lifecycle::Operation::Create);
    assert_eq!(failure.error, "Sbx.InstallFailed");
    assert_eq!(failure.cause, "constellation cards: package not found");

    let account = Account::open(&stack, "acme", &record.account_id.unwrap_or_default()).await;
    assert!(
        account.sandbox_instances("broken").await.is_empty(),
        "instances terminated"
    );
    assert_eq!(account.sandbox_network("broken").await, (0, 0), "network deleted");
    assert_eq!(account.target_groups("broken").await, 0, "ingress removed");
    assert!(
        account.infrastructure().await.is_empty(),
        "infrastructure released"
    );
    assert!(account.live_instance_tags().await.is_empty());
    let lock = stack.store.holder(&format!("account:{}", account.id)).await;
    assert_eq!(lock.ok(), Some(None), "the lock is free");

    // A failed sandbox can always be deleted.
    succeed(&stack, "delete", "broken-delete", &ids("acme", "broken")).await;
    assert_eq!(state(&stack, "acme", "broken").await, State::Deleted);
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_image_fails_the_create_with_its_name() {
    let stack = stack(2).await;
    let ec2 = aws_sdk_ec2::Client::new(&stack.config);
    let deregistered = ec2
        .deregister_image()
        .image_id(&stack.seed.images.ocp)
        .send()
        .await;
    assert!(deregistered.is_ok(), "{deregistered:?}");
    let ended = run(
        &stack,
        "create",
        "noimage-create",
        &json!({"tenant": "acme", "sandbox_id": "noimage"}),
    )
    .await;
    assert_eq!(ended.status, "FAILED");
    assert_eq!(ended.error.as_deref(), Some("Sbx.ImageNotFound"));
    let record = stack
        .store
        .get("acme", "noimage")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.state, State::Failed);
    assert!(
        record
            .failure
            .is_some_and(|f| f.cause.contains(&stack.seed.images.ocp)),
        "the cause names the image"
    );
    // The account was allocated before the share failed; nothing was created in it.
    let allocated = stack
        .store
        .tenant_account("acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let account = allocated.unwrap_or_else(|| panic!("acme has an account"));
    let account = Account::open(&stack, "acme", &account.account_id).await;
    assert!(account.live_instance_tags().await.is_empty());
    assert!(account.infrastructure().await.is_empty());
    let lock = stack.store.holder(&format!("account:{}", account.id)).await;
    assert_eq!(lock.ok(), Some(None), "the lock is free");
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_failure_is_retried_and_the_create_succeeds() {
    let stack = stack(2).await;
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let steps = stack.steps.clone();
    let seen = failures.clone();
    // The first launch times out after AWS accepted it: the retry must not launch twice.
    stack
        .functions()
        .handler("launch-instances", move |payload: Value| {
            let steps = steps.clone();
            let seen = seen.clone();
            async move {
                let result = sbx_steps::invoke(&steps, "launch-instances", payload).await;
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err(sbx_sfn_local::FunctionError::new(
                        "Sbx.Transient",
                        "connection reset",
                    ));
                }
                result.map_err(|e| sbx_sfn_local::FunctionError::new(e.name(), e.to_string()))
            }
        });
    succeed(
        &stack,
        "create",
        "retry-create",
        &json!({"tenant": "acme", "sandbox_id": "retry"}),
    )
    .await;
    assert_eq!(
        failures.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "one failure, one retry"
    );
    let account = Account::open(&stack, "acme", &account_of(&stack, "acme", "retry").await).await;
    assert_eq!(
        account.sandbox_instances("retry").await,
        ["acp=running", "ocp=running"],
        "no second instance"
    );
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_sandboxes_in_one_account_run_their_lifecycles_concurrently() {
    let stack = stack(1).await;
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let all = |machine: &'static str| {
        let stack = &stack;
        futures::future::join_all(names.iter().enumerate().map(move |(i, name)| async move {
            let mut input = ids("acme", name);
            if machine == "create" && i % 3 == 0 {
                input["amq"] = json!(true);
            }
            succeed(stack, machine, &format!("{name}-{machine}"), &input).await;
        }))
    };
    all("create").await;
    let account = Account::open(&stack, "acme", &account_of(&stack, "acme", "c0").await).await;
    for name in &names {
        assert_eq!(state(&stack, "acme", name).await, State::Started, "{name}");
        assert_eq!(account_of(&stack, "acme", name).await, account.id);
    }
    assert_eq!(account.infrastructure().await, Present { nlb: true, ..BASE });
    assert_eq!(
        account.live_instance_tags().await.len(),
        10 * 2 + 2,
        "two VMs each, two proxies"
    );

    all("stop").await;
    for name in &names {
        assert_eq!(state(&stack, "acme", name).await, State::Stopped, "{name}");
    }
    assert!(account.infrastructure().await.is_empty(), "nothing is active");
    all("start").await;
    for name in &names {
        assert_eq!(state(&stack, "acme", name).await, State::Started, "{name}");
    }
    assert_eq!(account.infrastructure().await, Present { nlb: true, ..BASE });
    all("delete").await;
    for name in &names {
        assert_eq!(state(&stack, "acme", name).await, State::Deleted, "{name}");
        assert_eq!(account.sandbox_network(name).await, (0, 0), "{name}");
    }
    assert!(account.infrastructure().await.is_empty());
    assert!(account.live_instance_tags().await.is_empty());

    // No two infrastructure changes of the account overlapped in time.
    let mut journal = stack
        .store
        .infra_changes(&account.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    journal.sort_by_key(|change| change.started_at);
    assert!(
        journal.len() >= 40,
        "every create, stop, start and delete changed or checked: {}",
        journal.len()
    );
    for pair in journal.windows(2) {
        assert!(
            pair[0].ended_at <= pair[1].started_at,
            "{:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
    }
    let lock = stack.store.holder(&format!("account:{}", account.id)).await;
    assert_eq!(lock.ok(), Some(None));
    stack.stop();
}

/// The sample inputs an operator pastes into the console run a whole lifecycle as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sample_events_run_a_whole_lifecycle() {
    let stack = stack(2).await;
    let events = sbx_e2e::root().join("events");
    let mut sandbox = None;
    for machine in ["create", "stop", "start", "delete"] {
        let path = events.join(format!("{machine}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        succeed(&stack, machine, &format!("sample-{machine}"), &input).await;
        let (tenant, id) = (
            input["tenant"].as_str().unwrap_or_default(),
            input["sandbox_id"].as_str().unwrap_or_default(),
        );
        sandbox.get_or_insert_with(|| (tenant.to_owned(), id.to_owned()));
        assert_eq!(
            sandbox.as_ref(),
            Some(&(tenant.to_owned(), id.to_owned())),
            "every sample names one sandbox"
        );
        let expected = match machine {
            "create" | "start" => State::Started,
            "stop" => State::Stopped,
            _ => State::Deleted,
        };
        assert_eq!(state(&stack, tenant, id).await, expected, "after {machine}");
    }
    stack.stop();
}

/// Releasing infrastructure only deletes: in an account that never got its network (a create
/// that failed before it), it creates none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn releasing_in_an_account_without_a_network_creates_nothing() {
    let stack = stack(1).await;
    let account = stack
        .store
        .allocate("acme")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lock = format!("account:{}", account.account_id);
    let held = stack
        .store
        .acquire(&lock, "exec-1", std::time::Duration::from_secs(60))
        .await;
    assert!(held.is_ok(), "{held:?}");
    let job = json!({
        "tenant": "acme", "sandbox_id": "never", "operation": "create", "version": 1,
        "execution": "exec-1", "token": "never-create-1", "account_id": account.account_id
    });
    let inspector = sbx_aws::Provisioner::new(stack.config.clone(), "sbx-e2e-inspector");
    let ec2 = aws_sdk_ec2::Client::new(&inspector.open(&account.account_id).await.config);
    let vpcs = || async {
        let found = ec2
            .describe_vpcs()
            .filters(sbx_aws::tags::filter("tag:sbx:account", &account.account_id))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        found.vpcs().len()
    };

    let released = sbx_steps::invoke(&stack.steps, "release-infrastructure", job.clone()).await;
    assert_eq!(
        released.ok(),
        Some(json!({"changes": [], "waiting": [], "settled": true}))
    );
    assert_eq!(vpcs().await, 0, "a release created a network");

    // As the state machine does: again while AWS has not caught up (Sbx.NotYet).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let ensured = loop {
        match sbx_steps::invoke(&stack.steps, "ensure-infrastructure", job.clone()).await {
            Err(err) if err.name() == "Sbx.NotYet" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => break other,
        }
    };
    assert!(ensured.is_ok(), "{ensured:?}");
    assert_eq!(vpcs().await, 1, "an ensure creates the account's network, once");
    stack.stop();
}

/// The states an execution entered, in order.
async fn states_entered(stack: &LocalStack, machine: &str, name: &str) -> Vec<String> {
    let arn = sbx_stack::state_machine_arn(machine).replace(":stateMachine:", ":execution:") + ":" + name;
    let history = sbx_e2e::sfn(stack)
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetExecutionHistory: {e:?}"));
    history
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_stop_stops_the_instances_before_the_infrastructure_goes() {
    let stack = stack(2).await;
    succeed(
        &stack,
        "create",
        "s1-create",
        &json!({"tenant": "acme", "sandbox_id": "s1"}),
    )
    .await;
    // The stop's StopInstances fails for good; the failure branch's own stop goes through.
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let steps = stack.steps.clone();
    let counted = calls.clone();
    stack
        .functions()
        .handler("stop-instances", move |payload: Value| {
            let (steps, calls) = (steps.clone(), counted.clone());
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return Err(sbx_sfn_local::FunctionError::new(
                        "Sbx.Failed",
                        "StopInstances failed: UnsupportedOperation",
                    ));
                }
                sbx_steps::invoke(&steps, "stop-instances", payload)
                    .await
                    .map_err(|e| sbx_sfn_local::FunctionError::new(e.name(), e.to_string()))
            }
        });
    let ended = run(&stack, "stop", "s1-stop", &ids("acme", "s1")).await;
    assert_eq!(ended.status, "FAILED");
    assert_eq!(ended.error.as_deref(), Some("Sbx.Failed"));
    assert_eq!(state(&stack, "acme", "s1").await, State::Failed);

    let entered = states_entered(&stack, "stop", "s1-stop").await;
    let at = |name: &str| {
        entered
            .iter()
            .position(|s| s == name)
            .unwrap_or_else(|| panic!("{name} was not entered: {entered:?}"))
    };
    assert!(
        at("StopInstancesAfterFailure") < at("InstancesStoppedAfterFailureCheck")
            && at("InstancesStoppedAfterFailureCheck") < at("ReleaseInfrastructureAfterFailure"),
        "the instances are stopped, and seen stopped, before the infrastructure is released: {entered:?}"
    );
    let account = Account::open(&stack, "acme", &account_of(&stack, "acme", "s1").await).await;
    assert_eq!(
        account.sandbox_instances("s1").await,
        ["acp=stopped", "ocp=stopped"],
        "no instance is left running without its NAT and proxies"
    );
    assert!(account.infrastructure().await.is_empty());
    assert_eq!(account.elastic_ips().await, 0);
    stack.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_right_after_the_launch_terminates_what_the_launch_returned() {
    // AWS shows a new instance to describes only after a while (here 1 s): the compensation
    // runs before that, and must end what the launch returned, not only what it can see.
    let stack = sbx_e2e::stack_with(sbx_stack::Options {
        pool_size: 1,
        aws_delay: std::time::Duration::from_secs(1),
        ..sbx_stack::Options::default()
    })
    .await;
    stack
        .functions()
        .handler("check-instances", |_payload: Value| async {
            Err(sbx_sfn_local::FunctionError::new(
                "Sbx.Failed",
                "the instances cannot be checked",
            ))
        });
    let create = json!({"tenant": "acme", "sandbox_id": "young", "name": "Young"});
    let ended = run(&stack, "create", "young-create", &create).await;
    assert_eq!(ended.status, "FAILED", "{ended:?}");
    let record = stack
        .store
        .get("acme", "young")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let account = Account::open(&stack, "acme", &record.account_id.clone().unwrap_or_default()).await;
    // Once AWS shows them, both are ended, and none is alive.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while account.ended_instances("young").await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the launched instances were not terminated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(account.ended_instances("young").await, ["acp", "ocp"]);
    assert!(
        account.sandbox_instances("young").await.is_empty(),
        "nothing is left running"
    );
    assert_eq!(account.sandbox_network("young").await, (0, 0), "network deleted");
    assert_eq!(record.failure.map(|f| f.error).as_deref(), Some("Sbx.Failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_accounts_instance_quota_fails_the_create_as_a_quota_and_undoes_it() {
    // Two proxies and the ACP fit; the OCP is over the account's quota of three.
    let stack = sbx_e2e::stack_with(sbx_stack::Options {
        pool_size: 1,
        aws_quotas: "instances=3".into(),
        ..sbx_stack::Options::default()
    })
    .await;
    let create = json!({"tenant": "acme", "sandbox_id": "big", "name": "Big"});
    let ended = run(&stack, "create", "big-create", &create).await;
    assert_eq!(ended.status, "FAILED", "{ended:?}");
    let record = stack
        .store
        .get("acme", "big")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let failure = record
        .failure
        .clone()
        .unwrap_or_else(|| panic!("a failed record says why"));
    assert_eq!(
        failure.error, "Sbx.QuotaExceeded",
        "not retried as if AWS would catch up: {failure:?}"
    );
    assert!(
        failure.cause.contains("service quota") && failure.cause.contains("InstanceLimitExceeded"),
        "{}",
        failure.cause
    );
    let account = Account::open(&stack, "acme", &record.account_id.unwrap_or_default()).await;
    assert!(
        account.sandbox_instances("big").await.is_empty(),
        "the ACP is terminated"
    );
    assert!(
        account.infrastructure().await.is_empty(),
        "the proxies and the rest released"
    );
}
