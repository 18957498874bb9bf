//! What can go wrong in the store, one variant per failure a caller may act on.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use sbx_lifecycle::Refused;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sandbox {id} not found")]
    NotFound { id: String },

    /// The lifecycle does not allow the operation from the record's current state.
    #[error(transparent)]
    Conflict(#[from] Refused),

    /// A sandbox being deleted, or deleted, keeps its expiry.
    #[error("sandbox {id} is {state}; its expiry can no longer change")]
    NotExtendable { id: String, state: sbx_lifecycle::State },

    #[error("sandbox {id} already exists")]
    AlreadyExists { id: String },

    #[error("the tenant has reached its quota of {limit} live sandboxes")]
    QuotaExceeded { limit: u32 },

    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,

    #[error("the page token is not valid for this query")]
    InvalidPageToken,

    #[error("lock {lock} is held by {owner} until {until}")]
    LockHeld {
        lock: String,
        owner: String,
        until: DateTime<Utc>,
    },

    #[error("lock {lock} is held by {holder}, not by {owner}")]
    NotLockOwner {
        lock: String,
        owner: String,
        holder: String,
    },

    #[error("account {account_id} not found")]
    AccountNotFound { account_id: String },

    #[error("account {account_id} is {state}")]
    AccountUnavailable {
        account_id: String,
        state: crate::AccountState,
    },

    #[error("webhook {id} not found")]
    WebhookNotFound { id: String },

    #[error("delivery {id} not found")]
    DeliveryNotFound { id: String },

    #[error("delivery {id} is still being attempted")]
    DeliveryPending { id: String },

    #[error("the tenant already has {limit} webhooks, the most it may have")]
    TooManyWebhooks { limit: usize },

    #[error("no account is left in the pool")]
    PoolExhausted,

    /// Concurrent writers kept winning; trying again later may succeed.
    #[error("gave up on {operation} after {attempts} attempts under contention")]
    Contended { operation: &'static str, attempts: u32 },

    #[error("a stored item could not be read or written: {0}")]
    Malformed(String),

    /// The function's environment does not name a table it uses: its deployment is wrong.
    #[error("environment variable {variable} is not set: this function was not given that table")]
    Unconfigured { variable: &'static str },

    /// Sealing or opening a webhook secret ([`crate::seal`]) failed.
    #[error("KMS {operation} failed: {}", detail(.source.as_ref()))]
    Sealing {
        operation: &'static str,
        transient: bool,
        #[source]
        source: BoxError,
    },

    #[error("DynamoDB {operation} failed: {}", detail(.source.as_ref()))]
    Aws {
        operation: &'static str,
        transient: bool,
        #[source]
        source: BoxError,
    },
}

/// An error with its chain of causes, which is where the SDK keeps the service's code and
/// message (its own `Display` says only "service error").
fn detail(err: &(dyn std::error::Error + Send + Sync)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = inner.source();
    }
    text
}

impl StoreError {
    /// Whether the same call may succeed if repeated later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Contended { .. } => true,
            StoreError::Aws { transient, .. } | StoreError::Sealing { transient, .. } => *transient,
            _ => false,
        }
    }

    /// Wraps an SDK error, classifying throttling, server errors and lost connections as transient.
    pub(crate) fn aws<E>(operation: &'static str, err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transient = sbx_transient::is_transient(&err);
        StoreError::Aws {
            operation,
            transient,
            source: Box::new(err),
        }
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(err: serde_dynamo::Error) -> Self {
        StoreError::Malformed(err.to_string())
    }
}
