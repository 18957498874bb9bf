//! [`FakeWorkflows`]: the lifecycle's executions (`sbx_workflows::Workflows`).

use crate::locked;
use sbx_lifecycle::Operation;
use std::sync::Mutex;

/// The state machines as Step Functions runs them, without running anything: StartExecution
/// is idempotent by name (a name already started starts nothing), and each started execution
/// is remembered with its input.
#[derive(Debug, Default)]
pub struct FakeWorkflows {
    /// execution name → (operation, input), in the order they were started.
    pub started: Mutex<Vec<(String, Operation, sbx_workflows::ExecutionInput)>>,
    /// The step `current_step` answers for a running execution.
    pub step: Mutex<Option<String>>,
}

impl FakeWorkflows {
    /// The names of the executions started so far.
    pub fn names(&self) -> Vec<String> {
        locked(&self.started)
            .iter()
            .map(|(name, ..)| name.clone())
            .collect()
    }
}

impl sbx_workflows::Workflows for FakeWorkflows {
    async fn start(
        &self,
        operation: Operation,
        name: &str,
        input: &sbx_workflows::ExecutionInput,
    ) -> Result<(), sbx_workflows::WorkflowError> {
        let mut started = locked(&self.started);
        if !started.iter().any(|(known, ..)| known == name) {
            started.push((name.to_owned(), operation, input.clone()));
        }
        Ok(())
    }

    async fn status(
        &self,
        _operation: Operation,
        name: &str,
    ) -> Result<sbx_workflows::Status, sbx_workflows::WorkflowError> {
        Ok(if locked(&self.started).iter().any(|(known, ..)| known == name) {
            sbx_workflows::Status::Running
        } else {
            sbx_workflows::Status::NotFound
        })
    }

    async fn current_step(
        &self,
        _operation: Operation,
        name: &str,
    ) -> Result<Option<String>, sbx_workflows::WorkflowError> {
        if locked(&self.started).iter().any(|(known, ..)| known == name) {
            Ok(locked(&self.step).clone())
        } else {
            Ok(None)
        }
    }

    fn execution_id(&self, operation: Operation, name: &str) -> String {
        format!("arn:aws:states:us-east-1:123456789012:execution:{operation}:{name}")
    }
}
