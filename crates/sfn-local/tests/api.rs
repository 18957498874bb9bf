//! The Step Functions API, driven with the real AWS SDK client.

use aws_credential_types::Credentials;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::{BehaviorVersion, Region};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use sbx_sfn_local::{Engine, Functions, Service, api};
use serde_json::{Value, json};
use std::time::Duration;

struct Server {
    client: Client,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server(time_scale: f64) -> Server {
    let functions = Functions::new();
    functions.handler("echo", |event: Value| async move { Ok(event) });
    let service = Service::new(Engine {
        functions,
        time_scale,
        region: "us-east-1".into(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let task = tokio::spawn(api::serve(service, listener));
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .build();
    Server {
        client: Client::from_conf(config),
        task,
    }
}

const ROLE: &str = "arn:aws:iam::123456789012:role/test";

fn waiting(seconds: u64) -> String {
    json!({"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": seconds, "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": true}
    }})
    .to_string()
}

async fn wait_done(
    client: &Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let described = client
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        if described.status() != &ExecutionStatus::Running {
            return described;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "execution {arn} did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn state_machines_are_created_described_listed_updated_and_deleted()
-> Result<(), Box<dyn std::error::Error>> {
    let server = server(0.0).await;
    let sfn = &server.client;
    let created = sfn
        .create_state_machine()
        .name("create")
        .definition(waiting(0))
        .role_arn(ROLE)
        .send()
        .await?;
    let arn = created.state_machine_arn().to_owned();
    assert_eq!(arn, "arn:aws:states:us-east-1:123456789012:stateMachine:create");

    // The same request again is idempotent; another definition under the name is refused.
    let again = sfn
        .create_state_machine()
        .name("create")
        .definition(waiting(0))
        .role_arn(ROLE)
        .send()
        .await?;
    assert_eq!(again.state_machine_arn(), arn);
    let clash = sfn
        .create_state_machine()
        .name("create")
        .definition(waiting(1))
        .role_arn(ROLE)
        .send()
        .await;
    assert!(
        clash
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_state_machine_already_exists())
    );

    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await?;
    assert_eq!((described.name(), described.role_arn()), ("create", ROLE));
    assert_eq!(described.definition(), waiting(0));

    sfn.update_state_machine()
        .state_machine_arn(&arn)
        .definition(waiting(1))
        .send()
        .await?;
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await?;
    assert_eq!(described.definition(), waiting(1));

    sfn.create_state_machine()
        .name("stop")
        .definition(waiting(0))
        .role_arn(ROLE)
        .send()
        .await?;
    let listed = sfn.list_state_machines().max_results(1).send().await?;
    assert_eq!(listed.state_machines().len(), 1);
    let rest = sfn
        .list_state_machines()
        .set_next_token(listed.next_token().map(str::to_owned))
        .send()
        .await?;
    let mut names: Vec<_> = listed
        .state_machines()
        .iter()
        .chain(rest.state_machines())
        .map(|m| m.name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["create", "stop"]);

    sfn.delete_state_machine().state_machine_arn(&arn).send().await?;
    let gone = sfn.describe_state_machine().state_machine_arn(&arn).send().await;
    assert!(
        gone.map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_state_machine_does_not_exist())
    );
    Ok(())
}

#[tokio::test]
async fn definitions_names_and_arns_are_validated() -> Result<(), Box<dyn std::error::Error>> {
    let server = server(0.0).await;
    let sfn = &server.client;
    let invalid = sfn
        .create_state_machine()
        .name("bad")
        .definition(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}}"#)
        .role_arn(ROLE)
        .send()
        .await
        .map_err(|e| e.into_service_error());
    match invalid {
        Err(e) if e.is_invalid_definition() => {
            assert!(e.to_string().contains("MISSING_TRANSITION_TARGET"), "{e}");
        }
        other => panic!("expected InvalidDefinition, got {other:?}"),
    }
    let bad_name = sfn
        .create_state_machine()
        .name("has space")
        .definition(waiting(0))
        .role_arn(ROLE)
        .send()
        .await;
    assert!(
        bad_name
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_invalid_name())
    );
    let bad_arn = sfn.describe_execution().execution_arn("not-an-arn").send().await;
    assert!(
        bad_arn
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_invalid_arn())
    );
    let missing = sfn
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:create:nope")
        .send()
        .await;
    assert!(
        missing
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_execution_does_not_exist())
    );
    Ok(())
}

