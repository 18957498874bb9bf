//! The `launch-instances` Lambda: launches the ACP and OCP VMs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (accounts, images) = (init.accounts(), init.sandbox_images()?);
    sbx_steps::lambda::run(|input| sbx_steps::instances::launch(&accounts, &images, input)).await
}
