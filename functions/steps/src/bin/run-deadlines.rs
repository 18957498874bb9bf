//! The `run-deadlines` Lambda: the expiry warnings and the scheduled stops and starts that are
//! due, and the idle stops (the sandboxes table, the stop and start workflows, and the tenant
//! accounts' CloudWatch through the provisioning role).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::run_deadlines).await
}
