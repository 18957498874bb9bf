//! The `release-lock` Lambda: releases the account lock (the locks table only).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let locks = init.lock_table()?;
    sbx_steps::lambda::run(|job| sbx_steps::lock::release(&locks, job)).await
}
