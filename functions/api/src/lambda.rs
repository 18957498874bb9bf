//! An API function as a Lambda: built once per process, then each API Gateway event is
//! handed to [`Function::handle`].

use crate::functions::{Function, Settings};
use aws_config::BehaviorVersion;
use lambda_http::{Request, service_fn};

/// Runs the API function `name` under the Lambda runtime.
pub async fn serve(name: &'static str) -> Result<(), lambda_http::Error> {
    sbx_telemetry::init();
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let settings = Settings::from_env()?;
    let function = Function::build(name, &config, &config, &settings)?;
    let function = &function;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(function.handle(request).await)
    }))
    .await
}
