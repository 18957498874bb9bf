//! The `create-network` Lambda: the sandbox's own subnet and security group.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let accounts = sbx_steps::lambda::init().await?.accounts();
    sbx_steps::lambda::run(|job| sbx_steps::network::create(&accounts, job)).await
}
