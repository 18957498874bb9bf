//! The `collect-orphans` Lambda: removes resources of deleted sandboxes, and shared
//! infrastructure no active sandbox needs.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::collect_orphans).await
}
