//! The `run-deadlines` Lambda: the expiry warnings and the scheduled stops and starts that are
//! due (the sandboxes table, and the stop and start workflows).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    sbx_steps::lambda::run(|input| sbx_steps::sweep::deadlines::sweep(&store, &workflows, &settings, input))
        .await
}
