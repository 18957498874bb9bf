//! What is in a tenant account, found without trusting sbx's own records: the sandboxes that
//! have resources there (by their tags), and everything an account returned to the pool must
//! not hold ([`leftovers`]).
//!
//! The account network (its VPC, internet gateway, public subnets and route table, and the
//! shared security groups) is free to keep and stays with the account; so does what AWS makes
//! in every account (the default VPC, its subnets, and each VPC's `default` group). Everything
//! else counts.

use crate::account::AccountClients;
use crate::error::{AwsError, sdk};
use crate::infra::NatGatewayState;
use crate::instances::InstanceState;
use crate::streaming::Streaming;
use crate::tags;
use aws_sdk_ec2::types::Filter;
use std::collections::BTreeSet;

/// What kind of resource a [`Leftover`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeftoverKind {
    /// Anything else that carries an `sbx:` tag (a volume, a snapshot, an interface, ...),
    /// named by its ARN.
    Tagged,
    Instance,
    NatGateway,
    ElasticIp,
    LoadBalancer,
    TargetGroup,
    Subnet,
    SecurityGroup,
    StreamingFleet,
}

impl LeftoverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::Tagged => "tagged",
            LeftoverKind::Instance => "instance",
            LeftoverKind::NatGateway => "nat-gateway",
            LeftoverKind::ElasticIp => "elastic-ip",
            LeftoverKind::LoadBalancer => "load-balancer",
            LeftoverKind::TargetGroup => "target-group",
            LeftoverKind::Subnet => "subnet",
            LeftoverKind::SecurityGroup => "security-group",
            LeftoverKind::StreamingFleet => "streaming fleet",
        }
    }
}

/// The state AWS reports for a leftover, where it reports one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeftoverState {
    Instance(InstanceState),
    /// A NAT gateway's state (`pending`, `available`, `deleting`, ...).
    NatGateway(NatGatewayState),
}

impl LeftoverState {
    /// AWS is still taking it away: the next inventory may find it gone.
    pub fn is_settling(&self) -> bool {
        match self {
            LeftoverState::Instance(state) => state.is_settling(),
            LeftoverState::NatGateway(state) => *state == NatGatewayState::Deleting,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            LeftoverState::Instance(state) => state.as_str(),
            LeftoverState::NatGateway(state) => state.as_str(),
        }
    }
}

/// One thing an account holds that an empty account must not hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leftover {
    pub kind: LeftoverKind,
    /// Its id (an ARN for [`LeftoverKind::Tagged`]; empty for the streaming fleet).
    pub id: String,
    pub state: Option<LeftoverState>,
}

impl Leftover {
    fn new(kind: LeftoverKind, id: &str, state: Option<LeftoverState>) -> Self {
        Self {
            kind,
            id: id.to_owned(),
            state,
        }
    }

    /// AWS is still taking it away ([`LeftoverState::is_settling`]).
    pub fn is_settling(&self) -> bool {
        self.state.as_ref().is_some_and(LeftoverState::is_settling)
    }
}

/// `instance i-0abc (running)`, `tagged arn:...`, `streaming fleet`: how a quarantine reason
/// names it.
impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind.as_str())?;
        if !self.id.is_empty() {
            write!(f, " {}", self.id)?;
        }
        if let Some(state) = &self.state {
            write!(f, " ({})", state.as_str())?;
        }
        Ok(())
    }
}

/// A sandbox that has resources in an account, as its tags name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaggedSandbox {
    pub tenant: String,
    pub sandbox: String,
}

/// The EC2 resource types of the account network, in a tagging ARN (`...:vpc/vpc-1`), that no
/// describe below covers (its public subnets and shared groups are judged there).
const ACCOUNT_NETWORK: [&str; 3] = ["vpc", "internet-gateway", "route-table"];
/// The resource types the describes below check, with their states: the Tagging API keeps
/// listing a terminated instance or a deleted NAT gateway for a while, so for these the
/// describe is the authority.
const DESCRIBED: [&str; 7] = [
    ":instance/",
    ":natgateway/",
    ":elastic-ip/",
    ":subnet/",
    ":security-group/",
    ":loadbalancer/",
    ":targetgroup/",
];

