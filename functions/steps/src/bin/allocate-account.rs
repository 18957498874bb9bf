//! The `allocate-account` Lambda: the tenant's account from the pool, with the images shared with it.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let (store, images, management) = (init.store()?, init.images()?, init.management_ec2());
    sbx_steps::lambda::run(|job| sbx_steps::account::allocate(&store, &management, &images, job)).await
}
