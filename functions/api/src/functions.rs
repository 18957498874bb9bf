//! The API functions, built once per process from their [`Settings`].

use crate::accounts::Accounts;
use crate::directory::Cognito;
use crate::routes;
use crate::sandboxes::Sandboxes;
use crate::token::{CognitoAuth, Token};
use crate::webhooks::Webhooks;
use aws_config::SdkConfig;
use lambda_http::{Body, Request, Response};
use sbx_store::{DynamoStore, KmsSeal, PageKey, StoreConfig, TableNames};
use sbx_workflows::StepFunctions;
use sbx_workflows::deliveries::DeliveryExecutions;

/// What the functions are configured with. A deployed function reads it from its environment
/// (`sbx_api::lambda::init`); each function needs only some of it.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `SBX_USER_POOL_ID`: where users and their `custom:tenant` live.
    pub user_pool_id: Option<String>,
    /// `SBX_USER_POOL_CLIENT_ID`: the app client `POST /token` signs in with.
    pub client_id: Option<String>,
    /// `SBX_*_TABLE`.
    pub tables: Option<TableNames>,
    /// `SBX_QUOTA`: live sandboxes per tenant.
    pub quota: Option<u32>,
    /// `SBX_PAGE_TOKEN_KEY`: the secret (32 bytes of text or more) that signs page tokens.
    pub page_key: Option<PageKey>,
    /// `SBX_{CREATE,START,STOP,DELETE}_STATE_MACHINE_ARN`, in the order of `Operation::ALL`.
    pub state_machines: Option<[String; 4]>,
    /// `SBX_DELIVER_STATE_MACHINE_ARN`: the webhook deliveries' state machine.
    pub deliver_state_machine: Option<String>,
    /// `SBX_WEBHOOK_KEY`: the KMS key that seals webhook secrets (its alias).
    pub webhook_key: Option<String>,
    /// Where webhook endpoints may point. Deployed, never loopback; the local stack allows it.
    pub webhook_policy: sbx_webhooks::Policy,
    /// What the accounts' shared infrastructure is made of, for the estimates
    /// (`SBX_PROXY_INSTANCE_TYPE`, `SBX_APPSTREAM_INSTANCE_TYPE`).
    pub shared_infra: sbx_lifecycle::cost::SharedInfra,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name}: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("there is no API function {0:?}")]
    UnknownFunction(String),
}

impl Settings {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let quota = match var("SBX_QUOTA") {
            None => None,
            Some(text) => Some(text.parse().map_err(|_| ConfigError::Invalid {
                name: "SBX_QUOTA",
                problem: format!("a number, not {text:?}"),
            })?),
        };
        let page_key = match var("SBX_PAGE_TOKEN_KEY") {
            None => None,
            Some(text) => Some(PageKey::new(text.as_bytes()).map_err(|e| ConfigError::Invalid {
                name: "SBX_PAGE_TOKEN_KEY",
                problem: e.to_string(),
            })?),
        };
        let machines =
            ["CREATE", "START", "STOP", "DELETE"].map(|op| var(&format!("SBX_{op}_STATE_MACHINE_ARN")));
        let state_machines = match machines {
            [Some(a), Some(b), Some(c), Some(d)] => Some([a, b, c, d]),
            _ => None,
        };
        let tables = Some(TableNames::from_vars(var));
        Ok(Self {
            user_pool_id: var("SBX_USER_POOL_ID"),
            client_id: var("SBX_USER_POOL_CLIENT_ID"),
            tables,
            quota,
            page_key,
            state_machines,
            deliver_state_machine: var("SBX_DELIVER_STATE_MACHINE_ARN"),
            webhook_key: var("SBX_WEBHOOK_KEY"),
            webhook_policy: sbx_webhooks::Policy::default(),
            shared_infra: sbx_lifecycle::cost::SharedInfra::from_vars(var),
        })
    }

    /// The pinned prices (`infra/prices.json`) for this deployment's shared infrastructure.
    fn pricing(&self) -> Result<sbx_lifecycle::cost::Pricing, ConfigError> {
        sbx_lifecycle::cost::Pricing::pinned(&self.shared_infra).map_err(|e| ConfigError::Invalid {
            name: "SBX_PROXY_INSTANCE_TYPE",
            problem: e.to_string(),
        })
    }

    fn store(&self, config: &SdkConfig) -> Result<DynamoStore, ConfigError> {
        let tables = self
            .tables
            .clone()
            .ok_or(ConfigError::Missing("SBX_SANDBOXES_TABLE"))?;
        let mut store_config = StoreConfig::new(tables);
        if let Some(quota) = self.quota {
            store_config.quota = quota;
        }
        store_config.page_key = self
            .page_key
            .clone()
            .ok_or(ConfigError::Missing("SBX_PAGE_TOKEN_KEY"))?;
        Ok(DynamoStore::new(
            sbx_transient::client!(aws_sdk_dynamodb, config),
            store_config,
        ))
    }

    fn directory(&self, config: &SdkConfig) -> Result<Cognito, ConfigError> {
        let pool = self
            .user_pool_id
            .clone()
            .ok_or(ConfigError::Missing("SBX_USER_POOL_ID"))?;
        Ok(Cognito::new(
            sbx_transient::client!(aws_sdk_cognitoidentityprovider, config),
            pool,
        ))
    }
}

