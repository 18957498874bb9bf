//! The account's shared infrastructure (SPEC: Per-account shared infrastructure): a NAT gateway
//! with its Elastic IP, an ALB with its HTTP listener, two reverse proxies, and, while some active
//! sandbox needs them, an NLB and the streaming fleet. [`converge`] makes the account match
//! what is wanted: it creates what is missing and deletes what is not wanted, both idempotently.

use crate::account::AccountClients;
use crate::error::{AwsError, gone, sdk};
use crate::instances::{self, Launch};
use crate::network::AccountNetwork;
use crate::streaming::Streaming;
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

/// How proxies are launched.
#[derive(Debug, Clone)]
pub struct ProxySpec {
    pub image_id: String,
    pub instance_type: String,
}

/// Makes the account's infrastructure what `want` says; returns what it changed. Creating
/// needs the account's network; deleting does not, so a release passes `None` where the
/// account has none, and then nothing is created.
pub async fn converge(
    clients: &AccountClients,
    owner: &Owner,
    network: Option<&AccountNetwork>,
    want: Want,
    proxy: &ProxySpec,
    streaming: &Streaming,
    client_token: &str,
) -> Result<Vec<String>, AwsError> {
    let before = present(clients, owner, streaming).await?;
    let want = Want {
        base: want.base,
        nlb: want.base && want.nlb,
        fleet: want.base && want.fleet,
    };
    let missing =
        (want.base && (!before.nat || !before.alb || before.proxies < PROXIES)) || (want.nlb && !before.nlb);
    let mut changes = Vec::new();
    let plan = Plan {
        clients,
        owner,
        before,
        want,
    };
    if missing {
        let network = network.ok_or_else(|| {
            AwsError::Missing("the account has no network to put its infrastructure in".into())
        })?;
        create_missing(&plan, network, proxy, client_token, &mut changes).await?;
    }
    if want.fleet && !before.fleet {
        streaming.ensure(clients).await?;
        changes.push("create fleet".to_owned());
    }
    delete_unwanted(&plan, streaming, &mut changes).await?;
    Ok(changes)
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
    changes: &mut Vec<String>,
) -> Result<(), AwsError> {
    let Plan {
        clients,
        owner,
        before,
        want,
    } = *plan;
    if want.base && !before.nat {
        ensure_nat(clients, owner, network, client_token).await?;
        changes.push("create nat".to_owned());
    }
    if want.base && !before.alb {
        let arn = ensure_load_balancer(
            clients,
            owner,
            ALB_NAME,
            LoadBalancerTypeEnum::Application,
            network,
        )
        .await?;
        ensure_http_listener(clients, &arn).await?;
        changes.push("create alb".to_owned());
    }
    if want.base && before.proxies < PROXIES {
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
                    client_token: &crate::tags::client_token(client_token, &role),
                },
            )
            .await?;
        }
        changes.push("create proxies".to_owned());
    }
    if want.nlb && !before.nlb {
        ensure_load_balancer(clients, owner, NLB_NAME, LoadBalancerTypeEnum::Network, network).await?;
        changes.push("create nlb".to_owned());
    }
    Ok(())
}

async fn delete_unwanted(
    plan: &Plan<'_>,
    streaming: &Streaming,
    changes: &mut Vec<String>,
) -> Result<(), AwsError> {
    let Plan {
        clients,
        owner,
        before,
        want,
    } = *plan;
    if !want.nlb && before.nlb {
        delete_load_balancer(clients, NLB_NAME).await?;
        changes.push("delete nlb".to_owned());
    }
    if !want.fleet && before.fleet {
        streaming.release(clients).await?;
        changes.push("delete fleet".to_owned());
    }
    if want.base {
        return Ok(());
    }
    if before.alb {
        delete_load_balancer(clients, ALB_NAME).await?;
        changes.push("delete alb".to_owned());
    }
    if before.proxies > 0 {
        let ids: Vec<String> = proxies(clients, owner)
            .await?
            .into_iter()
            .map(|vm| vm.id)
            .collect();
        instances::terminate(&clients.ec2, &ids).await?;
        changes.push("delete proxies".to_owned());
    }
    if before.nat {
        delete_nat(clients, owner).await?;
        changes.push("delete nat".to_owned());
    }
    Ok(())
}

/// What of the infrastructure exists now.
pub async fn present(
    clients: &AccountClients,
    owner: &Owner,
    streaming: &Streaming,
) -> Result<Present, AwsError> {
    Ok(Present {
        nat: !nat_gateways(clients, owner).await?.is_empty(),
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

async fn nat_gateways(clients: &AccountClients, owner: &Owner) -> Result<Vec<String>, AwsError> {
    let mut filters = owner.filters("nat");
    filters.push(
        aws_sdk_ec2::types::Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .build(),
    );
    let output = clients
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(filters))
        .send()
        .await
        .map_err(sdk("DescribeNatGateways"))?;
    Ok(output
        .nat_gateways()
        .iter()
        .filter(|nat| {
            nat.state()
                .is_none_or(|s| matches!(s.as_str(), "pending" | "available"))
        })
        .filter_map(|nat| nat.nat_gateway_id().map(str::to_owned))
        .collect())
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

async fn ensure_nat(
    clients: &AccountClients,
    owner: &Owner,
    network: &AccountNetwork,
    token: &str,
) -> Result<(), AwsError> {
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
    clients
        .ec2
        .create_nat_gateway()
        .subnet_id(&network.public_subnets[0])
        .allocation_id(allocation)
        .client_token(crate::tags::client_token(token, "nat"))
        .tag_specifications(owner.ec2_spec(ResourceType::Natgateway, "nat"))
        .send()
        .await
        .map_err(sdk("CreateNatGateway"))?;
    Ok(())
}

async fn delete_nat(clients: &AccountClients, owner: &Owner) -> Result<(), AwsError> {
    for id in nat_gateways(clients, owner).await? {
        let result = clients
            .ec2
            .delete_nat_gateway()
            .nat_gateway_id(&id)
            .send()
            .await
            .map_err(sdk("DeleteNatGateway"));
        gone(result, &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"])?;
    }
    for id in addresses(clients, owner).await? {
        let result = clients
            .ec2
            .release_address()
            .allocation_id(&id)
            .send()
            .await
            .map_err(sdk("ReleaseAddress"));
        gone(result, &["InvalidAllocationID.NotFound"])?;
    }
    Ok(())
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
        .map_err(sdk("CreateLoadBalancer"))?;
    let arn = output
        .load_balancers()
        .first()
        .and_then(|lb| lb.load_balancer_arn())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateLoadBalancer returned no ARN".into()))?;
    tracing::info!(name, "load balancer created");
    Ok(arn)
}

async fn ensure_http_listener(clients: &AccountClients, alb_arn: &str) -> Result<String, AwsError> {
    if let Some(arn) = http_listener(clients, alb_arn).await? {
        return Ok(arn);
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
        .map_err(sdk("CreateListener"))?;
    output
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateListener returned no ARN".into()))
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
