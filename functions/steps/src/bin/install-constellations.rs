//! The `install-constellations` Lambda: sends the SSM command that installs the constellations.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let accounts = sbx_steps::lambda::init().await?.accounts();
    sbx_steps::lambda::run(|job| sbx_steps::constellations::install(&accounts, job)).await
}
