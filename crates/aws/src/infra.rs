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

use crate::account::AccountClients;
use crate::error::{AwsError, gone, sdk};
use crate::instances::{self, Launch};
use crate::network::AccountNetwork;
use crate::streaming::{Release, Streaming};
use crate::tags::Owner;
use aws_sdk_ec2::types::{DomainType, ResourceType};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
    ProtocolEnum,
};

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

/// The account's NAT gateways by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Nats {
    available: Vec<String>,
    pending: Vec<String>,
    deleting: Vec<String>,
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
                &clients.ec2,
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

/// A NAT gateway, and the sandboxes' default route through it once it is available.
async fn ensure_nat(
    clients: &AccountClients,
    owner: &Owner,
    network: &AccountNetwork,
    token: &str,
    done: &mut Converged,
) -> Result<(), AwsError> {
    let mut nats = nat_gateways(clients, owner).await?;
    if nats.available.is_empty() && nats.pending.is_empty() {
        if !nats.deleting.is_empty() {
            // The address is the old NAT's until it is deleted.
            done.waiting.push("nat deleting".to_owned());
            return Ok(());
        }
        let (id, state) = create_nat(clients, owner, network, token).await?;
        done.changes.push("create nat".to_owned());
        match state {
            NatGatewayState::Available => nats.available.push(id),
            _ => nats.pending.push(id),
        }
    }
    match nats.available.first() {
        Some(nat) => {
            if crate::network::route_out(&clients.ec2, &network.sandbox_routes, nat).await? {
                done.changes.push("route sandboxes through nat".to_owned());
            }
        }
        None => done.waiting.push("nat pending".to_owned()),
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
        instances::terminate(&clients.ec2, &ids).await?;
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
    Ok(instances::find(&clients.ec2, owner)
        .await?
        .into_iter()
        .filter(|vm| vm.role.starts_with("proxy-"))
        .collect())
}

/// A NAT gateway's state (`NatGatewayState`), as the decisions about it need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NatGatewayState {
    Pending,
    Available,
    Deleting,
    Deleted,
    Failed,
    /// A state this version of sbx does not know.
    Other(String),
}

impl NatGatewayState {
    pub fn as_str(&self) -> &str {
        match self {
            NatGatewayState::Pending => "pending",
            NatGatewayState::Available => "available",
            NatGatewayState::Deleting => "deleting",
            NatGatewayState::Deleted => "deleted",
            NatGatewayState::Failed => "failed",
            NatGatewayState::Other(name) => name,
        }
    }

    pub fn parse(name: &str) -> Self {
        match name {
            "pending" => NatGatewayState::Pending,
            "available" => NatGatewayState::Available,
            "deleting" => NatGatewayState::Deleting,
            "deleted" => NatGatewayState::Deleted,
            "failed" => NatGatewayState::Failed,
            other => NatGatewayState::Other(other.to_owned()),
        }
    }

    /// The state of a NAT gateway EC2 described or made (none reported: `pending`, as a new
    /// one is).
    pub fn of(nat: &aws_sdk_ec2::types::NatGateway) -> Self {
        nat.state()
            .map_or(NatGatewayState::Pending, |s| NatGatewayState::parse(s.as_str()))
    }
}

async fn nat_gateways(clients: &AccountClients, owner: &Owner) -> Result<Nats, AwsError> {
    let mut filters = owner.filters("nat");
    filters.push(
        aws_sdk_ec2::types::Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .values("deleting")
            .build(),
    );
    let output = clients
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(filters))
        .send()
        .await
        .map_err(sdk("DescribeNatGateways"))?;
    let mut nats = Nats::default();
    for nat in output.nat_gateways() {
        let Some(id) = nat.nat_gateway_id().map(str::to_owned) else {
            continue;
        };
        match NatGatewayState::of(nat) {
            NatGatewayState::Available => nats.available.push(id),
            NatGatewayState::Pending => nats.pending.push(id),
            NatGatewayState::Deleting => nats.deleting.push(id),
            _ => {}
        }
    }
    Ok(nats)
}

