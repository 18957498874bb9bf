//! The desktop-streaming fleet of an account (Smart Client), behind one port with two sides:
//!
//! - [`Streaming::AppStream`]: Amazon AppStream 2.0 through `aws-sdk-appstream`, in the tenant
//!   account;
//! - [`Streaming::StandIn`]: an in-process stand-in for local runs. No emulator here serves
//!   AppStream (SPEC: Local), so this is the one AWS service sbx fakes. It keeps which fleets
//!   exist per account and whether each is stopping, and nothing else.
//!
//! A fleet is deleted only once it has stopped, which takes minutes on AWS: [`Streaming::release`]
//! stops it and answers [`Release::Stopping`] until it can delete it. The stand-in takes one
//! call to stop, so that the workflows' wait for it runs locally too.

use crate::account::AccountClients;
use crate::error::{AwsError, sdk};
use crate::tags::Owner;
use aws_sdk_appstream::types::{ComputeCapacity, FleetType};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const FLEET: &str = "sbx-smart-client";
pub const STACK: &str = "sbx-smart-client";

/// Fleets that exist, by (account, fleet name), with whether each is stopping and its tags:
/// the stand-in's whole state.
#[derive(Debug, Default)]
pub struct StandIn {
    fleets: Mutex<BTreeMap<(String, String), StandInFleet>>,
}

#[derive(Debug, Clone, Default)]
struct StandInFleet {
    stopping: bool,
    tags: Vec<(String, String)>,
}

impl StandIn {
    pub fn fleets(&self, account_id: &str) -> Vec<String> {
        let fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        fleets
            .keys()
            .filter(|(account, _)| account == account_id)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// The tags of the account's fleet, as `key=value`.
    pub fn fleet_tags(&self, account_id: &str) -> Vec<String> {
        let fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        fleets
            .get(&(account_id.to_owned(), FLEET.to_owned()))
            .map(|fleet| fleet.tags.iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default()
    }
}

/// How far releasing the fleet got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The fleet and its stack are gone (or never were).
    Gone,
    /// The fleet is stopping; release again once it has stopped.
    Stopping,
}

#[derive(Debug, Clone)]
pub enum Streaming {
    AppStream {
        image_name: String,
        instance_type: String,
    },
    StandIn(Arc<StandIn>),
}

impl Streaming {
    /// Creates and starts the account's fleet and stack, unless they exist; tagged with the
    /// owner's tags, as everything sbx makes.
    pub async fn ensure(&self, account: &AccountClients, owner: &Owner) -> Result<(), AwsError> {
        let tags = owner.tags("fleet");
        match self {
            Streaming::StandIn(stand_in) => {
                let mut fleets = stand_in.fleets.lock().unwrap_or_else(|p| p.into_inner());
                let fleet = fleets
                    .entry((account.account_id.clone(), FLEET.to_owned()))
                    .or_default();
                fleet.stopping = false;
                fleet.tags = tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                Ok(())
            }
            Streaming::AppStream {
                image_name,
                instance_type,
            } => {
                let client = sbx_transient::client!(aws_sdk_appstream, &account.config);
                let fleets = client
                    .describe_fleets()
                    .names(FLEET)
                    .send()
                    .await
                    .map_err(sdk("DescribeFleets"));
                let exists = match fleets {
                    Ok(output) => !output.fleets().is_empty(),
                    Err(err) if err.has_code(&["ResourceNotFoundException"]) => false,
                    Err(err) => return Err(err),
                };
                if !exists {
                    client
                        .create_fleet()
                        .name(FLEET)
                        .image_name(image_name)
                        .instance_type(instance_type)
                        .fleet_type(FleetType::OnDemand)
                        .compute_capacity(ComputeCapacity::builder().desired_instances(1).build())
                        .set_tags(Some(tags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
                        .send()
                        .await
                        .map_err(sdk("CreateFleet"))?;
                    let stack = client
                        .create_stack()
                        .name(STACK)
                        .send()
                        .await
                        .map_err(sdk("CreateStack"));
                    crate::error::gone(stack, &["ResourceAlreadyExistsException"])?;
                    client
                        .associate_fleet()
                        .fleet_name(FLEET)
                        .stack_name(STACK)
                        .send()
                        .await
                        .map_err(sdk("AssociateFleet"))?;
                }
                client
                    .start_fleet()
                    .name(FLEET)
                    .send()
                    .await
                    .map_err(sdk("StartFleet"))?;
                Ok(())
            }
        }
    }

    /// Stops the account's fleet, and once it has stopped deletes it and its stack; what is
    /// gone already is skipped.
    pub async fn release(&self, account: &AccountClients) -> Result<Release, AwsError> {
        match self {
            Streaming::StandIn(stand_in) => {
                let mut fleets = stand_in.fleets.lock().unwrap_or_else(|p| p.into_inner());
                let key = (account.account_id.clone(), FLEET.to_owned());
                match fleets.get_mut(&key) {
                    Some(fleet) if !fleet.stopping => {
                        fleet.stopping = true;
                        Ok(Release::Stopping)
                    }
                    _ => {
                        fleets.remove(&key);
                        Ok(Release::Gone)
                    }
                }
            }
            Streaming::AppStream { .. } => {
                let client = sbx_transient::client!(aws_sdk_appstream, &account.config);
                let missing = &["ResourceNotFoundException"];
                let fleets = client
                    .describe_fleets()
                    .names(FLEET)
                    .send()
                    .await
                    .map_err(sdk("DescribeFleets"));
                let state = match crate::error::gone(fleets, missing)? {
                    Some(output) => output
                        .fleets()
                        .first()
                        .and_then(|f| f.state())
                        .map(|s| s.as_str().to_owned()),
                    None => None,
                };
                match state.as_deref() {
                    Some("STOPPED") | None => {}
                    Some("STOPPING") => return Ok(Release::Stopping),
                    Some(_) => {
                        let stop = client
                            .stop_fleet()
                            .name(FLEET)
                            .send()
                            .await
                            .map_err(sdk("StopFleet"));
                        crate::error::gone(stop, missing)?;
                        return Ok(Release::Stopping);
                    }
                }
                let disassociate = client
                    .disassociate_fleet()
                    .fleet_name(FLEET)
                    .stack_name(STACK)
                    .send()
                    .await
                    .map_err(sdk("DisassociateFleet"));
                crate::error::gone(disassociate, missing)?;
                let stack = client
                    .delete_stack()
                    .name(STACK)
                    .send()
                    .await
                    .map_err(sdk("DeleteStack"));
                crate::error::gone(stack, missing)?;
                if state.is_some() {
                    let fleet = client
                        .delete_fleet()
                        .name(FLEET)
                        .send()
                        .await
                        .map_err(sdk("DeleteFleet"));
                    crate::error::gone(fleet, missing)?;
                }
                Ok(Release::Gone)
            }
        }
    }

    /// Whether the account's fleet exists.
    pub async fn exists(&self, account: &AccountClients) -> Result<bool, AwsError> {
        match self {
            Streaming::StandIn(stand_in) => {
                Ok(stand_in.fleets(&account.account_id).iter().any(|f| f == FLEET))
            }
            Streaming::AppStream { .. } => {
                let client = sbx_transient::client!(aws_sdk_appstream, &account.config);
                match client
                    .describe_fleets()
                    .names(FLEET)
                    .send()
                    .await
                    .map_err(sdk("DescribeFleets"))
                {
                    Ok(output) => Ok(!output.fleets().is_empty()),
                    Err(err) if err.has_code(&["ResourceNotFoundException"]) => Ok(false),
                    Err(err) => Err(err),
                }
            }
        }
    }
}
