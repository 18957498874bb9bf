//! The `begin-operation` Lambda: begins the operation on the sandbox record.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::begin_operation).await
}
