//! Security groups, as both networks make them: found by name in the VPC, created with the
//! owner's tags, and given all their rules in one call, so that a group has all of them or none.

use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::tags::{Owner, filter};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

pub(super) fn open_tcp(port: i32) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build()
}

/// Traffic from the members of `group`: all of it, or one TCP port.
pub(super) fn from_group(group: &str, port: Option<i32>) -> IpPermission {
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

pub(super) async fn find_group(ec2: &Client, vpc_id: &str, name: &str) -> Result<Option<String>, AwsError> {
    Ok(find_group_rules(ec2, vpc_id, name).await?.map(|(id, _)| id))
}

/// The group named `name` in the VPC, and whether it has any ingress rule.
pub(super) async fn find_group_rules(
    ec2: &Client,
    vpc_id: &str,
    name: &str,
) -> Result<Option<(String, bool)>, AwsError> {
    let found = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", name))
        .send()
        .await
        .map_err(sdk("DescribeSecurityGroups"))?;
    Ok(found.security_groups().first().and_then(|g| {
        g.group_id()
            .map(|id| (id.to_owned(), !g.ip_permissions().is_empty()))
    }))
}

/// Adds `rules` to a group. Its rules go in one call, so a group has all of them or none: a
/// group found without rules (a crash between creating and authorizing it) gets them now, and
/// a repeat whose first answer was lost finds them there.
pub(super) async fn authorize(ec2: &Client, group: &str, rules: Vec<IpPermission>) -> Result<(), AwsError> {
    if rules.is_empty() {
        return Ok(());
    }
    let result = ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .set_ip_permissions(Some(rules))
        .send()
        .await
        // The group, or a group its rules name, made a moment ago.
        .map_err(sdk_not_yet(
            "AuthorizeSecurityGroupIngress",
            &["InvalidGroup.NotFound", "InvalidGroupId.NotFound"],
        ));
    gone(result, &["InvalidPermission.Duplicate"])?;
    Ok(())
}

pub(super) async fn ensure_group(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    name: &str,
    role: &str,
    rules: &[IpPermission],
) -> Result<String, AwsError> {
    let (id, has_rules) = match find_group_rules(ec2, vpc_id, name).await? {
        Some(found) => found,
        None => (
            create_group(ec2, owner, vpc_id, name, &format!("sbx {role}"), role).await?,
            false,
        ),
    };
    if !has_rules {
        authorize(ec2, &id, rules.to_vec()).await?;
    }
    Ok(id)
}

pub(super) async fn create_group(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    name: &str,
    description: &str,
    role: &str,
) -> Result<String, AwsError> {
    let created = ec2
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(owner.ec2_spec(ResourceType::SecurityGroup, role))
        .send()
        .await
        .map_err(sdk_not_yet("CreateSecurityGroup", &["InvalidVpcID.NotFound"]));
    match created {
        Ok(created) => created
            .group_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Missing("CreateSecurityGroup returned no id".into())),
        // An earlier try made it and lost the answer.
        // Not visible yet to the describe: the next try finds it.
        Err(err) if err.has_code(&["InvalidGroup.Duplicate"]) => find_group(ec2, vpc_id, name)
            .await?
            .ok_or_else(|| err.not_yet(&["InvalidGroup.Duplicate"])),
        Err(err) => Err(err),
    }
}
