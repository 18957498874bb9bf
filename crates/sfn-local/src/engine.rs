//! The interpreter: runs a definition's states with ASL's input/output processing, Retry and
//! Catch, timeouts, Parallel branches and Map iterations, recording the execution history.

use crate::asl::{Catcher, Definition, Kind, Seconds, State, Text, WaitFor};
use crate::choice;
use crate::error::{self, Failure, check_size};
use crate::history::{self, History};
use crate::intrinsics;
use crate::invoke::{Functions, InvokeError, Target, function_name};
use crate::path::{self, PathError, RefPath};
use chrono::{SecondsFormat, Utc};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// What an engine runs with: the functions Tasks invoke and how fast time passes.
#[derive(Clone)]
pub struct Engine {
    pub functions: Functions,
    /// Multiplies Wait durations and retry delays (0: no waiting). Timeouts are not scaled.
    pub time_scale: f64,
    pub region: String,
}

/// Who is running: the execution's part of the context object.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub execution_arn: String,
    pub name: String,
    pub input: Value,
    pub role_arn: String,
    pub start_time: chrono::DateTime<Utc>,
    pub state_machine_arn: String,
    pub state_machine_name: String,
}

/// One execution in progress.
pub struct Run {
    engine: Engine,
    info: ExecutionInfo,
    pub history: Arc<History>,
}

/// Where a sequence of events stands: the id of its last event.
type Cursor = u64;

impl Run {
    pub fn new(engine: Engine, info: ExecutionInfo, history: Arc<History>) -> Self {
        Self {
            engine,
            info,
            history,
        }
    }

