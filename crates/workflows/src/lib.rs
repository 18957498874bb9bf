//! The lifecycle state machines as the API and the garbage collector use them: starting an
//! operation's execution under the name its record's version gives ([`launch`]), and reading
//! how that execution stands ([`Workflows::status`]).

pub mod deliveries;

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, SdkError};
use aws_sdk_sfn::types::ExecutionStatus;
use sbx_lifecycle::{Operation, Outcome, Sandbox, rules};
use sbx_store::SandboxStore;
use serde::Serialize;
use std::future::Future;

/// The error name a record gets when its execution could not be started.
pub const NOT_STARTED: &str = "Sbx.ExecutionNotStarted";

/// What an execution started by the API or the garbage collector gets: the record it acts
/// on, at the version that the change produced (`begin-operation` checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionInput {
    pub tenant: String,
    pub sandbox_id: String,
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{call} of {operation} failed: {message}")]
pub struct WorkflowError {
    call: &'static str,
    operation: Operation,
    message: String,
    /// Worth trying again (`sbx_transient`).
    pub transient: bool,
    /// The call may have taken effect: its answer was lost.
    pub ambiguous: bool,
}

impl WorkflowError {
    fn sdk<E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        call: &'static str,
        operation: Operation,
        err: &SdkError<E, aws_sdk_sfn::config::http::HttpResponse>,
    ) -> Self {
        WorkflowError {
            call,
            operation,
            message: DisplayErrorContext(err).to_string(),
            transient: sbx_transient::is_transient(err),
            ambiguous: sbx_transient::is_ambiguous(err),
        }
    }
}

/// How an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    /// It has ended (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`), under this name.
    Ended(&'static str),
    /// No execution has this name.
    NotFound,
}

pub trait Workflows: Send + Sync {
    /// Starts the execution `name` of `operation`'s state machine. Starting a name that was
    /// already started is not an error: the work is under way, or done.
    fn start(
        &self,
        operation: Operation,
        name: &str,
        input: &ExecutionInput,
    ) -> impl Future<Output = Result<(), WorkflowError>> + Send;

    /// How the execution `name` of `operation`'s state machine stands.
    fn status(
        &self,
        operation: Operation,
        name: &str,
    ) -> impl Future<Output = Result<Status, WorkflowError>> + Send;

    /// The state execution `name` of `operation`'s state machine entered last (`None` before
    /// its first, or when there is no such execution). Reads the newest events only, never the
    /// whole history.
    fn current_step(
        &self,
        operation: Operation,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, WorkflowError>> + Send;

    /// The id (ARN) of execution `name` of `operation`'s state machine: the owner of any lock
    /// it takes.
    fn execution_id(&self, operation: Operation, name: &str) -> String;
}

/// How many of an execution's newest events [`Workflows::current_step`] reads: a Task with its
/// retries writes a few events after it is entered.
const NEWEST_EVENTS: i32 = 25;

/// How often [`launch`] tries StartExecution, and how long it waits after the first try
/// (doubling after each).
const START_ATTEMPTS: u32 = 4;
const START_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the execution of `operation` that `sandbox`'s version calls for.
///
/// A transient failure is tried again under the same name: an execution that did start is
/// found (`ExecutionAlreadyExists` counts as started), none is started twice. When the start
/// is definitely refused, the operation is ended as failed at once, so that no record waits for
/// work that never began. When the last try's answer was lost (it may have started), the record
/// is left as it is: the sweep finds the execution or its absence and ends the record
/// accordingly. Either way the error is returned.
pub async fn launch(
    store: &impl SandboxStore,
    workflows: &impl Workflows,
    operation: Operation,
    sandbox: &Sandbox,
) -> Result<(), WorkflowError> {
    let name = rules::execution_name(&sandbox.id, operation, sandbox.version);
    let input = ExecutionInput {
        tenant: sandbox.tenant.clone(),
        sandbox_id: sandbox.id.clone(),
        version: sandbox.version,
    };
    let mut attempt = 1;
    let err = loop {
        match workflows.start(operation, &name, &input).await {
            Ok(()) => return Ok(()),
            Err(err) if err.transient && attempt < START_ATTEMPTS => {
                tracing::warn!(%err, execution = %name, attempt, "starting the execution failed; trying again");
                tokio::time::sleep(START_BACKOFF * 2u32.pow(attempt - 1)).await;
                attempt += 1;
            }
            Err(err) => break err,
        }
    };
    if err.ambiguous {
        tracing::error!(%err, execution = %name, "the execution may have started; the sweep will settle the record");
        return Err(err);
    }
    let outcome = Outcome::Failed {
        error: NOT_STARTED.to_owned(),
        cause: err.to_string(),
    };
    if let Err(finish) = store
        .finish(&sandbox.tenant, &sandbox.id, operation, sandbox.version, outcome)
        .await
    {
        tracing::error!(error = %finish, sandbox = %sandbox.id, "the unstarted operation could not be ended");
    }
    Err(err)
}

/// [`Workflows`] on Step Functions.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
    /// The state machine ARNs, in the order of [`Operation::ALL`].
    arns: [String; 4],
}

