//! The `acquire-lock` Lambda: takes the account lock (the locks table only).

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::acquire_lock).await
}