    /// Runs `definition` on `input` from its StartAt; `cursor` is the event it follows.
    pub fn machine<'a>(
        &'a self,
        definition: &'a Definition,
        input: Value,
        cursor: &'a mut Cursor,
    ) -> BoxFuture<'a, Result<Value, Failure>> {
        Box::pin(async move {
            let mut current = definition.start_at.as_str();
            let mut input = input;
            loop {
                let state = definition
                    .states
                    .get(current)
                    .ok_or_else(|| Failure::runtime(format!("no state named '{current}'")))?;
                let (output, next) = self.state(state, input, cursor).await?;
                match next {
                    Some(next) => {
                        current = next;
                        input = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    fn context(&self, state: &State, entered: &str, retry_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.info.execution_arn,
                "Input": self.info.input,
                "Name": self.info.name,
                "RoleArn": self.info.role_arn,
                "StartTime": self.info.start_time.to_rfc3339_opts(SecondsFormat::Millis, true),
                "RedriveCount": 0,
            },
            "State": {"Name": state.name, "EnteredTime": entered, "RetryCount": retry_count},
            "StateMachine": {"Id": self.info.state_machine_arn, "Name": self.info.state_machine_name},
            "Task": {},
        })
    }

    /// Runs one state: its output and the state to go to next (`None`: the end).
    async fn state<'a>(
        &'a self,
        state: &'a State,
        raw: Value,
        cursor: &mut Cursor,
    ) -> Result<(Value, Option<&'a str>), Failure> {
        let type_name = state.kind.type_name();
        let entered = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        *cursor = self.history.push(
            *cursor,
            &format!("{type_name}StateEntered"),
            Some((
                "stateEnteredEventDetails",
                json!({"name": state.name, "input": history::text(&raw), "inputDetails": {"truncated": false}}),
            )),
        );
        let (output, next) = match &state.kind {
            Kind::Fail { error, cause } => {
                let error = self.text(error.as_ref(), &raw, state, &entered)?;
                let cause = self.text(cause.as_ref(), &raw, state, &entered)?;
                return Err(Failure::new(error, cause));
            }
            Kind::Succeed => (output_path(state, input_path(state, &raw)?)?, None),
            Kind::Choice { choices, default } => {
                let effective = input_path(state, &raw)?;
                let mut next = None;
                for rule in choices {
                    if choice::holds(&rule.condition, &effective)? {
                        next = Some(rule.next.as_str());
                        break;
                    }
                }
                let next = next.or(default.as_deref()).ok_or_else(|| {
                    Failure::new(
                        error::NO_CHOICE_MATCHED,
                        format!("No Matches! (state '{}')", state.name),
                    )
                })?;
                (output_path(state, effective)?, Some(next))
            }
            Kind::Wait(wait) => {
                let effective = input_path(state, &raw)?;
                let duration = wait_duration(wait, &effective)?;
                self.sleep(duration).await;
                (output_path(state, effective)?, state.next.as_deref())
            }
            Kind::Pass { result } => {
                let effective = input_path(state, &raw)?;
                let context = self.context(state, &entered, 0);
                let effective = match &state.parameters {
                    Some(template) => apply_template(template, &effective, &context)?,
                    None => effective,
                };
                let result = result.clone().unwrap_or(effective);
                let output = result_path(state.result_path.as_deref(), &raw, result)?;
                (output_path(state, output)?, state.next.as_deref())
            }
            Kind::Task { .. } | Kind::Parallel { .. } | Kind::Map { .. } => {
                self.with_retries(state, &raw, &entered, cursor).await?
            }
        };
        check_size(&output, "output", &state.name)?;
        if !matches!(state.kind, Kind::Fail { .. }) {
            *cursor = self.history.push(
                *cursor,
                &format!("{type_name}StateExited"),
                Some((
                    "stateExitedEventDetails",
                    json!({"name": state.name, "output": history::text(&output), "outputDetails": {"truncated": false}}),
                )),
            );
        }
        Ok((output, next))
    }

    fn text(
        &self,
        text: Option<&Text>,
        raw: &Value,
        state: &State,
        entered: &str,
    ) -> Result<String, Failure> {
        match text {
            None => Ok(String::new()),
            Some(Text::Fixed(text)) => Ok(text.clone()),
            Some(Text::Path(expr)) => {
                let value = evaluate(expr, raw, &self.context(state, entered, 0), "ErrorPath/CausePath")?;
                match value {
                    Value::String(s) => Ok(s),
                    other => Err(Failure::runtime(format!(
                        "The path '{expr}' of state '{}' must yield a string, not {}",
                        state.name,
                        path::type_name(&other)
                    ))),
                }
            }
        }
    }

    /// Task, Parallel and Map: effective input, the work, Retry and Catch, result processing.
    async fn with_retries<'a>(
        &'a self,
        state: &'a State,
        raw: &Value,
        entered: &str,
        cursor: &mut Cursor,
    ) -> Result<(Value, Option<&'a str>), Failure> {
        let mut attempts = vec![0u32; state.retry.len()];
        let mut retry_count = 0;
        loop {
            let context = self.context(state, entered, retry_count);
            let failure = match self.attempt(state, raw, &context, cursor).await {
                // Failures of result processing are not retried, but may be caught.
                Ok(result) => {
                    return match self.finish(state, raw, result, &context) {
                        Ok(output) => Ok((output, state.next.as_deref())),
                        Err(failure) if failure.error == error::RUNTIME => Err(failure),
                        Err(failure) => self.catch(&state.catch, raw, failure),
                    };
                }
                Err(failure) => failure,
            };
            if failure.error == error::RUNTIME {
                return Err(failure);
            }
            let retrier = state
                .retry
                .iter()
                .enumerate()
                .find(|(_, retrier)| failure.matches(&retrier.errors));
            if let Some((i, retrier)) = retrier
                && attempts[i] < retrier.max_attempts
            {
                let mut delay = retrier.interval_seconds * retrier.backoff_rate.powi(attempts[i] as i32);
                if let Some(max) = retrier.max_delay_seconds {
                    delay = delay.min(max);
                }
                if retrier.full_jitter {
                    delay *= fastrand::f64();
                }
                attempts[i] += 1;
                retry_count += 1;
                tracing::debug!(state = %state.name, error = %failure.error, attempt = attempts[i], delay, "retrying");
                self.sleep(Duration::from_secs_f64(delay.max(0.0))).await;
                continue;
            }
            return self.catch(&state.catch, raw, failure);
        }
    }

    fn catch<'a>(
        &self,
        catchers: &'a [Catcher],
        raw: &Value,
        failure: Failure,
    ) -> Result<(Value, Option<&'a str>), Failure> {
        match catchers.iter().find(|catcher| failure.matches(&catcher.errors)) {
            Some(catcher) => {
                let output = result_path(catcher.result_path.as_deref(), raw, failure.to_value())?;
                Ok((output, Some(catcher.next.as_str())))
            }
            None => Err(failure),
        }
    }

    /// ResultSelector, ResultPath and OutputPath on a successful result.
    fn finish(&self, state: &State, raw: &Value, result: Value, context: &Value) -> Result<Value, Failure> {
        let result = match &state.result_selector {
            Some(selector) => apply_template(selector, &result, context)?,
            None => result,
        };
        let output = result_path(state.result_path.as_deref(), raw, result)?;
        output_path(state, output)
    }

    /// One try at the work of a Task, Parallel or Map state.
    async fn attempt(
        &self,
        state: &State,
        raw: &Value,
        context: &Value,
        cursor: &mut Cursor,
    ) -> Result<Value, Failure> {
        let effective = input_path(state, raw)?;
        match &state.kind {
            Kind::Task {
                resource,
                timeout,
                heartbeat,
            } => {
                let effective = match &state.parameters {
                    Some(template) => apply_template(template, &effective, context)?,
                    None => effective,
                };
                check_size(&effective, "input", &state.name)?;
                let limit = [timeout, heartbeat]
                    .into_iter()
                    .flatten()
                    .map(|seconds| resolve_seconds(seconds, raw))
                    .collect::<Result<Vec<u64>, Failure>>()?
                    .into_iter()
                    .min();
                let result = self.task(resource, effective, limit, cursor).await?;
                check_size(&result, "result", &state.name)?;
                Ok(result)
            }
            Kind::Parallel { branches } => {
                let effective = match &state.parameters {
                    Some(template) => apply_template(template, &effective, context)?,
                    None => effective,
                };
                *cursor = self.history.push(*cursor, "ParallelStateStarted", None);
                let start = *cursor;
                let runs = branches.iter().map(|branch| {
                    let input = effective.clone();
                    async move {
                        let mut branch_cursor = start;
                        self.machine(branch, input, &mut branch_cursor).await
                    }
                });
                match futures::future::try_join_all(runs).await {
                    Ok(outputs) => {
                        *cursor = self.history.push(*cursor, "ParallelStateSucceeded", None);
                        Ok(Value::Array(outputs))
                    }
                    Err(failure) => {
                        *cursor = self.history.push(
                            *cursor,
                            "ParallelStateFailed",
                            Some((
                                "parallelStateFailedEventDetails",
                                json!({"error": failure.error, "cause": failure.cause}),
                            )),
                        );
                        Err(failure)
                    }
                }
            }
            Kind::Map {
                items_path,
                item_selector,
                processor,
                max_concurrency,
            } => {
                let items = match RefPath::parse(items_path).and_then(|p| p.get(&effective).cloned()) {
                    Some(Value::Array(items)) => items,
                    Some(other) => {
                        return Err(Failure::runtime(format!(
                            "Map state '{}': the ItemsPath '{items_path}' must select an array, not {}",
                            state.name,
                            path::type_name(&other)
                        )));
                    }
                    None => {
                        return Err(Failure::runtime(format!(
                            "Map state '{}': the ItemsPath '{items_path}' could not be found in the input",
                            state.name
                        )));
                    }
                };
                let limit = match max_concurrency {
                    Some(seconds) => resolve_seconds(seconds, &effective)?,
                    None => 0,
                };
                let limit = if limit == 0 {
                    items.len().max(1)
                } else {
                    limit as usize
                };
                *cursor = self.history.push(
                    *cursor,
                    "MapStateStarted",
                    Some(("mapStateStartedEventDetails", json!({"length": items.len()}))),
                );
                let start = *cursor;
                let name = state.name.as_str();
                let runs = items.into_iter().enumerate().map(|(index, item)| {
                    let effective = &effective;
                    async move {
                        let input = match item_selector {
                            Some(selector) => {
                                let mut context = context.clone();
                                context["Map"] = json!({"Item": {"Index": index, "Value": item}});
                                apply_template(selector, effective, &context)?
                            }
                            None => item,
                        };
                        let details = json!({"name": name, "index": index});
                        let mut item_cursor = self.history.push(
                            start,
                            "MapIterationStarted",
                            Some(("mapIterationStartedEventDetails", details.clone())),
                        );
                        match self.machine(processor, input, &mut item_cursor).await {
                            Ok(output) => {
                                self.history.push(
                                    item_cursor,
                                    "MapIterationSucceeded",
                                    Some(("mapIterationSucceededEventDetails", details)),
                                );
                                Ok(output)
                            }
                            Err(failure) => {
                                self.history.push(
                                    item_cursor,
                                    "MapIterationFailed",
                                    Some(("mapIterationFailedEventDetails", details)),
                                );
                                Err(failure)
                            }
                        }
                    }
                });
                let outputs: Result<Vec<Value>, Failure> =
                    futures::stream::iter(runs).buffered(limit).try_collect().await;
                match outputs {
                    Ok(outputs) => {
                        *cursor = self.history.push(*cursor, "MapStateSucceeded", None);
                        Ok(Value::Array(outputs))
                    }
                    Err(failure) => {
                        *cursor = self.history.push(*cursor, "MapStateFailed", None);
                        Err(failure)
                    }
                }
            }
            _ => Err(Failure::runtime(format!(
                "state '{}' has no work to retry",
                state.name
            ))),
        }
    }

    /// Invokes a Lambda function for a Task, within `limit` seconds.
    async fn task(
        &self,
        resource: &str,
        input: Value,
        limit: Option<u64>,
        cursor: &mut Cursor,
    ) -> Result<Value, Failure> {
        let target = Target::from_resource(resource)
            .ok_or_else(|| Failure::runtime(format!("unsupported resource {resource}")))?;
        let (function, payload) = match &target {
            Target::Function(name) => (name.clone(), input.clone()),
            Target::LambdaInvoke => {
                let name = input.get("FunctionName").and_then(Value::as_str).ok_or_else(|| {
                    Failure::runtime("lambda:invoke needs a string 'FunctionName' in its Parameters")
                })?;
                let payload = input.get("Payload").cloned().unwrap_or_else(|| json!({}));
                (function_name(name).to_owned(), payload)
            }
        };
        let function_arn = format!(
            "arn:aws:lambda:{}:123456789012:function:{function}",
            self.engine.region
        );
        let (scheduled, started, succeeded, failed, timed_out, prefix) = match target {
            Target::Function(_) => (
                "LambdaFunctionScheduled",
                "LambdaFunctionStarted",
                "LambdaFunctionSucceeded",
                "LambdaFunctionFailed",
                "LambdaFunctionTimedOut",
                "lambdaFunction",
            ),
            Target::LambdaInvoke => (
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskFailed",
                "TaskTimedOut",
                "task",
            ),
        };
        let mut scheduled_details = match target {
            Target::Function(_) => {
                json!({"resource": resource, "input": history::text(&payload), "inputDetails": {"truncated": false}})
            }
            Target::LambdaInvoke => json!({
                "resourceType": "lambda", "resource": "invoke", "region": self.engine.region,
                "parameters": history::text(&input)
            }),
        };
        if let Some(limit) = limit {
            scheduled_details["timeoutInSeconds"] = json!(limit);
        }
        let resource_fields = |mut details: Value| {
            if matches!(target, Target::LambdaInvoke) {
                details["resourceType"] = json!("lambda");
                details["resource"] = json!("invoke");
            }
            details
        };
        *cursor = self.history.push(
            *cursor,
            scheduled,
            Some((&format!("{prefix}ScheduledEventDetails"), scheduled_details)),
        );
        *cursor = self.history.push(
            *cursor,
            started,
            matches!(target, Target::LambdaInvoke)
                .then(|| ("taskStartedEventDetails", resource_fields(json!({})))),
        );

        let invocation =
            self.engine
                .functions
                .invoke_as(&self.info.role_arn, &function_arn, &function, payload);
        let outcome = match limit {
            Some(limit) => tokio::time::timeout(Duration::from_secs(limit), invocation).await,
            None => Ok(invocation.await),
        };
        let failure = match outcome {
            Ok(Ok(output)) => {
                let result = match target {
                    Target::Function(_) => output,
                    Target::LambdaInvoke => json!({
                        "ExecutedVersion": "$LATEST",
                        "Payload": output,
                        "SdkHttpMetadata": {"HttpStatusCode": 200, "HttpHeaders": {"Content-Type": "application/json"}},
                        "SdkResponseMetadata": {"RequestId": uuid::Uuid::new_v4().to_string()},
                        "StatusCode": 200
                    }),
                };
                *cursor = self.history.push(
                    *cursor,
                    succeeded,
                    Some((
                        &format!("{prefix}SucceededEventDetails"),
                        resource_fields(
                            json!({"output": history::text(&result), "outputDetails": {"truncated": false}}),
                        ),
                    )),
                );
                return Ok(result);
            }
            Ok(Err(InvokeError::Function { error_type, payload })) => {
                Failure::new(error_type, payload.to_string())
            }
            // What Step Functions reports when its role may not invoke the function.
            Ok(Err(InvokeError::Denied(message))) => Failure::new(
                "Lambda.AWSLambdaException",
                format!("{message} (Service: Lambda, Status Code: 403, Error Code: AccessDeniedException)"),
            ),
            Ok(Err(InvokeError::NotFound(name))) => Failure::new(
                "Lambda.ResourceNotFoundException",
                format!("Function not found: {function_arn} (no function named {name} is registered)"),
            ),
            // Without a Task timeout, the function's own timeout ends the invocation.
            Ok(Err(InvokeError::TimedOut)) if limit.is_none() => {
                Failure::new("Lambda.Unknown", "The function timed out before it answered")
            }
            Ok(Err(InvokeError::TimedOut)) | Err(_) => {
                let failure = Failure::new(
                    error::TIMEOUT,
                    format!("The task did not finish within {} seconds", limit.unwrap_or(0)),
                );
                *cursor = self.history.push(
                    *cursor,
                    timed_out,
                    Some((
                        &format!("{prefix}TimedOutEventDetails"),
                        resource_fields(json!({"error": failure.error, "cause": failure.cause})),
                    )),
                );
                return Err(failure);
            }
        };
        *cursor = self.history.push(
            *cursor,
            failed,
            Some((
                &format!("{prefix}FailedEventDetails"),
                resource_fields(json!({"error": failure.error, "cause": failure.cause})),
            )),
        );
        Err(failure)
    }

    async fn sleep(&self, duration: Duration) {
        let scaled = duration.as_secs_f64() * self.engine.time_scale;
        if scaled > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(scaled)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

fn not_found(what: &str, path: &str, input: &Value) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{path}' for {what}: no results in the input {}",
        truncate(input)
    ))
}

