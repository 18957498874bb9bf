//! Starting the lifecycle state machines.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, SdkError};
use sbx_lifecycle::Operation;
use serde::Serialize;
use std::future::Future;

/// What an execution started by the API gets: the record it acts on, at the version that the
/// API's change produced (`begin-operation` checks it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecutionInput {
    pub tenant: String,
    pub sandbox_id: String,
    pub version: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("StartExecution of {operation} failed: {message}")]
pub struct WorkflowError {
    operation: Operation,
    message: String,
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

impl Workflows for StepFunctions {
    async fn start(
        &self,
        operation: Operation,
        name: &str,
        input: &ExecutionInput,
    ) -> Result<(), WorkflowError> {
        let error = |message: String| WorkflowError { operation, message };
        let input = serde_json::to_string(input).map_err(|e| error(e.to_string()))?;
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
            Err(err) => Err(error(DisplayErrorContext(&err).to_string())),
        }
    }
}
