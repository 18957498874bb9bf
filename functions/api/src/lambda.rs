//! An API function as a Lambda. Its binary (`src/bin/<name>.rs`) calls [`init`] once, builds
//! its own function from the settings, and hands its handler to [`run`]:
//!
//! ```no_run
//! # async fn main_() -> Result<(), lambda_http::Error> {
//! let init = sbx_api::lambda::init().await?;
//! let token = init.settings.token(&init.config)?;
//! sbx_api::lambda::run(&init.origin, |request| token.handle(request)).await
//! # }
//! ```
//!
//! Secrets come by name in the environment and are read once, here, at the cold start:
//!
//! - `SBX_PAGE_TOKEN_SECRET`: the secret whose string signs page tokens (`SBX_PAGE_TOKEN_KEY`,
//!   the key itself, is for local runs only);
//! - `SBX_ORIGIN_SECRET`: the secret CloudFront adds as [`crate::origin::HEADER`]; without
//!   it every request is admitted.

use crate::functions::{ConfigError, Settings};
use crate::origin::Origin;
use crate::secrets;
use aws_config::SdkConfig;
use lambda_http::{Body, Request, Response, service_fn};
use sbx_store::PageKey;
use std::future::Future;

/// What an API function starts from: logging, the SDK configuration, its settings and the
/// origin requests must come from.
pub struct Init {
    pub config: SdkConfig,
    pub settings: Settings,
    pub origin: Origin,
}

/// Sets up logging, the SDK configuration (see `sbx_bootstrap`) and the settings from the
/// environment, and reads the secrets the environment names (the one network call of a cold
/// start).
pub async fn init() -> Result<Init, lambda_http::Error> {
    let (config, vars) = sbx_bootstrap::init().await?;
    let mut settings = Settings::from_vars(|name| vars.optional(name))?;
    if let Some(secret) = vars.optional("SBX_PAGE_TOKEN_SECRET") {
        let key = secrets::read(&config, &secret).await?;
        settings.page_key = Some(PageKey::new(key.as_bytes()).map_err(|e| ConfigError::Invalid {
            name: "SBX_PAGE_TOKEN_SECRET",
            problem: e.to_string(),
        })?);
    }
    let origin = match vars.optional("SBX_ORIGIN_SECRET") {
        Some(secret) => Origin::secret(secrets::read(&config, &secret).await?),
        None => Origin::open(),
    };
    Ok(Init {
        config,
        settings,
        origin,
    })
}

/// Serves `handler` for API Gateway's payload v2 events until the runtime ends the process.
/// A request that did not come through `origin` is refused before the handler sees it. A
/// handler answers every request itself, errors included (problem details).
pub async fn run<F, Fut>(origin: &Origin, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        let response = match origin.refuse(&request) {
            Some(refused) => refused,
            None => handler(request).await,
        };
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}
