//! Every notify function, built one way: each takes from the [`Init`] only what its handler
//! uses. A deployed Lambda serves one (its binary names it); the local stack calls
//! `deliver-webhook` by name ([`invoke`], for the engine) and `publish-events` with the stream's
//! items, as Lambda's event source mapping would.

use crate::deliver::{self, Network};
use crate::error::NotifyError;
use crate::lambda::Init;
use crate::message::Entry;
use crate::publish::{self, Published};
use serde_json::Value;

/// `deliver-webhook`: one step of a delivery's execution (the tenants table, and the receiver
/// over HTTPS).
pub async fn deliver_webhook(init: &Init, payload: Value) -> Result<Value, NotifyError> {
    let store = init.store()?;
    let input = serde_json::from_value(payload).map_err(|e| NotifyError::InvalidInput(e.to_string()))?;
    let output = deliver::deliver(store, &Network, init.settings(), input, chrono::Utc::now()).await?;
    serde_json::to_value(output).map_err(|e| NotifyError::Failed(e.to_string()))
}

/// `publish-events`: the new images of a batch of stream records, in their order, to the bus
/// and the webhook deliveries.
pub async fn publish_events(init: &Init, items: Vec<serde_dynamo::Item>) -> Result<Published, NotifyError> {
    let entries = items
        .into_iter()
        .map(Entry::from_item)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NotifyError::InvalidInput(format!("an events-table item: {e}")))?;
    let (store, bus, executions) = (init.store()?, init.bus(), init.executions()?);
    publish::publish(store, bus, executions, init.settings(), &entries).await
}

/// Invokes the function `name` (one of [`crate::FUNCTIONS`]) with `payload`, as Lambda would.
pub async fn invoke(init: &Init, name: &str, payload: Value) -> Result<Value, NotifyError> {
    match name {
        "deliver-webhook" => deliver_webhook(init, payload).await,
        other => Err(NotifyError::InvalidInput(format!(
            "there is no notify function {other:?}"
        ))),
    }
}
