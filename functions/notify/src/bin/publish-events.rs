//! The `publish-events` Lambda: the events table's stream (an event source mapping, one
//! batch at a time, in order per shard) to the bus and the webhook deliveries.

#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use sbx_notify::message::Entry;
use sbx_notify::publish::publish;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_notify::lambda::init().await?;
    let (store, bus, executions) = (init.store()?, init.bus(), init.executions()?);
    let (store, bus, executions, settings) = (&store, &bus, &executions, &init.settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let entries = event
            .payload
            .records
            .into_iter()
            .filter(|record| record.event_name == "INSERT")
            .map(|record| Entry::from_item(record.change.new_image))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sbx_notify::NotifyError::InvalidInput(format!("an events-table item: {e}")))
            .map_err(sbx_notify::lambda::diagnostic)?;
        publish(store, bus, executions, settings, &entries)
            .await
            .map_err(sbx_notify::lambda::diagnostic)
    }))
    .await
}
