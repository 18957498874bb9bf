//! The `ensure-infrastructure` Lambda: creates the shared infrastructure the active sandboxes need.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::ensure_infrastructure).await
}
