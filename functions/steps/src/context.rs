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

impl Settings {
    /// Settings from the function's environment (`SBX_*`), with defaults where one makes sense.
    pub fn from_env(region: &str) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required =
            |name: &str| var(name).ok_or_else(|| format!("environment variable {name} is not set"));
        let seconds = |name: &str, default: u64| -> Result<Duration, String> {
            match var(name) {
                None => Ok(Duration::from_secs(default)),
                Some(text) => text
                    .parse()
                    .map(Duration::from_secs)
                    .map_err(|_| format!("{name} must be a number of seconds, not {text:?}")),
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
