//! The Step Functions API over HTTP: AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Operation>`.

use crate::service::{Execution, Outcome, Service, ServiceError, StateMachine, Status, history_json};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

pub fn router(service: Service) -> Router {
    Router::new().route("/", post(dispatch)).with_state(service)
}

/// Serves the API on `listener` until the future is dropped.
pub async fn serve(service: Service, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router(service)).await
}

enum ApiError {
    Service(ServiceError),
    Protocol(StatusCode, &'static str, String),
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        ApiError::Service(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::Service(err) => (StatusCode::BAD_REQUEST, err.code(), err.to_string()),
            ApiError::Protocol(status, code, message) => (status, code, message),
        };
        let body =
            json!({"__type": format!("com.amazonaws.swf.service.v2.model#{code}"), "message": message});
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(code) = HeaderValue::from_str(code) {
            headers.insert("x-amzn-errortype", code);
        }
        response
    }
}

async fn dispatch(State(service): State<Service>, headers: HeaderMap, body: Bytes) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|target| target.strip_prefix("AWSStepFunctions."))
        .unwrap_or_default()
        .to_owned();
    let result = handle(&service, &operation, &body).await;
    match result {
        Ok(value) => {
            let mut response = (StatusCode::OK, value.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(err) => err.into_response(),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::Protocol(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!("invalid request: {e}"),
        )
    })
}

