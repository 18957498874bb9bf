//! The events table's stream, read by the local stack as Lambda's event source mapping reads it
//! on AWS: each shard from its start, a batch at a time, in order; a batch that fails is given
//! again (the same iterator) until it is published, so an event is published at least once and
//! none is skipped.

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use sbx_notify::Init;
use std::sync::Arc;
use std::time::Duration;

/// How often an empty shard is read again.
const POLL: Duration = Duration::from_millis(100);
/// How long after a failed batch it is given again.
const RETRY: Duration = Duration::from_millis(500);

/// Reads the stream of `stream_arn` until the task is aborted.
pub fn spawn(client: Client, stream_arn: String, notify: Arc<Init>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut iterator = None;
        loop {
            let current = match iterator.take() {
                Some(current) => current,
                None => match first_iterator(&client, &stream_arn).await {
                    Ok(first) => first,
                    Err(err) => {
                        tracing::warn!(%err, "the events stream cannot be read yet");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                },
            };
            let batch = match client.get_records().shard_iterator(&current).send().await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(err = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&err), "GetRecords failed; reading again");
                    iterator = Some(current);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let records = batch.records.unwrap_or_default();
            let items: Vec<serde_dynamo::Item> = records
                .into_iter()
                .filter(|record| record.event_name == Some(OperationType::Insert))
                .filter_map(|record| record.dynamodb.and_then(|change| change.new_image))
                .map(serde_dynamo::Item::from)
                .collect();
            let empty = items.is_empty();
            if !empty && let Err(err) = sbx_notify::publish_events(&notify, items).await {
                tracing::warn!(%err, "publishing a batch of events failed; giving it again");
                iterator = Some(current);
                tokio::time::sleep(RETRY).await;
                continue;
            }
            iterator = batch.next_shard_iterator.or(Some(current));
            if empty {
                tokio::time::sleep(POLL).await;
            }
        }
    })
}

/// An iterator at the start of the stream's first shard (locally the stream has one).
async fn first_iterator(client: &Client, stream_arn: &str) -> Result<String, String> {
    let stream = client
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e).to_string())?;
    let shard = stream
        .stream_description
        .and_then(|d| d.shards)
        .and_then(|shards| shards.into_iter().next())
        .and_then(|shard| shard.shard_id)
        .ok_or("the stream has no shard")?;
    client
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e).to_string())?
        .shard_iterator
        .ok_or_else(|| "no shard iterator".to_owned())
}
