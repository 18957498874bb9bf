//! The `retire-account` Lambda: marks the account expired when its last sandbox is gone.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::retire_account).await
}