fn time(at: DateTime<Utc>) -> Value {
    json!(at.timestamp_millis() as f64 / 1000.0)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateStateMachine {
    name: String,
    definition: String,
    role_arn: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateStateMachine {
    state_machine_arn: String,
    definition: Option<String>,
    role_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateMachineRef {
    state_machine_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListRequest {
    state_machine_arn: Option<String>,
    status_filter: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartExecution {
    state_machine_arn: String,
    name: Option<String>,
    input: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionRef {
    execution_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRequest {
    execution_arn: String,
    max_results: Option<usize>,
    next_token: Option<String>,
    #[serde(default)]
    reverse_order: bool,
    include_execution_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopExecution {
    execution_arn: String,
    error: Option<String>,
    cause: Option<String>,
}

async fn handle(service: &Service, operation: &str, body: &[u8]) -> Result<Value, ApiError> {
    match operation {
        "CreateStateMachine" => {
            let request: CreateStateMachine = parse(body)?;
            if request.kind.as_deref().is_some_and(|kind| kind != "STANDARD") {
                return Err(
                    ServiceError::Validation("only STANDARD state machines are supported".into()).into(),
                );
            }
            let machine = service.create_state_machine(
                &request.name,
                &request.definition,
                request.role_arn.as_deref(),
            )?;
            Ok(json!({"stateMachineArn": machine.arn, "creationDate": time(machine.created)}))
        }
        "UpdateStateMachine" => {
            let request: UpdateStateMachine = parse(body)?;
            service.update_state_machine(
                &request.state_machine_arn,
                request.definition.as_deref(),
                request.role_arn.as_deref(),
            )?;
            Ok(json!({"updateDate": time(Utc::now())}))
        }
        "DescribeStateMachine" => {
            let request: StateMachineRef = parse(body)?;
            let machine = service.state_machine(&request.state_machine_arn)?;
            Ok(describe_state_machine(&machine))
        }
        "ListStateMachines" => {
            let request: ListRequest = parse(body)?;
            let machines = service.state_machines();
            let (page, next) = paginate(&machines, request.max_results, request.next_token.as_deref())?;
            let items: Vec<Value> = page
                .iter()
                .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": time(m.created)}))
                .collect();
            Ok(with_token(json!({"stateMachines": items}), next))
        }
        "DeleteStateMachine" => {
            let request: StateMachineRef = parse(body)?;
            service.delete_state_machine(&request.state_machine_arn)?;
            Ok(json!({}))
        }
        "StartExecution" => {
            let request: StartExecution = parse(body)?;
            let execution = service.start_execution(
                &request.state_machine_arn,
                request.name.as_deref(),
                request.input.as_deref(),
            )?;
            Ok(json!({"executionArn": execution.arn, "startDate": time(execution.started)}))
        }
        "DescribeExecution" => {
            let request: ExecutionRef = parse(body)?;
            let execution = service.execution(&request.execution_arn)?;
            Ok(describe_execution(&execution))
        }
        "ListExecutions" => {
            let request: ListRequest = parse(body)?;
            let arn = request
                .state_machine_arn
                .ok_or_else(|| ServiceError::Validation("stateMachineArn is required".into()))?;
            let status = match request.status_filter.as_deref() {
                Some(text) => Some(
                    Status::parse(text)
                        .ok_or_else(|| ServiceError::Validation(format!("unknown statusFilter {text}")))?,
                ),
                None => None,
            };
            let executions = service.executions(&arn, status)?;
            let (page, next) = paginate(&executions, request.max_results, request.next_token.as_deref())?;
            let items: Vec<Value> = page.iter().map(|e| execution_summary(e)).collect();
            Ok(with_token(json!({"executions": items}), next))
        }
        "GetExecutionHistory" => {
            let request: HistoryRequest = parse(body)?;
            let execution = service.execution(&request.execution_arn)?;
            let mut events = history_json(&execution);
            if request.reverse_order {
                events.reverse();
            }
            if request.include_execution_data == Some(false) {
                for event in &mut events {
                    strip_data(event);
                }
            }
            let (page, next) = paginate(&events, request.max_results, request.next_token.as_deref())?;
            Ok(with_token(json!({"events": page}), next))
        }
        "StopExecution" => {
            let request: StopExecution = parse(body)?;
            let outcome = service.stop_execution(
                &request.execution_arn,
                request.error.as_deref(),
                request.cause.as_deref(),
            )?;
            Ok(json!({"stopDate": time(outcome.stopped.unwrap_or_else(Utc::now))}))
        }
        other => Err(ApiError::Protocol(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("unknown operation {other:?}"),
        )),
    }
}

fn describe_state_machine(machine: &StateMachine) -> Value {
    json!({
        "stateMachineArn": machine.arn,
        "name": machine.name,
        "status": "ACTIVE",
        "definition": machine.definition_text,
        "roleArn": machine.role_arn,
        "type": "STANDARD",
        "creationDate": time(machine.created),
        "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
        "tracingConfiguration": {"enabled": false},
    })
}

fn execution_summary(execution: &Execution) -> Value {
    let outcome = execution.outcome();
    let mut summary = json!({
        "executionArn": execution.arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": outcome.status.as_str(),
        "startDate": time(execution.started),
    });
    if let Some(stopped) = outcome.stopped {
        summary["stopDate"] = time(stopped);
    }
    summary
}

fn describe_execution(execution: &Execution) -> Value {
    let Outcome {
        status: _,
        stopped: _,
        output,
        error,
        cause,
    } = execution.outcome();
    let mut description = execution_summary(execution);
    description["input"] = json!(execution.input);
    description["inputDetails"] = json!({"included": true});
    if let Some(output) = output {
        description["output"] = json!(output);
        description["outputDetails"] = json!({"included": true});
    }
    if let Some(error) = error {
        description["error"] = json!(error);
    }
    if let Some(cause) = cause {
        description["cause"] = json!(cause);
    }
    description["redriveCount"] = json!(0);
    description
}

fn strip_data(event: &mut Value) {
    if let Some(object) = event.as_object_mut() {
        for (key, details) in object.iter_mut() {
            if key.ends_with("EventDetails")
                && let Some(details) = details.as_object_mut()
            {
                for field in ["input", "output", "parameters"] {
                    details.remove(field);
                }
            }
        }
    }
}

/// A page of `items` from the offset in `token`, and the token of the next page.
fn paginate<'a, T>(
    items: &'a [T],
    max: Option<usize>,
    token: Option<&str>,
) -> Result<(&'a [T], Option<String>), ApiError> {
    let max = match max {
        None | Some(0) => 100,
        Some(n) => n.min(1000),
    };
    let start = match token {
        None => 0,
        Some(token) => token
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ServiceError::InvalidToken(format!("Invalid Token: '{token}'")))?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| format!("page-{end}"));
    Ok((&items[start..end], next))
}

fn with_token(mut body: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    body
}
