//! Where a stream record that cannot be published is parked: a queue (SQS), with an alarm on
//! its depth (`ParkedEventsAlarm` in the template). A record of a shape this version cannot read
//! (a new event type during an upgrade) would fail every try until the stream drops it after
//! 24 h, and every later record of its shard would wait behind it: it is parked instead, whole,
//! for an operator to look at and publish again.

use crate::error::NotifyError;
use serde::Serialize;
use std::future::Future;

/// A record set aside, as the queue's message carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parked {
    /// Its sequence number in the stream.
    pub sequence_number: String,
    /// Why it could not be published.
    pub reason: String,
    /// Its new image, in DynamoDB's JSON.
    pub new_image: serde_dynamo::Item,
}

/// The queue records are parked in.
pub trait Parking: Send + Sync {
    fn park(&self, parked: &Parked) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// An SQS queue (`SBX_PARKED_EVENTS_QUEUE_URL`).
#[derive(Debug, Clone)]
pub struct Sqs {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl Parking for Sqs {
    async fn park(&self, parked: &Parked) -> Result<(), NotifyError> {
        let body = serde_json::to_string(parked).map_err(|e| NotifyError::Failed(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let message = format!("SQS SendMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(&e));
                if sbx_transient::is_transient(&e) {
                    NotifyError::Transient(message)
                } else {
                    NotifyError::Failed(message)
                }
            })
    }
}
