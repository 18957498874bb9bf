//! What the end-to-end tests share: a local stack of their own, executions started and awaited
//! through the Step Functions API with `aws-sdk-sfn` (as an operator would), and a look at a
//! tenant account's resources through a client of its own.

pub mod api;
pub mod receiver;

use aws_sdk_ec2::types::Filter;
use sbx_aws::Provisioner;
use sbx_aws::infra::Present;
use sbx_stack::{LocalStack, Options, state_machine_arn};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The repository's root: where `infra/`, `statemachines/` and `events/` are.
/// It is read at run time (cargo and nextest give every test its package's directory): a
/// target directory shared by two clones, as `.ci/run` shares one, keeps the build-time path
/// of the clone that built this library.
pub fn root() -> std::path::PathBuf {
    let tests = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    tests.parent().map(std::path::Path::to_path_buf).unwrap_or(tests)
}

/// How long the tests' moto keeps resources in each asynchronous state: AWS's minutes, scaled
/// down, so that every workflow meets pending instances, NAT gateways and SSM commands.
pub const AWS_DELAY: Duration = Duration::from_millis(200);
/// The tests' scale of Wait states and retry delays: a 5 s Wait lasts 0.1 s, so a few checks
/// cover [`AWS_DELAY`].
pub const TIME_SCALE: f64 = 0.02;

/// A local stack in the realistic mode, scaled down, with a pool of `pool_size` accounts.
pub async fn stack(pool_size: u32) -> LocalStack {
    stack_with(Options {
        pool_size,
        ..Options::default()
    })
    .await
}

/// A local stack with `options`, in the realistic mode scaled down ([`AWS_DELAY`],
/// [`TIME_SCALE`]).
pub async fn stack_with(options: Options) -> LocalStack {
    let options = Options {
        time_scale: TIME_SCALE,
        aws_delay: AWS_DELAY,
        ..options
    };
    LocalStack::start(options)
        .await
        .unwrap_or_else(|e| panic!("the local stack did not start: {e}"))
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The execution's output (`null` when it has none).
    pub output: Value,
}

pub fn sfn(stack: &LocalStack) -> aws_sdk_sfn::Client {
    let config = stack
        .config
        .to_builder()
        .endpoint_url(&stack.sfn_endpoint)
        .build();
    aws_sdk_sfn::Client::new(&config)
}

