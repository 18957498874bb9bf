//! The `release-infrastructure` Lambda: removes the shared infrastructure no active sandbox needs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::release_infrastructure).await
}
