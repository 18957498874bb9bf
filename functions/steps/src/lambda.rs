//! What a step function is built from, and how it is served as a Lambda.
//!
//! Every step function is built one way: from an [`Init`] (its SDK configuration and its
//! environment), by its function in [`crate::functions`], which takes from the `Init` only what
//! its handler uses. The `Init` builds each thing on first use and keeps it, so a function
//! builds nothing it does not use, and builds it once per process. A deployed Lambda's binary
//! (`src/bin/<name>.rs`) is one line:
//!
//! ```no_run
//! # async fn main_() -> Result<(), lambda_runtime::Error> {
//! sbx_steps::lambda::serve(sbx_steps::functions::acquire_lock).await
//! # }
//! ```
//!
//! The local stack builds an `Init` per function from that function's credentials and the
//! environment the template gives it ([`Init::new`]), and calls the same functions by name
//! ([`crate::functions::invoke`]).
//!
//! Nothing at init reaches the network (see `sbx_bootstrap`).
//!
//! Each binary carries `#![recursion_limit = "256"]` where its handler's future, with the
//! SDK's nested futures inside, is deeper than rustc's default limit of 128 queries.

use crate::config::{self, ConfigError, Images, LockSettings, SandboxImages, SweepSettings, Vars};
use crate::error::StepError;
use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use sbx_aws::streaming::Streaming;
use sbx_aws::{Infrastructure, OrganizationPool, Provisioner};
use sbx_store::{DynamoStore, LockTable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::OnceLock;

/// What a step function starts from: the SDK configuration, the function's environment, and
/// what it has built from them so far.
pub struct Init {
    config: SdkConfig,
    /// Where the lifecycle state machines run: Step Functions on AWS, the engine locally.
    engine: SdkConfig,
    vars: Vars,
    /// The streaming fleet, when it is not AppStream (the local stack's stand-in).
    streaming: Option<Streaming>,
    /// The sweeps' settings, when the caller gives them rather than the environment.
    sweep: Option<SweepSettings>,
    built: Built,
}

/// What an [`Init`] has built, each on first use.
#[derive(Default)]
struct Built {
    store: OnceLock<DynamoStore>,
    lock_table: OnceLock<LockTable>,
    accounts: OnceLock<Provisioner>,
    infrastructure: OnceLock<Infrastructure>,
    management_ec2: OnceLock<aws_sdk_ec2::Client>,
    images: OnceLock<Images>,
    sandbox_images: OnceLock<SandboxImages>,
    locks: OnceLock<LockSettings>,
    sweep: OnceLock<SweepSettings>,
    pricing: OnceLock<sbx_lifecycle::cost::Pricing>,
    cost_explorer: OnceLock<Option<aws_sdk_costexplorer::Client>>,
    workflows: OnceLock<sbx_workflows::StepFunctions>,
    organization: OnceLock<Option<OrganizationPool>>,
    ingress_domain: OnceLock<String>,
}

/// The value in `cell`, built by `build` the first time. A build that fails is tried again by
/// the next call (a function's configuration does not change, so it fails again).
fn cached<T>(cell: &OnceLock<T>, build: impl FnOnce() -> Result<T, ConfigError>) -> Result<&T, ConfigError> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = build()?;
    Ok(cell.get_or_init(|| value))
}

/// Sets up logging and the SDK configuration from the process environment (see
/// `sbx_bootstrap`).
pub async fn init() -> Result<Init, ConfigError> {
    let (config, vars) = sbx_bootstrap::init().await?;
    Ok(Init::new(config.clone(), config, vars))
}

impl Init {
    /// What a function with the variables `vars` starts from (without setting up logging).
    pub async fn from_vars(vars: Vars) -> Result<Self, ConfigError> {
        let config = sbx_bootstrap::sdk_config(&vars).await?;
        Ok(Self::new(config.clone(), config, vars))
    }

    /// A function calling AWS with `config` and the state machines with `engine`, configured by
    /// `vars`.
    pub fn new(config: SdkConfig, engine: SdkConfig, vars: Vars) -> Self {
        Self {
            config,
            engine,
            vars,
            streaming: None,
            sweep: None,
            built: Built::default(),
        }
    }

