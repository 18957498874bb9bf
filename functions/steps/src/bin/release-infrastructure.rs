//! The `release-infrastructure` Lambda: removes the shared infrastructure no active sandbox needs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    sbx_steps::lambda::run(|job| sbx_steps::infrastructure::release(&store, &accounts, &infra, job)).await
}
