//! The `acquire-lock` Lambda: takes the account lock (the locks table only).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (locks, timing) = (init.lock_table()?, init.lock_settings()?);
    sbx_steps::lambda::run(|job| sbx_steps::lock::acquire(&locks, job, timing)).await
}
