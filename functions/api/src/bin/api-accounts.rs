//! The `api-accounts` Lambda: serves the `/accounts` routes (admins only). Its routes are in `sbx_api::routes::ROUTES`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let init = sbx_api::lambda::init().await?;
    let accounts = init.settings.accounts(&init.config)?;
    sbx_api::lambda::run(&init.origin, |request| accounts.handle(request)).await
}
