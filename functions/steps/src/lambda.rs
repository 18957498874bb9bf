//! A step function as a Lambda. Its binary (`src/bin/<name>.rs`) calls [`init`] once, builds
//! from it only the clients and settings its handler takes, and hands the handler to [`run`]:
//!
//! ```no_run
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! let init = sbx_steps::lambda::init().await?;
//! let (locks, timing) = (init.lock_table()?, init.lock_settings()?);
//! sbx_steps::lambda::run(|job| sbx_steps::lock::acquire(&locks, job, timing)).await
//! # }
//! ```
//!
//! Nothing at init reaches the network (see `sbx_bootstrap`).
//!
//! Each binary carries `#![recursion_limit = "256"]`: the layout of its handler's future, with
//! the SDK's nested futures inside, is deeper than rustc's default limit of 128 queries.

use crate::config::{self, ConfigError, Images, LockSettings, SandboxImages, SweepSettings, Vars};
use crate::error::StepError;
use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sbx_aws::{Infrastructure, OrganizationPool, Provisioner};
use sbx_store::{DynamoStore, LockTable, StoreConfig, TableNames};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;

/// What a step function starts from: logging, the SDK configuration and its environment.
pub struct Init {
    config: SdkConfig,
    vars: Vars,
}

/// Sets up logging and the SDK configuration from the environment (see `sbx_bootstrap`).
pub async fn init() -> Result<Init, ConfigError> {
    let (config, vars) = sbx_bootstrap::init().await?;
    Ok(Init { config, vars })
}

impl Init {
    /// What a function with the variables `vars` starts from (without setting up logging).
    pub async fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            config: sbx_bootstrap::sdk_config(&vars).await?,
            vars,
        })
    }

    /// The store over all five tables (`SBX_*_TABLE`), with the tenants' quota (`SBX_QUOTA`,
    /// the one the API enforces) for the creates an operator starts.
    pub fn store(&self) -> Result<DynamoStore, ConfigError> {
        let tables = TableNames::from_vars(|name| self.vars.optional(name)).map_err(ConfigError::Missing)?;
        let mut config = StoreConfig::new(tables);
        if let Some(quota) = self.vars.optional("SBX_QUOTA") {
            config.quota = quota.parse().map_err(|_| ConfigError::Invalid {
                name: "SBX_QUOTA",
                expected: "a whole number of sandboxes",
                value: quota,
            })?;
        }
        Ok(DynamoStore::new(self.dynamodb(), config))
    }

    /// The locks table alone (`SBX_LOCKS_TABLE`).
    pub fn lock_table(&self) -> Result<LockTable, ConfigError> {
        Ok(LockTable::new(
            self.dynamodb(),
            self.vars.required("SBX_LOCKS_TABLE")?,
        ))
    }

    pub fn lock_settings(&self) -> Result<LockSettings, ConfigError> {
        LockSettings::from_vars(&self.vars)
    }

    /// The tenant accounts, through their provisioning role.
    pub fn accounts(&self) -> Provisioner {
        Provisioner::new(self.config.clone(), config::provisioning_role(&self.vars))
    }

    /// The shared infrastructure's adapter: the accounts, the proxies and AppStream.
    pub fn infrastructure(&self) -> Result<Infrastructure, ConfigError> {
        Ok(Infrastructure {
            accounts: self.accounts(),
            proxy: config::proxy(&self.vars)?,
            streaming: config::streaming(&self.vars),
        })
    }

    /// EC2 in the management account, which owns the images.
    pub fn management_ec2(&self) -> aws_sdk_ec2::Client {
        sbx_transient::client!(aws_sdk_ec2, &self.config)
    }

    pub fn images(&self) -> Result<Images, ConfigError> {
        Images::from_vars(&self.vars)
    }

    pub fn sandbox_images(&self) -> Result<SandboxImages, ConfigError> {
        SandboxImages::from_vars(&self.vars)
    }

    pub fn ingress_domain(&self) -> String {
        config::ingress_domain(&self.vars)
    }

    /// The pinned prices, with the shared infrastructure this deployment launches
    /// (`SBX_PROXY_INSTANCE_TYPE`, `SBX_APPSTREAM_INSTANCE_TYPE`).
    pub fn pricing(&self) -> Result<sbx_lifecycle::cost::Pricing, ConfigError> {
        let infra = sbx_lifecycle::cost::SharedInfra::from_vars(|name| self.vars.optional(name));
        sbx_lifecycle::cost::Pricing::pinned(&infra).map_err(|e| ConfigError::Invalid {
            name: "infra/prices.json",
            expected: "a price for every instance type the deployment launches",
            value: e.to_string(),
        })
    }

    /// Cost Explorer, when `SBX_COST_EXPLORER` is `on` (the `sbx:tenant` cost-allocation tag
    /// activated in the payer account); `None` otherwise.
    pub fn cost_explorer(&self) -> Option<aws_sdk_costexplorer::Client> {
        (self.vars.optional("SBX_COST_EXPLORER").as_deref() == Some("on"))
            .then(|| sbx_transient::client!(aws_sdk_costexplorer, &self.config))
    }

    pub fn sweep_settings(&self) -> Result<SweepSettings, ConfigError> {
        SweepSettings::from_vars(&self.vars)
    }

    /// The lifecycle state machines (`SBX_{CREATE,START,STOP,DELETE}_STATE_MACHINE_ARN`).
    pub fn workflows(&self) -> Result<sbx_workflows::StepFunctions, ConfigError> {
        let arns = [
            "SBX_CREATE_STATE_MACHINE_ARN",
            "SBX_START_STATE_MACHINE_ARN",
            "SBX_STOP_STATE_MACHINE_ARN",
            "SBX_DELETE_STATE_MACHINE_ARN",
        ];
        let mut found = Vec::new();
        for name in arns {
            found.push(self.vars.required(name)?);
        }
        let arns = <[String; 4]>::try_from(found).map_err(|_| ConfigError::Missing(arns[0]))?;
        Ok(sbx_workflows::StepFunctions::new(
            sbx_transient::client!(aws_sdk_sfn, &self.config),
            arns,
        ))
    }

    /// The organization new pool accounts are made in, if one is configured (`SBX_OU_*`),
    /// with the management account (`SBX_MANAGEMENT_ACCOUNT_ID`) the new provisioning roles trust.
    pub fn organization(&self) -> Result<Option<OrganizationPool>, ConfigError> {
        let Some((units, email_domain)) = config::organization_units(&self.vars)? else {
            return Ok(None);
        };
        Ok(Some(OrganizationPool {
            organization: sbx_aws::organizations::Organization {
                client: sbx_transient::client!(aws_sdk_organizations, &self.config),
                units,
                email_domain,
            },
            bootstrap: Provisioner::new(self.config.clone(), sbx_aws::organizations::BOOTSTRAP_ROLE),
            role_name: config::provisioning_role(&self.vars),
            management_account: self.vars.required("SBX_MANAGEMENT_ACCOUNT_ID")?,
        }))
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        sbx_transient::client!(aws_sdk_dynamodb, &self.config)
    }
}

