//! What every sbx Lambda starts with, once per process: logging ([`sbx_telemetry`]), its
//! environment ([`Vars`]), and the SDK configuration its clients are built from ([`init`]).
//!
//! Nothing here reaches the network. The region must come from `AWS_REGION`, which Lambda
//! sets: without it the SDK would ask the instance metadata service. Endpoints and credentials
//! come from the standard `AWS_*` variables; the SDK resolves credentials and loads its TLS
//! roots on the first call, not here.

use aws_config::{BehaviorVersion, Region, SdkConfig};
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

    pub fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.optional(name) {
            None => Ok(Duration::from_secs(default)),
            Some(value) => value
                .parse()
                .map(Duration::from_secs)
                .map_err(|_| ConfigError::Invalid {
                    name,
                    expected: "a whole number of seconds",
                    value,
                }),
        }
    }
}

/// Sets up logging, then builds the SDK configuration from the process environment.
pub async fn init() -> Result<(SdkConfig, Vars), ConfigError> {
    sbx_telemetry::init();
    let vars = Vars::env();
    Ok((sdk_config(&vars).await?, vars))
}

/// The SDK configuration for `vars`' `AWS_REGION`.
pub async fn sdk_config(vars: &Vars) -> Result<SdkConfig, ConfigError> {
    let region = vars.required("AWS_REGION")?;
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .load()
        .await)
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
