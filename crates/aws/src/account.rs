//! Clients for a tenant's account. The orchestrator reaches a tenant account only by assuming
//! the provisioning role there (SPEC: Security); the SDK's own `AssumeRoleProvider` does the STS
//! call and refreshes the credentials. Endpoints stay those of the base configuration, so the
//! same code talks to AWS or to moto.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The clients a step uses in one tenant account.
#[derive(Debug, Clone)]
pub struct AccountClients {
    pub account_id: String,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub config: SdkConfig,
}

/// Opens tenant accounts through their provisioning role, once per account per process. Its
/// clones share what they opened.
#[derive(Debug, Clone)]
pub struct Provisioner {
    base: SdkConfig,
    role_name: String,
    opened: Arc<Mutex<HashMap<String, AccountClients>>>,
}

impl Provisioner {
    /// `role_name` is the provisioning role's name in every tenant account.
    pub fn new(base: SdkConfig, role_name: impl Into<String>) -> Self {
        Self {
            base,
            role_name: role_name.into(),
            opened: Arc::default(),
        }
    }

    /// The configuration of the management account (the orchestrator's own).
    pub fn management(&self) -> &SdkConfig {
        &self.base
    }

    pub fn role_arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:role/{}", self.role_name)
    }

    /// Clients acting in `account_id` as its provisioning role.
    pub async fn open(&self, account_id: &str) -> AccountClients {
        let mut opened = self.opened.lock().await;
        if let Some(clients) = opened.get(account_id) {
            return clients.clone();
        }
        let provider = AssumeRoleProvider::builder(self.role_arn(account_id))
            .session_name("sbx-orchestrator")
            .configure(&self.base)
            .build()
            .await;
        let config = self
            .base
            .to_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        let clients = AccountClients {
            account_id: account_id.to_owned(),
            ec2: sbx_transient::client!(aws_sdk_ec2, &config),
            elb: sbx_transient::client!(aws_sdk_elasticloadbalancingv2, &config),
            ssm: sbx_transient::client!(aws_sdk_ssm, &config),
            config,
        };
        opened.insert(account_id.to_owned(), clients.clone());
        clients
    }
}