fn truncate(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 200 {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text
    }
}

fn input_path(state: &State, raw: &Value) -> Result<Value, Failure> {
    match &state.input_path {
        None => Ok(Value::Object(Map::new())),
        Some(p) if p == "$" => Ok(raw.clone()),
        Some(p) => path::query(p, raw).map_err(|_| not_found("InputPath", p, raw)),
    }
}

fn output_path(state: &State, output: Value) -> Result<Value, Failure> {
    match &state.output_path {
        None => Ok(Value::Object(Map::new())),
        Some(p) if p == "$" => Ok(output),
        Some(p) => path::query(p, &output).map_err(|_| not_found("OutputPath", p, &output)),
    }
}

fn result_path(path: Option<&str>, raw: &Value, result: Value) -> Result<Value, Failure> {
    let Some(path) = path else {
        return Ok(raw.clone());
    };
    let reference =
        RefPath::parse(path).ok_or_else(|| Failure::runtime(format!("'{path}' is not a reference path")))?;
    reference.set(raw.clone(), result, path).map_err(|e| match e {
        PathError::Unwritable(_, why) => Failure::new(
            error::RESULT_PATH_MATCH_FAILURE,
            format!(
                "Unable to apply ResultPath '{path}' to input {}: {why}",
                truncate(raw)
            ),
        ),
        other => Failure::runtime(other.to_string()),
    })
}

