//! The notify functions as Lambdas: [`init`] once per process, then each binary builds what its
//! handler takes.

use crate::error::NotifyError;
use crate::settings::Settings;
use aws_config::SdkConfig;
use sbx_bootstrap::{ConfigError, Vars};
use sbx_store::{DynamoStore, StoreConfig, TableNames};

pub struct Init {
    pub config: SdkConfig,
    pub settings: Settings,
    vars: Vars,
}

pub async fn init() -> Result<Init, ConfigError> {
    let (config, vars) = sbx_bootstrap::init().await?;
    let settings = settings(&vars)?;
    Ok(Init {
        config,
        settings,
        vars,
    })
}

/// The settings from the environment. Deployed, loopback receivers are never allowed.
pub fn settings(vars: &Vars) -> Result<Settings, ConfigError> {
    Ok(Settings {
        bus: vars.or("SBX_EVENT_BUS", "sbx"),
        api_url: vars.or("SBX_API_URL", ""),
        policy: sbx_webhooks::Policy {
            allow_loopback: false,
        },
    })
}

impl Init {
    pub fn store(&self) -> Result<DynamoStore, ConfigError> {
        let tables = TableNames::from_vars(|name| self.vars.optional(name)).map_err(ConfigError::Missing)?;
        Ok(DynamoStore::new(
            sbx_transient::client!(aws_sdk_dynamodb, &self.config),
            StoreConfig::new(tables),
        ))
    }

    pub fn bus(&self) -> crate::bus::EventBridge {
        crate::bus::EventBridge {
            client: sbx_transient::client!(aws_sdk_eventbridge, &self.config),
            bus: self.settings.bus.clone(),
        }
    }

    pub fn executions(&self) -> Result<sbx_workflows::deliveries::DeliveryExecutions, ConfigError> {
        Ok(sbx_workflows::deliveries::DeliveryExecutions {
            client: sbx_transient::client!(aws_sdk_sfn, &self.config),
            state_machine: self.vars.required("SBX_DELIVER_STATE_MACHINE_ARN")?,
        })
    }
}

/// A handler's error as Lambda reports it.
pub fn diagnostic(err: NotifyError) -> lambda_runtime::Diagnostic {
    err.into()
}
