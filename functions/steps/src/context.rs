//! What every step runs with, built once per process: settings, the store, and the AWS access.

use aws_config::SdkConfig;
use sbx_aws::streaming::Streaming;
use sbx_aws::{AccountClients, Provisioner};
use sbx_store::{DynamoStore, StoreConfig, TableNames};
use std::time::Duration;

/// The machine images, owned by the management account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub acp: String,
    pub ocp: String,
    pub proxy: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub images: Images,
    /// The provisioning role's name in every tenant account.
    pub provisioning_role: String,
    /// Sandboxes are reachable at `<sandbox>.<tenant>.<domain>`.
    pub ingress_domain: String,
    /// How long an account lock lease lasts unless released. A create holds the lock from the
    /// allocation to the end (SPEC), so this covers its bounded waits: instances (60 × 5 s) and
    /// the SSM command (120 × 10 s), with room for retries.
    pub lock_lease: Duration,
    /// How long acquiring the lock waits for it before failing with `Sbx.LockHeld`.
    pub lock_wait: Duration,
    pub proxy_instance_type: String,
}

/// A setting missing from, or wrong in, the function's environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} must be a number of seconds, not {value:?}")]
    NotSeconds { name: &'static str, value: String },
}

impl Settings {
    /// Settings from the function's environment (`SBX_*`), with defaults where one makes sense.
    pub fn from_env(region: &str) -> Result<Self, ConfigError> {
        Self::from_vars(region, |name| std::env::var(name).ok())
    }

    /// Settings from `var`, which reads one variable.
    pub fn from_vars(region: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
        let seconds = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match var(name) {
                None => Ok(Duration::from_secs(default)),
                Some(value) => value
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| ConfigError::NotSeconds { name, value }),
            }
        };
        Ok(Self {
            region: region.to_owned(),
            images: Images {
                acp: required("SBX_ACP_IMAGE_ID")?,
                ocp: required("SBX_OCP_IMAGE_ID")?,
                proxy: required("SBX_PROXY_IMAGE_ID")?,
            },
            provisioning_role: var("SBX_PROVISIONING_ROLE").unwrap_or_else(|| "sbx-provisioning".into()),
            ingress_domain: var("SBX_INGRESS_DOMAIN").unwrap_or_else(|| "sandboxes.sbx.example".into()),
            lock_lease: seconds("SBX_LOCK_LEASE_SECONDS", 2700)?,
            lock_wait: seconds("SBX_LOCK_WAIT_SECONDS", 20)?,
            proxy_instance_type: var("SBX_PROXY_INSTANCE_TYPE").unwrap_or_else(|| "t3.small".into()),
        })
    }
}

/// The context of every step.
pub struct Steps {
    pub settings: Settings,
    pub store: DynamoStore,
    pub accounts: Provisioner,
    /// EC2 in the management account, where the images are.
    pub management_ec2: aws_sdk_ec2::Client,
    pub streaming: Streaming,
}

impl Steps {
    pub fn new(config: &SdkConfig, settings: Settings, tables: TableNames, streaming: Streaming) -> Self {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(config), StoreConfig::new(tables));
        Self {
            accounts: Provisioner::new(config.clone(), settings.provisioning_role.clone()),
            management_ec2: aws_sdk_ec2::Client::new(config),
            settings,
            store,
            streaming,
        }
    }

    pub async fn account(&self, account_id: &str) -> AccountClients {
        self.accounts.open(account_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_vars("eu-central-2", |name| vars.get(name).cloned())
    }

    const IMAGES: [(&str, &str); 3] = [
        ("SBX_ACP_IMAGE_ID", "ami-a"),
        ("SBX_OCP_IMAGE_ID", "ami-o"),
        ("SBX_PROXY_IMAGE_ID", "ami-p"),
    ];

    #[test]
    fn images_are_required_and_the_rest_has_defaults() {
        assert_eq!(
            settings(&IMAGES[..2]).err(),
            Some(ConfigError::Missing("SBX_PROXY_IMAGE_ID"))
        );
        let defaults = settings(&IMAGES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.images.ocp, "ami-o");
        assert_eq!(defaults.lock_lease, Duration::from_secs(2700));
        assert_eq!(defaults.provisioning_role, "sbx-provisioning");
        let mut vars = IMAGES.to_vec();
        vars.push(("SBX_LOCK_WAIT_SECONDS", "soon"));
        assert!(matches!(
            settings(&vars),
            Err(ConfigError::NotSeconds {
                name: "SBX_LOCK_WAIT_SECONDS",
                ..
            })
        ));
    }
}