async fn addresses(clients: &AccountClients, owner: &Owner) -> Result<Vec<String>, AwsError> {
    let output = clients
        .ec2
        .describe_addresses()
        .set_filters(Some(owner.filters("nat")))
        .send()
        .await
        .map_err(sdk("DescribeAddresses"))?;
    Ok(output
        .addresses()
        .iter()
        .filter_map(|a| a.allocation_id().map(str::to_owned))
        .collect())
}

/// Creates the NAT gateway, with the Elastic IP an earlier try allocated if there is one;
/// returns its id and state.
async fn create_nat(
    clients: &AccountClients,
    owner: &Owner,
    network: &AccountNetwork,
    token: &str,
) -> Result<(String, NatGatewayState), AwsError> {
    let allocation = match addresses(clients, owner).await?.into_iter().next() {
        Some(id) => id,
        None => clients
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(owner.ec2_spec(ResourceType::ElasticIp, "nat"))
            .send()
            .await
            .map_err(sdk("AllocateAddress"))?
            .allocation_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Missing("AllocateAddress returned no allocation id".into()))?,
    };
    let created = clients
        .ec2
        .create_nat_gateway()
        .subnet_id(&network.public_subnets[0])
        .allocation_id(allocation)
        .client_token(crate::tags::client_token(token, "nat"))
        .tag_specifications(owner.ec2_spec(ResourceType::Natgateway, "nat"))
        .send()
        .await
        .map_err(sdk("CreateNatGateway"))?;
    let nat = created
        .nat_gateway()
        .ok_or_else(|| AwsError::Missing("CreateNatGateway returned no NAT gateway".into()))?;
    let id = nat
        .nat_gateway_id()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateNatGateway returned no id".into()))?;
    Ok((id, NatGatewayState::of(nat)))
}

