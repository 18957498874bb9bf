//! The `api-accounts` Lambda: its routes are in `sbx_api::routes::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    sbx_api::lambda::serve("api-accounts").await
}
