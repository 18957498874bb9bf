//! The `api-token` Lambda: serves `POST /token`. Its routes are in `sbx_api::routes::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = sbx_api::lambda::init().await?;
    let token = init.settings.token(&init.config)?;
    sbx_api::lambda::run(&init.origin, |request| token.handle(request)).await
}
