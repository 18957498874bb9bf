//! The `check-drift` Lambda: once a day, the month's estimates compared with Cost Explorer by
//! the `sbx:tenant` tag (the tenants table, and Cost Explorer where `SBX_COST_EXPLORER=on`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, settings, costs) = (init.store()?, init.sweep_settings()?, init.cost_explorer());
    sbx_steps::lambda::run(|input| sbx_steps::sweep::drift::check(&store, costs.as_ref(), &settings, input))
        .await
}
