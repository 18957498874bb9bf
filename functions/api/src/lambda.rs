//! An API function as a Lambda. Its binary (`src/bin/<name>.rs`) calls [`init`] once, builds
//! its own function from the settings, and hands its handler to [`run`]:
//!
//! ```no_run
//! # async fn main_() -> Result<(), lambda_http::Error> {
//! let init = sbx_api::lambda::init().await?;
//! let token = init.settings.token(&init.config)?;
//! sbx_api::lambda::run(|request| token.handle(request)).await
//! # }
//! ```

use crate::functions::Settings;
use aws_config::SdkConfig;
use lambda_http::{Body, Request, Response, service_fn};
use std::future::Future;

/// What an API function starts from: logging, the SDK configuration and its settings.
pub struct Init {
    pub config: SdkConfig,
    pub settings: Settings,
}

/// Sets up logging, the SDK configuration (see `sbx_bootstrap`; nothing reaches the network)
/// and the settings from the environment.
pub async fn init() -> Result<Init, lambda_http::Error> {
    let (config, vars) = sbx_bootstrap::init().await?;
    let settings = Settings::from_vars(|name| vars.optional(name))?;
    Ok(Init { config, settings })
}

/// Serves `handler` for API Gateway's payload v2 events until the runtime ends the process.
/// A handler answers every request itself, errors included (problem details).
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Request) -> Fut + Sync,
    Fut: Future<Output = Response<Body>> + Send,
{
    let handler = &handler;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(handler(request).await)
    }))
    .await
}
