//! The `start-instances` Lambda: starts the sandbox's VMs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::start_instances).await
}
