//! The `release-lock` Lambda: releases the account lock (the locks table only).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::release_lock).await
}
