//! The `finish-operation` Lambda: records how the operation ended.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let init = sbx_steps::lambda::init().await?;
    let store = init.store()?;
    sbx_steps::lambda::run(|input| sbx_steps::record::finish(&store, input)).await
}