impl StepFunctions {
    pub fn new(client: Client, arns: [String; 4]) -> Self {
        Self { client, arns }
    }
}

/// `arn:aws:states:r:a:stateMachine:m` and `n` → `arn:aws:states:r:a:execution:m:n`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

impl Workflows for StepFunctions {
    async fn start(
        &self,
        operation: Operation,
        name: &str,
        input: &ExecutionInput,
    ) -> Result<(), WorkflowError> {
        let input = serde_json::to_string(input).map_err(|e| WorkflowError {
            call: "StartExecution",
            operation,
            message: e.to_string(),
            transient: false,
            ambiguous: false,
        })?;
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.arns[operation as usize])
            .name(name)
            .input(input)
            .send()
            .await;
        match result {
            Ok(started) => {
                tracing::info!(execution = started.execution_arn(), "execution started");
                Ok(())
            }
            Err(SdkError::ServiceError(e)) if e.err().is_execution_already_exists() => {
                tracing::info!(execution = name, "execution already started");
                Ok(())
            }
            Err(err) => Err(WorkflowError::sdk("StartExecution", operation, &err)),
        }
    }

    async fn status(&self, operation: Operation, name: &str) -> Result<Status, WorkflowError> {
        let result = self
            .client
            .describe_execution()
            .execution_arn(self.execution_id(operation, name))
            .send()
            .await;
        match result {
            Ok(described) => Ok(match described.status() {
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive => Status::Running,
                ExecutionStatus::Succeeded => Status::Ended("SUCCEEDED"),
                ExecutionStatus::Failed => Status::Ended("FAILED"),
                ExecutionStatus::TimedOut => Status::Ended("TIMED_OUT"),
                ExecutionStatus::Aborted => Status::Ended("ABORTED"),
                // A status this client does not know yet: not ours to end.
                _ => Status::Running,
            }),
            Err(SdkError::ServiceError(e)) if e.err().is_execution_does_not_exist() => Ok(Status::NotFound),
            Err(err) => Err(WorkflowError::sdk("DescribeExecution", operation, &err)),
        }
    }

    async fn current_step(&self, operation: Operation, name: &str) -> Result<Option<String>, WorkflowError> {
        let result = self
            .client
            .get_execution_history()
            .execution_arn(self.execution_id(operation, name))
            .reverse_order(true)
            .max_results(NEWEST_EVENTS)
            .include_execution_data(false)
            .send()
            .await;
        match result {
            Ok(history) => Ok(history
                .events()
                .iter()
                .find_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))),
            Err(SdkError::ServiceError(e)) if e.err().is_execution_does_not_exist() => Ok(None),
            Err(err) => Err(WorkflowError::sdk("GetExecutionHistory", operation, &err)),
        }
    }

    fn execution_id(&self, operation: Operation, name: &str) -> String {
        execution_arn(&self.arns[operation as usize], name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_lifecycle::{Endpoints, Event, NewSandbox, SandboxOptions, State};
    use sbx_store::{Created, ListQuery, Page, StoreError};
    use std::sync::Mutex;

    /// Answers StartExecution from a script: each entry is one call's answer.
    struct Scripted {
        answers: Mutex<Vec<Result<(), WorkflowError>>>,
        names: Mutex<Vec<String>>,
    }

    fn failure(transient: bool, ambiguous: bool) -> WorkflowError {
        WorkflowError {
            call: "StartExecution",
            operation: Operation::Stop,
            message: "scripted".into(),
            transient,
            ambiguous,
        }
    }

    impl Workflows for Scripted {
        async fn start(&self, _: Operation, name: &str, _: &ExecutionInput) -> Result<(), WorkflowError> {
            self.names
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(name.to_owned());
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            if answers.is_empty() {
                Ok(())
            } else {
                answers.remove(0)
            }
        }
        async fn status(&self, _: Operation, _: &str) -> Result<Status, WorkflowError> {
            Ok(Status::NotFound)
        }
        async fn current_step(&self, _: Operation, _: &str) -> Result<Option<String>, WorkflowError> {
            Ok(None)
        }
        fn execution_id(&self, _: Operation, name: &str) -> String {
            name.to_owned()
        }
    }

    /// Records the finishes `launch` makes; nothing else is used.
    #[derive(Default)]
    struct Finishes(Mutex<Vec<Outcome>>);

    fn unused<T>() -> Result<T, StoreError> {
        Err(StoreError::Malformed("not used by launch".into()))
    }

    impl SandboxStore for Finishes {
        async fn create(&self, _: NewSandbox, _: Option<&str>) -> Result<Created, StoreError> {
            unused()
        }
        async fn get(&self, _: &str, _: &str) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn list(&self, _: &str, _: &ListQuery) -> Result<Page, StoreError> {
            unused()
        }
        async fn begin(&self, _: &str, _: &str, _: Operation) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn begin_as(&self, _: &str, _: &str, _: Operation, _: &str) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn begin_by(&self, _: &str, _: &str, _: Operation, _: &str) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn set_schedule(
            &self,
            _: &str,
            _: &str,
            _: &sbx_lifecycle::Schedule,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn finish_with(
            &self,
            _: &str,
            _: &str,
            _: Operation,
            _: u64,
            outcome: Outcome,
            _: Option<Endpoints>,
        ) -> Result<Sandbox, StoreError> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(outcome);
            unused()
        }
        async fn assign_account(&self, _: &str, _: &str, _: &str) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn name_execution(
            &self,
            _: &str,
            _: &str,
            _: Operation,
            _: u64,
            _: &str,
        ) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn extend(
            &self,
            _: &str,
            _: &str,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Result<Sandbox, StoreError> {
            unused()
        }
        async fn events(&self, _: &str, _: &str, _: u64) -> Result<Vec<Event>, StoreError> {
            unused()
        }
        async fn live_count(&self, _: &str) -> Result<u64, StoreError> {
            unused()
        }
    }

    fn stopping() -> Sandbox {
        let now = chrono::Utc::now();
        let change = Sandbox::create(
            NewSandbox {
                tenant: "acme".into(),
                id: "sb-1".into(),
                name: "demo".into(),
                options: SandboxOptions::default(),
                expires_at: now,
            },
            now,
        );
        Sandbox {
            state: State::Stopping,
            version: 4,
            ..change.record
        }
    }

    async fn launched(
        answers: Vec<Result<(), WorkflowError>>,
    ) -> (Result<(), WorkflowError>, Vec<String>, usize) {
        let workflows = Scripted {
            answers: Mutex::new(answers),
            names: Mutex::default(),
        };
        let store = Finishes::default();
        let result = launch(&store, &workflows, Operation::Stop, &stopping()).await;
        let names = workflows.names.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let finishes = store.0.lock().unwrap_or_else(|p| p.into_inner()).len();
        (result, names, finishes)
    }

    #[tokio::test]
    async fn a_start_whose_answer_was_lost_is_tried_again_under_its_name() {
        let (result, names, finishes) =
            launched(vec![Err(failure(true, true)), Err(failure(true, false))]).await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(names, ["sb-1-stop-v4"; 3], "the same name each time");
        assert_eq!(finishes, 0);

        let (result, names, finishes) =
            launched((0..START_ATTEMPTS).map(|_| Err(failure(true, true))).collect()).await;
        assert!(result.is_err());
        assert_eq!(names.len(), START_ATTEMPTS as usize);
        assert_eq!(
            finishes, 0,
            "it may have started: the record is left for the sweep"
        );

        let (result, names, finishes) = launched(vec![Err(failure(false, false))]).await;
        assert!(result.is_err());
        assert_eq!(
            (names.len(), finishes),
            (1, 1),
            "a definite refusal fails the operation at once"
        );
    }

    #[test]
    fn execution_arns_follow_the_state_machine_arn() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:us-east-1:123456789012:stateMachine:delete",
                "sb-1-delete-v3"
            ),
            "arn:aws:states:us-east-1:123456789012:execution:delete:sb-1-delete-v3"
        );
    }
}
