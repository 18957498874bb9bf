//! The account's shared infrastructure (SPEC: Per-account shared infrastructure): a NAT gateway
//! with its Elastic IP and the sandboxes' default route through it, an ALB with its HTTP
//! listener, two reverse proxies, and, while some active sandbox needs them, an NLB and the
//! streaming fleet. [`converge`] makes the account match what is wanted: it creates what is
//! missing and deletes what is not wanted, both idempotently.
//!
//! Some of it changes asynchronously on AWS, for minutes. [`converge`] never waits for it: it
//! does what can be done now and says what it is waiting for ([`Converged::waiting`]), and the
//! state machine calls it again after a Wait until nothing is left to wait for:
//!
//! - a new NAT gateway is `pending`; the sandboxes' route goes to it once it is `available`;
//! - a deleted NAT gateway is `deleting`, and holds its Elastic IP until it is `deleted`: the
//!   address is released only then (AWS refuses it before), and no new NAT is made meanwhile;
//! - the streaming fleet is stopped, and deleted once it has stopped.
//!
//! This module is the plan (what is wanted, what is there, what to do); each resource is made
//! and deleted in its own module: `nat.rs` (the NAT gateway, its address and route),
//! `load_balancers.rs` (the ALB with its listener, the NLB).

use crate::account::AccountClients;
use crate::error::AwsError;
use crate::instances::{self, Launch};
use crate::network::AccountNetwork;
use crate::streaming::{Release, Streaming};
use crate::tags::Owner;

mod load_balancers;
mod nat;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
use load_balancers::{delete_load_balancer, ensure_http_listener, ensure_load_balancer};
pub use load_balancers::{find_load_balancer, http_listener};
pub use nat::NatGatewayState;
use nat::{delete_nat, ensure_nat, nat_gateways};

pub const ALB_NAME: &str = "sbx-alb";
pub const NLB_NAME: &str = "sbx-nlb";
pub const HTTP_LISTENER_PORT: i32 = 80;
const PROXIES: usize = 2;

/// What the account's active sandboxes need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Some sandbox is active: NAT, ALB and proxies.
    pub base: bool,
    /// Some active sandbox has `amq`.
    pub nlb: bool,
    /// Some active sandbox has `smart_client`.
    pub fleet: bool,
}

/// What exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present {
    /// A NAT gateway that is pending or available (one being deleted does not count).
    pub nat: bool,
    pub alb: bool,
    pub proxies: usize,
    pub nlb: bool,
    pub fleet: bool,
}

impl Present {
    pub fn is_empty(&self) -> bool {
        *self == Present::default()
    }
}

/// What one [`converge`] did, and what it left in transition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converged {
    pub changes: Vec<String>,
    /// What AWS is still changing (`nat pending`, `nat deleting`, `fleet stopping`): the
    /// infrastructure is what was wanted once this is empty. Converge again after a while.
    pub waiting: Vec<String>,
}

