//! Networks: the account's VPC with its public subnets and shared security groups (free to keep,
//! so they stay with the account), and each sandbox's own subnet and security group.
//!
//! Isolation: a sandbox's security group admits traffic only from itself (its two VMs), from
//! the account's proxies and from the NLB. Nothing admits another sandbox's group, so no
//! sandbox can reach another.

use crate::error::{AwsError, gone, sdk};
use crate::tags::{self, Owner, filter};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

pub const VPC_CIDR: &str = "10.0.0.0/16";
/// Public subnets of the account (NAT, load balancers, proxies), one per zone.
const PUBLIC_CIDRS: [&str; 2] = ["10.0.0.0/24", "10.0.1.0/24"];
/// Sandbox subnets are the /24s 10.0.16.0 to 10.0.255.0.
const SANDBOX_SUBNETS: std::ops::RangeInclusive<u32> = 16..=255;

/// The account's shared security groups, by name.
pub const ACCOUNT_GROUPS: [&str; 3] = ["sbx-alb", "sbx-proxy", "sbx-nlb"];

/// Ports the sandbox VMs serve.
pub const HTTP_PORT: i32 = 8080;
pub const AMQ_PORT: i32 = 61616;

/// The account's network, shared by its sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNetwork {
    pub vpc_id: String,
    pub public_subnets: Vec<String>,
    /// The ALB's group, admitting HTTP from anywhere.
    pub alb_group: String,
    /// The proxies' group, admitting traffic from the ALB.
    pub proxy_group: String,
    /// The NLB's group, admitting AMQ from anywhere.
    pub nlb_group: String,
}

/// A sandbox's own network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxNetwork {
    pub subnet_id: String,
    pub security_group_id: String,
}

/// Creates what is missing of the account's network and returns it.
pub async fn ensure_account_network(ec2: &Client, owner: &Owner) -> Result<AccountNetwork, AwsError> {
    let vpc_id = match find_vpc(ec2, owner).await? {
        Some(id) => id,
        None => {
            let created = ec2
                .create_vpc()
                .cidr_block(VPC_CIDR)
                .tag_specifications(owner.ec2_spec(ResourceType::Vpc, "vpc"))
                .send()
                .await
                .map_err(sdk("CreateVpc"))?;
            created
                .vpc()
                .and_then(|vpc| vpc.vpc_id())
                .map(str::to_owned)
                .ok_or_else(|| AwsError::Missing("CreateVpc returned no VPC id".into()))?
        }
    };

    let gateways = ec2
        .describe_internet_gateways()
        .filters(filter("attachment.vpc-id", &vpc_id))
        .send()
        .await
        .map_err(sdk("DescribeInternetGateways"))?;
    let gateway = match gateways
        .internet_gateways()
        .first()
        .and_then(|g| g.internet_gateway_id())
    {
        Some(id) => id.to_owned(),
        None => {
            let created = ec2
                .create_internet_gateway()
                .tag_specifications(owner.ec2_spec(ResourceType::InternetGateway, "igw"))
                .send()
                .await
                .map_err(sdk("CreateInternetGateway"))?;
            let id = created
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .map(str::to_owned)
                .ok_or_else(|| AwsError::Missing("CreateInternetGateway returned no id".into()))?;
            ec2.attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(&vpc_id)
                .send()
                .await
                .map_err(sdk("AttachInternetGateway"))?;
            id
        }
    };

    let mut public_subnets = Vec::new();
    let mut zones = None;
    for (i, cidr) in PUBLIC_CIDRS.iter().enumerate() {
        let role = format!("public-{i}");
        let found = ec2
            .describe_subnets()
            .set_filters(Some(owner.filters(&role)))
            .send()
            .await
            .map_err(sdk("DescribeSubnets"))?;
        let id = match found.subnets().first().and_then(|s| s.subnet_id()) {
            Some(id) => id.to_owned(),
            None => {
                if zones.is_none() {
                    zones = Some(availability_zones(ec2).await?);
                }
                let zone = zones
                    .as_ref()
                    .and_then(|z: &Vec<String>| z.get(i))
                    .cloned()
                    .ok_or_else(|| AwsError::Exhausted {
                        what: "available zone",
                        within: "the region (the account network needs two)".into(),
                    })?;
                let created = ec2
                    .create_subnet()
                    .vpc_id(&vpc_id)
                    .cidr_block(*cidr)
                    .availability_zone(zone)
                    .tag_specifications(owner.ec2_spec(ResourceType::Subnet, &role))
                    .send()
                    .await
                    .map_err(sdk("CreateSubnet"))?;
                created
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError::Missing("CreateSubnet returned no id".into()))?
            }
        };
        public_subnets.push(id);
    }
    ensure_public_routes(ec2, owner, &vpc_id, &gateway, &public_subnets).await?;

    let alb_group = ensure_group(ec2, owner, &vpc_id, "sbx-alb", "alb", &[open_tcp(80)]).await?;
    let proxy_group = ensure_group(
        ec2,
        owner,
        &vpc_id,
        "sbx-proxy",
        "proxy",
        &[from_group(&alb_group, None)],
    )
    .await?;
    let nlb_group = ensure_group(ec2, owner, &vpc_id, "sbx-nlb", "nlb", &[open_tcp(AMQ_PORT)]).await?;
    Ok(AccountNetwork {
        vpc_id,
        public_subnets,
        alb_group,
        proxy_group,
        nlb_group,
    })
}

