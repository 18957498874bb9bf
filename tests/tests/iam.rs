//! Every function runs under its own template role, and the local AWS refuses what that role
//! does not allow: a role with one action taken away makes the lifecycle fail, and the
//! sandbox's record names the action. One action per family of roles: the steps' own
//! (infra/template.yaml), the provisioning role in the member accounts
//! (infra/provisioning-role.yaml), the API's and the sweep's.

use sbx_e2e::{run, stack_with};
use sbx_stack::{LocalStack, Options};
use sbx_store::SandboxStore;
use serde_json::json;

/// The template with `action` taken from the policies of `role` (the role's own block, up to
/// the next resource): its line names `stand_in` instead, an action the role does not need, so
/// that a statement of one action stays a valid policy.
fn template_without(role: &str, action: &str, stand_in: &str) -> String {
    let text = sbx_store::schema::TEMPLATE;
    let start = text
        .find(&format!("\n  {role}:\n"))
        .unwrap_or_else(|| panic!("no role {role} in the template"));
    // The next resource: a line of two spaces and a name.
    let end = text[start + 1..]
        .match_indices("\n  ")
        .map(|(i, _)| start + 1 + i)
        .find(|&i| text[i + 3..].starts_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(text.len());
    let line = format!("                  - {action}\n");
    let block = &text[start..end];
    assert!(
        block.contains(&line),
        "{role} does not allow {action} on a line of its own"
    );
    let other = format!("                  - {stand_in}\n");
    format!(
        "{}{}{}",
        &text[..start],
        block.replacen(&line, &other, 1),
        &text[end..]
    )
}

async fn stack_without(role: &str, action: &str, stand_in: &str) -> LocalStack {
    stack_with(Options {
        pool_size: 1,
        template: Some(template_without(role, action, stand_in)),
        ..Options::default()
    })
    .await
}

/// Asserts that `cause` names each of `parts` (the action, the role, ...).
fn assert_names(cause: &str, parts: &[&str]) {
    for part in parts {
        assert!(cause.contains(part), "{part:?} is not named in: {cause}");
    }
}

/// The record of `s1` for `acme`.
async fn record(stack: &LocalStack) -> sbx_lifecycle::Sandbox {
    stack
        .store
        .get("acme", "s1")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a create of `s1` for `acme` and returns the failed record's cause.
async fn failed_create(stack: &LocalStack) -> String {
    let input = json!({"tenant": "acme", "sandbox_id": "s1", "name": "Denied"});
    let ended = run(stack, "create", "s1-create", &input).await;
    assert_eq!(ended.status, "FAILED", "{ended:?}");
    let record = record(stack).await;
    assert_eq!(record.state, sbx_lifecycle::State::Failed, "{record:?}");
    let failure = record
        .failure
        .unwrap_or_else(|| panic!("a failed record says why"));
    failure.cause
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_without_an_action_of_its_role_fails_the_create_naming_it() {
    let stack = stack_without(
        "AllocateAccountRole",
        "ec2:ModifyImageAttribute",
        "ec2:DescribeTags",
    )
    .await;
    assert_names(
        &failed_create(&stack).await,
        &[
            "not authorized to perform: ec2:ModifyImageAttribute",
            "UnauthorizedOperation",
            "assumed-role/AllocateAccountRole/allocate-account",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_provisioning_role_without_run_instances_fails_the_create_naming_it() {
    let stack = sbx_e2e::stack(1).await;
    // The provisioning role of every member account, put again without ec2:RunInstances, as a
    // StackSet would update it.
    let policy = sbx_aws::organizations::provisioning_policy().unwrap_or_else(|e| panic!("{e}"));
    let broken = policy.replacen("\"ec2:RunInstances\",", "", 1);
    assert_ne!(broken, policy, "the provisioning role allows ec2:RunInstances");
    let bootstrap = sbx_aws::Provisioner::new(stack.config.clone(), sbx_aws::organizations::BOOTSTRAP_ROLE);
    for account in &stack.seed.accounts {
        let member = bootstrap.open(account).await.config;
        aws_sdk_iam::Client::new(&member)
            .put_role_policy()
            .role_name("sbx-provisioning")
            .policy_name("sbx-lifecycle")
            .policy_document(&broken)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRolePolicy: {e:?}"));
    }
    assert_names(
        &failed_create(&stack).await,
        &[
            "not authorized to perform: ec2:RunInstances",
            "assumed-role/sbx-provisioning/",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweep_without_start_execution_fails_the_expired_sandbox_naming_it() {
    let stack = stack_without(
        "DeleteExpiredRole",
        "states:StartExecution",
        "states:ListExecutions",
    )
    .await;
    let input = json!({"tenant": "acme", "sandbox_id": "s1", "name": "Expiring", "ttl_hours": 1});
    let ended = run(&stack, "create", "s1-create", &input).await;
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    run(&stack, "gc", "gc-later", &json!({"as_of": later.to_rfc3339()})).await;
    // The sweep could not start the deletion: the record says so, naming the action, and the
    // sandbox's machines are still there to be deleted again.
    let record = record(&stack).await;
    let failure = record
        .failure
        .unwrap_or_else(|| panic!("the record says why: {:?}", record.state));
    assert_eq!(failure.operation, sbx_lifecycle::Operation::Delete);
    assert_names(
        &failure.cause,
        &[
            "not authorized to perform: states:StartExecution",
            "assumed-role/DeleteExpiredRole/delete-expired",
        ],
    );
    let account = sbx_e2e::Account::open(&stack, "acme", &record.account_id.unwrap_or_default()).await;
    assert_eq!(
        account.sandbox_instances("s1").await,
        ["acp=running", "ocp=running"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_engine_without_invoke_on_a_step_fails_the_create_naming_it() {
    let stack = stack_without(
        "CreateStateMachineRole",
        "!GetAtt LaunchInstancesFunction.Arn",
        "!GetAtt CheckDriftFunction.Arn",
    )
    .await;
    assert_names(
        &failed_create(&stack).await,
        &[
            "not authorized to perform: lambda:InvokeFunction",
            ":function:launch-instances",
            "assumed-role/CreateStateMachineRole/",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_without_start_execution_answers_503_and_fails_the_record_naming_it() {
    let stack = stack_without(
        "ApiSandboxesRole",
        "!Ref CreateStateMachine",
        "!Ref GcStateMachine",
    )
    .await;
    let api = sbx_e2e::api::Api::new(&stack);
    let token = api.token("alice").await;
    let created = api
        .send(
            "POST",
            "/sandboxes",
            Some(&token),
            Some(&json!({"name": "denied"})),
        )
        .await;
    assert_eq!(
        created.status, 503,
        "a dependency refused, not the client: {created:?}"
    );
    let listed = api.send("GET", "/sandboxes", Some(&token), None).await;
    let record = listed.body["items"]
        .as_array()
        .and_then(|items| items.first())
        .cloned()
        .unwrap_or_else(|| panic!("the record is kept: {listed:?}"));
    assert_eq!(record["state"], "failed", "{record}");
    assert_names(
        record["failure"]["cause"].as_str().unwrap_or_default(),
        &[
            "not authorized to perform: states:StartExecution",
            "assumed-role/ApiSandboxesRole/api-sandboxes",
        ],
    );
}
