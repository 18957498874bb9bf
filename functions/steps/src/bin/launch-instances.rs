//! The `launch-instances` Lambda: launches the ACP and OCP VMs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::launch_instances).await
}
