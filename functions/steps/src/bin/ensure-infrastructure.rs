//! The `ensure-infrastructure` Lambda: creates the shared infrastructure the active sandboxes need.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, accounts, infra) = (init.store()?, init.accounts(), init.infrastructure()?);
    let visibility = init.lock_settings()?.visibility;
    sbx_steps::lambda::run(|job| {
        sbx_steps::infrastructure::ensure(&store, &accounts, &infra, job, visibility)
    })
    .await
}
