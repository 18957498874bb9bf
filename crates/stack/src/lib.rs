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
pub mod stream;

pub use identity::Identity;
pub use seed::Seed;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use sbx_aws::streaming::{StandIn, Streaming};
use sbx_moto::MotoServer;
use sbx_sfn_local::invoke::{LambdaFaultSpec, LambdaFaultStats, LambdaFaults};
use sbx_sfn_local::{Engine, FunctionError, Functions, Service};
use sbx_steps::{Settings, Steps};
use sbx_store::TableNames;
use std::collections::HashMap;
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
    pub steps: Arc<Steps>,
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
    pub async fn start(options: Options) -> Result<Self, StackError> {
        let (moto, aws_endpoint) = match options.aws_endpoint.clone() {
            Some(endpoint) => (None, endpoint),
            None => {
                // The realistic mode's seeded failures follow the fault layer's seed.
                let seed = options.faults.as_ref().map_or(1, |f| f.seed);
                let moto = MotoServer::start_with_quotas(0, options.aws_delay, seed, &options.aws_quotas)?;
                let endpoint = moto.endpoint();
                (Some(moto), endpoint)
            }
        };
        let aws_upstream = aws_endpoint.clone();
        let enforcer = options.iam.then(|| {
            Arc::new(iam::Enforcer::new(
                MANAGEMENT_ACCOUNT,
                REGION,
                options.iam_usage.as_deref(),
            ))
        });
        // The AWS layer: IAM, then the faults, before AWS.
        let (faults, aws_endpoint) = match (options.faults.clone(), &enforcer) {
            (None, None) => (None, aws_endpoint),
            (spec, iam) => {
                let proxy =
                    faults::FaultProxy::start_with(&aws_endpoint, spec.unwrap_or_default(), iam.clone())
                        .await
                        .map_err(StackError::Faults)?;
                let endpoint = proxy.endpoint().to_owned();
                (Some(proxy), endpoint)
            }
        };
        let config = sdk_config(&aws_endpoint).await;
        let tables = TableNames::with_prefix(&options.table_prefix);
        // Every part of the seed finds what an earlier try made, so a seed that an AWS fault
        // stopped is run again.
        let seed = seeded("the pool", || seed::seed(&config, &tables, options.pool_size)).await?;
        let identity = seeded("the user pool", || identity::seed(&config, &aws_endpoint, REGION)).await?;

        let sfn_listener = tokio::net::TcpListener::bind(("127.0.0.1", options.sfn_port)).await?;
        let sfn_endpoint = format!("http://{}", sfn_listener.local_addr()?);
        // With faults on, the API's and the steps' calls to the engine go through a fault
        // layer of their own (StartExecution's lost answers among them); `sfn_endpoint`, for
        // operators and tests, is the engine itself.
        let sfn_faults = match (&options.faults, &enforcer) {
            (None, None) => None,
            (spec, iam) => {
                let spec = spec
                    .as_ref()
                    .map_or_else(faults::FaultSpec::default, |spec| faults::FaultSpec {
                        seed: spec.seed.wrapping_add(1),
                        ..spec.clone()
                    });
                Some(
                    faults::FaultProxy::start_with(&sfn_endpoint, spec, iam.clone())
                        .await
                        .map_err(StackError::Faults)?,
                )
            }
        };
        // The template's roles, and each function's credentials from its own.
        let roles = match &enforcer {
            Some(enforcer) => {
                Some(template_roles(&config, enforcer, &options, &tables, &seed, &identity).await?)
            }
            None => None,
        };
        let sfn_endpoint_for_functions = sfn_faults
            .as_ref()
            .map_or(sfn_endpoint.clone(), |p| p.endpoint().to_owned());
        let configs = FunctionConfigs::make(&config, &sfn_endpoint_for_functions, roles.as_ref()).await?;
        let settings = |function: &str| {
            let (config, sfn_config) = configs.of(function);
            Settings {
                images: seed.images.clone(),
                provisioning_role: seed::PROVISIONING_ROLE.to_owned(),
                ingress_domain: "sandboxes.sbx.localhost".to_owned(),
                locks: sbx_steps::LockSettings {
                    lease: Duration::from_secs(900),
                    // moto's describes miss what is younger than its delay (serve.py).
                    visibility: options.aws_delay * 2,
                },
                proxy_instance_type: "t3.small".to_owned(),
                // The engine below keeps its executions in memory: none started before now
                // exists.
                sweep: sbx_steps::SweepSettings {
                    executions_lost_before: Some(chrono::Utc::now()),
                    ..options.sweep.clone()
                },
                workflows: sbx_workflows::StepFunctions::new(
                    sbx_transient::client!(aws_sdk_sfn, sfn_config),
                    sbx_lifecycle::Operation::ALL.map(|op| state_machine_arn(op.as_str())),
                ),
                organization: Some(sbx_aws::OrganizationPool {
                    organization: sbx_aws::organizations::Organization {
                        client: sbx_transient::client!(aws_sdk_organizations, config),
                        ..seed.organization.clone()
                    },
                    bootstrap: sbx_aws::Provisioner::new(
                        config.clone(),
                        sbx_aws::organizations::BOOTSTRAP_ROLE,
                    ),
                    role_name: seed::PROVISIONING_ROLE.to_owned(),
                    management_account: MANAGEMENT_ACCOUNT.to_owned(),
                }),
                quota: options.quota,
            }
        };
        let stand_in = Arc::new(StandIn::default());
        let steps_of = |function: &str| {
            Arc::new(Steps::new(
                configs.of(function).0,
                settings(function),
                tables.clone(),
                Streaming::StandIn(stand_in.clone()),
            ))
        };
        // The tests' own, with the management account's credentials.
        let steps = steps_of(ROOT);

        // The API's address is known before the functions are built: payloads link to it.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        seeded("the event bus", || seed::event_bus(&config, EVENT_BUS)).await?;
        let notify_of = |function: &str| {
            let (config, sfn_config) = configs.of(function);
            Arc::new(sbx_notify::Notify {
                store: sbx_store::DynamoStore::new(
                    sbx_transient::client!(aws_sdk_dynamodb, config),
                    sbx_store::StoreConfig::new(tables.clone()),
                ),
                bus: sbx_notify::bus::EventBridge {
                    client: sbx_transient::client!(aws_sdk_eventbridge, config),
                    bus: EVENT_BUS.to_owned(),
                },
                executions: sbx_workflows::deliveries::DeliveryExecutions {
                    client: sbx_transient::client!(aws_sdk_sfn, sfn_config),
                    state_machine: state_machine_arn("deliver"),
                },
                settings: sbx_notify::Settings {
                    bus: EVENT_BUS.to_owned(),
                    api_url: api_url.clone(),
                    // Locally, receivers on this machine (the tests' own) are allowed.
                    policy: sbx_webhooks::Policy { allow_loopback: true },
                },
            })
        };

        let functions = Functions::new();
        let lambda_faults = options.faults.as_ref().filter(|f| f.lambda > 0.0).map(|f| {
            LambdaFaults::new(LambdaFaultSpec {
                share: f.lambda,
                seed: f.seed.wrapping_add(2),
            })
        });
        functions.set_faults(lambda_faults.clone());
        functions.set_authorizer(
            enforcer
                .clone()
                .map(|enforcer| enforcer as Arc<dyn sbx_sfn_local::Authorize>),
        );
        for name in sbx_steps::FUNCTIONS {
            register(&functions, &steps_of(name), name);
        }
        for name in sbx_notify::FUNCTIONS {
            register_notify(&functions, &notify_of(name), name);
        }
        let service = Service::new(Engine {
            functions,
            time_scale: options.time_scale,
            region: REGION.to_owned(),
        });
        let substitutions: HashMap<String, String> = sbx_steps::FUNCTIONS
            .iter()
            .chain(sbx_notify::FUNCTIONS.iter())
            .map(|name| (substitution_name(name), function_arn(name)))
            .collect();
        for (name, text) in STATE_MACHINES {
            let definition = sbx_sfn_local::service::substitute(text, &substitutions).map_err(|message| {
                StackError::StateMachine {
                    name: name.to_owned(),
                    message,
                }
            })?;
            // With IAM on, each runs under its template role, which must allow each invocation.
            let role = roles
                .as_ref()
                .and_then(|roles| roles.state_machines.get(name))
                .map(|role| format!("arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{role}"));
            service
                .create_state_machine(name, &definition, role.as_deref())
                .map_err(|e| StackError::StateMachine {
                    name: name.to_owned(),
                    message: e.to_string(),
                })?;
        }
        let sfn_api = tokio::spawn({
            let service = service.clone();
            async move {
                if let Err(err) = sbx_sfn_local::api::serve(service, sfn_listener).await {
                    tracing::error!(%err, "the Step Functions API stopped");
                }
            }
        });

        // The page-token key lives in Secrets Manager and is read as a deployed function reads
        // it at its cold start (sbx_api::secrets).
        let page_secret: String = (0..48).map(|_| fastrand::alphanumeric()).collect();
        let page_key = seeded("the page-token secret", || async {
            sbx_moto::put_secret(&aws_endpoint, PAGE_TOKEN_SECRET, &page_secret)
                .map_err(|e| StackError::Seed(format!("the page-token secret: {e}")))?;
            sbx_api::secrets::read(&config, PAGE_TOKEN_SECRET)
                .await
                .map_err(|e| StackError::Seed(e.to_string()))
        })
        .await?;
        let page_key = sbx_store::PageKey::new(page_key.as_bytes())
            .map_err(|e| StackError::Seed(format!("the page-token secret: {e}")))?;
        let settings = sbx_api::Settings {
            user_pool_id: Some(identity.user_pool_id.clone()),
            client_id: Some(identity.client_id.clone()),
            tables: Some(tables.clone()),
            quota: Some(options.quota),
            page_key: Some(page_key),
            state_machines: Some(sbx_lifecycle::Operation::ALL.map(|op| state_machine_arn(op.as_str()))),
            deliver_state_machine: Some(state_machine_arn("deliver")),
            // Locally, receivers on this machine (the tests' own) may be registered.
            webhook_policy: sbx_webhooks::Policy { allow_loopback: true },
            // The steps' own: t3.small proxies, a stream.standard.medium fleet.
            shared_infra: sbx_lifecycle::cost::SharedInfra::default(),
        };
        let authorizer = sbx_gateway::jwt::Authorizer::new(
            identity.issuer.clone(),
            vec![identity.client_id.clone()],
            sbx_gateway::jwt::Keys::Url(identity.jwks_url.clone()),
        );
        let mut gateway = sbx_gateway::Gateway::new(authorizer);
        if let Some(dir) = &options.console_dir {
            gateway.console(dir.clone());
        }
        for name in sbx_api::routes::FUNCTIONS {
            let (config, sfn_config) = configs.of(name);
            let function = sbx_api::Function::build(name, config, sfn_config, &settings)
                .map_err(|e| StackError::Seed(format!("API function {name}: {e}")))?;
            let function = Arc::new(function);
            gateway.function(
                name,
                Arc::new(move |request| {
                    let function = function.clone();
                    Box::pin(async move { function.handle(request).await })
                }),
            );
        }
        let console_url = options
            .console_dir
            .as_ref()
            .map(|_| format!("{api_url}{}", sbx_gateway::console::PREFIX));
        let http_api = tokio::spawn(async move {
            if let Err(err) = Arc::new(gateway).serve(listener).await {
                tracing::error!(%err, "the HTTP API stopped");
            }
        });
        let stream_arn = seeded("the events stream", || {
            seed::events_stream(&config, &tables.events)
        })
        .await?;
        // Lambda's event source mapping reads the stream with the function's own role.
        let events = stream::spawn(
            sbx_transient::client!(aws_sdk_dynamodbstreams, configs.of(PUBLISH_EVENTS).0),
            stream_arn,
            notify_of(PUBLISH_EVENTS),
        );
        configs.ready().await?;
        // The deadlines run every minute as on AWS, whenever the sweeps run on a schedule.
        let schedule = options.gc_every.map(|every| {
            (
                scheduler::spawn(service.clone(), state_machine_arn("gc"), every),
                scheduler::spawn(service.clone(), state_machine_arn("deadlines"), DEADLINES_EVERY),
            )
        });
        Ok(Self {
            moto,
            faults,
            sfn_faults,
            lambda_faults,
            iam: enforcer,
            aws_endpoint,
            aws_upstream,
            sfn_endpoint,
            config,
            tables,
            seed,
            steps,
            service,
            stand_in,
            identity,
            api_url,
            console_url,
            sfn_api,
            http_api,
            events,
            schedule,
        })
    }

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

