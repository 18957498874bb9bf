//! A batch of the events table's stream, as Lambda's event source mapping gives it to
//! `publish-events` (with `ReportBatchItemFailures`): the records in order, each published,
//! or parked when it cannot be read; the answer names the first record not done, and the
//! mapping gives that one and every later one again. A record of an unknown shape therefore
//! never holds up the records behind it, and a failing bus or Step Functions holds them up only
//! until the mapping's maximum record age (then the batch's coordinates go to the same queue).

use crate::error::NotifyError;
use crate::message::Entry;
use crate::park::{Parked, Parking};
use crate::publish::{Bus, Published, publish};
use crate::settings::Settings;
use sbx_store::WebhookStore;
use sbx_workflows::deliveries::Deliveries;
use serde::{Deserialize, Serialize};

/// One record of the stream: its sequence number and new image.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub sequence_number: String,
    pub new_image: serde_dynamo::Item,
}

/// The answer to the event source mapping: the records to give again, by the first of them
/// (an empty list: the whole batch is done).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl BatchResponse {
    /// Everything from the record `sequence_number` on is to be given again.
    fn from_record(sequence_number: &str) -> Self {
        Self {
            batch_item_failures: vec![ItemFailure {
                item_identifier: sequence_number.to_owned(),
            }],
        }
    }

    /// The first record to give again, if any.
    pub fn first_failure(&self) -> Option<&str> {
        self.batch_item_failures
            .first()
            .map(|failure| failure.item_identifier.as_str())
    }
}

/// Publishes `records` in order; a record whose image cannot be read is parked. Stops at the
/// first record that could not be published or parked, and names it.
pub async fn publish_records(
    store: &impl WebhookStore,
    bus: &impl Bus,
    deliveries: &impl Deliveries,
    parking: &impl Parking,
    settings: &Settings,
    records: Vec<Record>,
) -> BatchResponse {
    let mut run = Run::default();
    for record in records {
        match Entry::from_item(record.new_image.clone()) {
            Ok(entry) => run.push(record.sequence_number, entry),
            Err(err) => {
                // What came before it goes first: the mapping checkpoints at the first failure.
                if let Err(failed) = run.publish(store, bus, deliveries, settings).await {
                    return failed;
                }
                let parked = Parked {
                    sequence_number: record.sequence_number,
                    reason: format!("an events-table item of a shape this version cannot read: {err}"),
                    new_image: record.new_image,
                };
                if let Err(err) = parking.park(&parked).await {
                    tracing::warn!(%err, sequence = %parked.sequence_number, "parking a record failed; it is given again");
                    return BatchResponse::from_record(&parked.sequence_number);
                }
                tracing::error!(sequence = %parked.sequence_number, reason = %parked.reason, "a stream record was parked");
            }
        }
    }
    run.publish(store, bus, deliveries, settings)
        .await
        .err()
        .unwrap_or_default()
}

/// Records that can be read, not yet published: published together, in order.
#[derive(Default)]
struct Run {
    sequence_numbers: Vec<String>,
    entries: Vec<Entry>,
}

impl Run {
    fn push(&mut self, sequence_number: String, entry: Entry) {
        self.sequence_numbers.push(sequence_number);
        self.entries.push(entry);
    }

    /// Publishes the run and empties it; on failure, the answer that gives it again from the
    /// first entry not published.
    async fn publish(
        &mut self,
        store: &impl WebhookStore,
        bus: &impl Bus,
        deliveries: &impl Deliveries,
        settings: &Settings,
    ) -> Result<Published, BatchResponse> {
        if self.entries.is_empty() {
            return Ok(Published::default());
        }
        let published = publish(store, bus, deliveries, settings, &self.entries).await;
        let sequence_numbers = std::mem::take(&mut self.sequence_numbers);
        self.entries.clear();
        published.map_err(|stopped| {
            let error: &NotifyError = &stopped.error;
            let first = sequence_numbers
                .get(stopped.at)
                .or(sequence_numbers.first())
                .map_or("", String::as_str);
            tracing::warn!(%error, sequence = %first, "publishing stopped; the rest of the batch is given again");
            BatchResponse::from_record(first)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::settings;
    use crate::fakes::{FakeBus, FakeParking, FakeStream};
    use sbx_fakes::{FakeDeliveries, FakeStore};
    use sbx_lifecycle::State;

    /// sb-1 created (100), an item of an unknown shape (101), sb-1 started (102).
    fn batch() -> FakeStream {
        FakeStream::default()
            .change("acme", "sb-1", 1, None, State::Initializing)
            .unknown("acme", "sb-9")
            .change("acme", "sb-1", 2, Some(State::Initializing), State::Started)
    }

    struct Ports {
        store: FakeStore,
        bus: FakeBus,
        deliveries: FakeDeliveries,
        parking: FakeParking,
    }

    impl Ports {
        fn new() -> Self {
            Self {
                store: FakeStore::default(),
                bus: FakeBus::default(),
                deliveries: FakeDeliveries::default(),
                parking: FakeParking::default(),
            }
        }

        async fn give(&self, records: Vec<Record>) -> BatchResponse {
            publish_records(
                &self.store,
                &self.bus,
                &self.deliveries,
                &self.parking,
                &settings(),
                records,
            )
            .await
        }
    }

    #[tokio::test]
    async fn a_record_of_an_unknown_shape_is_parked_and_the_records_behind_it_are_published() {
        let ports = Ports::new();
        let answer = ports.give(batch().records()).await;
        assert_eq!(answer, BatchResponse::default(), "the whole batch is done");
        assert_eq!(ports.parking.parked(), ["101"]);
        assert_eq!(ports.bus.types(), ["sandbox.created", "sandbox.started"]);
    }

    #[tokio::test]
    async fn a_record_that_cannot_be_parked_is_given_again_with_everything_after_it() {
        let ports = Ports::new();
        ports.parking.fail();
        let answer = ports.give(batch().records()).await;
        assert_eq!(answer.first_failure(), Some("101"));
        assert_eq!(
            ports.bus.types(),
            ["sandbox.created"],
            "what came before it is published first, and nothing after it"
        );

        ports.parking.recover();
        let rest: Vec<Record> = batch().records().into_iter().skip(1).collect();
        assert_eq!(ports.give(rest).await, BatchResponse::default());
        assert_eq!(ports.parking.parked(), ["101"]);
        assert_eq!(ports.bus.types(), ["sandbox.created", "sandbox.started"]);
    }

    #[tokio::test]
    async fn a_refused_bus_names_the_first_record_of_the_run_it_refused() {
        let ports = Ports::new();
        ports.bus.fail(true);
        let answer = ports.give(batch().records()).await;
        assert_eq!(
            answer.first_failure(),
            Some("100"),
            "nothing is done: the whole batch is given again"
        );
        assert!(ports.parking.parked().is_empty());
    }

    #[test]
    fn the_answer_is_the_shape_lambda_reads() {
        let answer = BatchResponse::from_record("101");
        assert_eq!(
            serde_json::to_value(&answer).unwrap_or_default(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "101"}]})
        );
        assert_eq!(
            serde_json::to_value(BatchResponse::default()).unwrap_or_default(),
            serde_json::json!({"batchItemFailures": []})
        );
    }
}