impl Converged {
    pub fn settled(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// How proxies are launched.
#[derive(Debug, Clone)]
pub struct ProxySpec {
    pub image_id: String,
    pub instance_type: String,
}

/// Makes the account's infrastructure what `want` says, as far as it can now; returns what it
/// changed and what it is waiting for. Creating needs the account's network; deleting does
/// not, so a release passes `None` where the account has none, and then nothing is created.
pub async fn converge(
    clients: &AccountClients,
    owner: &Owner,
    network: Option<&AccountNetwork>,
    want: Want,
    proxy: &ProxySpec,
    streaming: &Streaming,
    client_token: &str,
) -> Result<Converged, AwsError> {
    let before = present(clients, owner, streaming).await?;
    let want = Want {
        base: want.base,
        nlb: want.base && want.nlb,
        fleet: want.base && want.fleet,
    };
    let mut done = Converged::default();
    let plan = Plan {
        clients,
        owner,
        before,
        want,
    };
    if want.base {
        match network {
            Some(network) => create_missing(&plan, network, proxy, client_token, &mut done).await?,
            // A release keeps what other sandboxes need; it can make nothing without the network.
            None if !before.nat || !before.alb || before.proxies < PROXIES || (want.nlb && !before.nlb) => {
                return Err(AwsError::Missing(
                    "the account has no network to put its infrastructure in".into(),
                ));
            }
            None => {}
        }
    }
    if want.fleet && !before.fleet {
        streaming.ensure(clients, owner).await?;
        done.changes.push("create fleet".to_owned());
    }
    delete_unwanted(&plan, streaming, &mut done).await?;
    if !want.base {
        for gateway in crate::network::remove_spare_gateways(clients.ec2(), owner).await? {
            done.changes.push(format!("delete spare gateway {gateway}"));
        }
    }
    Ok(done)
}

/// What converging starts from and aims at.
struct Plan<'a> {
    clients: &'a AccountClients,
    owner: &'a Owner,
    before: Present,
    want: Want,
}

async fn create_missing(
    plan: &Plan<'_>,
    network: &AccountNetwork,
    proxy: &ProxySpec,
    client_token: &str,
    done: &mut Converged,
) -> Result<(), AwsError> {
    let Plan {
        clients,
        owner,
        before,
        want,
    } = *plan;
    ensure_nat(clients, owner, network, client_token, done).await?;
    // The listener is looked for even when the ALB is there: a try that made the ALB may have
    // failed (or lost its answer) before making the listener.
    let arn = ensure_load_balancer(
        clients,
        owner,
        ALB_NAME,
        LoadBalancerTypeEnum::Application,
        network,
    )
    .await?;
    if !before.alb {
        done.changes.push("create alb".to_owned());
    }
    if ensure_http_listener(clients, &arn).await? {
        done.changes.push("create alb listener".to_owned());
    }
    if before.proxies < PROXIES {
        for i in 0..PROXIES {
            let role = format!("proxy-{i}");
            instances::ensure(
                clients.ec2(),
                &Launch {
                    owner,
                    role: &role,
                    image_id: &proxy.image_id,
                    instance_type: &proxy.instance_type,
                    subnet_id: &network.public_subnets[i % network.public_subnets.len()],
                    security_group_id: &network.proxy_group,
                    instance_profile: None,
                    client_token: &crate::tags::client_token(client_token, &role),
                },
            )
            .await?;
        }
        done.changes.push("create proxies".to_owned());
    }
    if want.nlb && !before.nlb {
        ensure_load_balancer(clients, owner, NLB_NAME, LoadBalancerTypeEnum::Network, network).await?;
        done.changes.push("create nlb".to_owned());
    }
    Ok(())
}

async fn delete_unwanted(
    plan: &Plan<'_>,
    streaming: &Streaming,
    done: &mut Converged,
) -> Result<(), AwsError> {
    let Plan {
        clients,
        owner,
        before,
        want,
    } = *plan;
    if !want.nlb && before.nlb {
        delete_load_balancer(clients, NLB_NAME).await?;
        done.changes.push("delete nlb".to_owned());
    }
    if !want.fleet && before.fleet {
        match streaming.release(clients).await? {
            Release::Gone => done.changes.push("delete fleet".to_owned()),
            Release::Stopping => done.waiting.push("fleet stopping".to_owned()),
        }
    }
    if want.base {
        return Ok(());
    }
    if before.alb {
        delete_load_balancer(clients, ALB_NAME).await?;
        done.changes.push("delete alb".to_owned());
    }
    if before.proxies > 0 {
        let ids: Vec<String> = proxies(clients, owner)
            .await?
            .into_iter()
            .map(|vm| vm.id)
            .collect();
        instances::terminate(clients.ec2(), &ids).await?;
        done.changes.push("delete proxies".to_owned());
    }
    delete_nat(clients, owner, done).await
}

/// What of the infrastructure exists now.
pub async fn present(
    clients: &AccountClients,
    owner: &Owner,
    streaming: &Streaming,
) -> Result<Present, AwsError> {
    let nats = nat_gateways(clients, owner).await?;
    Ok(Present {
        nat: !(nats.available.is_empty() && nats.pending.is_empty()),
        alb: find_load_balancer(clients, ALB_NAME).await?.is_some(),
        proxies: proxies(clients, owner).await?.len(),
        nlb: find_load_balancer(clients, NLB_NAME).await?.is_some(),
        fleet: streaming.exists(clients).await?,
    })
}

async fn proxies(clients: &AccountClients, owner: &Owner) -> Result<Vec<instances::Vm>, AwsError> {
    Ok(instances::find(clients.ec2(), owner)
        .await?
        .into_iter()
        .filter(|vm| vm.role.starts_with("proxy-"))
        .collect())
}