    /// Streams through `streaming` rather than AppStream.
    pub fn with_streaming(mut self, streaming: Streaming) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Sweeps with `sweep` rather than the environment's settings.
    pub fn with_sweep(mut self, sweep: SweepSettings) -> Self {
        self.sweep = Some(sweep);
        self
    }

    /// The store over the tables the environment names (`SBX_*_TABLE`), with the tenants'
    /// quota (`SBX_QUOTA`, the one the API enforces) for the creates an operator starts.
    pub fn store(&self) -> Result<&DynamoStore, ConfigError> {
        cached(&self.built.store, || {
            sbx_bootstrap::store(&self.config, &self.vars)
        })
    }

    /// The locks table alone (`SBX_LOCKS_TABLE`).
    pub fn lock_table(&self) -> Result<&LockTable, ConfigError> {
        cached(&self.built.lock_table, || {
            Ok(LockTable::new(
                sbx_transient::client!(aws_sdk_dynamodb, &self.config),
                self.vars.required("SBX_LOCKS_TABLE")?,
            ))
        })
    }

    pub fn lock_settings(&self) -> Result<LockSettings, ConfigError> {
        cached(&self.built.locks, || LockSettings::from_vars(&self.vars)).copied()
    }

    /// The tenant accounts, through their provisioning role (`SBX_PROVISIONING_ROLE`). One
    /// per process: it keeps each account's credentials.
    pub fn accounts(&self) -> &Provisioner {
        self.built
            .accounts
            .get_or_init(|| Provisioner::new(self.config.clone(), config::provisioning_role(&self.vars)))
    }

    /// The shared infrastructure's adapter: the accounts, the proxies and the streaming fleet.
    pub fn infrastructure(&self) -> Result<&Infrastructure, ConfigError> {
        cached(&self.built.infrastructure, || {
            Ok(Infrastructure {
                accounts: self.accounts().clone(),
                proxy: config::proxy(&self.vars)?,
                streaming: self
                    .streaming
                    .clone()
                    .unwrap_or_else(|| config::streaming(&self.vars)),
            })
        })
    }

    /// EC2 in the management account, which owns the images.
    pub fn management_ec2(&self) -> &aws_sdk_ec2::Client {
        self.built
            .management_ec2
            .get_or_init(|| sbx_transient::client!(aws_sdk_ec2, &self.config))
    }

    pub fn images(&self) -> Result<&Images, ConfigError> {
        cached(&self.built.images, || Images::from_vars(&self.vars))
    }

    pub fn sandbox_images(&self) -> Result<&SandboxImages, ConfigError> {
        cached(&self.built.sandbox_images, || {
            SandboxImages::from_vars(&self.vars)
        })
    }

    pub fn ingress_domain(&self) -> &str {
        self.built
            .ingress_domain
            .get_or_init(|| config::ingress_domain(&self.vars))
    }

    /// The pinned prices, with the shared infrastructure this deployment launches.
    pub fn pricing(&self) -> Result<&sbx_lifecycle::cost::Pricing, ConfigError> {
        cached(&self.built.pricing, || {
            sbx_lifecycle::cost::Pricing::deployed(|name| self.vars.optional(name)).map_err(|e| {
                ConfigError::Invalid {
                    name: "SBX_PROXY_INSTANCE_TYPE",
                    expected: "an instance type with a price in infra/prices.json",
                    value: e.to_string(),
                }
            })
        })
    }

    /// Cost Explorer, when `SBX_COST_EXPLORER` is `on` (the `sbx:tenant` cost-allocation tag
    /// activated in the payer account); `None` otherwise.
    pub fn cost_explorer(&self) -> Option<&aws_sdk_costexplorer::Client> {
        self.built
            .cost_explorer
            .get_or_init(|| {
                (self.vars.optional("SBX_COST_EXPLORER").as_deref() == Some("on"))
                    .then(|| sbx_transient::client!(aws_sdk_costexplorer, &self.config))
            })
            .as_ref()
    }

