//! The `check-constellations` Lambda: whether the SSM install command has finished.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::check_constellations).await
}
