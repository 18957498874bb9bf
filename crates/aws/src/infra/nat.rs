//! The account's NAT gateway: made with its Elastic IP (one a try made first is reused),
//! given the sandboxes' default route once it is `available`, and deleted, its route first and
//! its address last, once it is `deleted`.

use super::Converged;
use crate::account::AccountClients;
use crate::error::{AwsError, gone, sdk, sdk_not_yet};
use crate::network::AccountNetwork;
use crate::tags::Owner;
use aws_sdk_ec2::types::{DomainType, ResourceType};

/// The account's NAT gateways by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Nats {
    pub(super) available: Vec<String>,
    pub(super) pending: Vec<String>,
    pub(super) deleting: Vec<String>,
    /// Ended `failed` (a capacity or address problem): deleted and replaced.
    pub(super) failed: Vec<String>,
}

/// A NAT gateway, and the sandboxes' default route through it once it is available.
pub(super) async fn ensure_nat(
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
        for failed in &nats.failed {
            delete_one(clients, failed).await?;
            done.changes.push("delete failed nat".to_owned());
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
            if crate::network::route_out(clients.ec2(), &network.sandbox_routes, nat).await? {
                done.changes.push("route sandboxes through nat".to_owned());
            }
        }
        None => done.waiting.push("nat pending".to_owned()),
    }
    Ok(())
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

pub(super) async fn nat_gateways(clients: &AccountClients, owner: &Owner) -> Result<Nats, AwsError> {
    let mut filters = owner.filters("nat");
    filters.push(
        aws_sdk_ec2::types::Filter::builder()
            .name("state")
            .values("pending")
            .values("available")
            .values("deleting")
            .values("failed")
            .build(),
    );
    let output = clients
        .ec2()
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
            NatGatewayState::Failed => nats.failed.push(id),
            _ => {}
        }
    }
    Ok(nats)
}

pub(super) async fn addresses(clients: &AccountClients, owner: &Owner) -> Result<Vec<String>, AwsError> {
    let output = clients
        .ec2()
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

/// How many failed NAT gateways one call replaces before it gives up (the next try goes on).
const NAT_ATTEMPTS: usize = 8;

/// Creates the NAT gateway, with the Elastic IP an earlier try allocated if there is one;
/// returns its id and state.
///
/// A repeat of CreateNatGateway with the same client token answers the NAT that token made,
/// even one that ended `failed` or was deleted since. So a failed one is deleted, and for a
/// failed or deleted one the create is repeated with a token derived from that NAT's id:
/// deterministic, so that a try whose answer was lost and its repeat still make one NAT, and
/// each failure gets a fresh one.
pub(super) async fn create_nat(
    clients: &AccountClients,
    owner: &Owner,
    network: &AccountNetwork,
    token: &str,
) -> Result<(String, NatGatewayState), AwsError> {
    let allocation = match addresses(clients, owner).await?.into_iter().next() {
        Some(id) => id,
        None => clients
            .ec2()
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
    let mut purpose = "nat".to_owned();
    for _ in 0..NAT_ATTEMPTS {
        let created = clients
            .ec2()
            .create_nat_gateway()
            .subnet_id(&network.public_subnets[0])
            .allocation_id(&allocation)
            .client_token(crate::tags::client_token(token, &purpose))
            .tag_specifications(owner.ec2_spec(ResourceType::Natgateway, "nat"))
            .send()
            .await
            // The address held by a NAT gateway a describe did not show yet (made a moment
            // ago by another try): it shows soon, and is used then.
            .map_err(sdk_not_yet(
                "CreateNatGateway",
                &[
                    "InvalidSubnetID.NotFound",
                    "InvalidAllocationID.NotFound",
                    "Resource.AlreadyAssociated",
                ],
            ))?;
        let nat = created
            .nat_gateway()
            .ok_or_else(|| AwsError::Missing("CreateNatGateway returned no NAT gateway".into()))?;
        let id = nat
            .nat_gateway_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Missing("CreateNatGateway returned no id".into()))?;
        match NatGatewayState::of(nat) {
            NatGatewayState::Failed => {
                tracing::warn!(
                    nat = %id,
                    failure = nat.failure_message().unwrap_or_default(),
                    "the NAT gateway failed; deleting it and making another"
                );
                delete_one(clients, &id).await?;
            }
            // The token's NAT was deleted since (a failed one this call or an earlier one
            // deleted): it cannot be used, another is made.
            NatGatewayState::Deleting | NatGatewayState::Deleted => {}
            state => return Ok((id, state)),
        }
        purpose = format!("nat-after-{id}");
    }
    Err(AwsError::NotYet {
        operation: "CreateNatGateway",
        code: "NatGatewayFailed".into(),
        message: format!("{NAT_ATTEMPTS} NAT gateways in a row ended failed"),
    })
}

/// Deletes one NAT gateway; one gone already is skipped.
async fn delete_one(clients: &AccountClients, id: &str) -> Result<(), AwsError> {
    let result = clients
        .ec2()
        .delete_nat_gateway()
        .nat_gateway_id(id)
        .send()
        .await
        .map_err(sdk("DeleteNatGateway"));
    gone(result, &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"])?;
    Ok(())
}

/// Takes the sandboxes' route away, deletes the NAT gateways, and releases their Elastic IP
/// once none is left deleting (AWS refuses to release an address a NAT still holds).
pub(super) async fn delete_nat(
    clients: &AccountClients,
    owner: &Owner,
    done: &mut Converged,
) -> Result<(), AwsError> {
    if let Some(table) = crate::network::sandbox_route_table(clients.ec2(), owner).await?
        && crate::network::remove_route_out(clients.ec2(), &table).await?
    {
        done.changes.push("remove sandbox route".to_owned());
    }
    let nats = nat_gateways(clients, owner).await?;
    let live: Vec<&String> = nats
        .available
        .iter()
        .chain(&nats.pending)
        .chain(&nats.failed)
        .collect();
    for id in &live {
        delete_one(clients, id).await?;
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
            .ec2()
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
pub(super) async fn nats_still_deleting(clients: &AccountClients, owner: &Owner) -> Result<bool, AwsError> {
    let nats = nat_gateways(clients, owner).await?;
    Ok(!(nats.available.is_empty()
        && nats.pending.is_empty()
        && nats.deleting.is_empty()
        && nats.failed.is_empty()))
}