fn tag_key(key: &str) -> Filter {
    Filter::builder().name("tag-key").values(key).build()
}

fn tag<'a>(tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>, key: &str) -> Option<String> {
    tags.into_iter()
        .find(|(k, _)| *k == Some(key))
        .and_then(|(_, v)| v.map(str::to_owned))
}

fn tagged(tags: &[(Option<&str>, Option<&str>)]) -> Option<TaggedSandbox> {
    Some(TaggedSandbox {
        sandbox: tag(tags.iter().copied(), tags::SANDBOX)?,
        tenant: tag(tags.iter().copied(), tags::TENANT).unwrap_or_default(),
    })
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(Option<&str>, Option<&str>)> {
    tags.iter().map(|t| (t.key(), t.value())).collect()
}

/// Every sandbox that has an instance (not terminated), a subnet, a security group or a
/// target group in the account.
pub async fn tagged_sandboxes(clients: &AccountClients) -> Result<BTreeSet<TaggedSandbox>, AwsError> {
    let mut found = BTreeSet::new();
    let ec2 = clients.ec2();
    let mut pages = ec2
        .describe_instances()
        .filters(tag_key(tags::SANDBOX))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeInstances"))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            if InstanceState::of(instance) != InstanceState::Terminated {
                found.extend(tagged(&ec2_tags(instance.tags())));
            }
        }
    }
    let mut pages = ec2
        .describe_subnets()
        .filters(tag_key(tags::SANDBOX))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeSubnets"))?;
        for subnet in page.subnets() {
            found.extend(tagged(&ec2_tags(subnet.tags())));
        }
    }
    let mut pages = ec2
        .describe_security_groups()
        .filters(tag_key(tags::SANDBOX))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeSecurityGroups"))?;
        for group in page.security_groups() {
            found.extend(tagged(&ec2_tags(group.tags())));
        }
    }
    for (_, tags) in target_groups(clients).await? {
        let pairs: Vec<(Option<&str>, Option<&str>)> = tags
            .iter()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        found.extend(tagged(&pairs));
    }
    Ok(found)
}

/// Every target group of the account, with its tags.
async fn target_groups(clients: &AccountClients) -> Result<Vec<(String, Vec<(String, String)>)>, AwsError> {
    let mut arns = Vec::new();
    let mut pages = clients.elb().describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeTargetGroups"))?;
        arns.extend(
            page.target_groups()
                .iter()
                .filter_map(|g| g.target_group_arn())
                .map(str::to_owned),
        );
    }
    let mut groups = Vec::new();
    // DescribeTags takes at most 20 ARNs.
    for chunk in arns.chunks(20) {
        let described = clients
            .elb()
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(sdk("DescribeTags"))?;
        for description in described.tag_descriptions() {
            let tags = description
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect();
            groups.push((description.resource_arn().unwrap_or_default().to_owned(), tags));
        }
    }
    Ok(groups)
}