/// The name under which the tests' own clients (and the seed) act: the management account's
/// credentials, which no policy restricts.
const ROOT: &str = "";

/// The function that reads the events stream (Lambda's event source mapping on AWS).
const PUBLISH_EVENTS: &str = "publish-events";

/// Every function's SDK configurations, AWS's and the engine's: with the credentials of its
/// template role when the stack enforces them, else the management account's.
struct FunctionConfigs {
    root: (SdkConfig, SdkConfig),
    functions: HashMap<&'static str, (SdkConfig, SdkConfig)>,
}

impl FunctionConfigs {
    async fn make(
        config: &SdkConfig,
        sfn_endpoint: &str,
        roles: Option<&iam::template::Roles>,
    ) -> Result<Self, StackError> {
        let sfn = |config: &SdkConfig| config.to_builder().endpoint_url(sfn_endpoint).build();
        let mut functions = HashMap::new();
        if let Some(roles) = roles {
            let names = sbx_steps::FUNCTIONS
                .iter()
                .chain(sbx_notify::LAMBDAS.iter())
                .chain(sbx_api::routes::FUNCTIONS.iter());
            for name in names {
                let function = iam::roles::config_for(config, roles, MANAGEMENT_ACCOUNT, name)
                    .await
                    .map_err(|e| StackError::Iam(e.to_string()))?;
                let engine = sfn(&function);
                functions.insert(*name, (function, engine));
            }
        }
        Ok(Self {
            root: (config.clone(), sfn(config)),
            functions,
        })
    }

