//! What every sbx Lambda starts with, once per process: logging ([`sbx_telemetry`]), its
//! environment ([`Vars`]), and the SDK configuration its clients are built from ([`init`]).
//!
//! Nothing here reaches the network, and nothing is loaded that the first call can load:
//!
//! - The region must come from `AWS_REGION`, which Lambda sets: without it the SDK would ask
//!   the instance metadata service.
//! - Credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`), which is where Lambda puts the function role's. The SDK's default
//!   chain would build its web-identity, container and instance-metadata providers here, each
//!   with a client of its own.
//! - The HTTPS connector, and with it the system's TLS roots (some 150 files read and parsed),
//!   is built on the first call ([`Deferred`]), not by every client's construction. This moves
//!   that work into the first invocation rather than saving it; the benchmark shows both.
//!
//! Endpoints come from the standard `AWS_ENDPOINT_URL*` variables.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::time::Duration;

/// A setting missing from, or wrong in, the function's environment. It fails the function's
/// init, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} must be {expected}, not {value:?}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// Reads one variable.
type Reader = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Reads the function's variables; an empty value counts as unset.
pub struct Vars(Reader);

impl Vars {
    /// The process environment.
    pub fn env() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// Variables read by `var` (tests pass a map).
    pub fn from_fn(var: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Box::new(var))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A duration in seconds (`900`, or `0.4` for a scaled-down local stack).
    pub fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.optional(name) {
            None => Ok(Duration::from_secs(default)),
            Some(value) => value
                .parse::<f64>()
                .ok()
                .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                .ok_or(ConfigError::Invalid {
                    name,
                    expected: "a number of seconds",
                    value,
                }),
        }
    }
}

/// The store's settings from `vars`: the tables (`SBX_*_TABLE`; a function needs only those it
/// uses) and the tenants' quota (`SBX_QUOTA`, default 10). Every function that uses the store
/// reads them here.
pub fn store_config(vars: &Vars) -> Result<sbx_store::StoreConfig, ConfigError> {
    let tables = sbx_store::TableNames::from_vars(|name| vars.optional(name));
    let mut config = sbx_store::StoreConfig::new(tables);
    if let Some(quota) = vars.optional("SBX_QUOTA") {
        config.quota = quota.parse().map_err(|_| ConfigError::Invalid {
            name: "SBX_QUOTA",
            expected: "a whole number of sandboxes",
            value: quota,
        })?;
    }
    Ok(config)
}

/// The store on DynamoDB, with `config`'s credentials and [`store_config`]'s settings.
pub fn store(config: &SdkConfig, vars: &Vars) -> Result<sbx_store::DynamoStore, ConfigError> {
    Ok(sbx_store::DynamoStore::new(
        sbx_transient::client!(aws_sdk_dynamodb, config),
        store_config(vars)?,
    ))
}

/// Sets up logging, then builds the SDK configuration from the process environment.
pub async fn init() -> Result<(SdkConfig, Vars), ConfigError> {
    sbx_telemetry::init();
    let vars = Vars::env();
    Ok((sdk_config(&vars).await?, vars))
}

/// The SDK configuration for `vars`' `AWS_REGION`, with credentials from the environment.
pub async fn sdk_config(vars: &Vars) -> Result<SdkConfig, ConfigError> {
    let region = vars.required("AWS_REGION")?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(Deferred::https())
        .load()
        .await)
}

/// The SDK's own HTTP client, except that building a service client does not build its
/// connector to check it: the SDK's check constructs the TLS configuration, root certificates
/// included, at init. The connector is made, and cached by the wrapped client, on the first
/// call; an error there fails that call as any connection error would.
#[derive(Debug, Clone)]
pub struct Deferred(SharedHttpClient);

impl Deferred {
    /// The SDK's default client: hyper 1 with rustls on aws-lc-rs, trusting the system's roots.
    pub fn https() -> Self {
        let tls = Provider::Rustls(CryptoMode::AwsLc);
        Self(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls)
                .build_https(),
        )
    }
}

impl HttpClient for Deferred {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_region_is_required_and_taken_as_given() {
        let none = sdk_config(&Vars::from_fn(|_| None)).await;
        assert_eq!(none.err(), Some(ConfigError::Missing("AWS_REGION")));
        let empty = sdk_config(&Vars::from_fn(|_| Some(String::new()))).await;
        assert_eq!(empty.err(), Some(ConfigError::Missing("AWS_REGION")));
        let config = sdk_config(&Vars::from_fn(|name| {
            (name == "AWS_REGION").then(|| "eu-central-2".into())
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-central-2"));
        let client = format!("{:?}", config.http_client());
        assert!(
            client.contains("Deferred"),
            "the connector is built on the first call: {client}"
        );
        let credentials = format!("{:?}", config.credentials_provider());
        assert!(credentials.contains("EnvironmentVariable"), "{credentials}");
    }

    #[test]
    fn seconds_have_a_default_and_refuse_words() {
        let vars = Vars::from_fn(|name| (name == "WAIT").then(|| "soon".into()));
        assert_eq!(vars.seconds("LEASE", 7), Ok(Duration::from_secs(7)));
        assert!(matches!(
            vars.seconds("WAIT", 7),
            Err(ConfigError::Invalid { name: "WAIT", .. })
        ));
    }
}
