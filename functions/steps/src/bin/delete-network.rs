//! The `delete-network` Lambda: deletes the sandbox's subnet and security group.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::delete_network).await
}
