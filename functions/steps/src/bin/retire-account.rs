//! The `retire-account` Lambda: marks the account expired when its last sandbox is gone.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let store = init.store()?;
    sbx_steps::lambda::run(|job| sbx_steps::account::retire(&store, job)).await
}
