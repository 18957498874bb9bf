//! The `meter-spend` Lambda: each sandbox's cost brought up to date from its audit trail, and
//! each tenant's budget looked at (the sandboxes, events and tenants tables, and the stop
//! workflow for a sandbox over its budget).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, workflows, settings) = (init.store()?, init.workflows()?, init.sweep_settings()?);
    let pricing = init.pricing()?;
    sbx_steps::lambda::run(|input| {
        sbx_steps::sweep::spend::sweep(&store, &workflows, &pricing, &settings, input)
    })
    .await
}
