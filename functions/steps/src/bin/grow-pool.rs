//! The `grow-pool` Lambda: creates accounts when the pool is below its low-water mark.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, settings, organization) = (init.store()?, init.sweep_settings()?, init.organization()?);
    sbx_steps::lambda::run(|input| {
        sbx_steps::sweep::pool::grow(&store, organization.as_ref(), &settings, input)
    })
    .await
}