/// Takes the sandboxes' route away, deletes the NAT gateways, and releases their Elastic IP
/// once none is left deleting (AWS refuses to release an address a NAT still holds).
async fn delete_nat(clients: &AccountClients, owner: &Owner, done: &mut Converged) -> Result<(), AwsError> {
    if let Some(table) = crate::network::sandbox_route_table(&clients.ec2, owner).await?
        && crate::network::remove_route_out(&clients.ec2, &table).await?
    {
        done.changes.push("remove sandbox route".to_owned());
    }
    let nats = nat_gateways(clients, owner).await?;
    let live: Vec<&String> = nats.available.iter().chain(&nats.pending).collect();
    for id in &live {
        let result = clients
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(id.as_str())
            .send()
            .await
            .map_err(sdk("DeleteNatGateway"));
        gone(result, &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"])?;
    }
    if !live.is_empty() {
        done.changes.push("delete nat".to_owned());
    }
    if !live.is_empty() || !nats.deleting.is_empty() {
        // Deleting takes a while; the address is released by a later call.
        if nats_still_deleting(clients, owner).await? {
            done.waiting.push("nat deleting".to_owned());
            return Ok(());
        }
    }
    let mut released = false;
    for id in addresses(clients, owner).await? {
        let result = clients
            .ec2
            .release_address()
            .allocation_id(&id)
            .send()
            .await
            .map_err(sdk("ReleaseAddress"));
        gone(result, &["InvalidAllocationID.NotFound"])?;
        released = true;
    }
    if released {
        done.changes.push("release nat address".to_owned());
    }
    Ok(())
}

/// Whether a NAT gateway of the owner is still being deleted (or was not deleted at all).
async fn nats_still_deleting(clients: &AccountClients, owner: &Owner) -> Result<bool, AwsError> {
    let nats = nat_gateways(clients, owner).await?;
    Ok(!(nats.available.is_empty() && nats.pending.is_empty() && nats.deleting.is_empty()))
}

pub async fn find_load_balancer(clients: &AccountClients, name: &str) -> Result<Option<String>, AwsError> {
    let result = clients
        .elb
        .describe_load_balancers()
        .names(name)
        .send()
        .await
        .map_err(sdk("DescribeLoadBalancers"));
    Ok(gone(result, &["LoadBalancerNotFound"])?.and_then(|output| {
        output
            .load_balancers()
            .first()
            .and_then(|lb| lb.load_balancer_arn())
            .map(str::to_owned)
    }))
}

async fn ensure_load_balancer(
    clients: &AccountClients,
    owner: &Owner,
    name: &str,
    kind: LoadBalancerTypeEnum,
    network: &AccountNetwork,
) -> Result<String, AwsError> {
    if let Some(arn) = find_load_balancer(clients, name).await? {
        return Ok(arn);
    }
    let group = match kind {
        LoadBalancerTypeEnum::Network => &network.nlb_group,
        _ => &network.alb_group,
    };
    let role = if name == NLB_NAME { "nlb" } else { "alb" };
    let output = clients
        .elb
        .create_load_balancer()
        .name(name)
        .r#type(kind)
        .scheme(LoadBalancerSchemeEnum::InternetFacing)
        .set_subnets(Some(network.public_subnets.clone()))
        .security_groups(group)
        .set_tags(Some(owner.elb_tags(role)))
        .send()
        .await
        .map_err(sdk("CreateLoadBalancer"));
    let output = match output {
        Ok(output) => output,
        // An earlier try made it and its answer was lost: the name is the account's own.
        Err(err) if err.has_code(&["DuplicateLoadBalancerName"]) => {
            return find_load_balancer(clients, name).await?.ok_or(err);
        }
        Err(err) => return Err(err),
    };
    let arn = output
        .load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateLoadBalancer returned no ARN".into()))?;
    tracing::info!(name, "load balancer created");
    Ok(arn)
}

/// Makes the ALB's HTTP listener unless it has one; returns whether it made it.
async fn ensure_http_listener(clients: &AccountClients, alb_arn: &str) -> Result<bool, AwsError> {
    if http_listener(clients, alb_arn).await?.is_some() {
        return Ok(false);
    }
    let not_found = FixedResponseActionConfig::builder()
        .status_code("404")
        .content_type("text/plain")
        .message_body("no sandbox here")
        .build();
    let action = Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(not_found)
        .build();
    let output = clients
        .elb
        .create_listener()
        .load_balancer_arn(alb_arn)
        .protocol(ProtocolEnum::Http)
        .port(HTTP_LISTENER_PORT)
        .default_actions(action)
        .send()
        .await
        .map_err(sdk("CreateListener"));
    match output {
        Ok(_) => Ok(true),
        // An earlier try made it and its answer was lost.
        Err(err) if err.has_code(&["DuplicateListener"]) => {
            http_listener(clients, alb_arn).await?.ok_or(err)?;
            Ok(true)
        }
        Err(err) => Err(err),
    }
}

/// The ALB's HTTP listener, if the ALB has one.
pub async fn http_listener(clients: &AccountClients, alb_arn: &str) -> Result<Option<String>, AwsError> {
    let output = clients
        .elb
        .describe_listeners()
        .load_balancer_arn(alb_arn)
        .send()
        .await
        .map_err(sdk("DescribeListeners"))?;
    Ok(output
        .listeners()
        .iter()
        .find(|l| l.port() == Some(HTTP_LISTENER_PORT))
        .and_then(|l| l.listener_arn())
        .map(str::to_owned))
}

async fn delete_load_balancer(clients: &AccountClients, name: &str) -> Result<(), AwsError> {
    let Some(arn) = find_load_balancer(clients, name).await? else {
        return Ok(());
    };
    let result = clients
        .elb
        .delete_load_balancer()
        .load_balancer_arn(&arn)
        .send()
        .await
        .map_err(sdk("DeleteLoadBalancer"));
    gone(result, &["LoadBalancerNotFound"])?;
    tracing::info!(name, "load balancer deleted");
    Ok(())
}
