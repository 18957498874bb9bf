//! What a notify function is built from: an [`Init`] (its SDK configuration and its
//! environment) builds each thing on first use and keeps it, so a function builds only what it
//! uses, once per process. Deployed, [`init`] reads the process environment; the local stack
//! builds an `Init` per function from its credentials and the environment the template gives
//! it ([`Init::new`]). The functions themselves are in [`crate::functions`].

use crate::error::NotifyError;
use crate::settings::Settings;
use aws_config::SdkConfig;
use sbx_bootstrap::{ConfigError, Vars};
use sbx_store::{DynamoStore, KmsSeal};
use sbx_webhooks::Policy;
use sbx_workflows::deliveries::DeliveryExecutions;
use std::sync::OnceLock;

pub struct Init {
    config: SdkConfig,
    /// Where the deliveries' state machine runs: Step Functions on AWS, the engine locally.
    engine: SdkConfig,
    vars: Vars,
    /// Where receivers may be: never on loopback when deployed.
    policy: Policy,
    store: OnceLock<DynamoStore>,
    bus: OnceLock<crate::bus::EventBridge>,
    executions: OnceLock<DeliveryExecutions>,
    parking: OnceLock<crate::park::Sqs>,
    seal: OnceLock<KmsSeal>,
    settings: OnceLock<Settings>,
}

/// Sets up logging and the SDK configuration from the process environment (see
/// `sbx_bootstrap`).
pub async fn init() -> Result<Init, ConfigError> {
    let (config, vars) = sbx_bootstrap::init().await?;
    Ok(Init::new(config.clone(), config, vars))
}

impl Init {
    /// A function calling AWS with `config` and the deliveries' state machine with `engine`,
    /// configured by `vars`. Receivers on loopback are refused.
    pub fn new(config: SdkConfig, engine: SdkConfig, vars: Vars) -> Self {
        Self {
            config,
            engine,
            vars,
            policy: Policy {
                allow_loopback: false,
            },
            store: OnceLock::new(),
            bus: OnceLock::new(),
            executions: OnceLock::new(),
            parking: OnceLock::new(),
            seal: OnceLock::new(),
            settings: OnceLock::new(),
        }
    }

    /// Allows receivers on this machine (the local stack's tests' own).
    pub fn allowing_loopback(mut self) -> Self {
        self.policy = Policy { allow_loopback: true };
        self
    }

    pub fn store(&self) -> Result<&DynamoStore, ConfigError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = sbx_bootstrap::store(&self.config, &self.vars)?;
        Ok(self.store.get_or_init(|| store))
    }

    /// The bus events are put on (`SBX_EVENT_BUS`, default `sbx`).
    pub fn bus(&self) -> &crate::bus::EventBridge {
        self.bus.get_or_init(|| crate::bus::EventBridge {
            client: sbx_transient::client!(aws_sdk_eventbridge, &self.config),
            bus: self.vars.or("SBX_EVENT_BUS", "sbx"),
        })
    }

    /// The deliveries' state machine (`SBX_DELIVER_STATE_MACHINE_ARN`).
    pub fn executions(&self) -> Result<&DeliveryExecutions, ConfigError> {
        if let Some(executions) = self.executions.get() {
            return Ok(executions);
        }
        let executions = DeliveryExecutions {
            client: sbx_transient::client!(aws_sdk_sfn, &self.engine),
            state_machine: self.vars.required("SBX_DELIVER_STATE_MACHINE_ARN")?,
        };
        Ok(self.executions.get_or_init(|| executions))
    }

    /// The queue stream records that cannot be published are parked in
    /// (`SBX_PARKED_EVENTS_QUEUE_URL`).
    pub fn parking(&self) -> Result<&crate::park::Sqs, ConfigError> {
        if let Some(parking) = self.parking.get() {
            return Ok(parking);
        }
        let parking = crate::park::Sqs {
            client: sbx_transient::client!(aws_sdk_sqs, &self.config),
            queue_url: self.vars.required("SBX_PARKED_EVENTS_QUEUE_URL")?,
        };
        Ok(self.parking.get_or_init(|| parking))
    }

    /// What opens the endpoints' signing secrets: the KMS key `SBX_WEBHOOK_KEY`.
    pub fn seal(&self) -> Result<&KmsSeal, ConfigError> {
        if let Some(seal) = self.seal.get() {
            return Ok(seal);
        }
        let seal = KmsSeal::new(
            sbx_transient::client!(aws_sdk_kms, &self.config),
            self.vars.required("SBX_WEBHOOK_KEY")?,
        );
        Ok(self.seal.get_or_init(|| seal))
    }

    /// The bus's name (`SBX_EVENT_BUS`), the base of the payloads' links (`SBX_API_URL`),
    /// where receivers may be, and when a failing endpoint is disabled.
    pub fn settings(&self) -> Result<&Settings, ConfigError> {
        if let Some(settings) = self.settings.get() {
            return Ok(settings);
        }
        let default = Settings::DISABLE_AFTER.num_seconds() as u64;
        let disable_after = self.vars.seconds("SBX_WEBHOOK_DISABLE_AFTER_SECONDS", default)?;
        let settings = Settings {
            bus: self.vars.or("SBX_EVENT_BUS", "sbx"),
            api_url: self.vars.or("SBX_API_URL", ""),
            policy: self.policy,
            disable_after: chrono::Duration::from_std(disable_after).unwrap_or(Settings::DISABLE_AFTER),
        };
        Ok(self.settings.get_or_init(|| settings))
    }
}

/// A setting the function's environment lacks or gets wrong.
impl From<ConfigError> for NotifyError {
    fn from(err: ConfigError) -> Self {
        NotifyError::Failed(format!("the function's configuration: {err}"))
    }
}

/// A handler's error as Lambda reports it.
pub fn diagnostic(err: NotifyError) -> lambda_runtime::Diagnostic {
    err.into()
}
