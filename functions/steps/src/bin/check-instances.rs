//! The `check-instances` Lambda: whether the sandbox's VMs reached the wanted state.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let accounts = sbx_steps::lambda::init().await?.accounts();
    sbx_steps::lambda::run(|input| sbx_steps::instances::check(&accounts, input)).await
}
