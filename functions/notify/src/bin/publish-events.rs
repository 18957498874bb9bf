//! The `publish-events` Lambda: the events table's stream (an event source mapping, one
//! batch at a time, in order per shard) to the bus and the webhook deliveries; its answer reports
//! the first record not done (`ReportBatchItemFailures`).

#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use sbx_notify::batch::Record;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = &sbx_notify::lambda::init().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let records = event
            .payload
            .records
            .into_iter()
            .filter(|record| record.event_name == "INSERT")
            .map(|record| Record {
                sequence_number: record.change.sequence_number.unwrap_or_default(),
                new_image: record.change.new_image,
            })
            .collect();
        sbx_notify::functions::publish_events(init, records)
            .await
            .map_err(sbx_notify::lambda::diagnostic)
    }))
    .await
}
