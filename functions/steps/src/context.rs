//! Every step's dependencies at once, for running all of them in one process (the local stack
//! and the end-to-end tests, through [`crate::dispatch::invoke`]). A deployed Lambda never
//! builds this: its binary builds only what its own handler takes (see `src/bin/`).

use crate::config::{Images, LockSettings, SweepSettings};
use aws_config::SdkConfig;
use sbx_aws::infra::ProxySpec;
use sbx_aws::streaming::Streaming;
use sbx_aws::{Infrastructure, OrganizationPool, Provisioner};
use sbx_store::{DynamoStore, StoreConfig, TableNames};

/// What the local stack configures all steps with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub images: Images,
    pub provisioning_role: String,
    pub ingress_domain: String,
    pub locks: LockSettings,
    pub proxy_instance_type: String,
    pub sweep: SweepSettings,
    /// The lifecycle state machines, for the sweeps that start and read executions.
    pub workflows: sbx_workflows::StepFunctions,
    /// Where new pool accounts are made, if anywhere.
    pub organization: Option<OrganizationPool>,
    /// Live sandboxes a tenant may have (`SBX_QUOTA`): an operator's create counts against the
    /// same quota as the API's.
    pub quota: u32,
}

/// The dependencies of every step.
pub struct Steps {
    pub store: DynamoStore,
    /// The tenant accounts, through their provisioning role: the AWS-side ports.
    pub accounts: Provisioner,
    pub infrastructure: Infrastructure,
    /// EC2 in the management account, where the images are.
    pub management_ec2: aws_sdk_ec2::Client,
    pub images: Images,
    pub locks: LockSettings,
    pub ingress_domain: String,
    pub sweep: SweepSettings,
    pub workflows: sbx_workflows::StepFunctions,
    pub organization: Option<OrganizationPool>,
    /// Cost Explorer, where the deployment reads it for the daily drift check; the local stack
    /// has no emulator of it.
    pub cost_explorer: Option<aws_sdk_costexplorer::Client>,
}

impl Steps {
    pub fn new(config: &SdkConfig, settings: Settings, tables: TableNames, streaming: Streaming) -> Self {
        let mut store_config = StoreConfig::new(tables);
        store_config.quota = settings.quota;
        let store = DynamoStore::new(sbx_transient::client!(aws_sdk_dynamodb, config), store_config);
        let accounts = Provisioner::new(config.clone(), settings.provisioning_role);
        let infrastructure = Infrastructure {
            accounts: accounts.clone(),
            proxy: ProxySpec {
                image_id: settings.images.proxy.clone(),
                instance_type: settings.proxy_instance_type,
            },
            streaming,
        };
        Self {
            store,
            accounts,
            infrastructure,
            management_ec2: sbx_transient::client!(aws_sdk_ec2, config),
            images: settings.images,
            locks: settings.locks,
            ingress_domain: settings.ingress_domain,
            sweep: settings.sweep,
            workflows: settings.workflows,
            organization: settings.organization,
            cost_explorer: None,
        }
    }

    /// The pinned prices, with the proxies this deployment launches.
    pub fn pricing(&self) -> Result<sbx_lifecycle::cost::Pricing, crate::error::StepError> {
        let infra = sbx_lifecycle::cost::SharedInfra {
            proxy_instance_type: self.infrastructure.proxy.instance_type.clone(),
            ..sbx_lifecycle::cost::SharedInfra::default()
        };
        Ok(sbx_lifecycle::cost::Pricing::pinned(&infra)?)
    }
}
