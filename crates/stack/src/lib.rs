//! The local stack: the whole of sbx on one machine with no AWS account.
//!
//! [`LocalStack::start`] starts moto (or uses an AWS endpoint that is already running), creates
//! the tables from `infra/template.yaml`, seeds the management account's machine images and a
//! pool of customer accounts, and starts the local Step Functions engine with the definitions
//! of `statemachines/` and every step function registered in this process. The end-to-end
//! tests use it as it is; `sbx-local up` runs it in the foreground.

pub mod faults;
pub mod iam;
pub mod identity;
pub mod scheduler;
mod seed;
mod start;
pub mod stream;

pub use start::{register, register_notify};

pub use identity::Identity;
pub use seed::Seed;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use sbx_aws::streaming::StandIn;
use sbx_moto::MotoServer;
use sbx_sfn_local::invoke::{LambdaFaultStats, LambdaFaults};
use sbx_sfn_local::{Functions, Service};
use sbx_store::TableNames;
use std::sync::Arc;
use std::time::Duration;

/// The state machine definitions, embedded so that `sbx-local up` runs from anywhere.
pub const STATE_MACHINES: [(&str, &str); 7] = [
    ("create", include_str!("../../../statemachines/create.asl.json")),
    ("start", include_str!("../../../statemachines/start.asl.json")),
    ("stop", include_str!("../../../statemachines/stop.asl.json")),
    ("delete", include_str!("../../../statemachines/delete.asl.json")),
    ("gc", include_str!("../../../statemachines/gc.asl.json")),
    ("deliver", include_str!("../../../statemachines/deliver.asl.json")),
    (
        "deadlines",
        include_str!("../../../statemachines/deadlines.asl.json"),
    ),
];

/// How often the deadlines run (the template's `DeadlinesSchedule`).
pub const DEADLINES_EVERY: Duration = Duration::from_secs(60);

/// The EventBridge bus events are put on (the template's `EventBus`).
pub const EVENT_BUS: &str = "sbx";

/// The Secrets Manager secret whose string signs the API's page tokens (the template's
/// `PageTokenSecret`).
pub const PAGE_TOKEN_SECRET: &str = "sbx-page-token";

/// The account the local engine and the management account live in.
pub const MANAGEMENT_ACCOUNT: &str = "123456789012";
pub const REGION: &str = sbx_moto::REGION;

#[derive(Debug, Clone)]
pub struct Options {
    /// Use this AWS endpoint instead of starting moto.
    pub aws_endpoint: Option<String>,
    /// The engine's port on 127.0.0.1 (0: any free port).
    pub sfn_port: u16,
    /// Scale of Wait states and retry delays (0: no waiting).
    pub time_scale: f64,
    /// How long the moto the stack starts keeps resources in each asynchronous state (zero:
    /// moto's instant transitions). Not used with `aws_endpoint`.
    pub aws_delay: Duration,
    /// How many customer accounts the pool starts with.
    pub pool_size: u32,
    /// Prefix of the table names.
    pub table_prefix: String,
    /// The HTTP API's port on 127.0.0.1 (0: any free port).
    pub api_port: u16,
    /// Live sandboxes a tenant may have.
    pub quota: u32,
    /// The sweeps' timing and limits. Locally the clock may be moved (`as_of`), and a cleaned
    /// account goes back to the pool at once.
    pub sweep: sbx_steps::SweepSettings,
    /// Start a sweep this often (`None`: only when asked).
    pub gc_every: Option<Duration>,
    /// Put the fault layer between every AWS client of the stack and the AWS endpoint.
    pub faults: Option<faults::FaultSpec>,
    /// The built web console (`console/dist`), served under `/console/` beside the API.
    pub console_dir: Option<std::path::PathBuf>,
    /// A new account's low service quotas in every account of the moto the stack starts:
    /// `instances=N,load_balancers=N` (empty: none).
    pub aws_quotas: String,
    /// Enforce the template's roles (on by default): every function calls AWS with the
    /// credentials of its own role, and the local AWS refuses what that role's policies do not
    /// allow ([`iam`]).
    pub iam: bool,
    /// The template the roles come from (default: `infra/template.yaml`, built in).
    pub template: Option<String>,
    /// Where the enforcer appends each (role, action) it allowed, for the check of unused
    /// permissions (default: `SBX_IAM_USAGE`).
    pub iam_usage: Option<std::path::PathBuf>,
    /// How long every delivery to an endpoint may fail before it is disabled (deployed: 5
    /// days; `SBX_WEBHOOK_DISABLE_AFTER_SECONDS`). Real time: the deliveries' clock is not
    /// scaled.
    pub webhook_disable_after: Duration,
}

