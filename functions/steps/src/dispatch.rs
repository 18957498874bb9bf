//! Every step function by name: the one place that turns a JSON payload into a handler's typed
//! input and its output back into JSON. The Lambda binaries and the local stack's in-process
//! functions both go through [`invoke`].

use crate::context::Steps;
use crate::error::StepError;
use crate::{account, constellations, infrastructure, ingress, instances, lock, network, record};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;

/// The step functions, by the name of their Lambda (and of their binary).
pub const FUNCTIONS: [&str; 19] = [
    "begin-operation",
    "finish-operation",
    "acquire-lock",
    "release-lock",
    "allocate-account",
    "retire-account",
    "ensure-infrastructure",
    "release-infrastructure",
    "create-network",
    "delete-network",
    "launch-instances",
    "start-instances",
    "stop-instances",
    "terminate-instances",
    "check-instances",
    "register-ingress",
    "deregister-ingress",
    "install-constellations",
    "check-constellations",
];

async fn typed<I, O, F, Fut>(payload: Value, handler: F) -> Result<Value, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let input: I = serde_json::from_value(payload)
        .map_err(|e| StepError::InvalidInput(format!("invalid input: {e}")))?;
    let output = handler(input).await?;
    serde_json::to_value(output).map_err(|e| StepError::Failed(format!("unserializable output: {e}")))
}

/// Runs the step function `name` on `payload`.
pub async fn invoke(steps: &Steps, name: &str, payload: Value) -> Result<Value, StepError> {
    let settings = &steps.settings;
    match name {
        "begin-operation" => typed(payload, |i| record::begin(&steps.store, i)).await,
        "finish-operation" => typed(payload, |i| record::finish(&steps.store, i)).await,
        "acquire-lock" => {
            typed(payload, |job| {
                lock::acquire(&steps.store, job, settings.lock_lease, settings.lock_wait)
            })
            .await
        }
        "release-lock" => typed(payload, |job| lock::release(&steps.store, job)).await,
        "allocate-account" => typed(payload, |job| account::allocate(steps, job)).await,
        "retire-account" => typed(payload, |job| account::retire(steps, job)).await,
        "ensure-infrastructure" => typed(payload, |job| infrastructure::ensure(steps, job)).await,
        "release-infrastructure" => typed(payload, |job| infrastructure::release(steps, job)).await,
        "create-network" => typed(payload, |job| network::create(steps, job)).await,
        "delete-network" => typed(payload, |job| network::delete(steps, job)).await,
        "launch-instances" => typed(payload, |i| instances::launch(steps, i)).await,
        "start-instances" => typed(payload, |job| instances::start(steps, job)).await,
        "stop-instances" => typed(payload, |job| instances::stop(steps, job)).await,
        "terminate-instances" => typed(payload, |job| instances::terminate(steps, job)).await,
        "check-instances" => typed(payload, |i| instances::check(steps, i)).await,
        "register-ingress" => typed(payload, |job| ingress::register(steps, job)).await,
        "deregister-ingress" => typed(payload, |job| ingress::deregister(steps, job)).await,
        "install-constellations" => typed(payload, |job| constellations::install(steps, job)).await,
        "check-constellations" => typed(payload, |i| constellations::check(steps, i)).await,
        other => Err(StepError::NotFound(format!("no step function named {other}"))),
    }
}
