//! A sandbox's own network: a subnet of the account's VPC in the sandboxes' route table, and a
//! security group that admits only the sandbox itself, the proxies, the ALB and the NLB.

use super::account::associate;
use super::groups::{authorize, create_group, find_group_rules, from_group};
use super::{AMQ_PORT, AccountNetwork, HTTP_PORT, SANDBOX_SUBNETS, SandboxNetwork};
use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::tags::{self, Owner};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;

/// Creates the sandbox's subnet (in the sandbox route table) and security group, or finds and
/// completes those an earlier try created.
pub async fn create_sandbox_network(
    ec2: &Client,
    owner: &Owner,
    account: &AccountNetwork,
    (tenant, sandbox): (&str, &str),
) -> Result<SandboxNetwork, AwsError> {
    let subnet_id = match find_sandbox_subnet(ec2, owner).await? {
        Some(id) => id,
        None => {
            let zones = public_zones(ec2, &account.public_subnets).await?;
            let pick = tags::slot(tenant, sandbox, u32::try_from(zones.len()).unwrap_or(1));
            let zone = zones
                .get(pick as usize)
                .ok_or_else(|| AwsError::Missing("the account's public subnets have no zone".into()))?;
            create_sandbox_subnet(ec2, owner, &account.vpc_id, zone, (tenant, sandbox)).await?
        }
    };
    associate(ec2, &account.sandbox_routes, &subnet_id).await?;
    let name = tags::short_name("sbx", tenant, sandbox);
    let (security_group_id, has_rules) = match find_group_rules(ec2, &account.vpc_id, &name).await? {
        Some(found) => found,
        None => {
            let description = format!("sbx sandbox {tenant}/{sandbox}");
            let id = create_group(ec2, owner, &account.vpc_id, &name, &description, "sandbox").await?;
            (id, false)
        }
    };
    if !has_rules {
        let rules = vec![
            from_group(&security_group_id, None),
            from_group(&account.proxy_group, Some(HTTP_PORT)),
            from_group(&account.alb_group, Some(HTTP_PORT)),
            from_group(&account.nlb_group, Some(AMQ_PORT)),
        ];
        authorize(ec2, &security_group_id, rules).await?;
    }
    Ok(SandboxNetwork {
        subnet_id,
        security_group_id,
    })
}

pub(super) async fn find_sandbox_subnet(ec2: &Client, owner: &Owner) -> Result<Option<String>, AwsError> {
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
pub(super) async fn create_sandbox_subnet(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    zone: &str,
    (tenant, sandbox): (&str, &str),
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
            .availability_zone(zone)
            .tag_specifications(owner.ec2_spec(ResourceType::Subnet, "sandbox"))
            .send()
            .await
            .map_err(sdk_not_yet("CreateSubnet", &["InvalidVpcID.NotFound"]));
        match result {
            Ok(created) => {
                return created
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError::Missing("CreateSubnet returned no id".into()));
            }
            // The block is another sandbox's, or this one's from a try whose answer was lost.
            Err(err) if err.has_code(&["InvalidSubnet.Conflict"]) => {
                if let Some(id) = find_sandbox_subnet(ec2, owner).await? {
                    return Ok(id);
                }
                // Probing on is safe only once the block's subnet is seen to be another's: one
                // made a moment ago may be this sandbox's, not yet visible to describes.
                if !block_is_visible(ec2, vpc_id, &format!("10.0.{octet}.0/24")).await? {
                    return Err(err.not_yet(&["InvalidSubnet.Conflict"]));
                }
            }
            Err(err) => return Err(err),
        }
    }
    Err(AwsError::Exhausted {
        what: "sandbox subnet",
        within: vpc_id.to_owned(),
    })
}

/// The zones of the account's public subnets, where its load balancers are enabled: a load
/// balancer sends nothing to targets in a zone it is not enabled in, so a sandbox subnet goes
/// in one of these.
async fn public_zones(ec2: &Client, public_subnets: &[String]) -> Result<Vec<String>, AwsError> {
    let found = ec2
        .describe_subnets()
        .set_subnet_ids(Some(public_subnets.to_vec()))
        .send()
        .await
        .map_err(sdk_not_yet("DescribeSubnets", &["InvalidSubnetID.NotFound"]))?;
    let mut zones: Vec<String> = found
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .map(str::to_owned)
        .collect();
    zones.sort();
    zones.dedup();
    if zones.is_empty() {
        return Err(AwsError::Missing(
            "the account's public subnets have no zone".into(),
        ));
    }
    Ok(zones)
}

/// Whether a describe shows the subnet of `cidr` in the VPC.
async fn block_is_visible(ec2: &Client, vpc_id: &str, cidr: &str) -> Result<bool, AwsError> {
    let found = ec2
        .describe_subnets()
        .filters(crate::tags::filter("vpc-id", vpc_id))
        .filters(crate::tags::filter("cidr-block", cidr))
        .send()
        .await
        .map_err(sdk("DescribeSubnets"))?;
    Ok(!found.subnets().is_empty())
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

/// A resource still in use (instances shutting down, their network interfaces released
/// minutes after they are terminated) will be free: not yet.
pub(super) fn in_use(err: AwsError) -> AwsError {
    err.not_yet(&["DependencyViolation"])
}