    pub fn sweep_settings(&self) -> Result<&SweepSettings, ConfigError> {
        cached(&self.built.sweep, || match &self.sweep {
            Some(sweep) => Ok(sweep.clone()),
            None => SweepSettings::from_vars(&self.vars),
        })
    }

    /// The lifecycle state machines (`SBX_{CREATE,START,STOP,DELETE}_STATE_MACHINE_ARN`).
    pub fn workflows(&self) -> Result<&sbx_workflows::StepFunctions, ConfigError> {
        cached(&self.built.workflows, || {
            let arns = sbx_lifecycle::Operation::ALL.map(|op| self.vars.optional(&state_machine_var(op)));
            let arns = match arns {
                [Some(a), Some(b), Some(c), Some(d)] => [a, b, c, d],
                _ => return Err(ConfigError::Missing(missing_state_machine(&self.vars))),
            };
            Ok(sbx_workflows::StepFunctions::new(
                sbx_transient::client!(aws_sdk_sfn, &self.engine),
                arns,
            ))
        })
    }

    /// The organization new pool accounts are made in, if one is configured (`SBX_OU_*`),
    /// with the management account (`SBX_MANAGEMENT_ACCOUNT_ID`) the new provisioning roles trust.
    pub fn organization(&self) -> Result<Option<&OrganizationPool>, ConfigError> {
        cached(&self.built.organization, || {
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
        })
        .map(Option::as_ref)
    }
}

/// `SBX_<OPERATION>_STATE_MACHINE_ARN`.
fn state_machine_var(operation: sbx_lifecycle::Operation) -> String {
    format!("SBX_{}_STATE_MACHINE_ARN", operation.as_str().to_uppercase())
}

/// The first state machine variable `vars` lacks.
fn missing_state_machine(vars: &Vars) -> &'static str {
    const NAMES: [&str; 4] = [
        "SBX_CREATE_STATE_MACHINE_ARN",
        "SBX_START_STATE_MACHINE_ARN",
        "SBX_STOP_STATE_MACHINE_ARN",
        "SBX_DELETE_STATE_MACHINE_ARN",
    ];
    NAMES
        .into_iter()
        .find(|name| vars.optional(name).is_none())
        .unwrap_or(NAMES[0])
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

/// Serves the step function `function` (one of [`crate::functions`]) under the Lambda runtime
/// until the runtime ends the process. Its errors leave with their `Sbx.*` names.
pub async fn serve<F, Fut>(function: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static Init, Value) -> Fut,
    Fut: Future<Output = Result<Value, StepError>> + Send,
{
    // The process's one Init, alive until the runtime ends the process.
    let init: &'static Init = Box::leak(Box::new(init().await?));
    let function = &function;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function(init, event.payload).await.map_err(Diagnostic::from)
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
        let store = init.store().map(|store| store.locks().map(|_| ()));
        assert!(
            matches!(store, Ok(Ok(()))),
            "a store needs only the tables it uses"
        );
        assert_eq!(
            init.images().err(),
            Some(ConfigError::Missing("SBX_ACP_IMAGE_ID"))
        );
        assert_eq!(
            init.infrastructure().err(),
            Some(ConfigError::Missing("SBX_PROXY_IMAGE_ID"))
        );
        assert_eq!(
            init.workflows().err(),
            Some(ConfigError::Missing("SBX_CREATE_STATE_MACHINE_ARN"))
        );
    }

    #[tokio::test]
    async fn what_an_init_builds_it_builds_once() {
        let init = Init::from_vars(Vars::from_fn(|name| {
            (name == "AWS_REGION" || name.ends_with("_TABLE")).then(|| format!("{name}-x"))
        }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let (first, second) = (init.store(), init.store());
        assert!(
            matches!((first, second), (Ok(a), Ok(b)) if std::ptr::eq(a, b)),
            "one store per process"
        );
        assert!(
            std::ptr::eq(init.accounts(), init.accounts()),
            "one provisioner per process"
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