/// What the account holds that an empty account must not (shown as `instance i-0abc (running)`
/// or `tagged arn:aws:ec2:...:volume/vol-1`). Empty means the account may go back to the pool.
pub async fn leftovers(clients: &AccountClients, streaming: &Streaming) -> Result<Vec<Leftover>, AwsError> {
    let mut left = BTreeSet::new();
    let ec2 = clients.ec2();

    // 1. Whatever carries an sbx tag, through the Resource Groups Tagging API (volumes,
    //    snapshots, images, interfaces, ...), but for the types described in 2.
    let tagging = sbx_transient::client!(aws_sdk_resourcegroupstagging, &clients.config);
    let mut pages = tagging.get_resources().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("GetResources"))?;
        for resource in page.resource_tag_mapping_list() {
            let keys: Vec<&str> = resource.tags().iter().map(|t| t.key()).collect();
            if !keys.iter().any(|k| k.starts_with("sbx:")) {
                continue;
            }
            let arn = resource.resource_arn().unwrap_or_default();
            if DESCRIBED.iter().any(|kind| arn.contains(kind)) {
                continue;
            }
            let network = !keys.contains(&tags::SANDBOX)
                && ACCOUNT_NETWORK
                    .iter()
                    .any(|kind| arn.contains(&format!(":{kind}/")));
            if !network {
                left.insert(Leftover::new(LeftoverKind::Tagged, arn, None));
            }
        }
    }

    // 2. What costs money or blocks reuse, whoever made it.
    let mut pages = ec2.describe_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeInstances"))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let state = InstanceState::of(instance);
            if state != InstanceState::Terminated {
                left.insert(Leftover::new(
                    LeftoverKind::Instance,
                    instance.instance_id().unwrap_or_default(),
                    Some(LeftoverState::Instance(state)),
                ));
            }
        }
    }
    let mut pages = ec2.describe_nat_gateways().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeNatGateways"))?;
        for nat in page.nat_gateways() {
            let state = NatGatewayState::of(nat);
            if !matches!(state, NatGatewayState::Deleted | NatGatewayState::Failed) {
                left.insert(Leftover::new(
                    LeftoverKind::NatGateway,
                    nat.nat_gateway_id().unwrap_or_default(),
                    Some(LeftoverState::NatGateway(state)),
                ));
            }
        }
    }
    let addresses = ec2
        .describe_addresses()
        .send()
        .await
        .map_err(sdk("DescribeAddresses"))?;
    for address in addresses.addresses() {
        left.insert(Leftover::new(
            LeftoverKind::ElasticIp,
            address
                .allocation_id()
                .or(address.public_ip())
                .unwrap_or_default(),
            None,
        ));
    }
    let mut pages = clients.elb().describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeLoadBalancers"))?;
        for lb in page.load_balancers() {
            left.insert(Leftover::new(
                LeftoverKind::LoadBalancer,
                lb.load_balancer_name().unwrap_or_default(),
                None,
            ));
        }
    }
    for (arn, _) in target_groups(clients).await? {
        left.insert(Leftover::new(LeftoverKind::TargetGroup, &arn, None));
    }
    let network_vpcs = account_network_vpcs(ec2).await?;
    let mut pages = ec2.describe_subnets().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeSubnets"))?;
        for subnet in page.subnets() {
            let role = tag(ec2_tags(subnet.tags()), tags::ROLE).unwrap_or_default();
            let in_network =
                subnet.vpc_id().is_some_and(|v| network_vpcs.contains(v)) && role.starts_with("public-");
            if !in_network && subnet.default_for_az() != Some(true) {
                left.insert(Leftover::new(
                    LeftoverKind::Subnet,
                    subnet.subnet_id().unwrap_or_default(),
                    None,
                ));
            }
        }
    }
    let mut pages = ec2.describe_security_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk("DescribeSecurityGroups"))?;
        for group in page.security_groups() {
            let shared = group
                .group_name()
                .is_some_and(|n| crate::network::ACCOUNT_GROUPS.contains(&n))
                && group.vpc_id().is_some_and(|v| network_vpcs.contains(v));
            if group.group_name() != Some("default") && !shared {
                left.insert(Leftover::new(
                    LeftoverKind::SecurityGroup,
                    group.group_id().unwrap_or_default(),
                    None,
                ));
            }
        }
    }
    if streaming.exists(clients).await? {
        left.insert(Leftover::new(LeftoverKind::StreamingFleet, "", None));
    }
    Ok(left.into_iter().collect())
}

/// The VPCs sbx made as an account network (tagged with the account).
async fn account_network_vpcs(ec2: &aws_sdk_ec2::Client) -> Result<BTreeSet<String>, AwsError> {
    let found = ec2
        .describe_vpcs()
        .filters(tag_key(tags::ACCOUNT))
        .send()
        .await
        .map_err(sdk("DescribeVpcs"))?;
    Ok(found
        .vpcs()
        .iter()
        .filter_map(|v| v.vpc_id())
        .map(str::to_owned)
        .collect())
}
