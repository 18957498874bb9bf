//! The desktop-streaming fleet of an account (Smart Client), behind one port with two sides:
//!
//! - [`Streaming::AppStream`]: Amazon AppStream 2.0 through `aws-sdk-appstream`, in the tenant
//!   account;
//! - [`Streaming::StandIn`]: an in-process stand-in for local runs. No emulator here serves
//!   AppStream (SPEC: Local), so this is the one AWS service sbx fakes. It keeps which fleets
//!   exist per account, and nothing else.

use crate::account::AccountClients;
use crate::error::{AwsError, sdk};
use aws_sdk_appstream::types::{ComputeCapacity, FleetType};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

pub const FLEET: &str = "sbx-smart-client";
pub const STACK: &str = "sbx-smart-client";

/// Fleets that exist, by (account, fleet name): the stand-in's whole state.
#[derive(Debug, Default)]
pub struct StandIn {
    fleets: Mutex<BTreeSet<(String, String)>>,
}

impl StandIn {
    pub fn fleets(&self, account_id: &str) -> Vec<String> {
        let fleets = self.fleets.lock().unwrap_or_else(|p| p.into_inner());
        fleets
            .iter()
            .filter(|(account, _)| account == account_id)
            .map(|(_, name)| name.clone())
            .collect()
    }
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
    /// Creates and starts the account's fleet and stack, unless they exist.
    pub async fn ensure(&self, account: &AccountClients) -> Result<(), AwsError> {
        match self {
            Streaming::StandIn(stand_in) => {
                let mut fleets = stand_in.fleets.lock().unwrap_or_else(|p| p.into_inner());
                fleets.insert((account.account_id.clone(), FLEET.to_owned()));
                Ok(())
            }
            Streaming::AppStream {
                image_name,
                instance_type,
            } => {
                let client = aws_sdk_appstream::Client::new(&account.config);
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
                        .tags(crate::tags::ACCOUNT, &account.account_id)
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

    /// Stops and deletes the account's fleet and stack; what is gone already is skipped.
    pub async fn release(&self, account: &AccountClients) -> Result<(), AwsError> {
        match self {
            Streaming::StandIn(stand_in) => {
                let mut fleets = stand_in.fleets.lock().unwrap_or_else(|p| p.into_inner());
                fleets.remove(&(account.account_id.clone(), FLEET.to_owned()));
                Ok(())
            }
            Streaming::AppStream { .. } => {
                let client = aws_sdk_appstream::Client::new(&account.config);
                let missing = &["ResourceNotFoundException"];
                let stop = client
                    .stop_fleet()
                    .name(FLEET)
                    .send()
                    .await
                    .map_err(sdk("StopFleet"));
                crate::error::gone(stop, missing)?;
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
                let fleet = client
                    .delete_fleet()
                    .name(FLEET)
                    .send()
                    .await
                    .map_err(sdk("DeleteFleet"));
                crate::error::gone(fleet, missing)?;
                Ok(())
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
                let client = aws_sdk_appstream::Client::new(&account.config);
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
