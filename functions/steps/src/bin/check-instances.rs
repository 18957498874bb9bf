//! The `check-instances` Lambda: whether the sandbox's VMs reached the wanted state.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::check_instances).await
}
