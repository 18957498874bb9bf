//! Events out. Every item put into the events table (a sandbox's or an account's change of
//! state) is published once per stream record: on the `sbx` EventBridge bus, and to each
//! webhook endpoint of its tenant that wants its type, through a `deliver` execution per
//! delivery.
//!
//! - [`message`]: an item of the events table → the message: stable id, type, thin payload.
//! - [`publish`]: `publish-events`, the stream's consumer.
//! - [`deliver`]: `deliver-webhook`, one step of a delivery's execution.
//! - [`bus`]: the EventBridge adapter (the executions' is `sbx_workflows::deliveries`).

pub mod bus;
pub mod deliver;
pub mod error;
#[cfg(test)]
pub mod fakes;
pub mod lambda;
pub mod message;
pub mod publish;
pub mod settings;

pub use error::NotifyError;
pub use settings::Settings;

/// The functions the state machines call (`publish-events` is called by the stream).
pub const FUNCTIONS: [&str; 1] = ["deliver-webhook"];

/// Every Lambda of this crate (a `[[bin]]` each).
pub const LAMBDAS: [&str; 2] = ["deliver-webhook", "publish-events"];

/// Everything the notify functions work with, for running them in one process (the local
/// stack). A deployed Lambda builds only what its handler takes (see `src/bin/`).
pub struct Notify {
    pub store: sbx_store::DynamoStore,
    pub bus: bus::EventBridge,
    pub executions: sbx_workflows::deliveries::DeliveryExecutions,
    pub settings: Settings,
}

/// Invokes the function `name` with `payload`, as Lambda would.
pub async fn invoke(
    notify: &Notify,
    name: &str,
    payload: serde_json::Value,
) -> Result<serde_json::Value, NotifyError> {
    match name {
        "deliver-webhook" => {
            let input =
                serde_json::from_value(payload).map_err(|e| NotifyError::InvalidInput(e.to_string()))?;
            let output = deliver::deliver(
                &notify.store,
                &deliver::Network,
                &notify.settings,
                input,
                chrono::Utc::now(),
            )
            .await?;
            serde_json::to_value(output).map_err(|e| NotifyError::Failed(e.to_string()))
        }
        other => Err(NotifyError::InvalidInput(format!(
            "there is no notify function {other:?}"
        ))),
    }
}

/// Publishes the new images of a batch of stream records, in their order.
pub async fn publish_items(
    notify: &Notify,
    items: Vec<serde_dynamo::Item>,
) -> Result<publish::Published, NotifyError> {
    let entries = items
        .into_iter()
        .map(message::Entry::from_item)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NotifyError::InvalidInput(format!("an events-table item: {e}")))?;
    publish::publish(
        &notify.store,
        &notify.bus,
        &notify.executions,
        &notify.settings,
        &entries,
    )
    .await
}
