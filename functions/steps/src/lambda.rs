//! A step function as a Lambda: the context is built once per process, then each event is
//! handed to [`crate::dispatch::invoke`].

use crate::context::{Settings, Steps};
use aws_config::BehaviorVersion;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sbx_aws::streaming::Streaming;
use sbx_store::TableNames;
use serde_json::Value;

/// Runs the step function `name` under the Lambda runtime.
pub async fn serve(name: &'static str) -> Result<(), lambda_runtime::Error> {
    sbx_telemetry::init();
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let settings = Settings::from_env(&region)?;
    let tables = TableNames::from_env()?;
    let streaming = Streaming::AppStream {
        image_name: std::env::var("SBX_APPSTREAM_IMAGE").unwrap_or_else(|_| "sbx-smart-client".into()),
        instance_type: std::env::var("SBX_APPSTREAM_INSTANCE_TYPE")
            .unwrap_or_else(|_| "stream.standard.medium".into()),
    };
    let steps = Steps::new(&config, settings, tables, streaming);
    let steps = &steps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        crate::dispatch::invoke(steps, name, event.payload)
            .await
            .map_err(Diagnostic::from)
    }))
    .await
}
