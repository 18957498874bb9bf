//! The `publish-events` Lambda: the events table's stream (an event source mapping, one
//! batch at a time, in order per shard) to the bus and the webhook deliveries.

#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = &sbx_notify::lambda::init().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let items = event
            .payload
            .records
            .into_iter()
            .filter(|record| record.event_name == "INSERT")
            .map(|record| record.change.new_image)
            .collect();
        sbx_notify::functions::publish_events(init, items)
            .await
            .map_err(sbx_notify::lambda::diagnostic)
    }))
    .await
}
