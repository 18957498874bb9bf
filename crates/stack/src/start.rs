//! [`LocalStack::start`], phase by phase: the AWS layer (moto, IAM, faults), the seed, every
//! function's credentials from its template role, the engine with every function and
//! definition, the HTTP API, the events stream and the schedules. Each phase is a function of
//! its own below, in the order they run.

use crate::{
    EVENT_BUS, LocalStack, MANAGEMENT_ACCOUNT, Options, PAGE_TOKEN_SECRET, REGION, STATE_MACHINES,
    StackError, faults, function_arn, iam, identity, scheduler, sdk_config, seed, state_machine_arn, stream,
    substitution_name,
};
use aws_config::SdkConfig;
use sbx_aws::streaming::{StandIn, Streaming};
use sbx_moto::MotoServer;
use sbx_sfn_local::invoke::{LambdaFaultSpec, LambdaFaults};
use sbx_sfn_local::{Engine, FunctionError, Functions, Service};
use sbx_store::TableNames;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The AWS every client of the stack talks to: moto (or a given endpoint), behind the IAM and
/// fault layer when either is on.
struct Aws {
    moto: Option<MotoServer>,
    /// IAM in the local AWS, when the stack enforces the template's roles.
    enforcer: Option<Arc<iam::Enforcer>>,
    faults: Option<faults::FaultProxy>,
    /// Where the clients go: the layer when it is on.
    endpoint: String,
    /// AWS itself, behind the layer.
    upstream: String,
}

impl Aws {
    async fn start(options: &Options) -> Result<Self, StackError> {
        let (moto, upstream) = match options.aws_endpoint.clone() {
            Some(endpoint) => (None, endpoint),
            None => {
                // The realistic mode's seeded failures follow the fault layer's seed.
                let seed = options.faults.as_ref().map_or(1, |f| f.seed);
                // Its start waits for Python: off the runtime's workers.
                let (delay, quotas) = (options.aws_delay, options.aws_quotas.clone());
                let moto = tokio::task::spawn_blocking(move || {
                    MotoServer::start_with_quotas(0, delay, seed, &quotas)
                })
                .await
                .map_err(|e| StackError::Seed(format!("moto: {e}")))??;
                let endpoint = moto.endpoint();
                (Some(moto), endpoint)
            }
        };
        let enforcer = options.iam.then(|| {
            Arc::new(iam::Enforcer::new(
                MANAGEMENT_ACCOUNT,
                REGION,
                options.iam_usage.as_deref(),
            ))
        });
        // The AWS layer: IAM, then the faults, before AWS.
        let (faults, endpoint) = match (options.faults.clone(), &enforcer) {
            (None, None) => (None, upstream.clone()),
            (spec, iam) => {
                let proxy = faults::FaultProxy::start_with(&upstream, spec.unwrap_or_default(), iam.clone())
                    .await
                    .map_err(StackError::Faults)?;
                let endpoint = proxy.endpoint().to_owned();
                (Some(proxy), endpoint)
            }
        };
        Ok(Self {
            moto,
            enforcer,
            faults,
            endpoint,
            upstream,
        })
    }
}

/// The engine's address, and the layer before it that the API's and the steps' calls go
/// through when faults or IAM are on (StartExecution's lost answers among them);
/// `sfn_endpoint`, for operators and tests, is the engine itself.
struct EngineAddress {
    listener: tokio::net::TcpListener,
    endpoint: String,
    faults: Option<faults::FaultProxy>,
}

impl EngineAddress {
    async fn bind(options: &Options, enforcer: &Option<Arc<iam::Enforcer>>) -> Result<Self, StackError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.sfn_port)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let faults = match (&options.faults, enforcer) {
            (None, None) => None,
            (spec, iam) => {
                let spec = spec
                    .as_ref()
                    .map_or_else(faults::FaultSpec::default, |spec| faults::FaultSpec {
                        seed: spec.seed.wrapping_add(1),
                        ..spec.clone()
                    });
                Some(
                    faults::FaultProxy::start_with(&endpoint, spec, iam.clone())
                        .await
                        .map_err(StackError::Faults)?,
                )
            }
        };
        Ok(Self {
            listener,
            endpoint,
            faults,
        })
    }

    /// Where the functions call the engine.
    fn for_functions(&self) -> String {
        self.faults
            .as_ref()
            .map_or(self.endpoint.clone(), |p| p.endpoint().to_owned())
    }
}

