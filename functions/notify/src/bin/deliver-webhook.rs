//! The `deliver-webhook` Lambda: one step of a delivery's execution (the tenants table, and the
//! receiver over HTTPS).

#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = &sbx_notify::lambda::init().await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            sbx_notify::functions::deliver_webhook(init, event.payload)
                .await
                .map_err(sbx_notify::lambda::diagnostic)
        },
    ))
    .await
}
