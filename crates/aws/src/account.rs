//! Clients for a tenant's account. The orchestrator reaches a tenant account only by assuming
//! the provisioning role there (SPEC: Security); the SDK's own `AssumeRoleProvider` does the STS
//! call and refreshes the credentials. Endpoints stay those of the base configuration, so the
//! same code talks to AWS or to moto.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::Mutex;

/// The clients a step uses in one tenant account, each built on its first use (a step that
/// only launches instances never builds the ELB or SSM client). Its clones share them.
#[derive(Debug, Clone)]
pub struct AccountClients {
    pub account_id: String,
    pub config: SdkConfig,
    built: Arc<Built>,
}

#[derive(Debug, Default)]
struct Built {
    ec2: OnceLock<aws_sdk_ec2::Client>,
    elb: OnceLock<aws_sdk_elasticloadbalancingv2::Client>,
    ssm: OnceLock<aws_sdk_ssm::Client>,
}

impl AccountClients {
    /// Clients acting with `config` (the provisioning role's credentials in `account_id`).
    pub fn new(account_id: impl Into<String>, config: SdkConfig) -> Self {
        Self {
            account_id: account_id.into(),
            config,
            built: Arc::default(),
        }
    }

    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        self.built
            .ec2
            .get_or_init(|| sbx_transient::client!(aws_sdk_ec2, &self.config))
    }

    pub fn elb(&self) -> &aws_sdk_elasticloadbalancingv2::Client {
        self.built
            .elb
            .get_or_init(|| sbx_transient::client!(aws_sdk_elasticloadbalancingv2, &self.config))
    }

    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        self.built
            .ssm
            .get_or_init(|| sbx_transient::client!(aws_sdk_ssm, &self.config))
    }
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
        let clients = AccountClients::new(account_id, config);
        opened.insert(account_id.to_owned(), clients.clone());
        clients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accounts_clients_are_built_once_on_first_use_and_shared_by_its_clones() {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let clients = AccountClients::new("111111111111", config);
        let clone = clients.clone();
        assert!(clients.built.elb.get().is_none() && clients.built.ssm.get().is_none());
        assert!(std::ptr::eq(clients.ec2(), clone.ec2()));
        assert!(
            clients.built.elb.get().is_none(),
            "a step that uses EC2 alone builds no ELB client"
        );
    }
}