impl LocalStack {
    /// Starts the whole stack; [`LocalStack::stop`] stops what it started.
    pub async fn start(options: Options) -> Result<Self, StackError> {
        let aws = Aws::start(&options).await?;
        let config = sdk_config(&aws.endpoint).await;
        let tables = TableNames::with_prefix(&options.table_prefix);
        // Every part of the seed finds what an earlier try made, so a seed that an AWS fault
        // stopped is run again.
        // The pool and the user pool are independent: the one is seeded while the other waits
        // for AWS (an account's creation takes a while).
        let (seed, identity) = tokio::try_join!(
            seeded("the pool", || seed::seed(&config, &tables, options.pool_size)),
            seeded("the user pool", || identity::seed(&config, &aws.endpoint, REGION)),
        )?;
        let engine_address = EngineAddress::bind(&options, &aws.enforcer).await?;
        // The template's roles, and each function's credentials from its own.
        let roles = match &aws.enforcer {
            Some(enforcer) => {
                Some(template_roles(&config, enforcer, &options, &tables, &seed, &identity).await?)
            }
            None => None,
        };
        let configs = FunctionConfigs::make(&config, &engine_address.for_functions(), roles.as_ref()).await?;
        // The API's address is known before the functions are built: payloads link to it.
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.api_port)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        seeded("the event bus", || seed::event_bus(&config, EVENT_BUS)).await?;
        let parked_events = seeded("the parked-events queue", || seed::parked_events_queue(&config)).await?;
        seeded("the webhook secrets' key", || seed::webhook_key(&config)).await?;
        let webhook_key = seed::WEBHOOK_KEY_ALIAS.to_owned();
        let lambdas = Lambdas {
            options: &options,
            configs: &configs,
            seed: &seed,
            tables: &tables,
            identity: &identity,
            parked_events: &parked_events,
            webhook_key: &webhook_key,
            stand_in: Arc::new(StandIn::default()),
            api_url: &api_url,
        };
        let (service, lambda_faults) = engine(&options, &lambdas, roles.as_ref(), aws.enforcer.clone())?;
        let sfn_api = tokio::spawn({
            let service = service.clone();
            let listener = engine_address.listener;
            async move {
                if let Err(err) = sbx_sfn_local::api::serve(service, listener).await {
                    tracing::error!(%err, "the Step Functions API stopped");
                }
            }
        });
        let (http_api, console_url) = http_api(&config, &aws.endpoint, &lambdas, listener).await?;
        let stream_arn = seeded("the events stream", || {
            seed::events_stream(&config, &tables.events)
        })
        .await?;
        // Lambda's event source mapping reads the stream, and reports what it gives up, with
        // the function's own role.
        let publisher = configs.of(PUBLISH_EVENTS).0;
        let events = stream::spawn(
            stream::Mapping {
                client: sbx_transient::client!(aws_sdk_dynamodbstreams, publisher),
                stream_arn,
                queue: sbx_transient::client!(aws_sdk_sqs, publisher),
                queue_url: parked_events.clone(),
                max_record_age: MAX_RECORD_AGE.mul_f64(options.time_scale),
            },
            lambdas.notify(PUBLISH_EVENTS),
        );
        configs.ready().await?;
        // The deadlines run every minute as on AWS, whenever the sweeps run on a schedule.
        let schedule = options.gc_every.map(|every| {
            (
                scheduler::spawn(service.clone(), state_machine_arn("gc"), every),
                scheduler::spawn(
                    service.clone(),
                    state_machine_arn("deadlines"),
                    crate::DEADLINES_EVERY,
                ),
            )
        });
        // The tests' own, with the management account's credentials.
        let steps = lambdas.steps(ROOT);
        let store =
            sbx_bootstrap::store(&config, &lambdas.vars()).map_err(|e| StackError::Seed(e.to_string()))?;
        let stand_in = lambdas.stand_in.clone();
        Ok(Self {
            moto: aws.moto,
            faults: aws.faults,
            sfn_faults: engine_address.faults,
            lambda_faults,
            iam: aws.enforcer,
            aws_endpoint: aws.endpoint,
            aws_upstream: aws.upstream,
            sfn_endpoint: engine_address.endpoint,
            config,
            tables,
            seed,
            steps,
            store,
            parked_events,
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
}

/// What the functions are built from: each gets the environment the template gives every
/// function ([`Lambdas::environment`]), read as a deployed function reads its own, with its own
/// credentials ([`FunctionConfigs`]).
struct Lambdas<'a> {
    options: &'a Options,
    configs: &'a FunctionConfigs,
    seed: &'a seed::Seed,
    tables: &'a TableNames,
    identity: &'a identity::Identity,
    /// The parked-events queue's URL.
    parked_events: &'a str,
    /// The key that seals webhook secrets, by its alias.
    webhook_key: &'a str,
    /// The in-process streaming stand-in every function shares (AppStream has no emulator).
    stand_in: Arc<StandIn>,
    /// Where payloads link to.
    api_url: &'a str,
}

impl Lambdas<'_> {
    /// The variables every function gets, with the local values: the template's `Globals`
    /// and the per-function ones, in one environment.
    fn environment(&self) -> HashMap<String, String> {
        let (options, seed, tables) = (self.options, self.seed, self.tables);
        let units = &seed.organization.units;
        let mut vars: HashMap<String, String> = [
            ("AWS_REGION", REGION.to_owned()),
            ("SBX_SANDBOXES_TABLE", tables.sandboxes.clone()),
            ("SBX_EVENTS_TABLE", tables.events.clone()),
            ("SBX_TENANTS_TABLE", tables.tenants.clone()),
            ("SBX_LOCKS_TABLE", tables.locks.clone()),
            ("SBX_ACCOUNTS_TABLE", tables.accounts.clone()),
            ("SBX_ACP_IMAGE_ID", seed.images.acp.clone()),
            ("SBX_OCP_IMAGE_ID", seed.images.ocp.clone()),
            ("SBX_PROXY_IMAGE_ID", seed.images.proxy.clone()),
            ("SBX_PROVISIONING_ROLE", seed::PROVISIONING_ROLE.to_owned()),
            ("SBX_INGRESS_DOMAIN", "sandboxes.sbx.localhost".to_owned()),
            ("SBX_QUOTA", options.quota.to_string()),
            ("SBX_LOCK_LEASE_SECONDS", "900".to_owned()),
            // moto's describes miss what is younger than its delay (serve.py).
            (
                "SBX_VISIBILITY_SECONDS",
                (options.aws_delay * 2).as_secs_f64().to_string(),
            ),
            ("SBX_OU_POOL", units.pool.clone()),
            ("SBX_OU_CUSTOMERS", units.customers.clone()),
            ("SBX_OU_EXPIRED", units.expired.clone()),
            ("SBX_OU_QUARANTINE", units.quarantine.clone()),
            ("SBX_ACCOUNT_EMAIL_DOMAIN", seed.organization.email_domain.clone()),
            ("SBX_MANAGEMENT_ACCOUNT_ID", MANAGEMENT_ACCOUNT.to_owned()),
            ("SBX_DELIVER_STATE_MACHINE_ARN", state_machine_arn("deliver")),
            ("SBX_EVENT_BUS", EVENT_BUS.to_owned()),
            ("SBX_PARKED_EVENTS_QUEUE_URL", self.parked_events.to_owned()),
            ("SBX_WEBHOOK_KEY", self.webhook_key.to_owned()),
            (
                "SBX_WEBHOOK_DISABLE_AFTER_SECONDS",
                options.webhook_disable_after.as_secs_f64().to_string(),
            ),
            ("SBX_API_URL", self.api_url.to_owned()),
            ("SBX_USER_POOL_ID", self.identity.user_pool_id.clone()),
            ("SBX_USER_POOL_CLIENT_ID", self.identity.client_id.clone()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        for operation in sbx_lifecycle::Operation::ALL {
            let name = operation.as_str();
            vars.insert(
                format!("SBX_{}_STATE_MACHINE_ARN", name.to_uppercase()),
                state_machine_arn(name),
            );
        }
        vars
    }

    fn vars(&self) -> sbx_bootstrap::Vars {
        let vars = self.environment();
        sbx_bootstrap::Vars::from_fn(move |name| vars.get(name).cloned())
    }

    /// The step `function`, built as its Lambda builds itself.
    fn steps(&self, function: &str) -> Arc<sbx_steps::Init> {
        let (config, sfn_config) = self.configs.of(function);
        let init = sbx_steps::Init::new(config.clone(), sfn_config.clone(), self.vars())
            .with_streaming(Streaming::StandIn(self.stand_in.clone()))
            // The engine keeps its executions in memory: none started before now exists.
            .with_sweep(sbx_steps::SweepSettings {
                executions_lost_before: Some(chrono::Utc::now()),
                ..self.options.sweep.clone()
            });
        Arc::new(init)
    }

    /// The notify `function`, built as its Lambda builds itself; locally, receivers on this
    /// machine (the tests' own) are allowed.
    fn notify(&self, function: &str) -> Arc<sbx_notify::Init> {
        let (config, sfn_config) = self.configs.of(function);
        Arc::new(sbx_notify::Init::new(config.clone(), sfn_config.clone(), self.vars()).allowing_loopback())
    }
}

/// The engine with every step and notify function registered in this process and every
/// definition of `statemachines/` (each under its template role when IAM is on).
fn engine(
    options: &Options,
    lambdas: &Lambdas<'_>,
    roles: Option<&iam::template::Roles>,
    enforcer: Option<Arc<iam::Enforcer>>,
) -> Result<(Service, Option<Arc<LambdaFaults>>), StackError> {
    let functions = Functions::new();
    let lambda_faults = options.faults.as_ref().filter(|f| f.lambda > 0.0).map(|f| {
        LambdaFaults::new(LambdaFaultSpec {
            share: f.lambda,
            seed: f.seed.wrapping_add(2),
        })
    });
    functions.set_faults(lambda_faults.clone());
    functions.set_authorizer(enforcer.map(|enforcer| enforcer as Arc<dyn sbx_sfn_local::Authorize>));
    for name in sbx_steps::FUNCTIONS {
        register(&functions, &lambdas.steps(name), name);
    }
    for name in sbx_notify::FUNCTIONS {
        register_notify(&functions, &lambdas.notify(name), name);
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
    Ok((service, lambda_faults))
}

/// The HTTP API behind the local API gateway (with the console beside it when one is built),
/// serving on `listener`.
async fn http_api(
    config: &SdkConfig,
    aws_endpoint: &str,
    lambdas: &Lambdas<'_>,
    listener: tokio::net::TcpListener,
) -> Result<(tokio::task::JoinHandle<()>, Option<String>), StackError> {
    let (options, identity, api_url) = (lambdas.options, lambdas.identity, lambdas.api_url);
    // The page-token key lives in Secrets Manager and is read as a deployed function reads
    // it at its cold start (sbx_api::secrets).
    let page_secret: String = (0..48).map(|_| fastrand::alphanumeric()).collect();
    let page_key = seeded("the page-token secret", || async {
        // A Python process that talks to this process's own IAM and fault layer: waited for
        // off the runtime's workers, which serve that layer (blocking two workers on two
        // stacks' secrets at once deadlocked a test).
        let (endpoint, secret) = (aws_endpoint.to_owned(), page_secret.clone());
        tokio::task::spawn_blocking(move || sbx_moto::put_secret(&endpoint, PAGE_TOKEN_SECRET, &secret))
            .await
            .map_err(|e| StackError::Seed(format!("the page-token secret: {e}")))?
            .map_err(|e| StackError::Seed(format!("the page-token secret: {e}")))?;
        sbx_api::secrets::read(config, PAGE_TOKEN_SECRET)
            .await
            .map_err(|e| StackError::Seed(e.to_string()))
    })
    .await?;
    let page_key = sbx_store::PageKey::new(page_key.as_bytes())
        .map_err(|e| StackError::Seed(format!("the page-token secret: {e}")))?;
    // Each function reads the environment a deployed one gets; the page-token key comes from
    // the secret, as a deployed function's does (sbx_api::lambda).
    let environment = lambdas.environment();
    let mut settings = sbx_api::Settings::from_vars(|name| environment.get(name).cloned())
        .map_err(|e| StackError::Seed(format!("the API's settings: {e}")))?;
    settings.page_key = Some(page_key);
    // Locally, receivers on this machine (the tests' own) may be registered.
    settings.webhook_policy = sbx_webhooks::Policy { allow_loopback: true };
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
        let (config, sfn_config) = lambdas.configs.of(name);
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
    Ok((http_api, console_url))
}

/// The name under which the tests' own clients (and the seed) act: the management account's
/// credentials, which no policy restricts.
const ROOT: &str = "";

/// The stream mapping's `MaximumRecordAgeInSeconds` in the template, at the time scale 1.
const MAX_RECORD_AGE: Duration = Duration::from_secs(21_600);

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
    seed: &seed::Seed,
    identity: &identity::Identity,
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
            (
                "ParkedEventsQueue.Arn",
                format!(
                    "arn:aws:sqs:{REGION}:{MANAGEMENT_ACCOUNT}:{}",
                    seed::PARKED_EVENTS_QUEUE
                ),
            ),
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
pub fn register(functions: &Functions, steps: &Arc<sbx_steps::Init>, name: &'static str) {
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
pub fn register_notify(functions: &Functions, notify: &Arc<sbx_notify::Init>, name: &'static str) {
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