/// The local stack's sweep settings: the deployed defaults, with a movable clock and no
/// cooldown.
pub fn local_sweep_settings() -> sbx_steps::SweepSettings {
    sbx_steps::SweepSettings {
        cooldown: chrono::Duration::zero(),
        movable_clock: true,
        ..sbx_steps::SweepSettings::default()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            aws_endpoint: None,
            sfn_port: 0,
            time_scale: 1.0,
            aws_delay: Duration::from_secs(3),
            pool_size: 5,
            table_prefix: "sbx-".into(),
            api_port: 0,
            quota: 10,
            sweep: local_sweep_settings(),
            gc_every: None,
            faults: None,
            console_dir: None,
            aws_quotas: String::new(),
            iam: true,
            template: None,
            iam_usage: std::env::var_os("SBX_IAM_USAGE").map(std::path::PathBuf::from),
            webhook_disable_after: Duration::from_secs(5 * 86_400),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Moto(#[from] sbx_moto::MotoError),
    #[error("seeding the local AWS failed: {0}")]
    Seed(String),
    #[error("state machine {name}: {message}")]
    StateMachine { name: String, message: String },
    #[error("cannot serve the fault layer: {0}")]
    Faults(std::io::Error),
    #[error("cannot serve the Step Functions API: {0}")]
    Listen(#[from] std::io::Error),
    #[error("the template's roles: {0}")]
    Iam(String),
}

pub struct LocalStack {
    /// The moto server this stack started (none with `aws_endpoint`).
    moto: Option<MotoServer>,
    /// The fault layer, when it is on: `aws_endpoint` is its address.
    faults: Option<faults::FaultProxy>,
    /// Lambda's own failures, injected by the engine (`--faults` with a `lambda` share).
    lambda_faults: Option<Arc<LambdaFaults>>,
    /// The fault layer before the engine, for the API's and the steps' calls.
    sfn_faults: Option<faults::FaultProxy>,
    /// IAM in the local AWS, when the stack enforces the template's roles.
    pub iam: Option<Arc<iam::Enforcer>>,
    /// What every AWS client of the stack talks to: the fault layer when it is on.
    pub aws_endpoint: String,
    /// The AWS endpoint itself (moto), behind the fault layer: where a test looks at what is
    /// really there.
    pub aws_upstream: String,
    pub sfn_endpoint: String,
    /// The management account's SDK configuration.
    pub config: SdkConfig,
    pub tables: TableNames,
    pub seed: Seed,
    /// The step functions as the management account runs them: the tests' own way to call a
    /// step ([`sbx_steps::invoke`]).
    pub steps: Arc<sbx_steps::Init>,
    /// The parked-events queue's URL: the stream's records that could not be published.
    pub parked_events: String,
    /// The store with the management account's credentials: the tests' own.
    pub store: sbx_store::DynamoStore,
    pub service: Service,
    /// The in-process streaming stand-in (AppStream has no emulator here).
    pub stand_in: Arc<StandIn>,
    /// The local Cognito user pool and app client.
    pub identity: Identity,
    /// The HTTP API, behind the local API gateway.
    pub api_url: String,
    /// The web console, on the API's origin, when the stack serves one.
    pub console_url: Option<String>,
    sfn_api: tokio::task::JoinHandle<()>,
    http_api: tokio::task::JoinHandle<()>,
    /// The events table's stream reader (publish-events).
    events: tokio::task::JoinHandle<()>,
    /// The sweeps' and the deadlines' schedules, when the stack runs them.
    schedule: Option<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("aws_endpoint", &self.aws_endpoint)
            .field("sfn_endpoint", &self.sfn_endpoint)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The SDK configuration of the management account at `endpoint`. The SDK's retries are its
/// standard ones (3 attempts) with a shorter backoff than a deployment's (from 50 ms instead of
/// 1 s): locally nothing is far away, and the tests fault a fifth of all calls.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            sbx_moto::ACCESS_KEY_ID,
            sbx_moto::SECRET_ACCESS_KEY,
            None,
            None,
            "sbx-local",
        ))
        .load()
        .await
}

/// `launch-instances` → `LaunchInstancesArn`: the substitution names of the definitions.
pub fn substitution_name(function: &str) -> String {
    let pascal: String = function
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{pascal}Arn")
}

pub fn function_arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{MANAGEMENT_ACCOUNT}:function:{function}")
}

pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{MANAGEMENT_ACCOUNT}:stateMachine:{name}")
}

impl LocalStack {
    /// What the fault layer before AWS did so far (`None` when it is off).
    pub fn fault_stats(&self) -> Option<faults::FaultStats> {
        self.faults.as_ref().map(faults::FaultProxy::stats)
    }

    /// What the fault layer before the engine did so far (`None` when it is off).
    pub fn lambda_fault_stats(&self) -> Option<LambdaFaultStats> {
        self.lambda_faults.as_ref().map(|f| f.stats())
    }

    pub fn engine_fault_stats(&self) -> Option<faults::FaultStats> {
        self.sfn_faults.as_ref().map(faults::FaultProxy::stats)
    }

    /// The engine's function registry; tests may wrap a step function to inject a fault.
    pub fn functions(&self) -> &Functions {
        &self.service.engine().functions
    }

    /// What a shell needs to talk to this stack, as `export` lines. The AWS endpoint is the
    /// one behind the fault layer: a person looking at the resources sees them as they are.
    pub fn exports(&self) -> String {
        [
            format!("export AWS_ENDPOINT_URL={}", self.aws_upstream),
            format!("export AWS_ENDPOINT_URL_SFN={}", self.sfn_endpoint),
            format!("export AWS_REGION={REGION}"),
            format!("export AWS_DEFAULT_REGION={REGION}"),
            format!("export AWS_ACCESS_KEY_ID={}", sbx_moto::ACCESS_KEY_ID),
            format!("export AWS_SECRET_ACCESS_KEY={}", sbx_moto::SECRET_ACCESS_KEY),
            format!("export SBX_API_URL={}", self.api_url),
            format!("export SBX_USER_POOL_ID={}", self.identity.user_pool_id),
            format!("export SBX_USER_POOL_CLIENT_ID={}", self.identity.client_id),
        ]
        .into_iter()
        .chain(
            self.console_url
                .iter()
                .map(|url| format!("export SBX_CONSOLE_URL={url}")),
        )
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Stops the HTTP API, the engine's API and the moto server this stack started.
    pub fn stop(self) {
        if let Some((sweeps, deadlines)) = self.schedule {
            sweeps.abort();
            deadlines.abort();
        }
        self.events.abort();
        self.http_api.abort();
        self.sfn_api.abort();
        if let Some(moto) = self.moto {
            moto.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_names_are_pascal_case_arns() {
        assert_eq!(substitution_name("launch-instances"), "LaunchInstancesArn");
        assert_eq!(substitution_name("begin-operation"), "BeginOperationArn");
        assert_eq!(
            function_arn("acquire-lock"),
            "arn:aws:lambda:us-east-1:123456789012:function:acquire-lock"
        );
    }
}
