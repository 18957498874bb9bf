//! The `warn-expiring` Lambda: gives the expiry warnings that are due (the sandboxes table).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, settings) = (init.store()?, init.sweep_settings()?);
    sbx_steps::lambda::run(|input| sbx_steps::sweep::warnings::sweep(&store, &settings, input)).await
}
