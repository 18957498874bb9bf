//! The events table's stream, read by the local stack as Lambda's event source mapping reads it
//! on AWS with the template's settings (`PublishEventsFunction`'s `Stream` event):
//!
//! - each shard from its start, a batch at a time, in order;
//! - `ReportBatchItemFailures`: the function names the first record it did not finish, and that
//!   record and every later one of the batch are given again;
//! - `BisectBatchOnFunctionError`: a batch whose invocation fails as a whole is split in two,
//!   and each half is given on its own, the first first;
//! - `MaximumRecordAgeInSeconds` (scaled by the stack's time scale): records older than that
//!   are given up, and the batch's coordinates are sent to the on-failure destination (the
//!   parked-events queue), as AWS sends them.
//!
//! - [`SHARDS`] shards read at once: AWS splits a table's stream into shards by partition and
//!   Lambda reads them in parallel, so records of different partitions are published in no
//!   order between them. moto's stream has one shard; the mapping deals its records out by
//!   their partition key and reads each share on its own, each a little behind the one before
//!   ([`LAG`]), so the tests see the order AWS keeps (within a partition) and only that.
//!
//! So an event is published at least once, none is skipped unless it is reported in the queue,
//! and a record nothing can publish holds up the records of its shard behind it for at most the
//! maximum age.

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use sbx_notify::Init;
use sbx_notify::batch::Record;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an empty shard is read again.
const POLL: Duration = Duration::from_millis(100);
/// The shards the stream is read as.
pub const SHARDS: usize = 4;
/// How much later than the shard before it each shard gives a batch.
const LAG: Duration = Duration::from_millis(40);
/// How long after a failed batch it is given again.
const RETRY: Duration = Duration::from_millis(500);

/// What the mapping reads and where it reports what it gave up.
pub struct Mapping {
    pub client: Client,
    pub stream_arn: String,
    /// The on-failure destination.
    pub queue: aws_sdk_sqs::Client,
    pub queue_url: String,
    /// `MaximumRecordAgeInSeconds`, as the stack's clock runs it.
    pub max_record_age: Duration,
}

/// A record as the mapping holds it: with when it was read, for its age.
#[derive(Clone)]
struct Held {
    record: Record,
    read_at: Instant,
}

/// The shard a record is read on: by its partition key, as DynamoDB keeps a partition's items
/// (and so its stream records) together.
fn shard_of(record: &Record) -> usize {
    use std::hash::{Hash, Hasher};
    let partition = match record.new_image.get("sandbox") {
        Some(serde_dynamo::AttributeValue::S(partition)) => partition.as_str(),
        _ => "",
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    partition.hash(&mut hasher);
    (hasher.finish() % SHARDS as u64) as usize
}

/// Reads the stream until the task is aborted (its shards' readers with it).
pub fn spawn(mapping: Mapping, notify: Arc<Init>) -> tokio::task::JoinHandle<()> {
    let mapping = Arc::new(mapping);
    tokio::spawn(async move {
        let mut shards = tokio::task::JoinSet::new();
        let mut senders = Vec::with_capacity(SHARDS);
        for shard in 0..SHARDS {
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            senders.push(sender);
            shards.spawn(read_shard(
                mapping.clone(),
                notify.clone(),
                receiver,
                LAG * shard as u32,
            ));
        }
        let mut iterator = None;
        loop {
            let current = match iterator.take() {
                Some(current) => current,
                None => match first_iterator(&mapping.client, &mapping.stream_arn).await {
                    Ok(first) => first,
                    Err(err) => {
                        tracing::warn!(%err, "the events stream cannot be read yet");
                        tokio::time::sleep(RETRY).await;
                        continue;
                    }
                },
            };
            let batch = match mapping.client.get_records().shard_iterator(&current).send().await {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(err = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&err), "GetRecords failed; reading again");
                    iterator = Some(current);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let read_at = Instant::now();
            let records: Vec<Held> = batch
                .records
                .unwrap_or_default()
                .into_iter()
                .filter(|record| record.event_name == Some(OperationType::Insert))
                .filter_map(|record| {
                    let change = record.dynamodb?;
                    Some(Held {
                        record: Record {
                            sequence_number: change.sequence_number?,
                            new_image: serde_dynamo::Item::from(change.new_image?),
                        },
                        read_at,
                    })
                })
                .collect();
            let empty = records.is_empty();
            for held in records {
                // A shard's reader ends only with this task.
                let _ = senders[shard_of(&held.record)].send(held);
            }
            iterator = batch.next_shard_iterator.or(Some(current));
            if empty {
                tokio::time::sleep(POLL).await;
            }
        }
    })
}

/// One shard: what has come, a batch at a time, `lag` after it came.
async fn read_shard(
    mapping: Arc<Mapping>,
    notify: Arc<Init>,
    mut records: tokio::sync::mpsc::UnboundedReceiver<Held>,
    lag: Duration,
) {
    while let Some(first) = records.recv().await {
        tokio::time::sleep(lag).await;
        let mut batch = vec![first];
        while let Ok(more) = records.try_recv() {
            batch.push(more);
        }
        give(&mapping, &notify, batch).await;
    }
}

/// Gives `records` to the function until each is done or given up.
async fn give(mapping: &Mapping, notify: &Init, records: Vec<Held>) {
    let mut batches = VecDeque::from([records]);
    let mut invocations = 0u32;
    while let Some(batch) = batches.pop_front() {
        let Some(oldest) = batch.first().map(|held| held.read_at) else {
            continue;
        };
        if oldest.elapsed() > mapping.max_record_age {
            give_up(mapping, &batch, invocations).await;
            continue;
        }
        invocations += 1;
        let records = batch.iter().map(|held| held.record.clone()).collect();
        match sbx_notify::publish_events(notify, records).await {
            Ok(answer) => {
                let Some(first) = answer.first_failure() else {
                    continue;
                };
                // The records before the first failure are done.
                let rest: Vec<Held> = batch
                    .into_iter()
                    .skip_while(|held| held.record.sequence_number != first)
                    .collect();
                batches.push_front(rest);
            }
            Err(err) if batch.len() > 1 => {
                tracing::warn!(%err, records = batch.len(), "the batch failed; it is split in two");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                batches.push_front(second);
                batches.push_front(first);
                continue;
            }
            Err(err) => {
                tracing::warn!(%err, "a record failed; it is given again");
                batches.push_front(batch);
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Sends the coordinates of a batch given up to the on-failure destination, as AWS does: the
/// records themselves stay in the stream (for 24 h on AWS).
async fn give_up(mapping: &Mapping, batch: &[Held], invocations: u32) {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return;
    };
    let body = serde_json::json!({
        "requestContext": {
            "condition": "RecordAgeExceeded",
            "approximateInvokeCount": invocations,
        },
        "DDBStreamBatchInfo": {
            "startSequenceNumber": first.record.sequence_number,
            "endSequenceNumber": last.record.sequence_number,
            "batchSize": batch.len(),
            "streamArn": mapping.stream_arn,
        },
    });
    tracing::error!(%body, "records older than the maximum age were given up");
    let sent = mapping
        .queue
        .send_message()
        .queue_url(&mapping.queue_url)
        .message_body(body.to_string())
        .send()
        .await;
    if let Err(err) = sent {
        tracing::error!(err = %aws_sdk_sqs::error::DisplayErrorContext(&err), "the on-failure destination refused the batch's coordinates");
    }
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
