//! The `meter-spend` Lambda: each sandbox's cost brought up to date from its audit trail, and
//! each tenant's budget looked at (the sandboxes, events and tenants tables, and the stop
//! workflow for a sandbox over its budget).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::meter_spend).await
}
