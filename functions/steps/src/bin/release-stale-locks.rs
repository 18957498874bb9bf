//! The `release-stale-locks` Lambda: removes leases past their expiry, journaling each.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, settings) = (init.store()?, init.sweep_settings()?);
    sbx_steps::lambda::run(|input| sbx_steps::sweep::locks::sweep(&store, &settings, input)).await
}
