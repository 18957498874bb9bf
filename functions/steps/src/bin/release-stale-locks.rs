//! The `release-stale-locks` Lambda: removes leases past their expiry, journaling each.

#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve(sbx_steps::functions::release_stale_locks).await
}
