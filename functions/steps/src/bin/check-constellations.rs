//! The `check-constellations` Lambda. See `sbx_steps::dispatch` for its handler.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sbx_steps::lambda::serve("check-constellations").await
}