#[tokio::test]
async fn executions_run_and_report_output_and_history() -> Result<(), Box<dyn std::error::Error>> {
    let server = server(0.0).await;
    let sfn = &server.client;
    let arn = sfn
        .create_state_machine()
        .name("m")
        .definition(waiting(0))
        .role_arn(ROLE)
        .send()
        .await?
        .state_machine_arn()
        .to_owned();
    let started = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name("run-1")
        .input(r#"{"x":1}"#)
        .send()
        .await?;
    assert_eq!(
        started.execution_arn(),
        "arn:aws:states:us-east-1:123456789012:execution:m:run-1"
    );
    let done = wait_done(sfn, started.execution_arn()).await;
    assert_eq!(done.status(), &ExecutionStatus::Succeeded);
    assert_eq!(done.output(), Some(r#"{"x":1}"#));
    assert_eq!(done.input(), Some(r#"{"x":1}"#));
    assert!(done.stop_date().is_some());

    let history = sfn
        .get_execution_history()
        .execution_arn(started.execution_arn())
        .send()
        .await?;
    let types: Vec<_> = history.events().iter().map(|e| e.r#type().clone()).collect();
    assert_eq!(types.first(), Some(&HistoryEventType::ExecutionStarted));
    assert_eq!(types.last(), Some(&HistoryEventType::ExecutionSucceeded));
    assert!(types.contains(&HistoryEventType::WaitStateEntered));
    assert!(types.contains(&HistoryEventType::LambdaFunctionSucceeded));
    for (i, event) in history.events().iter().enumerate() {
        assert_eq!(event.id(), i as i64 + 1);
        assert_eq!(event.previous_event_id(), i as i64);
    }
    let first_page = sfn
        .get_execution_history()
        .execution_arn(started.execution_arn())
        .max_results(3)
        .reverse_order(true)
        .send()
        .await?;
    assert_eq!(first_page.events().len(), 3);
    assert_eq!(
        first_page.events()[0].r#type(),
        &HistoryEventType::ExecutionSucceeded
    );
    assert!(first_page.next_token().is_some());

    let started_details = history.events()[0]
        .execution_started_event_details()
        .and_then(|d| d.input())
        .map(str::to_owned);
    assert_eq!(started_details.as_deref(), Some(r#"{"x":1}"#));
    Ok(())
}

#[tokio::test]
async fn execution_names_are_idempotent_only_while_running_with_the_same_input()
-> Result<(), Box<dyn std::error::Error>> {
    let server = server(1.0).await;
    let sfn = &server.client;
    let arn = sfn
        .create_state_machine()
        .name("slow")
        .definition(waiting(1))
        .role_arn(ROLE)
        .send()
        .await?
        .state_machine_arn()
        .to_owned();
    let first = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name("once")
        .input("{}")
        .send()
        .await?;
    let same = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name("once")
        .input("{}")
        .send()
        .await?;
    assert_eq!(first.execution_arn(), same.execution_arn());
    let other = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name("once")
        .input(r#"{"a":1}"#)
        .send()
        .await;
    assert!(
        other
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_execution_already_exists())
    );

    wait_done(sfn, first.execution_arn()).await;
    let closed = sfn
        .start_execution()
        .state_machine_arn(&arn)
        .name("once")
        .input("{}")
        .send()
        .await;
    assert!(
        closed
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_execution_already_exists())
    );
    let executions = sfn.list_executions().state_machine_arn(&arn).send().await?;
    assert_eq!(executions.executions().len(), 1, "nothing ran twice");
    Ok(())
}

#[tokio::test]
async fn executions_can_be_stopped_and_listed_by_status() -> Result<(), Box<dyn std::error::Error>> {
    let server = server(1.0).await;
    let sfn = &server.client;
    let slow = sfn
        .create_state_machine()
        .name("slow")
        .definition(waiting(60))
        .role_arn(ROLE)
        .send()
        .await?
        .state_machine_arn()
        .to_owned();
    let mut running = Vec::new();
    for i in 0..4 {
        let started = sfn
            .start_execution()
            .state_machine_arn(&slow)
            .name(format!("e{i}"))
            .send()
            .await?;
        running.push(started.execution_arn().to_owned());
    }
    sfn.stop_execution()
        .execution_arn(&running[0])
        .error("Operator.Cancelled")
        .cause("no longer needed")
        .send()
        .await?;
    let stopped = sfn.describe_execution().execution_arn(&running[0]).send().await?;
    assert_eq!(stopped.status(), &ExecutionStatus::Aborted);
    assert_eq!(
        (stopped.error(), stopped.cause()),
        (Some("Operator.Cancelled"), Some("no longer needed"))
    );

    let aborted = sfn
        .list_executions()
        .state_machine_arn(&slow)
        .status_filter(ExecutionStatus::Aborted)
        .send()
        .await?;
    assert_eq!(aborted.executions().len(), 1);
    let page = sfn
        .list_executions()
        .state_machine_arn(&slow)
        .status_filter(ExecutionStatus::Running)
        .max_results(2)
        .send()
        .await?;
    assert_eq!(page.executions().len(), 2);
    assert_eq!(page.executions()[0].name(), "e3", "newest first");
    let rest = sfn
        .list_executions()
        .state_machine_arn(&slow)
        .status_filter(ExecutionStatus::Running)
        .set_next_token(page.next_token().map(str::to_owned))
        .send()
        .await?;
    assert_eq!(rest.executions().len(), 1);
    assert!(rest.next_token().is_none());
    let tampered = sfn
        .list_executions()
        .state_machine_arn(&slow)
        .next_token("garbage")
        .send()
        .await;
    assert!(
        tampered
            .map_err(|e| e.into_service_error())
            .err()
            .is_some_and(|e| e.is_invalid_token())
    );
    for arn in &running[1..] {
        sfn.stop_execution().execution_arn(arn).send().await?;
    }
    Ok(())
}
