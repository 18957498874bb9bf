//! The `finish-operation` Lambda: records how the operation ended.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::finish_operation).await
}
