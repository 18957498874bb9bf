//! State machines and their executions: what the Step Functions API manages, without HTTP.

use crate::asl::{self, Definition};
use crate::engine::{Engine, ExecutionInfo, Run};
use crate::error::check_size;
use crate::history::{self, History};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub const ACCOUNT: &str = "123456789012";
const DEFAULT_ROLE: &str = "arn:aws:iam::123456789012:role/sbx-local-states";

/// Errors with the names the Step Functions API uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    #[error("Execution Does Not Exist: '{0}'")]
    ExecutionDoesNotExist(String),
    #[error("Execution Already Exists: '{0}'")]
    ExecutionAlreadyExists(String),
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("Invalid Name: '{0}'")]
    InvalidName(String),
    #[error("Invalid Arn: '{0}'")]
    InvalidArn(String),
    #[error("Invalid execution input: {0}")]
    InvalidExecutionInput(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Validation(String),
}

impl ServiceError {
    /// The error code of the API (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            ServiceError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            ServiceError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            ServiceError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            ServiceError::InvalidDefinition(_) => "InvalidDefinition",
            ServiceError::InvalidName(_) => "InvalidName",
            ServiceError::InvalidArn(_) => "InvalidArn",
            ServiceError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            ServiceError::InvalidToken(_) => "InvalidToken",
            ServiceError::Validation(_) => "ValidationException",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Running,
            Status::Succeeded,
            Status::Failed,
            Status::TimedOut,
            Status::Aborted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

pub struct StateMachine {
    pub arn: String,
    pub name: String,
    pub definition_text: String,
    pub definition: Arc<Definition>,
    pub role_arn: String,
    pub created: DateTime<Utc>,
}

/// How an execution ended (or that it has not).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub stopped: Option<DateTime<Utc>>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

pub struct Execution {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub input: String,
    pub started: DateTime<Utc>,
    pub history: Arc<History>,
    outcome: watch::Sender<Outcome>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Execution {
    pub fn outcome(&self) -> Outcome {
        self.outcome.borrow().clone()
    }

    /// Waits until the execution has ended.
    pub async fn finished(&self) -> Outcome {
        let mut receiver = self.outcome.subscribe();
        let result = receiver.wait_for(|o| o.status != Status::Running).await;
        match result {
            Ok(outcome) => outcome.clone(),
            Err(_) => self.outcome(),
        }
    }

    /// Records the end, unless the execution has ended already (e.g. it was stopped).
    fn end(&self, outcome: Outcome, event: (&str, &str, Value)) -> bool {
        let mut ended = false;
        self.outcome.send_if_modified(|current| {
            if current.status != Status::Running {
                return false;
            }
            *current = outcome;
            ended = true;
            true
        });
        if ended {
            let last = self.history.len() as u64;
            self.history.push(last, event.0, Some((event.1, event.2)));
        }
        ended
    }
}

#[derive(Default)]
struct Registry {
    machines: BTreeMap<String, Arc<StateMachine>>,
    executions: HashMap<String, Arc<Execution>>,
    /// Execution ARNs in the order they started.
    started: Vec<String>,
}

/// The Step Functions service of one engine.
#[derive(Clone)]
pub struct Service {
    engine: Engine,
    registry: Arc<Mutex<Registry>>,
}

impl Service {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            registry: Arc::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{ACCOUNT}:stateMachine:{name}",
            self.engine.region
        )
    }

    pub fn create_state_machine(
        &self,
        name: &str,
        definition: &str,
        role_arn: Option<&str>,
    ) -> Result<Arc<StateMachine>, ServiceError> {
        check_name(name)?;
        let parsed = asl::parse(definition).map_err(|e| ServiceError::InvalidDefinition(e.to_string()))?;
        let arn = self.state_machine_arn(name);
        let role_arn = role_arn.unwrap_or(DEFAULT_ROLE).to_owned();
        let mut registry = self.registry();
        if let Some(existing) = registry.machines.get(&arn) {
            // Creating the same state machine again is idempotent, as on AWS.
            if existing.definition_text == definition && existing.role_arn == role_arn {
                return Ok(existing.clone());
            }
            return Err(ServiceError::StateMachineAlreadyExists(arn));
        }
        let machine = Arc::new(StateMachine {
            arn: arn.clone(),
            name: name.to_owned(),
            definition_text: definition.to_owned(),
            definition: Arc::new(parsed),
            role_arn,
            created: Utc::now(),
        });
        registry.machines.insert(arn, machine.clone());
        Ok(machine)
    }

