//! The account's network, shared by its sandboxes and free to keep: its VPC, internet gateway,
//! public subnets and route table, the sandboxes' route table (whose default route goes to the
//! NAT gateway while there is one), and the shared security groups.

use super::groups::{ensure_group, find_group, from_group, open_tcp};
use super::{ACCOUNT_GROUPS, AMQ_PORT, AccountNetwork, PUBLIC_CIDRS, VPC_CIDR};
use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::tags::{Owner, filter};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::ResourceType;

/// Whether a describe shows the account's VPC.
pub async fn has_vpc(ec2: &Client, owner: &Owner) -> Result<bool, AwsError> {
    Ok(!tagged_vpcs(ec2, owner).await?.is_empty())
}

/// Creates what is missing of the account's network and returns it.
///
/// The caller decides whether a VPC may be created when none is seen (EC2 takes no client token
/// for it, and a describe can miss one made a moment ago): see `ensure-infrastructure`.
pub async fn ensure_account_network(ec2: &Client, owner: &Owner) -> Result<AccountNetwork, AwsError> {
    let mut vpcs = tagged_vpcs(ec2, owner).await?;
    if vpcs.is_empty() {
        let made = create_vpc(ec2, owner).await?;
        // Read again: a lost answer's repeat may have made another, which readers could take.
        vpcs = tagged_vpcs(ec2, owner).await?;
        if !vpcs.contains(&made) {
            vpcs.push(made);
        }
    }
    let Some((vpc_id, extras)) = lowest(vpcs) else {
        return Err(AwsError::Missing("no VPC after CreateVpc".into()));
    };
    for extra in extras {
        let result = ec2
            .delete_vpc()
            .vpc_id(&extra)
            .send()
            .await
            .map_err(sdk("DeleteVpc"));
        remove_duplicate(result, "VPC", &extra, &["InvalidVpcID.NotFound"])?;
    }

    let gateway = ensure_internet_gateway(ec2, owner, &vpc_id).await?;

    let mut public_subnets = Vec::new();
    let mut zones = None;
    for (i, cidr) in PUBLIC_CIDRS.iter().enumerate() {
        let role = format!("public-{i}");
        let id = match find_public_subnet(ec2, owner, &vpc_id, &role).await? {
            Some(id) => id,
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
                    .map_err(sdk_not_yet("CreateSubnet", &["InvalidVpcID.NotFound"]));
                match created {
                    Ok(created) => created
                        .subnet()
                        .and_then(|s| s.subnet_id())
                        .map(str::to_owned)
                        .ok_or_else(|| AwsError::Missing("CreateSubnet returned no id".into()))?,
                    // Made by a try whose answer was lost: the block is this subnet's.
                    // (Not visible yet to the describe: the next try finds it.)
                    Err(err) if err.has_code(&["InvalidSubnet.Conflict"]) => {
                        find_public_subnet(ec2, owner, &vpc_id, &role)
                            .await?
                            .ok_or_else(|| err.not_yet(&["InvalidSubnet.Conflict"]))?
                    }
                    Err(err) => return Err(err),
                }
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
    let sandbox_routes = ensure_route_table(ec2, owner, &vpc_id, SANDBOX_ROUTES).await?;
    Ok(AccountNetwork {
        vpc_id,
        public_subnets,
        alb_group,
        proxy_group,
        nlb_group,
        sandbox_routes,
    })
}

/// The VPC's internet gateway: the account's (tagged) one attached to it, else an unattached
/// one (made by a try that died before attaching it, or whose answer was lost), or a new one,
/// attached unless it is. Other unattached gateways of the account are the SDK's repeats of a
/// create whose answer was lost, and are deleted.
pub(super) async fn ensure_internet_gateway(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
) -> Result<String, AwsError> {
    let gateways = tagged_gateways(ec2, owner).await?;
    let on_vpc = gateways
        .iter()
        .find(|(_, attached)| attached.as_deref() == Some(vpc_id));
    let id = match on_vpc {
        Some((id, _)) => id.clone(),
        None => {
            let spare = gateways
                .iter()
                .find(|(_, attached)| attached.is_none())
                .map(|(id, _)| id.clone());
            let id = match spare {
                Some(id) => id,
                None => ec2
                    .create_internet_gateway()
                    .tag_specifications(owner.ec2_spec(ResourceType::InternetGateway, "igw"))
                    .send()
                    .await
                    .map_err(sdk("CreateInternetGateway"))?
                    .internet_gateway()
                    .and_then(|g| g.internet_gateway_id())
                    .map(str::to_owned)
                    .ok_or_else(|| AwsError::Missing("CreateInternetGateway returned no id".into()))?,
            };
            let result = ec2
                .attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(vpc_id)
                .send()
                .await
                .map_err(sdk_not_yet(
                    "AttachInternetGateway",
                    &["InvalidInternetGatewayID.NotFound", "InvalidVpcID.NotFound"],
                ));
            match result {
                Ok(_) => {}
                // Attached by a try whose answer was lost, or the VPC has another gateway that
                // the describe did not show yet: only the first is done.
                Err(err) if err.has_code(&["Resource.AlreadyAssociated"]) => {
                    let attached = tagged_gateways(ec2, owner)
                        .await?
                        .into_iter()
                        .any(|(g, on)| g == id && on.as_deref() == Some(vpc_id));
                    if !attached {
                        return Err(err.not_yet(&["Resource.AlreadyAssociated"]));
                    }
                }
                Err(err) => return Err(err),
            }
            id
        }
    };
    let gateways = match on_vpc {
        Some(_) => gateways,
        None => tagged_gateways(ec2, owner).await?,
    };
    for (extra, _) in gateways
        .iter()
        .filter(|(g, attached)| *g != id && attached.is_none())
    {
        delete_spare_gateway(ec2, extra).await?;
    }
    Ok(id)
}

/// Deletes the account's internet gateways that are attached to no VPC: repeats of a create
/// that a describe did not show yet, left behind by a try that died before it could remove
/// them. Called when the account's infrastructure is released (under its lock), so that a
/// crash at the wrong moment does not leave one until the account is cleaned.
pub async fn remove_spare_gateways(ec2: &Client, owner: &Owner) -> Result<Vec<String>, AwsError> {
    let mut removed = Vec::new();
    for (id, attached) in tagged_gateways(ec2, owner).await? {
        if attached.is_none() {
            delete_spare_gateway(ec2, &id).await?;
            removed.push(id);
        }
    }
    Ok(removed)
}

/// Deletes an unattached gateway; one gone already is no error.
async fn delete_spare_gateway(ec2: &Client, id: &str) -> Result<(), AwsError> {
    let result = ec2
        .delete_internet_gateway()
        .internet_gateway_id(id)
        .send()
        .await
        .map_err(sdk("DeleteInternetGateway"));
    remove_duplicate(
        result,
        "internet gateway",
        id,
        &["InvalidInternetGatewayID.NotFound"],
    )
}

/// The account's internet gateways, each with the VPC it is attached to.
pub(super) async fn tagged_gateways(
    ec2: &Client,
    owner: &Owner,
) -> Result<Vec<(String, Option<String>)>, AwsError> {
    let found = ec2
        .describe_internet_gateways()
        .set_filters(Some(owner.filters("igw")))
        .send()
        .await
        .map_err(sdk("DescribeInternetGateways"))?;
    Ok(found
        .internet_gateways()
        .iter()
        .filter_map(|g| {
            let attached = g.attachments().iter().find_map(|a| a.vpc_id()).map(str::to_owned);
            g.internet_gateway_id().map(|id| (id.to_owned(), attached))
        })
        .collect())
}

/// The role tag of the sandboxes' route table.
const SANDBOX_ROUTES: &str = "sandbox-routes";

/// The account's sandbox route table, if it has one.
pub async fn sandbox_route_table(ec2: &Client, owner: &Owner) -> Result<Option<String>, AwsError> {
    Ok(lowest(tagged_route_tables(ec2, owner, SANDBOX_ROUTES).await?).map(|(id, _)| id))
}

/// The ids of the account's route tables of `role`.
pub(super) async fn tagged_route_tables(
    ec2: &Client,
    owner: &Owner,
    role: &str,
) -> Result<Vec<String>, AwsError> {
    let found = ec2
        .describe_route_tables()
        .set_filters(Some(owner.filters(role)))
        .send()
        .await
        .map_err(sdk("DescribeRouteTables"))?;
    Ok(found
        .route_tables()
        .iter()
        .filter_map(|t| t.route_table_id())
        .map(str::to_owned)
        .collect())
}

/// The account's route table of `role`, made unless there is one; the SDK's repeats of its
/// create are deleted.
pub(super) async fn ensure_route_table(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    role: &str,
) -> Result<String, AwsError> {
    let mut tables = tagged_route_tables(ec2, owner, role).await?;
    if tables.is_empty() {
        let made = create_route_table(ec2, owner, vpc_id, role).await?;
        tables = tagged_route_tables(ec2, owner, role).await?;
        if !tables.contains(&made) {
            tables.push(made);
        }
    }
    let Some((table, extras)) = lowest(tables) else {
        return Err(AwsError::Missing("no route table after CreateRouteTable".into()));
    };
    for extra in extras {
        let result = ec2
            .delete_route_table()
            .route_table_id(&extra)
            .send()
            .await
            .map_err(sdk("DeleteRouteTable"));
        remove_duplicate(result, "route table", &extra, &["InvalidRouteTableID.NotFound"])?;
    }
    Ok(table)
}

/// Of the ids of one role, the one every reader takes (the lowest), and the others.
pub(super) fn lowest(mut ids: Vec<String>) -> Option<(String, Vec<String>)> {
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return None;
    }
    let first = ids.remove(0);
    Some((first, ids))
}

/// The outcome of deleting a duplicate: gone is done; one that is in use (built on by an older
/// try) is left where it is, logged, since the resource it duplicates is the one used.
pub(super) fn remove_duplicate<T>(
    result: Result<T, AwsError>,
    what: &str,
    id: &str,
    gone_codes: &[&str],
) -> Result<(), AwsError> {
    match gone(result, gone_codes) {
        Ok(_) => {
            tracing::info!(what, id, "deleted a duplicate made by a repeated create");
            Ok(())
        }
        Err(err) if err.has_code(&["DependencyViolation"]) => {
            tracing::warn!(what, id, %err, "a duplicate is in use; left in place");
            Ok(())
        }
        Err(err) => Err(err),
    }
}

pub(super) async fn create_route_table(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    role: &str,
) -> Result<String, AwsError> {
    // One token per VPC and role: a repeat (a lost answer's, or one after a describe that did
    // not show the table yet) answers the table the first call made.
    let created = ec2
        .create_route_table()
        .vpc_id(vpc_id)
        .client_token(format!("sbx-{vpc_id}-{role}"))
        .tag_specifications(owner.ec2_spec(ResourceType::RouteTable, role))
        .send()
        .await
        .map_err(sdk_not_yet("CreateRouteTable", &["InvalidVpcID.NotFound"]))?;
    created
        .route_table()
        .and_then(|t| t.route_table_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateRouteTable returned no id".into()))
}

/// Where a table's default route goes: `(nat gateway, internet gateway)`, or `None` without one.
pub(super) async fn default_route(
    ec2: &Client,
    table: &str,
) -> Result<Option<(Option<String>, Option<String>)>, AwsError> {
    let found = ec2
        .describe_route_tables()
        .route_table_ids(table)
        .send()
        .await
        // A table made a moment ago is not found by its id yet.
        .map_err(sdk_not_yet(
            "DescribeRouteTables",
            &["InvalidRouteTableID.NotFound"],
        ))?;
    Ok(found
        .route_tables()
        .iter()
        .flat_map(|t| t.routes())
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .map(|r| {
            (
                r.nat_gateway_id().map(str::to_owned),
                r.gateway_id().map(str::to_owned),
            )
        }))
}

/// Sends the sandboxes' default route to `nat`; returns whether it changed. A route left to an
/// earlier NAT (a blackhole once that one is deleted) is replaced.
pub async fn route_out(ec2: &Client, table: &str, nat: &str) -> Result<bool, AwsError> {
    match default_route(ec2, table).await? {
        Some((Some(current), _)) if current == nat => return Ok(false),
        Some(_) => {}
        None => {
            let created = ec2
                .create_route()
                .route_table_id(table)
                .destination_cidr_block("0.0.0.0/0")
                .nat_gateway_id(nat)
                .send()
                .await
                .map_err(sdk_not_yet("CreateRoute", ROUTE_NOT_YET));
            match created {
                Ok(_) => return Ok(true),
                // A concurrent or earlier try made one: point it at this NAT.
                Err(err) if err.has_code(&["RouteAlreadyExists"]) => {}
                Err(err) => return Err(err),
            }
        }
    }
    ec2.replace_route()
        .route_table_id(table)
        .destination_cidr_block("0.0.0.0/0")
        .nat_gateway_id(nat)
        .send()
        .await
        .map_err(sdk_not_yet("ReplaceRoute", ROUTE_NOT_YET))?;
    Ok(true)
}

/// What CreateRoute and ReplaceRoute refuse while EC2 catches up with a table or gateway made a
/// moment ago.
const ROUTE_NOT_YET: &[&str] = &[
    "InvalidRouteTableID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidGatewayID.NotFound",
    "InvalidInternetGatewayID.NotFound",
];

/// Takes the sandboxes' default route away; returns whether there was one.
pub async fn remove_route_out(ec2: &Client, table: &str) -> Result<bool, AwsError> {
    if default_route(ec2, table).await?.is_none() {
        return Ok(false);
    }
    let result = ec2
        .delete_route()
        .route_table_id(table)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .map_err(sdk("DeleteRoute"));
    gone(result, &["InvalidRoute.NotFound"])?;
    Ok(true)
}

/// Associates `subnet` with `table` unless it is; an association with another table is
/// replaced (a subnet has one).
pub(super) async fn associate(ec2: &Client, table: &str, subnet: &str) -> Result<(), AwsError> {
    let found = ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", subnet))
        .send()
        .await
        .map_err(sdk("DescribeRouteTables"))?;
    if found
        .route_tables()
        .iter()
        .any(|t| t.route_table_id() == Some(table))
    {
        return Ok(());
    }
    let other = found
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.subnet_id() == Some(subnet))
        .and_then(|a| a.route_table_association_id());
    if let Some(association) = other {
        ec2.replace_route_table_association()
            .association_id(association)
            .route_table_id(table)
            .send()
            .await
            .map_err(sdk_not_yet(
                "ReplaceRouteTableAssociation",
                &["InvalidRouteTableID.NotFound", "InvalidAssociationID.NotFound"],
            ))?;
        return Ok(());
    }
    let result = ec2
        .associate_route_table()
        .route_table_id(table)
        .subnet_id(subnet)
        .send()
        .await
        .map_err(sdk_not_yet(
            "AssociateRouteTable",
            &["InvalidRouteTableID.NotFound", "InvalidSubnetID.NotFound"],
        ));
    gone(result, &["Resource.AlreadyAssociated"])?;
    Ok(())
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
    let Some((vpc_id, _)) = lowest(tagged_vpcs(ec2, owner).await?) else {
        return Ok(None);
    };
    let mut public_subnets = Vec::new();
    for i in 0..PUBLIC_CIDRS.len() {
        match find_public_subnet(ec2, owner, &vpc_id, &format!("public-{i}")).await? {
            Some(id) => public_subnets.push(id),
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
    let Some(sandbox_routes) = sandbox_route_table(ec2, owner).await? else {
        return Ok(None);
    };
    Ok(Some(AccountNetwork {
        vpc_id,
        public_subnets,
        alb_group,
        proxy_group,
        nlb_group,
        sandbox_routes,
    }))
}

/// The ids of the account's VPCs (one, or more after a repeated create).
pub(super) async fn tagged_vpcs(ec2: &Client, owner: &Owner) -> Result<Vec<String>, AwsError> {
    let found = ec2
        .describe_vpcs()
        .set_filters(Some(owner.filters("vpc")))
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

pub(super) async fn create_vpc(ec2: &Client, owner: &Owner) -> Result<String, AwsError> {
    // Sent once, without the SDK's retries: a repeat after a lost answer would make a second
    // VPC. A failure goes back to the state machine, whose next try looks again first.
    let created = ec2
        .create_vpc()
        .cidr_block(VPC_CIDR)
        .tag_specifications(owner.ec2_spec(ResourceType::Vpc, "vpc"))
        .customize()
        .config_override(
            aws_sdk_ec2::config::Builder::default()
                .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled()),
        )
        .send()
        .await
        .map_err(sdk("CreateVpc"))?;
    created
        .vpc()
        .and_then(|vpc| vpc.vpc_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError::Missing("CreateVpc returned no VPC id".into()))
}

/// The account's public subnet of `role` in its VPC.
pub(super) async fn find_public_subnet(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    role: &str,
) -> Result<Option<String>, AwsError> {
    let found = ec2
        .describe_subnets()
        .set_filters(Some(owner.filters(role)))
        .filters(filter("vpc-id", vpc_id))
        .send()
        .await
        .map_err(sdk("DescribeSubnets"))?;
    Ok(found
        .subnets()
        .first()
        .and_then(|s| s.subnet_id())
        .map(str::to_owned))
}

/// The public subnets' route table, its route to the internet gateway and its associations,
/// each made unless it is there.
pub(super) async fn ensure_public_routes(
    ec2: &Client,
    owner: &Owner,
    vpc_id: &str,
    gateway: &str,
    subnets: &[String],
) -> Result<(), AwsError> {
    let table = ensure_route_table(ec2, owner, vpc_id, "public-routes").await?;
    if default_route(ec2, &table).await?.is_none() {
        let created = ec2
            .create_route()
            .route_table_id(&table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(gateway)
            .send()
            .await
            .map_err(sdk_not_yet("CreateRoute", ROUTE_NOT_YET));
        gone(created, &["RouteAlreadyExists"])?;
    }
    for subnet in subnets {
        associate(ec2, &table, subnet).await?;
    }
    Ok(())
}
