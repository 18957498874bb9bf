//! The `create-network` Lambda: the sandbox's own subnet and security group.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::create_network).await
}
