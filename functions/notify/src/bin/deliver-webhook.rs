//! The `deliver-webhook` Lambda: one step of a delivery's execution (the tenants table, and the
//! receiver over HTTPS).

#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use sbx_notify::deliver::{DeliverInput, Network, deliver};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_notify::lambda::init().await?;
    let store = init.store()?;
    let (store, settings) = (&store, &init.settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<DeliverInput>| async move {
        deliver(store, &Network, settings, event.payload, chrono::Utc::now())
            .await
            .map_err(sbx_notify::lambda::diagnostic)
    }))
    .await
}
