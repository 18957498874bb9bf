//! The `delete-expired` Lambda: begins the delete of sandboxes past their expiry.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    sbx_steps::lambda::run(|input| sbx_steps::sweep::expired::sweep(&store, &workflows, &settings, input))
        .await
}
