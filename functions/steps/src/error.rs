//! The error contract with the state machines. Every failure of a step has a stable name, the
//! `errorType` Lambda reports and the ASL `ErrorEquals` lists match. `tests/` proves that the
//! names used in `statemachines/` and [`StepError::NAMES`] are the same set.

use sbx_aws::AwsError;
use sbx_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Worth retrying: throttling, a lost connection, contention.
    #[error("{0}")]
    Transient(String),
    /// AWS has not caught up yet: a new resource not visible, an agent not registered, an
    /// interface not released. Retried longer and more slowly than a transient error.
    #[error("{0}")]
    NotYet(String),
    /// The sandbox is not in a state this operation may act on.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    QuotaExceeded(String),
    /// Another job holds the account lock.
    #[error("{0}")]
    LockHeld(String),
    /// This job's lease ran out and another job took the lock.
    #[error("{0}")]
    LockLost(String),
    #[error("{0}")]
    PoolExhausted(String),
    #[error("{0}")]
    ImageNotFound(String),
    #[error("{0}")]
    InstallFailed(String),
    /// Any other permanent failure.
    #[error("{0}")]
    Failed(String),
}

impl StepError {
    /// Every name a step can fail with.
    pub const NAMES: [&'static str; 12] = [
        "Sbx.Transient",
        "Sbx.Conflict",
        "Sbx.NotFound",
        "Sbx.InvalidInput",
        "Sbx.QuotaExceeded",
        "Sbx.LockHeld",
        "Sbx.LockLost",
        "Sbx.PoolExhausted",
        "Sbx.ImageNotFound",
        "Sbx.InstallFailed",
        "Sbx.Failed",
        "Sbx.NotYet",
    ];

    /// The error's name (Lambda's `errorType`).
    pub fn name(&self) -> &'static str {
        let index = match self {
            StepError::Transient(_) => 0,
            StepError::Conflict(_) => 1,
            StepError::NotFound(_) => 2,
            StepError::InvalidInput(_) => 3,
            StepError::QuotaExceeded(_) => 4,
            StepError::LockHeld(_) => 5,
            StepError::LockLost(_) => 6,
            StepError::PoolExhausted(_) => 7,
            StepError::ImageNotFound(_) => 8,
            StepError::InstallFailed(_) => 9,
            StepError::Failed(_) => 10,
            StepError::NotYet(_) => 11,
        };
        Self::NAMES[index]
    }
}

impl From<StepError> for lambda_runtime::Diagnostic {
    fn from(err: StepError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.name().to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// A setting the function's environment lacks or gets wrong: permanent until it is deployed
/// again.
impl From<sbx_bootstrap::ConfigError> for StepError {
    fn from(err: sbx_bootstrap::ConfigError) -> Self {
        StepError::Failed(format!("the function's configuration: {err}"))
    }
}

/// A price the estimate needs is missing: the deployment's table must be completed.
impl From<sbx_lifecycle::cost::PriceError> for StepError {
    fn from(err: sbx_lifecycle::cost::PriceError) -> Self {
        StepError::Failed(err.to_string())
    }
}

impl From<StoreError> for StepError {
    fn from(err: StoreError) -> Self {
        let message = err.to_string();
        match err {
            StoreError::NotFound { .. }
            | StoreError::AccountNotFound { .. }
            | StoreError::WebhookNotFound { .. }
            | StoreError::DeliveryNotFound { .. } => StepError::NotFound(message),
            StoreError::Conflict(_)
            | StoreError::AlreadyExists { .. }
            | StoreError::AccountUnavailable { .. }
            | StoreError::NotExtendable { .. }
            | StoreError::DeliveryPending { .. }
            | StoreError::TooManyWebhooks { .. } => StepError::Conflict(message),
            StoreError::QuotaExceeded { .. } => StepError::QuotaExceeded(message),
            StoreError::IdempotencyKeyReused | StoreError::InvalidPageToken => {
                StepError::InvalidInput(message)
            }
            StoreError::LockHeld { .. } => StepError::LockHeld(message),
            StoreError::NotLockOwner { .. } => StepError::LockLost(message),
            StoreError::PoolExhausted => StepError::PoolExhausted(message),
            StoreError::Contended { .. } => StepError::Transient(message),
            StoreError::Aws { transient: true, .. } | StoreError::Sealing { transient: true, .. } => {
                StepError::Transient(message)
            }
            StoreError::Aws { .. }
            | StoreError::Sealing { .. }
            | StoreError::Malformed(_)
            | StoreError::Unconfigured { .. } => StepError::Failed(message),
        }
    }
}

impl From<AwsError> for StepError {
    fn from(err: AwsError) -> Self {
        let message = err.to_string();
        match err {
            AwsError::ImageNotFound { .. } => StepError::ImageNotFound(message),
            AwsError::CommandFailed(_) => StepError::InstallFailed(message),
            AwsError::NotYet { .. } => StepError::NotYet(message),
            err if err.is_quota() => {
                StepError::QuotaExceeded(format!("the account's service quota: {message}"))
            }
            err if err.is_transient() => StepError::Transient(message),
            _ => StepError::Failed(message),
        }
    }
}

/// Reading or starting an execution failed: Step Functions throttled, or could not be reached.
impl From<sbx_workflows::WorkflowError> for StepError {
    fn from(err: sbx_workflows::WorkflowError) -> Self {
        StepError::Transient(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_reach_the_diagnostic() {
        let mut names = StepError::NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StepError::NAMES.len());
        let diagnostic: lambda_runtime::Diagnostic = StepError::LockHeld("held by x".into()).into();
        assert_eq!(diagnostic.error_type, "Sbx.LockHeld");
        assert_eq!(diagnostic.error_message, "held by x");
    }

    #[test]
    fn store_and_aws_errors_keep_their_meaning() {
        let held = StoreError::LockHeld {
            lock: "account:1".into(),
            owner: "other".into(),
            until: chrono::Utc::now(),
        };
        assert_eq!(StepError::from(held).name(), "Sbx.LockHeld");
        assert_eq!(
            StepError::from(StoreError::PoolExhausted).name(),
            "Sbx.PoolExhausted"
        );
        let throttled = AwsError::Api {
            operation: "RunInstances",
            code: "RequestLimitExceeded".into(),
            message: "slow down".into(),
            transient: true,
        };
        assert_eq!(StepError::from(throttled).name(), "Sbx.Transient");
        let image = AwsError::ImageNotFound {
            image_id: "ami-1".into(),
            message: "gone".into(),
        };
        assert_eq!(StepError::from(image).name(), "Sbx.ImageNotFound");
    }
}
