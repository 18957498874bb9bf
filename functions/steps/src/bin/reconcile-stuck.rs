//! The `reconcile-stuck` Lambda: checks records in a transitional state against their
//! execution, and fails those whose execution ended or never started.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::reconcile_stuck).await
}
