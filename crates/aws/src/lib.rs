//! The AWS adapters of sbx. Each module owns one kind of resource and its call sequences, so
//! that no sequence of AWS calls exists twice:
//!
//! - [`account`]: clients for a tenant's account, through its provisioning role (STS);
//! - [`network`]: the account's VPC and the sandbox's own subnet and security group;
//! - [`instances`]: launching, starting, stopping, terminating and watching VMs;
//! - [`infra`]: the account's shared infrastructure (NAT, ALB, proxies, NLB, streaming fleet);
//! - [`ingress`]: a sandbox's target groups, listener rule and NLB listener;
//! - [`commands`]: installing constellations with SSM Run Command;
//! - [`costs`]: what Cost Explorer says each tenant cost, for the daily drift check;
//! - [`images`]: sharing the machine images from the management account;
//! - [`streaming`]: the AppStream port and its local stand-in;
//! - [`inventory`]: the sandboxes tagged in an account, and what an emptied account still holds;
//! - [`organizations`]: new pool accounts, organizational units, the provisioning-role bootstrap;
//! - [`ports`]: the narrow traits the step handlers take, implemented on these modules.
//!
//! Every create is idempotent (it looks for what an earlier try made, by tag or name, first)
//! and every delete tolerates its resource being gone.

pub mod account;
pub mod activity;
pub mod billing;
pub mod commands;
pub mod error;
pub mod images;
pub mod infra;
pub mod ingress;
pub mod instances;
pub mod inventory;
pub mod network;
pub mod organizations;
pub mod ports;
pub mod streaming;
pub mod tags;

pub use account::{AccountClients, Provisioner};
pub use error::AwsError;
pub use ports::{
    AccountFactory, Activity, Commands, ImageSharing, Infrastructure, Ingress, Inventory, Networks,
    OrganizationPool, SharedInfrastructure, Unit, Vms,
};
pub use tags::Owner;
