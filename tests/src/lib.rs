//! What the end-to-end tests share: a local stack of their own, executions started and awaited
//! through the Step Functions API with `aws-sdk-sfn` (as an operator would), and a look at a
//! tenant account's resources through a client of its own.

use sbx_aws::Provisioner;
use sbx_aws::infra::{self, Present};
use sbx_stack::{LocalStack, Options, state_machine_arn};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A local stack with no waiting (time scale 0) and a pool of `pool_size` accounts.
pub async fn stack(pool_size: u32) -> LocalStack {
    let options = Options {
        time_scale: 0.0,
        pool_size,
        ..Options::default()
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

/// A view of one tenant account, through clients of its own.
pub struct Account {
    pub id: String,
    pub tenant: String,
    clients: sbx_aws::AccountClients,
    streaming: sbx_aws::streaming::Streaming,
}

impl Account {
    pub async fn open(stack: &LocalStack, tenant: &str, id: &str) -> Self {
        let inspector = Provisioner::new(stack.config.clone(), "sbx-e2e-inspector");
        Self {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            clients: inspector.open(id).await,
            streaming: sbx_aws::streaming::Streaming::StandIn(stack.stand_in.clone()),
        }
    }

    /// Whether the account has the IAM role `name`.
    pub async fn has_role(&self, name: &str) -> bool {
        let iam = aws_sdk_iam::Client::new(&self.clients.config);
        iam.get_role().role_name(name).send().await.is_ok()
    }

    /// `role=state` of every instance of the sandbox that has not been terminated.
    pub async fn sandbox_instances(&self, sandbox: &str) -> Vec<String> {
        let owner = sbx_aws::Owner::Sandbox {
            tenant: self.tenant.clone(),
            sandbox: sandbox.to_owned(),
        };
        sbx_aws::instances::find(&self.clients.ec2, &owner)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|vm| format!("{}={}", vm.role, vm.state))
            .collect()
    }

    /// (subnets, security groups) tagged with the sandbox.
    pub async fn sandbox_network(&self, sandbox: &str) -> (usize, usize) {
        let filter = || vec![sbx_aws::tags::filter("tag:sbx:sandbox", sandbox)];
        let ec2 = &self.clients.ec2;
        let subnets = ec2.describe_subnets().set_filters(Some(filter())).send().await;
        let groups = ec2
            .describe_security_groups()
            .set_filters(Some(filter()))
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

    /// The sandbox's target groups.
    pub async fn target_groups(&self, sandbox: &str) -> usize {
        sbx_aws::ingress::target_groups(&self.clients, &self.tenant, sandbox)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len()
    }

    /// The account's shared infrastructure.
    pub async fn infrastructure(&self) -> Present {
        let owner = sbx_aws::Owner::Account {
            tenant: self.tenant.clone(),
            account: self.id.clone(),
        };
        infra::present(&self.clients, &owner, &self.streaming)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every instance in the account that is not terminated, of any owner.
    pub async fn live_instance_tags(&self) -> Vec<String> {
        let output = self
            .clients
            .ec2
            .describe_instances()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        output
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                i.state()
                    .and_then(|s| s.name())
                    .is_some_and(|n| n.as_str() != "terminated")
            })
            .map(|i| {
                i.tags()
                    .iter()
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

/// The full infrastructure an active account has, without NLB or fleet.
pub const BASE: Present = Present {
    nat: true,
    alb: true,
    proxies: 2,
    nlb: false,
    fleet: false,
};
