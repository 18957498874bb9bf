//! Networks: the account's VPC with its public subnets, shared security groups and the
//! sandboxes' route table (free to keep, so they stay with the account), and each sandbox's own
//! subnet and security group.
//!
//! Every sandbox subnet is associated with the account's one sandbox route table, whose default
//! route goes to the NAT gateway while there is one (`route_out`, `remove_route_out`): so the
//! route comes and goes with the NAT for every sandbox at once.
//!
//! What a crash can leave half-made is completed by the next try: a route table without its
//! route or associations, a security group without its rules.
//!
//! EC2 takes no client token for a VPC or an internet gateway (nor moto for a route table), so
//! the SDK's repeat of a create whose answer was lost can make two of one role. Every reader
//! takes the same one (`lowest`), and the ensure deletes the others before it builds on it.
//!
//! Isolation: a sandbox's security group admits traffic only from itself (its two VMs), from
//! the account's proxies and from the NLB. Nothing admits another sandbox's group, so no
//! sandbox can reach another.

mod account;
mod groups;
mod sandbox;

pub use account::{
    account_network, availability_zones, ensure_account_network, has_vpc, remove_route_out,
    remove_spare_gateways, route_out, sandbox_route_table,
};
pub use sandbox::{create_sandbox_network, delete_sandbox_network};

pub const VPC_CIDR: &str = "10.0.0.0/16";
/// Public subnets of the account (NAT, load balancers, proxies), one per zone.
pub(crate) const PUBLIC_CIDRS: [&str; 2] = ["10.0.0.0/24", "10.0.1.0/24"];
/// Sandbox subnets are the /24s 10.0.16.0 to 10.0.255.0.
pub(crate) const SANDBOX_SUBNETS: std::ops::RangeInclusive<u32> = 16..=255;

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
    /// The route table of every sandbox subnet: the VPC, and the internet through the NAT.
    pub sandbox_routes: String,
}

/// A sandbox's own network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxNetwork {
    pub subnet_id: String,
    pub security_group_id: String,
}
