//! The `allocate-account` Lambda: the tenant's account from the pool, with the images shared with it.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::allocate_account).await
}