/// The account's available zones, by name. Zone names map to different zones in each account,
/// and not every letter exists in every account, so they are asked for, never assumed.
pub async fn availability_zones(ec2: &Client) -> Result<Vec<String>, AwsError> {
    let found = ec2
        .describe_availability_zones()
        .filters(filter("state", "available"))
        .filters(filter("zone-type", "availability-zone"))
        .send()
        .await
        .map_err(sdk("DescribeAvailabilityZones"))?;
    let mut zones: Vec<String> = found
        .availability_zones()
        .iter()
        .filter_map(|zone| zone.zone_name())
        .map(str::to_owned)
        .collect();
    zones.sort();
    Ok(zones)
}

/// The account's network if it exists, without creating anything.
pub async fn account_network(ec2: &Client, owner: &Owner) -> Result<Option<AccountNetwork>, AwsError> {
    let Some(vpc_id) = find_vpc(ec2, owner).await? else {
        return Ok(None);
    };
    let mut public_subnets = Vec::new();
    for i in 0..PUBLIC_CIDRS.len() {
        let found = ec2
            .describe_subnets()
            .set_filters(Some(owner.filters(&format!("public-{i}"))))
            .send()
            .await
            .map_err(sdk("DescribeSubnets"))?;
        match found.subnets().first().and_then(|s| s.subnet_id()) {
            Some(id) => public_subnets.push(id.to_owned()),
            None => return Ok(None),
        }
    }
    let mut groups = Vec::new();
    for name in ACCOUNT_GROUPS {
        match find_group(ec2, &vpc_id, name).await? {
            Some(id) => groups.push(id),
            None => return Ok(None),
        }
    }
    let [alb_group, proxy_group, nlb_group] = <[String; 3]>::try_from(groups)
        .map_err(|_| AwsError::Missing("the account's security groups are incomplete".into()))?;
    Ok(Some(AccountNetwork {
        vpc_id,
        public_subnets,
        alb_group,
        proxy_group,
        nlb_group,
    }))
}

async fn find_vpc(ec2: &Client, owner: &Owner) -> Result<Option<String>, AwsError> {
    let found = ec2
        .describe_vpcs()
        .set_filters(Some(owner.filters("vpc")))
        .send()
        .await
        .map_err(sdk("DescribeVpcs"))?;
    Ok(found.vpcs().first().and_then(|v| v.vpc_id()).map(str::to_owned))
}

async fn ensure_public_routes(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    gateway: &str,
    subnets: &[String],
) -> Result<(), AwsError> {
    let found = ec2
        .describe_route_tables()
        .set_filters(Some(owner.filters("public-routes")))
        .send()
        .await
        .map_err(sdk("DescribeRouteTables"))?;
    if !found.route_tables().is_empty() {
        return Ok(());
    }
    let created = ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .tag_specifications(owner.ec2_spec(ResourceType::RouteTable, "public-routes"))
        .send()
        .await
        .map_err(sdk("CreateRouteTable"))?;
    let table = created
        .route_table()
        .and_then(|t| t.route_table_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateRouteTable returned no id".into()))?;
    ec2.create_route()
        .route_table_id(&table)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(gateway)
        .send()
        .await
        .map_err(sdk("CreateRoute"))?;
    for subnet in subnets {
        ec2.associate_route_table()
            .route_table_id(&table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(sdk("AssociateRouteTable"))?;
    }
    Ok(())
}

fn open_tcp(port: i32) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

/// Traffic from the members of `group`: all of it, or one TCP port.
fn from_group(group: &str, port: Option<i32>) -> IpPermission {
    let pair = UserIdGroupPair::builder().group_id(group).build();
    match port {
        Some(port) => IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .user_id_group_pairs(pair)
            .build(),
        None => IpPermission::builder()
            .ip_protocol("-1")
            .user_id_group_pairs(pair)
            .build(),
    }
}

async fn find_group(ec2: &Client, vpc_id: &str, name: &str) -> Result<Option<String>, AwsError> {
    let found = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", name))
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    Ok(found
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(str::to_owned))
}

async fn ensure_group(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    name: &str,
    role: &str,
    rules: &[IpPermission],
) -> Result<String, AwsError> {
    if let Some(id) = find_group(ec2, vpc_id, name).await? {
        return Ok(id);
    }
    let created = ec2
        .create_security_group()
        .group_name(name)
        .description(format!("sbx {role}"))
        .vpc_id(vpc_id)
        .tag_specifications(owner.ec2_spec(ResourceType::SecurityGroup, role))
        .send()
        .await
        .map_err(sdk("CreateSecurityGroup"))?;
    let id = created
        .group_id()
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateSecurityGroup returned no id".into()))?;
    if !rules.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(rules.to_vec()))
            .send()
            .await
            .map_err(sdk("AuthorizeSecurityGroupIngress"))?;
    }
    Ok(id)
}

