//! The `api-sandboxes` Lambda: serves the `/sandboxes` routes. Its routes are in `sbx_api::routes::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = sbx_api::lambda::init().await?;
    let sandboxes = init.settings.sandboxes(&init.config, &init.config)?;
    sbx_api::lambda::run(&init.origin, |request| sandboxes.handle(request)).await
}
