//! A sandbox's own network: a subnet of the account's VPC in the sandboxes' route table, and a
//! security group that admits only the sandbox itself, the proxies, the ALB and the NLB.

use super::account::associate;
use super::groups::{authorize, create_group, find_group_rules, from_group};
use super::{AMQ_PORT, AccountNetwork, HTTP_PORT, SANDBOX_SUBNETS, SandboxNetwork};
use crate::error::{AwsError, gone, sdk};
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
        None => create_sandbox_subnet(ec2, owner, &account.vpc_id, tenant, sandbox).await?,
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
            // The block is another sandbox's, or this one's from a try whose answer was lost.
            Err(err) if err.has_code(&["InvalidSubnet.Conflict"]) => {
                if let Some(id) = find_sandbox_subnet(ec2, owner).await? {
                    return Ok(id);
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
pub(super) fn in_use(err: AwsError) -> AwsError {
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
