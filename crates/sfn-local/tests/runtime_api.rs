//! A real `bootstrap` (built on `lambda_runtime`) invoked through the Lambda Runtime API, both
//! in-process and through the `sfn-local serve` command.

use sbx_sfn_local::invoke::Function;
use sbx_sfn_local::service::{Outcome, Status};
use sbx_sfn_local::{Engine, Functions, RuntimeFunction, Service};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The fixture executable, built if this test run did not build it already.
fn fixture() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = dir.join("lambda-fixture");
    if !path.is_file() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "sbx-lambda-fixture"])
            .status()
            .unwrap_or_else(|e| panic!("cannot build the fixture: {e}"));
        assert!(status.success(), "building sbx-lambda-fixture failed");
    }
    assert!(path.is_file(), "no fixture at {}", path.display());
    path
}

fn function() -> RuntimeFunction {
    RuntimeFunction::new("fixture", fixture(), "us-east-1", "123456789012")
}

async fn run(function: &RuntimeFunction, definition: Value, input: Value) -> Outcome {
    let functions = Functions::new();
    functions.register("fixture", Arc::new(function.clone()));
    let service = Service::new(Engine {
        functions,
        time_scale: 0.0,
        region: "us-east-1".into(),
    });
    let machine = service
        .create_state_machine("m", &definition.to_string(), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let execution = service
        .start_execution(&machine.arn, None, Some(&input.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    tokio::time::timeout(Duration::from_secs(60), execution.finished())
        .await
        .unwrap_or_else(|_| panic!("the execution did not end"))
}

const FIXTURE: &str = "arn:aws:lambda:us-east-1:123456789012:function:fixture";

fn output(outcome: &Outcome) -> Value {
    assert_eq!(outcome.status, Status::Succeeded, "{outcome:?}");
    serde_json::from_str(outcome.output.as_deref().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_warm_process_serves_the_next_invocation_and_concurrent_ones_get_their_own() {
    let function = function();
    let first = function
        .invoke(json!({"action": "pid"}))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let second = function
        .invoke(json!({"action": "pid"}))
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(first, second, "the second invocation reuses the warm process");
    let cold = function.cold_starts();
    assert_eq!(cold.len(), 1);
    assert!(cold[0].init_duration > Duration::ZERO);

    let (a, b) = tokio::join!(
        function.invoke(json!({"action": "sleep", "ms": 300})),
        function.invoke(json!({"action": "sleep", "ms": 300}))
    );
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(
        function.cold_starts().len(),
        2,
        "a concurrent invocation starts a second process"
    );
    assert_eq!(function.idle_workers(), 2);
}

#[tokio::test]
async fn a_function_error_is_an_asl_error_named_by_its_error_type() {
    let definition = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": FIXTURE,
              "Catch": [{"ErrorEquals": ["Sbx.Conflict"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
        "Caught": {"Type": "Pass", "End": true}
    }});
    let out = output(
        &run(
            &function(),
            definition,
            json!({"action": "fail", "errorType": "Sbx.Conflict", "message": "sandbox busy"}),
        )
        .await,
    );
    assert_eq!(out["error"]["Error"], json!("Sbx.Conflict"));
    let cause: Value =
        serde_json::from_str(out["error"]["Cause"].as_str().unwrap_or("{}")).unwrap_or_default();
    assert_eq!(cause["errorType"], json!("Sbx.Conflict"));
    assert_eq!(cause["errorMessage"], json!("sandbox busy"));
}

#[tokio::test]
async fn a_failing_function_is_retried_until_it_succeeds() {
    let counter = std::env::temp_dir().join(format!("sbx-flaky-{}", uuid::Uuid::new_v4()));
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": FIXTURE,
        "Retry": [{"ErrorEquals": ["Flaky.Error"], "MaxAttempts": 3}],
        "End": true
    }}});
    let input = json!({"action": "flaky", "failures": 2, "counter": counter.to_string_lossy()});
    let out = output(&run(&function(), definition, input).await);
    assert_eq!(out, json!({"calls": 3}));
    let _ = std::fs::remove_file(counter);
}

#[tokio::test]
async fn a_task_timeout_kills_the_process_and_the_next_invocation_starts_fresh() {
    let function = function();
    let definition = json!({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": FIXTURE, "TimeoutSeconds": 1, "End": true
    }}});
    let outcome = run(&function, definition, json!({"action": "sleep", "ms": 10000})).await;
    assert_eq!(outcome.status, Status::Failed);
    assert_eq!(outcome.error.as_deref(), Some("States.Timeout"));
    assert_eq!(function.idle_workers(), 0, "the timed-out process is not reused");
    let again = function.invoke(json!({"action": "echo", "v": 1})).await;
    assert_eq!(again, Ok(json!({"action": "echo", "v": 1})));
    assert_eq!(function.cold_starts().len(), 2);
}

#[tokio::test]
async fn a_crashing_function_is_a_runtime_exit_error() {
    let function = function();
    let result = function.invoke(json!({"action": "exit"})).await;
    match result {
        Err(sbx_sfn_local::invoke::InvokeError::Function { error_type, .. }) => {
            assert_eq!(error_type, "Runtime.ExitError")
        }
        other => panic!("expected Runtime.ExitError, got {other:?}"),
    }
}

/// The command line: `sfn-local serve` with a function and a directory of definitions, driven
/// with the SDK.
#[tokio::test]
async fn the_serve_command_runs_definitions_from_a_directory() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("sbx-sfn-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("hello.asl.json"),
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${FixtureArn}", "End": true}}})
            .to_string(),
    )?;
    std::fs::write(
        dir.join("substitutions.json"),
        json!({"FixtureArn": FIXTURE}).to_string(),
    )?;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sfn-local"))
        .args(["serve", "--port", "0", "--time-scale", "0"])
        .arg("--function")
        .arg(format!("fixture={}", fixture().display()))
        .arg("--state-machines")
        .arg(&dir)
        .arg("--substitutions")
        .arg(dir.join("substitutions.json"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await??
        .unwrap_or_default();
    let endpoint = line.rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{line}");

    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "a", "b", None, None, "test",
        ))
        .build();
    let sfn = aws_sdk_sfn::Client::from_conf(config);
    let started = sfn
        .start_execution()
        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:hello")
        .input(r#"{"action":"echo","hello":"world"}"#)
        .send()
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let described = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(started.execution_arn())
            .send()
            .await?;
        if described.status() != &aws_sdk_sfn::types::ExecutionStatus::Running {
            break described;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        described.status(),
        &aws_sdk_sfn::types::ExecutionStatus::Succeeded
    );
    assert_eq!(described.output(), Some(r#"{"action":"echo","hello":"world"}"#));

    child.start_kill()?;
    child.wait().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