pub type SandboxesFunction = Sandboxes<DynamoStore, StepFunctions, Cognito>;
pub type AccountsFunction = Accounts<DynamoStore, Cognito>;
pub type TokenFunction = Token<CognitoAuth>;
pub type WebhooksFunction = Webhooks<DynamoStore, DeliveryExecutions, Cognito, KmsSeal>;

impl Settings {
    /// `api-token`: Cognito's InitiateAuth with the app client.
    pub fn token(&self, config: &SdkConfig) -> Result<TokenFunction, ConfigError> {
        Ok(Token {
            auth: CognitoAuth {
                client: sbx_transient::client!(aws_sdk_cognitoidentityprovider, config),
                client_id: self
                    .client_id
                    .clone()
                    .ok_or(ConfigError::Missing("SBX_USER_POOL_CLIENT_ID"))?,
            },
        })
    }

    /// `api-sandboxes`: the store, the state machines and the user directory. `sfn` configures
    /// the Step Functions client; in Lambda it is `config` itself, the local stack points it at
    /// its own engine.
    pub fn sandboxes(&self, config: &SdkConfig, sfn: &SdkConfig) -> Result<SandboxesFunction, ConfigError> {
        let arns = self
            .state_machines
            .clone()
            .ok_or(ConfigError::Missing("SBX_CREATE_STATE_MACHINE_ARN"))?;
        Ok(Sandboxes {
            store: self.store(config)?,
            workflows: StepFunctions::new(sbx_transient::client!(aws_sdk_sfn, sfn), arns),
            directory: self.directory(config)?,
            pricing: self.pricing()?,
        })
    }

    /// `api-webhooks`: the store, the deliveries' state machine and the user directory.
    pub fn webhooks(&self, config: &SdkConfig, sfn: &SdkConfig) -> Result<WebhooksFunction, ConfigError> {
        Ok(Webhooks {
            store: self.store(config)?,
            deliveries: DeliveryExecutions {
                client: sbx_transient::client!(aws_sdk_sfn, sfn),
                state_machine: self
                    .deliver_state_machine
                    .clone()
                    .ok_or(ConfigError::Missing("SBX_DELIVER_STATE_MACHINE_ARN"))?,
            },
            directory: self.directory(config)?,
            seal: KmsSeal::new(
                sbx_transient::client!(aws_sdk_kms, config),
                self.webhook_key
                    .clone()
                    .ok_or(ConfigError::Missing("SBX_WEBHOOK_KEY"))?,
            ),
            policy: self.webhook_policy,
        })
    }

    /// `api-accounts`: the store and the user directory.
    pub fn accounts(&self, config: &SdkConfig) -> Result<AccountsFunction, ConfigError> {
        Ok(Accounts {
            store: self.store(config)?,
            directory: self.directory(config)?,
            pricing: self.pricing()?,
        })
    }
}

/// One API function with what it works with, for serving them all in one process (the local
/// stack). A deployed Lambda builds only its own (see `src/bin/`).
pub enum Function {
    Token(TokenFunction),
    Sandboxes(Box<SandboxesFunction>),
    Accounts(Box<AccountsFunction>),
    Webhooks(Box<WebhooksFunction>),
}

impl Function {
    /// The function `name` (one of [`routes::FUNCTIONS`]), with the clients and settings it uses.
    pub fn build(
        name: &str,
        config: &SdkConfig,
        sfn: &SdkConfig,
        settings: &Settings,
    ) -> Result<Self, ConfigError> {
        Ok(match name {
            routes::TOKEN => Function::Token(settings.token(config)?),
            routes::SANDBOXES => Function::Sandboxes(Box::new(settings.sandboxes(config, sfn)?)),
            routes::ACCOUNTS => Function::Accounts(Box::new(settings.accounts(config)?)),
            routes::WEBHOOKS => Function::Webhooks(Box::new(settings.webhooks(config, sfn)?)),
            other => return Err(ConfigError::UnknownFunction(other.to_owned())),
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self {
            Function::Token(f) => f.handle(request).await,
            Function::Sandboxes(f) => f.handle(request).await,
            Function::Accounts(f) => f.handle(request).await,
            Function::Webhooks(f) => f.handle(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_and_checked() {
        let vars = |name: &str| match name {
            "SBX_QUOTA" => Some("5".to_owned()),
            "SBX_PAGE_TOKEN_KEY" => Some("a-secret-of-at-least-32-bytes-of-text".to_owned()),
            "SBX_USER_POOL_ID" => Some("us-east-1_x".to_owned()),
            "SBX_CREATE_STATE_MACHINE_ARN" | "SBX_START_STATE_MACHINE_ARN" => Some("arn".to_owned()),
            _ => None,
        };
        let settings = Settings::from_vars(vars).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.quota, Some(5));
        assert!(settings.page_key.is_some());
        assert!(settings.state_machines.is_none(), "all four or none");
        let short = Settings::from_vars(|name| (name == "SBX_PAGE_TOKEN_KEY").then(|| "short".to_owned()));
        assert!(matches!(
            short,
            Err(ConfigError::Invalid {
                name: "SBX_PAGE_TOKEN_KEY",
                ..
            })
        ));
        let quota = Settings::from_vars(|name| (name == "SBX_QUOTA").then(|| "many".to_owned()));
        assert!(quota.is_err());
    }
}