/// Creates the sandbox's subnet and security group, or finds those an earlier try created.
pub async fn create_sandbox_network(
    ec2: &Client,
    owner: &Owner,
    account: &AccountNetwork,
    (tenant, sandbox): (&str, &str),
) -> Result<SandboxNetwork, AwsError> {
    let subnet_id = match find_sandbox_subnet(ec2, owner).await? {
        Some(id) => id,
        None => create_sandbox_subnet(ec2, owner, &account.vpc_id, tenant, sandbox).await?,
    };
    let name = tags::short_name("sbx", tenant, sandbox);
    let security_group_id = match find_group(ec2, &account.vpc_id, &name).await? {
        Some(id) => id,
        None => {
            let created = ec2
                .create_security_group()
                .group_name(&name)
                .description(format!("sbx sandbox {tenant}/{sandbox}"))
                .vpc_id(&account.vpc_id)
                .tag_specifications(owner.ec2_spec(ResourceType::SecurityGroup, "sandbox"))
                .send()
                .await
                .map_err(sdk("CreateSecurityGroup"))?;
            let id = created
                .group_id()
                .map(str::to_owned)
                .ok_or_else(|| AwsError::Missing("CreateSecurityGroup returned no id".into()))?;
            let rules = vec![
                from_group(&id, None),
                from_group(&account.proxy_group, Some(HTTP_PORT)),
                from_group(&account.alb_group, Some(HTTP_PORT)),
                from_group(&account.nlb_group, Some(AMQ_PORT)),
            ];
            ec2.authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(rules))
                .send()
                .await
                .map_err(sdk("AuthorizeSecurityGroupIngress"))?;
            id
        }
    };
    Ok(SandboxNetwork {
        subnet_id,
        security_group_id,
    })
}

async fn find_sandbox_subnet(ec2: &Client, owner: &Owner) -> Result<Option<String>, AwsError> {
    let found = ec2
        .describe_subnets()
        .set_filters(Some(owner.filters("sandbox")))
        .send()
        .await
        .map_err(sdk("DescribeSubnets"))?;
    Ok(found
        .subnets()
        .first()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned))
}

/// Takes a free /24 of the VPC, starting at a slot derived from the sandbox and probing on.
async fn create_sandbox_subnet(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    tenant: &str,
    sandbox: &str,
) -> Result<String, AwsError> {
    let first = *SANDBOX_SUBNETS.start();
    let count = SANDBOX_SUBNETS.end() - first + 1;
    let start = tags::slot(tenant, sandbox, count);
    for i in 0..count {
        let octet = first + (start + i) % count;
        let result = ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(format!("10.0.{octet}.0/24"))
            .tag_specifications(owner.ec2_spec(ResourceType::Subnet, "sandbox"))
            .send()
            .await
            .map_err(sdk("CreateSubnet"));
        match result {
            Ok(created) => {
                return created
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError::Missing("CreateSubnet returned no id".into()));
            }
            Err(err) if err.has_code(&["InvalidSubnet.Conflict"]) => continue,
            Err(err) => return Err(err),
        }
    }
    Err(AwsError::Exhausted {
        what: "sandbox subnet",
        within: vpc_id.to_owned(),
    })
}

/// Deletes the sandbox's security groups and subnets (every one tagged with it, whatever its
/// role, so that an orphan half-made by a crash goes too); what is gone already is skipped.
/// Fails with a transient error while instances still use them.
pub async fn delete_sandbox_network(ec2: &Client, owner: &Owner) -> Result<(), AwsError> {
    let groups = ec2
        .describe_security_groups()
        .set_filters(Some(owner.owned()))
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    for group in groups.security_groups() {
        let Some(id) = group.group_id() else { continue };
        let result = ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
            .map_err(sdk("DeleteSecurityGroup"));
        gone(result, &["InvalidGroup.NotFound"]).map_err(in_use)?;
    }
    let subnets = ec2
        .describe_subnets()
        .set_filters(Some(owner.owned()))
        .send()
        .await
        .map_err(sdk("DescribeSubnets"))?;
    for subnet in subnets.subnets() {
        let Some(id) = subnet.subnet_id() else { continue };
        let result = ec2
            .delete_subnet()
            .subnet_id(id)
            .send()
            .await
            .map_err(sdk("DeleteSubnet"));
        gone(result, &["InvalidSubnetID.NotFound"]).map_err(in_use)?;
    }
    Ok(())
}

/// A resource still in use (instances shutting down) is worth another try.
fn in_use(err: AwsError) -> AwsError {
    match err {
        AwsError::Api {
            operation,
            code,
            message,
            ..
        } if code == "DependencyViolation" => AwsError::Api {
            operation,
            code,
            message,
            transient: true,
        },
        other => other,
    }
}
