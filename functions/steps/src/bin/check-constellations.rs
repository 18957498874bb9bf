//! The `check-constellations` Lambda: whether the SSM install command has finished.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let accounts = sbx_steps::lambda::init().await?.accounts();
    sbx_steps::lambda::run(|input| sbx_steps::constellations::check(&accounts, input)).await
}
