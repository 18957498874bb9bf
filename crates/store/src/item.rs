//! The store's lowest layer: how an item and a request are built and read, with nothing of the
//! store's logic. Every table module builds on it; it imports nothing above it.

use crate::error::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::Duration;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// How often a write is tried again when concurrent writers interfere.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Waits a little longer after each lost attempt, with jitter so that racers spread out.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))).await;
}

pub(crate) fn build<T>(built: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    built.map_err(|e| StoreError::Aws {
        operation: "build request",
        transient: false,
        source: Box::new(e),
    })
}

/// A conditional write's outcome: `Ok(Some(output))` when it was written, `Ok(None)` when its
/// condition did not hold (DynamoDB's `ConditionalCheckFailedException`), the error of
/// `operation` otherwise.
pub(crate) fn written<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E>>,
) -> Result<Option<O>, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if refused(&err) => Ok(None),
        Err(err) => Err(StoreError::aws(operation, err)),
    }
}

/// Whether a write was refused by its condition.
pub(crate) fn refused<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// The item a conditional UpdateItem (with `ReturnValues: ALL_NEW`) wrote; `None` when its
/// condition did not hold.
pub(crate) fn updated<T: serde::de::DeserializeOwned>(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
    >,
) -> Result<Option<T>, StoreError> {
    match written("UpdateItem", result)? {
        Some(output) => Ok(Some(serde_dynamo::from_item(
            output.attributes.unwrap_or_default(),
        )?)),
        None => Ok(None),
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
