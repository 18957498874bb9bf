//! The `api-webhooks` Lambda: serves the `/webhooks` routes. Its routes are in `sbx_api::routes::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = sbx_api::lambda::init().await?;
    let webhooks = init.settings.webhooks(&init.config, &init.config)?;
    sbx_api::lambda::run(&init.origin, |request| webhooks.handle(request)).await
}