    pub fn update_state_machine(
        &self,
        arn: &str,
        definition: Option<&str>,
        role_arn: Option<&str>,
    ) -> Result<Arc<StateMachine>, ServiceError> {
        let current = self.state_machine(arn)?;
        let (text, parsed) = match definition {
            Some(text) => (
                text.to_owned(),
                Arc::new(asl::parse(text).map_err(|e| ServiceError::InvalidDefinition(e.to_string()))?),
            ),
            None => (current.definition_text.clone(), current.definition.clone()),
        };
        let machine = Arc::new(StateMachine {
            arn: current.arn.clone(),
            name: current.name.clone(),
            definition_text: text,
            definition: parsed,
            role_arn: role_arn
                .map(str::to_owned)
                .unwrap_or_else(|| current.role_arn.clone()),
            created: current.created,
        });
        self.registry()
            .machines
            .insert(machine.arn.clone(), machine.clone());
        Ok(machine)
    }

    pub fn state_machine(&self, arn: &str) -> Result<Arc<StateMachine>, ServiceError> {
        check_arn(arn, "stateMachine")?;
        self.registry()
            .machines
            .get(arn)
            .cloned()
            .ok_or_else(|| ServiceError::StateMachineDoesNotExist(arn.to_owned()))
    }

    pub fn state_machines(&self) -> Vec<Arc<StateMachine>> {
        let mut machines: Vec<_> = self.registry().machines.values().cloned().collect();
        machines.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        machines
    }

    pub fn delete_state_machine(&self, arn: &str) -> Result<(), ServiceError> {
        check_arn(arn, "stateMachine")?;
        self.registry().machines.remove(arn);
        Ok(())
    }

