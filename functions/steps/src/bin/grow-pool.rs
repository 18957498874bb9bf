//! The `grow-pool` Lambda: creates accounts when the pool is below its low-water mark.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::grow_pool).await
}
