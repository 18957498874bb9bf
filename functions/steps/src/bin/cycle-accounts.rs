//! The `cycle-accounts` Lambda: expires idle accounts, cleans them after retention, proves
//! them empty, and returns them to the pool or quarantines them.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::cycle_accounts).await
}