/// Reads `payload` as the handler's input, runs the handler, and writes its output. Input that
/// does not fit is `Sbx.InvalidInput`.
pub async fn typed<I, O, F, Fut>(payload: Value, handler: F) -> Result<Value, StepError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    let input: I = serde_json::from_value(payload)
        .map_err(|e| StepError::InvalidInput(format!("invalid input: {e}")))?;
    let output = handler(input).await?;
    serde_json::to_value(output).map_err(|e| StepError::Failed(format!("unserializable output: {e}")))
}

/// Serves `handler` under the Lambda runtime until the runtime ends the process. Its errors
/// leave with their `Sbx.*` names.
pub async fn run<I, O, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, StepError>> + Send,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        typed(event.payload, handler).await.map_err(Diagnostic::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn init_needs_a_region_and_names_what_a_function_lacks() {
        let none = Init::from_vars(Vars::from_fn(|_| None)).await;
        assert_eq!(none.err(), Some(ConfigError::Missing("AWS_REGION")));
        let init = Init::from_vars(Vars::from_fn(|name| {
            (name == "AWS_REGION" || name == "SBX_LOCKS_TABLE").then(|| "x".to_owned())
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            init.lock_table().is_ok(),
            "the lock functions need only the locks table"
        );
        assert_eq!(
            init.store().err(),
            Some(ConfigError::Missing("SBX_SANDBOXES_TABLE"))
        );
        assert_eq!(
            init.images().err(),
            Some(ConfigError::Missing("SBX_ACP_IMAGE_ID"))
        );
        assert_eq!(
            init.infrastructure().err(),
            Some(ConfigError::Missing("SBX_PROXY_IMAGE_ID"))
        );
    }

    #[tokio::test]
    async fn input_that_does_not_fit_is_invalid_input() {
        let out = typed(
            serde_json::json!({"tenant": 3}),
            |job: crate::job::Job| async move { Ok::<_, StepError>(job.tenant) },
        )
        .await;
        assert!(matches!(out, Err(StepError::InvalidInput(_))), "{out:?}");
    }
}