    /// Starts an execution. A name already used is refused, except for the same input while
    /// that execution runs, which returns it (as on AWS).
    pub fn start_execution(
        &self,
        state_machine_arn: &str,
        name: Option<&str>,
        input: Option<&str>,
    ) -> Result<Arc<Execution>, ServiceError> {
        let machine = self.state_machine(state_machine_arn)?;
        let name = match name {
            Some(name) => {
                check_name(name)?;
                name.to_owned()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input_text = input.unwrap_or("{}").to_owned();
        let input: Value = serde_json::from_str(&input_text)
            .map_err(|e| ServiceError::InvalidExecutionInput(format!("the input is not JSON: {e}")))?;
        check_size(&input, "input", "execution").map_err(|f| ServiceError::InvalidExecutionInput(f.cause))?;
        let arn = format!(
            "arn:aws:states:{}:{ACCOUNT}:execution:{}:{name}",
            self.engine.region, machine.name
        );

        let mut registry = self.registry();
        if let Some(existing) = registry.executions.get(&arn) {
            if existing.input == input_text && existing.outcome().status == Status::Running {
                return Ok(existing.clone());
            }
            return Err(ServiceError::ExecutionAlreadyExists(arn));
        }
        let started = Utc::now();
        let history = Arc::new(History::default());
        history.push(
            0,
            "ExecutionStarted",
            Some((
                "executionStartedEventDetails",
                json!({"input": input_text, "inputDetails": {"truncated": false}, "roleArn": machine.role_arn}),
            )),
        );
        let (outcome, _) = watch::channel(Outcome {
            status: Status::Running,
            stopped: None,
            output: None,
            error: None,
            cause: None,
        });
        let execution = Arc::new(Execution {
            arn: arn.clone(),
            state_machine_arn: machine.arn.clone(),
            name: name.clone(),
            input: input_text,
            started,
            history: history.clone(),
            outcome,
            task: Mutex::new(None),
        });
        registry.executions.insert(arn.clone(), execution.clone());
        registry.started.push(arn.clone());
        drop(registry);

        let info = ExecutionInfo {
            execution_arn: arn,
            name,
            input: input.clone(),
            role_arn: machine.role_arn.clone(),
            start_time: started,
            state_machine_arn: machine.arn.clone(),
            state_machine_name: machine.name.clone(),
        };
        let run = Run::new(self.engine.clone(), info, history);
        let definition = machine.definition.clone();
        let running = execution.clone();
        let task = tokio::spawn(async move {
            let mut cursor = 1;
            let work = run.machine(&definition, input, &mut cursor);
            let result = match definition.timeout_seconds {
                Some(limit) => tokio::time::timeout(Duration::from_secs(limit), work).await.ok(),
                None => Some(work.await),
            };
            let now = Some(Utc::now());
            match result {
                Some(Ok(output)) => {
                    let text = output.to_string();
                    running.end(
                        Outcome {
                            status: Status::Succeeded,
                            stopped: now,
                            output: Some(text.clone()),
                            error: None,
                            cause: None,
                        },
                        (
                            "ExecutionSucceeded",
                            "executionSucceededEventDetails",
                            json!({"output": text, "outputDetails": {"truncated": false}}),
                        ),
                    );
                }
                Some(Err(failure)) => {
                    running.end(
                        Outcome {
                            status: Status::Failed,
                            stopped: now,
                            output: None,
                            error: Some(failure.error.clone()),
                            cause: Some(failure.cause.clone()),
                        },
                        (
                            "ExecutionFailed",
                            "executionFailedEventDetails",
                            json!({"error": failure.error, "cause": failure.cause}),
                        ),
                    );
                }
                None => {
                    let cause = "The execution ran longer than its TimeoutSeconds".to_owned();
                    running.end(
                        Outcome {
                            status: Status::TimedOut,
                            stopped: now,
                            output: None,
                            error: Some(crate::error::TIMEOUT.to_owned()),
                            cause: Some(cause.clone()),
                        },
                        (
                            "ExecutionTimedOut",
                            "executionTimedOutEventDetails",
                            json!({"error": crate::error::TIMEOUT, "cause": cause}),
                        ),
                    );
                }
            }
        });
        *execution.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(execution)
    }

    pub fn execution(&self, arn: &str) -> Result<Arc<Execution>, ServiceError> {
        check_arn(arn, "execution")?;
        self.registry()
            .executions
            .get(arn)
            .cloned()
            .ok_or_else(|| ServiceError::ExecutionDoesNotExist(arn.to_owned()))
    }

    /// The executions of a state machine, newest first.
    pub fn executions(
        &self,
        state_machine_arn: &str,
        status: Option<Status>,
    ) -> Result<Vec<Arc<Execution>>, ServiceError> {
        self.state_machine(state_machine_arn)?;
        let registry = self.registry();
        Ok(registry
            .started
            .iter()
            .rev()
            .filter_map(|arn| registry.executions.get(arn))
            .filter(|e| e.state_machine_arn == state_machine_arn)
            .filter(|e| status.is_none_or(|s| e.outcome().status == s))
            .cloned()
            .collect())
    }

    pub fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<Outcome, ServiceError> {
        let execution = self.execution(arn)?;
        let mut details = json!({});
        if let Some(error) = error {
            details["error"] = json!(error);
        }
        if let Some(cause) = cause {
            details["cause"] = json!(cause);
        }
        let stopped = execution.end(
            Outcome {
                status: Status::Aborted,
                stopped: Some(Utc::now()),
                output: None,
                error: error.map(str::to_owned),
                cause: cause.map(str::to_owned),
            },
            ("ExecutionAborted", "executionAbortedEventDetails", details),
        );
        if stopped && let Some(task) = execution.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        Ok(execution.outcome())
    }

    /// Creates a state machine for every `*.asl.json` in `dir`, named after the file, with
    /// `${Name}` placeholders replaced from `substitutions`.
    pub fn load_dir(
        &self,
        dir: &Path,
        substitutions: &HashMap<String, String>,
    ) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.to_string_lossy().ends_with(".asl.json"))
            .collect();
        entries.sort();
        for path in entries {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = file.trim_end_matches(".asl.json").to_owned();
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let text = substitute(&text, substitutions).map_err(|e| format!("{file}: {e}"))?;
            self.create_state_machine(&name, &text, None)
                .map_err(|e| format!("{file}: {e}"))?;
            names.push(name);
        }
        Ok(names)
    }
}

/// Replaces `${Name}` placeholders, as CloudFormation's DefinitionSubstitutions does.
pub fn substitute(text: &str, substitutions: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut missing = Vec::new();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let key = &after[..end];
        match substitutions.get(key) {
            Some(value) => out.push_str(value),
            None => {
                missing.push(key.to_owned());
                out.push_str(&rest[start..start + 3 + end]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!("no substitution for {}", missing.join(", ")))
    }
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    let bad = name.is_empty()
        || name.chars().count() > 80
        || name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)
                || ('\u{7f}'..='\u{9f}').contains(&c)
        });
    if bad {
        return Err(ServiceError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn check_arn(arn: &str, kind: &str) -> Result<(), ServiceError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() >= 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == kind;
    if !ok {
        return Err(ServiceError::InvalidArn(arn.to_owned()));
    }
    Ok(())
}

/// An execution's history as JSON events (for the API).
pub fn history_json(execution: &Execution) -> Vec<Value> {
    execution
        .history
        .events()
        .iter()
        .map(history::Event::to_json)
        .collect()
}
