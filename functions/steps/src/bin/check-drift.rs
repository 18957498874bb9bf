//! The `check-drift` Lambda: once a day, the month's estimates compared with Cost Explorer by
//! the `sbx:tenant` tag (the tenants table, and Cost Explorer where `SBX_COST_EXPLORER=on`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::check_drift).await
}
