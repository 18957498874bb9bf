//! The `run-deadlines` Lambda: the expiry warnings and the scheduled stops and starts that are
//! due, and the idle stops (the sandboxes table, the stop and start workflows, and the tenant
//! accounts' CloudWatch through the provisioning role).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    let accounts = init.accounts();
    sbx_steps::lambda::run(|input| {
        sbx_steps::sweep::deadlines::sweep(&store, &workflows, &accounts, &settings, input)
    })
    .await
}