/// Evaluates a `.$` value: an intrinsic function, a context path (`$$...`) or an input path.
fn evaluate(expr: &str, input: &Value, context: &Value, field: &str) -> Result<Value, Failure> {
    if intrinsics::is_intrinsic(expr) {
        return intrinsics::evaluate(expr, input, context);
    }
    let (target, path) = match expr.strip_prefix('$') {
        Some(rest) if rest.starts_with('$') => (context, rest),
        _ => (input, expr),
    };
    path::query(path, target).map_err(|_| {
        Failure::runtime(format!(
            "The JSONPath '{expr}' specified for the field '{field}' could not be found in the input {}",
            truncate(target)
        ))
    })
}

/// Applies a payload template (Parameters, ResultSelector, ItemSelector).
pub fn apply_template(template: &Value, input: &Value, context: &Value) -> Result<Value, Failure> {
    match template {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                match (key.strip_suffix(".$"), value) {
                    (Some(name), Value::String(expr)) => {
                        out.insert(name.to_owned(), evaluate(expr, input, context, key)?);
                    }
                    _ => {
                        out.insert(key.clone(), apply_template(value, input, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|item| apply_template(item, input, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn resolve_seconds(seconds: &Seconds, input: &Value) -> Result<u64, Failure> {
    match seconds {
        Seconds::Fixed(n) => Ok(*n),
        Seconds::Path(p) => path::query(p, input)
            .ok()
            .and_then(|v| v.as_u64())
            .ok_or_else(|| Failure::runtime(format!("The path '{p}' must yield a non-negative integer"))),
    }
}

fn wait_duration(wait: &WaitFor, input: &Value) -> Result<Duration, Failure> {
    let until = |at: chrono::DateTime<Utc>| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    match wait {
        WaitFor::Seconds(n) => Ok(Duration::from_secs(*n)),
        WaitFor::SecondsPath(p) => resolve_seconds(&Seconds::Path(p.clone()), input).map(Duration::from_secs),
        WaitFor::Timestamp(at) => Ok(until(*at)),
        WaitFor::TimestampPath(p) => {
            let at = path::query(p, input)
                .ok()
                .and_then(|v| {
                    v.as_str()
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                })
                .ok_or_else(|| {
                    Failure::runtime(format!("The path '{p}' must yield an ISO 8601 timestamp"))
                })?;
            Ok(until(at.with_timezone(&Utc)))
        }
    }
}
