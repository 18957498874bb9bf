//! Every notify function, built one way: each takes from the [`Init`] only what its handler
//! uses. A deployed Lambda serves one (its binary names it); the local stack calls
//! `deliver-webhook` by name ([`invoke`], for the engine) and `publish-events` with the stream's
//! items, as Lambda's event source mapping would.

use crate::batch::{self, BatchResponse, Record};
use crate::deliver::{self, Network};
use crate::error::NotifyError;
use crate::lambda::Init;
use serde_json::Value;

/// `deliver-webhook`: one step of a delivery's execution (the tenants table, the key that opens
/// the signing secrets, and the receiver over HTTPS).
pub async fn deliver_webhook(init: &Init, payload: Value) -> Result<Value, NotifyError> {
    let (store, seal) = (init.store()?, init.seal()?);
    let input = serde_json::from_value(payload).map_err(|e| NotifyError::InvalidInput(e.to_string()))?;
    let output = deliver::deliver(store, seal, &Network, init.settings()?, input, chrono::Utc::now()).await?;
    serde_json::to_value(output).map_err(|e| NotifyError::Failed(e.to_string()))
}

/// `publish-events`: a batch of the events table's stream, in order, to the bus and the webhook
/// deliveries; what cannot be read is parked. The answer names the first record to give again.
pub async fn publish_events(init: &Init, records: Vec<Record>) -> Result<BatchResponse, NotifyError> {
    let (store, bus, executions) = (init.store()?, init.bus(), init.executions()?);
    let parking = init.parking()?;
    Ok(batch::publish_records(store, bus, executions, parking, init.settings()?, records).await)
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
