//! The `delete-expired` Lambda: begins the delete of sandboxes past their expiry.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::delete_expired).await
}
