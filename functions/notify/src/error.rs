//! What the notify functions fail with, under the names the state machines match on (the same
//! `Sbx.*` names as the lifecycle steps).

use sbx_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth trying again: a throttled or unreachable AWS service.
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Failed(String),
}

impl NotifyError {
    pub const NAMES: [&'static str; 3] = ["Sbx.Transient", "Sbx.InvalidInput", "Sbx.Failed"];

    pub fn name(&self) -> &'static str {
        match self {
            NotifyError::Transient(_) => Self::NAMES[0],
            NotifyError::InvalidInput(_) => Self::NAMES[1],
            NotifyError::Failed(_) => Self::NAMES[2],
        }
    }
}

impl From<StoreError> for NotifyError {
    fn from(err: StoreError) -> Self {
        if err.is_transient() {
            NotifyError::Transient(err.to_string())
        } else {
            NotifyError::Failed(err.to_string())
        }
    }
}

impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(err: NotifyError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: err.name().to_owned(),
            error_message: err.to_string(),
        }
    }
}