/// Starts `machine` on `input` and waits (polling, with a deadline) until it ends.
pub async fn run(stack: &LocalStack, machine: &str, name: &str, input: &Value) -> Ended {
    let client = sfn(stack);
    let started = client
        .start_execution()
        .state_machine_arn(state_machine_arn(machine))
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("StartExecution {machine}/{name}: {e:?}"));
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let described = client
            .describe_execution()
            .execution_arn(started.execution_arn())
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeExecution: {e:?}"));
        let status = described.status().as_str().to_owned();
        if status != "RUNNING" {
            return Ended {
                status,
                error: described.error().map(str::to_owned),
                cause: described.cause().map(str::to_owned),
                output: described
                    .output()
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or(Value::Null),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{machine}/{name} still running after 240 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs and expects success.
pub async fn succeed(stack: &LocalStack, machine: &str, name: &str, input: &Value) {
    let ended = run(stack, machine, name, input).await;
    assert_eq!(ended.status, "SUCCEEDED", "{machine}/{name}: {ended:?}");
}

/// A view of one tenant account through plain SDK clients of its own: what it reports comes
/// from the AWS APIs directly, never from the adapters under test.
pub struct Account {
    pub id: String,
    pub tenant: String,
    config: aws_config::SdkConfig,
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    stand_in: std::sync::Arc<sbx_aws::streaming::StandIn>,
}

/// Instance states in which an instance still exists.
const ALIVE: [&str; 4] = ["pending", "running", "stopping", "stopped"];

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> &'a str {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .unwrap_or_default()
}

impl Account {
    pub async fn open(stack: &LocalStack, tenant: &str, id: &str) -> Self {
        // Any role name will do: moto's AssumeRole switches accounts by the ARN alone. The view
        // goes to moto itself, never through the fault layer.
        let direct = sbx_stack::sdk_config(&stack.aws_upstream).await;
        let inspector = Provisioner::new(direct, "sbx-e2e-inspector");
        let config = inspector.open(id).await.config;
        Self {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            ec2: aws_sdk_ec2::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            config,
            stand_in: stack.stand_in.clone(),
        }
    }

    /// EC2 in the account, to make what a user might leave behind.
    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.ec2
    }

    /// Whether the account has the IAM role `name`.
    pub async fn has_role(&self, name: &str) -> bool {
        let iam = aws_sdk_iam::Client::new(&self.config);
        iam.get_role().role_name(name).send().await.is_ok()
    }

    /// The instances that still exist with `filters`.
    async fn described(&self, filters: Vec<Filter>) -> Vec<aws_sdk_ec2::types::Instance> {
        let output = self
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .filters(filter("instance-state-name", &ALIVE))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .cloned()
            .collect()
    }

    /// The sandbox's instances that are shutting down or terminated, by role: what a
    /// compensation ended.
    pub async fn ended_instances(&self, sandbox: &str) -> Vec<String> {
        let output = self
            .ec2
            .describe_instances()
            .filters(filter("tag:sbx:sandbox", &[sandbox]))
            .filters(filter("instance-state-name", &["shutting-down", "terminated"]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut ended: Vec<String> = output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| tag(i.tags(), "sbx:role").to_owned())
            .collect();
        ended.sort();
        ended
    }

    /// The instances that still exist with `filters`, each as (its tags, its state).
    async fn instances(&self, filters: Vec<Filter>) -> Vec<(Vec<aws_sdk_ec2::types::Tag>, String)> {
        self.described(filters)
            .await
            .iter()
            .map(|i| {
                let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned());
                (i.tags().to_vec(), state.unwrap_or_default())
            })
            .collect()
    }

    /// Puts one `CPUUtilization` datapoint of `percent` at `at` for every instance of the
    /// sandbox into the account's CloudWatch, as EC2's monitoring would.
    pub async fn put_cpu(&self, sandbox: &str, percent: f64, at: chrono::DateTime<chrono::Utc>) {
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&self.config);
        for instance in self.described(vec![filter("tag:sbx:sandbox", &[sandbox])]).await {
            let id = instance.instance_id().unwrap_or_default();
            let datum = aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("CPUUtilization")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("InstanceId")
                        .value(id)
                        .build(),
                )
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
                    at.timestamp_millis(),
                ))
                .value(percent)
                .unit(aws_sdk_cloudwatch::types::StandardUnit::Percent)
                .build();
            cloudwatch
                .put_metric_data()
                .namespace("AWS/EC2")
                .metric_data(datum)
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutMetricData: {e:?}"));
        }
    }

    /// `role=state` of every instance of the sandbox that has not been terminated, sorted.
    pub async fn sandbox_instances(&self, sandbox: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .instances(vec![filter("tag:sbx:sandbox", &[sandbox])])
            .await
            .into_iter()
            .map(|(tags, state)| format!("{}={state}", tag(&tags, "sbx:role")))
            .collect();
        found.sort();
        found
    }

    /// The instance profile ARN of each instance of the sandbox that has not been terminated.
    pub async fn sandbox_instance_profiles(&self, sandbox: &str) -> Vec<String> {
        self.described(vec![filter("tag:sbx:sandbox", &[sandbox])])
            .await
            .iter()
            .map(|i| {
                i.iam_instance_profile()
                    .and_then(|p| p.arn())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// Where the default route of the sandbox's subnet goes, as `nat-...=<its state>`
    /// (`None`: the subnet has no way out).
    pub async fn sandbox_route_out(&self, sandbox: &str) -> Option<String> {
        let subnets = self
            .ec2
            .describe_subnets()
            .filters(filter("tag:sbx:sandbox", &[sandbox]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let subnet = subnets.subnets().first()?.subnet_id()?.to_owned();
        let tables = self
            .ec2
            .describe_route_tables()
            .filters(filter("association.subnet-id", &[&subnet]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let nat = tables
            .route_tables()
            .iter()
            .flat_map(|t| t.routes())
            .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))?
            .nat_gateway_id()?
            .to_owned();
        let state = self
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&nat)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let state = state
            .nat_gateways()
            .first()
            .and_then(|n| n.state())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        Some(format!("{nat}={state}"))
    }

    /// The account's Elastic IPs.
    pub async fn elastic_ips(&self) -> usize {
        let out = self.ec2.describe_addresses().send().await;
        out.map(|o| o.addresses().len())
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// The states of every NAT gateway the account has had (deleted ones stay visible a while).
    pub async fn nat_states(&self) -> Vec<String> {
        let out = self.ec2.describe_nat_gateways().send().await;
        let mut states: Vec<String> = out
            .unwrap_or_else(|e| panic!("{e:?}"))
            .nat_gateways()
            .iter()
            .map(|n| n.state().map(|s| s.as_str().to_owned()).unwrap_or_default())
            .collect();
        states.sort();
        states
    }

    /// (subnets, security groups) tagged with the sandbox.
    pub async fn sandbox_network(&self, sandbox: &str) -> (usize, usize) {
        let tagged = || vec![filter("tag:sbx:sandbox", &[sandbox])];
        let subnets = self
            .ec2
            .describe_subnets()
            .set_filters(Some(tagged()))
            .send()
            .await;
        let groups = self
            .ec2
            .describe_security_groups()
            .set_filters(Some(tagged()))
            .send()
            .await;
        (
            subnets
                .map(|o| o.subnets().len())
                .unwrap_or_else(|e| panic!("{e:?}")),
            groups
                .map(|o| o.security_groups().len())
                .unwrap_or_else(|e| panic!("{e:?}")),
        )
    }

    /// The target groups tagged with the sandbox.
    pub async fn target_groups(&self, sandbox: &str) -> usize {
        let groups = self
            .elb
            .describe_target_groups()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let arns: Vec<String> = groups
            .target_groups()
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_owned))
            .collect();
        if arns.is_empty() {
            return 0;
        }
        let tags = self
            .elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        tags.tag_descriptions()
            .iter()
            .filter(|d| {
                d.tags()
                    .iter()
                    .any(|t| t.key() == Some("sbx:sandbox") && t.value() == Some(sandbox))
            })
            .count()
    }

    /// The account's shared infrastructure, as the AWS APIs show it.
    pub async fn infrastructure(&self) -> Present {
        let nat = self
            .ec2
            .describe_nat_gateways()
            .filter(filter("state", &["pending", "available"]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let balancers = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let of_type = |kind: &str| {
            balancers
                .load_balancers()
                .iter()
                .any(|lb| lb.r#type().is_some_and(|t| t.as_str() == kind))
        };
        let proxies = self
            .instances(vec![filter("tag:sbx:role", &["proxy-0", "proxy-1"])])
            .await
            .len();
        Present {
            nat: !nat.nat_gateways().is_empty(),
            alb: of_type("application"),
            proxies,
            nlb: of_type("network"),
            fleet: !self.stand_in.fleets(&self.id).is_empty(),
        }
    }

    /// The tags of every instance in the account that is not terminated, of any owner.
    pub async fn live_instance_tags(&self) -> Vec<String> {
        self.instances(Vec::new())
            .await
            .into_iter()
            .map(|(tags, _)| {
                tags.iter()
                    .map(|t| {
                        format!(
                            "{}={}",
                            t.key().unwrap_or_default(),
                            t.value().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }
}

impl Account {
    /// Everything a sandbox or the shared infrastructure made that is still in the account,
    /// one line each: instances not terminated (`shutting-down` included), NAT gateways not
    /// deleted, Elastic IPs, load balancers, target groups, and subnets and security groups of
    /// a sandbox. Empty when the account holds only its network.
    pub async fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let instances = self
            .ec2
            .describe_instances()
            .filters(filter(
                "instance-state-name",
                &["pending", "running", "stopping", "stopped", "shutting-down"],
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_owned());
            left.push(format!(
                "instance {} {} ({})",
                instance.instance_id().unwrap_or_default(),
                state.unwrap_or_default(),
                tag(instance.tags(), "sbx:role")
            ));
        }
        let nats = self
            .ec2
            .describe_nat_gateways()
            .filter(filter("state", &["pending", "available", "deleting"]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        for nat in nats.nat_gateways() {
            left.push(format!("nat {}", nat.nat_gateway_id().unwrap_or_default()));
        }
        let addresses = self.ec2.describe_addresses().send().await;
        for address in addresses.unwrap_or_else(|e| panic!("{e:?}")).addresses() {
            left.push(format!("address {}", address.allocation_id().unwrap_or_default()));
        }
        let balancers = self.elb.describe_load_balancers().send().await;
        for lb in balancers.unwrap_or_else(|e| panic!("{e:?}")).load_balancers() {
            left.push(format!(
                "load balancer {}",
                lb.load_balancer_name().unwrap_or_default()
            ));
        }
        let groups = self.elb.describe_target_groups().send().await;
        for group in groups.unwrap_or_else(|e| panic!("{e:?}")).target_groups() {
            left.push(format!(
                "target group {}",
                group.target_group_name().unwrap_or_default()
            ));
        }
        let of_sandboxes = || vec![filter("tag-key", &["sbx:sandbox"])];
        let subnets = self
            .ec2
            .describe_subnets()
            .set_filters(Some(of_sandboxes()))
            .send()
            .await;
        for subnet in subnets.unwrap_or_else(|e| panic!("{e:?}")).subnets() {
            left.push(format!(
                "subnet {} of {}",
                subnet.subnet_id().unwrap_or_default(),
                tag(subnet.tags(), "sbx:sandbox")
            ));
        }
        let security = self
            .ec2
            .describe_security_groups()
            .set_filters(Some(of_sandboxes()))
            .send()
            .await;
        for group in security.unwrap_or_else(|e| panic!("{e:?}")).security_groups() {
            left.push(format!(
                "security group {} of {}",
                group.group_id().unwrap_or_default(),
                tag(group.tags(), "sbx:sandbox")
            ));
        }
        left.extend(self.duplicates().await);
        left
    }

    /// The account's network is one of each (a VPC, an internet gateway, a route table of each
    /// role): a second is one a repeated create made and nothing removed.
    async fn duplicates(&self) -> Vec<String> {
        let of_account = || vec![filter("tag-key", &["sbx:account"])];
        let mut made: Vec<(String, String)> = Vec::new();
        let vpcs = self
            .ec2
            .describe_vpcs()
            .set_filters(Some(of_account()))
            .send()
            .await;
        for vpc in vpcs.unwrap_or_else(|e| panic!("{e:?}")).vpcs() {
            made.push(("vpc".into(), vpc.vpc_id().unwrap_or_default().into()));
        }
        let gateways = self
            .ec2
            .describe_internet_gateways()
            .set_filters(Some(of_account()));
        for igw in gateways
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .internet_gateways()
        {
            let id = igw.internet_gateway_id().unwrap_or_default();
            made.push(("internet gateway".into(), id.into()));
        }
        let tables = self.ec2.describe_route_tables().set_filters(Some(of_account()));
        for table in tables
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .route_tables()
        {
            let role = tag(table.tags(), "sbx:role");
            made.push((
                format!("route table {role}"),
                table.route_table_id().unwrap_or_default().into(),
            ));
        }
        let mut by_kind: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (kind, id) in made {
            by_kind.entry(kind).or_default().push(id);
        }
        by_kind
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(kind, ids)| format!("duplicate {kind}: {}", ids.join(", ")))
            .collect()
    }
}

/// A store on the stack's tables that reads moto itself, past the fault layer.
pub async fn direct_store(stack: &LocalStack) -> sbx_store::DynamoStore {
    let direct = sbx_stack::sdk_config(&stack.aws_upstream).await;
    sbx_store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&direct),
        sbx_store::StoreConfig::new(stack.tables.clone()),
    )
}

/// The full infrastructure an active account has, without NLB or fleet.
pub const BASE: Present = Present {
    nat: true,
    alb: true,
    proxies: 2,
    nlb: false,
    fleet: false,
};

/// Puts account `id` into the pool and takes it through assigned (to tenant `zeta`), expired
/// and cleaning to quarantined with `reason`, as a failed cleanup would: for the pages and
/// routes that show a quarantined account.
pub async fn quarantine(stack: &LocalStack, id: &str, reason: &str) {
    use sbx_store::{AccountChange, AccountStore};
    let store = &stack.store;
    store.add_to_pool(id).await.unwrap_or_else(|e| panic!("{e}"));
    for change in [
        AccountChange::Assign {
            tenant: "zeta".into(),
        },
        AccountChange::Expire {
            tenant: "zeta".into(),
        },
        AccountChange::BeginCleaning,
        AccountChange::Quarantine {
            reason: reason.to_owned(),
        },
    ] {
        store
            .change_account(id, change)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// What the DynamoDB side says is wrong once every workflow has ended, for the `tenants`:
/// an account lock still held, a tenant's live counter that differs from its live records, a
/// record in a transitional state, and an account in a state its sandboxes do not explain
/// (assigned with none of its tenant's live sandboxes in it, a live sandbox in an account that
/// is not its tenant's assigned one, a pooled or cleaned account that a live sandbox uses).
/// Read directly, past any fault layer.
pub async fn dynamo_problems(stack: &LocalStack, tenants: &[&str]) -> Vec<String> {
    use sbx_store::{AccountState, AccountStore, ListQuery, LockStore, SandboxStore};
    let store = direct_store(stack).await;
    fn fail<T>(what: &str, e: &dyn std::fmt::Display) -> T {
        panic!("reading {what}: {e}")
    }
    let mut problems = Vec::new();
    // (tenant, account) of every live record.
    let mut live_in = Vec::new();
    for tenant in tenants {
        let mut query = ListQuery {
            limit: ListQuery::MAX_LIMIT,
            ..ListQuery::default()
        };
        let mut live = 0u64;
        loop {
            let page = store
                .list(tenant, &query)
                .await
                .unwrap_or_else(|e| fail("records", &e));
            for record in &page.items {
                if record.state.is_transitional() {
                    problems.push(format!("{tenant}/{} is left {}", record.id, record.state));
                }
                if record.state.is_live() {
                    live += 1;
                    if let Some(account) = &record.account_id {
                        live_in.push((tenant.to_string(), account.clone(), record.id.clone()));
                    }
                }
            }
            match page.next_token {
                Some(token) => query.next_token = Some(token),
                None => break,
            }
        }
        let counted = store
            .live_count(tenant)
            .await
            .unwrap_or_else(|e| fail("the counter", &e));
        if counted != live {
            problems.push(format!("{tenant} counts {counted} live sandboxes and has {live}"));
        }
    }
    for state in [
        AccountState::Pool,
        AccountState::Assigned,
        AccountState::Expired,
        AccountState::Cleaning,
        AccountState::Quarantined,
    ] {
        for account in store
            .all_accounts(state)
            .await
            .unwrap_or_else(|e| fail("accounts", &e))
        {
            let id = &account.account_id;
            let lock = format!("account:{id}");
            if let Some(lease) = store.holder(&lock).await.unwrap_or_else(|e| fail("locks", &e)) {
                problems.push(format!("{lock} is still held: {lease:?}"));
            }
            let users: Vec<&(String, String, String)> = live_in.iter().filter(|(_, a, _)| a == id).collect();
            let tenant = account.tenant.as_deref();
            match state {
                AccountState::Assigned if tenants.iter().any(|t| Some(*t) == tenant) && users.is_empty() => {
                    problems.push(format!(
                        "{id} is assigned to {tenant:?}, and none of its live sandboxes is in it"
                    ));
                }
                AccountState::Assigned => {}
                _ if !users.is_empty() => {
                    problems.push(format!("{id} is {state:?}, and live sandboxes use it: {users:?}"));
                }
                _ => {}
            }
            for (owner, _, sandbox) in users {
                if tenant != Some(owner.as_str()) {
                    problems.push(format!("{owner}/{sandbox} is in {id}, which is {tenant:?}'s"));
                }
            }
        }
    }
    problems
}
