//! The `reconcile-stuck` Lambda: checks records in a transitional state against their
//! execution, and fails those whose execution ended or never started.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    sbx_steps::lambda::run(|input| sbx_steps::sweep::stuck::reconcile(&store, &workflows, &settings, input))
        .await
}