    /// `function`'s (AWS, engine) configurations.
    fn of(&self, function: &str) -> (&SdkConfig, &SdkConfig) {
        let (aws, sfn) = self.functions.get(function).unwrap_or(&self.root);
        (aws, sfn)
    }

    /// Waits until every role can be assumed (IAM's propagation delay in the realistic mode).
    async fn ready(&self) -> Result<(), StackError> {
        let waits = self
            .functions
            .iter()
            .map(|(name, (config, _))| iam::roles::ready(config, name, Duration::from_secs(60)));
        futures::future::try_join_all(waits)
            .await
            .map(|_| ())
            .map_err(|e| StackError::Iam(e.to_string()))
    }
}

/// Reads the template's roles with the local names, creates them in the management account,
/// and tells the enforcer the organization member accounts belong to.
async fn template_roles(
    config: &SdkConfig,
    enforcer: &iam::Enforcer,
    options: &Options,
    tables: &TableNames,
    seed: &Seed,
    identity: &Identity,
) -> Result<iam::template::Roles, StackError> {
    let failed = |e: &dyn std::fmt::Display| StackError::Iam(e.to_string());
    let organization = sbx_transient::client!(aws_sdk_organizations, config)
        .describe_organization()
        .send()
        .await
        .map_err(|e| failed(&aws_sdk_organizations::error::DisplayErrorContext(e)))?
        .organization
        .and_then(|o| o.id)
        .ok_or_else(|| StackError::Iam("the organization has no id".into()))?;
    enforcer.set_organization(&organization);
    let arn =
        |service: &str, resource: &str| format!("arn:aws:{service}:{REGION}:{MANAGEMENT_ACCOUNT}:{resource}");
    let names = iam::template::Names {
        region: REGION.to_owned(),
        account: MANAGEMENT_ACCOUNT.to_owned(),
        tables: [
            ("SandboxesTable", &tables.sandboxes),
            ("EventsTable", &tables.events),
            ("TenantsTable", &tables.tenants),
            ("LocksTable", &tables.locks),
            ("AccountsTable", &tables.accounts),
        ]
        .into_iter()
        .map(|(id, name)| (id.to_owned(), name.clone()))
        .collect(),
        parameters: [
            ("AcpImageId", seed.images.acp.clone()),
            ("OcpImageId", seed.images.ocp.clone()),
            ("ProxyImageId", seed.images.proxy.clone()),
            ("OrganizationId", organization),
            ("ProvisioningRoleName", seed::PROVISIONING_ROLE.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect(),
        resources: [
            (
                "UserPool.Arn",
                arn("cognito-idp", &format!("userpool/{}", identity.user_pool_id)),
            ),
            ("EventBus.Arn", arn("events", &format!("event-bus/{EVENT_BUS}"))),
            // A secret's ARN ends in six random characters.
            (
                "PageTokenSecret",
                arn("secretsmanager", &format!("secret:{PAGE_TOKEN_SECRET}-??????")),
            ),
            ("OriginSecret", arn("secretsmanager", "secret:sbx-origin-??????")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect(),
    };
    let template = options.template.as_deref().unwrap_or(sbx_store::schema::TEMPLATE);
    let roles = iam::template::Roles::read(template, &names).map_err(|e| failed(&e))?;
    iam::roles::create(config, &roles).await.map_err(|e| failed(&e))?;
    Ok(roles)
}

/// How often a part of the seed is tried before the stack gives up.
const SEED_ATTEMPTS: u32 = 8;

/// Runs `part` of the seed until it succeeds, at most [`SEED_ATTEMPTS`] times: AWS (or the
/// fault layer) may refuse any of its calls, and each part finds what an earlier try made.
async fn seeded<T, F, Fut>(what: &str, mut part: F) -> Result<T, StackError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StackError>>,
{
    let mut attempt = 1;
    loop {
        match part().await {
            Ok(done) => return Ok(done),
            Err(StackError::Seed(err)) if attempt < SEED_ATTEMPTS => {
                tracing::warn!(%err, attempt, "seeding {what} failed; trying again");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Registers the step function `name` as an in-process handler of the engine.
pub fn register(functions: &Functions, steps: &Arc<Steps>, name: &'static str) {
    let steps = steps.clone();
    functions.handler(name, move |payload| {
        let steps = steps.clone();
        async move {
            sbx_steps::invoke(&steps, name, payload)
                .await
                .map_err(|e| FunctionError::new(e.name(), e.to_string()))
        }
    });
}

/// Registers the notify function `name` as an in-process handler of the engine.
pub fn register_notify(functions: &Functions, notify: &Arc<sbx_notify::Notify>, name: &'static str) {
    let notify = notify.clone();
    functions.handler(name, move |payload| {
        let notify = notify.clone();
        async move {
            sbx_notify::invoke(&notify, name, payload)
                .await
                .map_err(|e| FunctionError::new(e.name(), e.to_string()))
        }
    });
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
