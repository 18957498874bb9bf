//! The `stop-instances` Lambda: stops the sandbox's VMs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let accounts = sbx_steps::lambda::init().await?.accounts();
    sbx_steps::lambda::run(|job| sbx_steps::instances::stop(&accounts, job)).await
}
