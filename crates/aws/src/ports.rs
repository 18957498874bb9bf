//! The narrow ports the step handlers take, one per kind of resource, and their one
//! implementation on AWS: [`Provisioner`], which reaches each tenant account through its
//! provisioning role and then makes the call sequences of this crate's modules. Handlers are
//! unit-tested against fakes of these traits; the implementations are tested against moto in
//! `crates/aws/tests/`.
//!
//! Every method names the tenant account it acts in, so a fake can keep its state per account.

use crate::account::Provisioner;
use crate::commands::{self, Progress};
use crate::error::AwsError;
use crate::infra::{self, Converged, ProxySpec, Want};
use crate::ingress::{self, Routes, Targets};
use crate::instances::{self, Launch, Vm};
use crate::inventory;
use crate::network::{self, AccountNetwork, SandboxNetwork};
use crate::organizations;
use crate::streaming::Streaming;
use crate::tags::Owner;
use std::future::Future;

/// A sandbox's (or an account's) virtual machines, found by their tags.
pub trait Vms: Send + Sync {
    /// The owner's instances that are not terminated or shutting down.
    fn find(&self, account: &str, owner: &Owner) -> impl Future<Output = Result<Vec<Vm>, AwsError>> + Send;
    /// The owner's instances that are not terminated yet, those shutting down included: what
    /// still holds the sandbox's subnet and security group.
    fn remaining(
        &self,
        account: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<Vec<Vm>, AwsError>> + Send {
        self.find(account, owner)
    }
    /// Launches the instance of `launch.role`, or returns the one an earlier try launched.
    fn launch(
        &self,
        account: &str,
        launch: &Launch<'_>,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn start(&self, account: &str, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn stop(&self, account: &str, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Terminates the instances; instances already gone are no error.
    fn terminate(&self, account: &str, ids: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Terminates instances launched a moment ago, which a describe may not show yet: one AWS
    /// does not know by its id yet is "not yet", not gone.
    fn terminate_launched(
        &self,
        account: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The account's network and each sandbox's own subnet and security group.
pub trait Networks: Send + Sync {
    /// The account's network, if it has one.
    fn account_network(
        &self,
        account: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<Option<AccountNetwork>, AwsError>> + Send;
    /// Whether a describe shows the account's VPC.
    fn has_vpc(&self, account: &str, owner: &Owner) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Creates what is missing of the account's network and returns it.
    fn ensure_account_network(
        &self,
        account: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<AccountNetwork, AwsError>> + Send;
    /// Creates the sandbox's subnet and security group, or finds those an earlier try made.
    fn create_sandbox_network(
        &self,
        account: &str,
        owner: &Owner,
        network: &AccountNetwork,
        names: (&str, &str),
    ) -> impl Future<Output = Result<SandboxNetwork, AwsError>> + Send;
    /// Deletes the sandbox's subnet and security group; what is gone already is skipped.
    fn delete_sandbox_network(
        &self,
        account: &str,
        owner: &Owner,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A sandbox's routes through the account's load balancers.
pub trait Ingress: Send + Sync {
    fn register(
        &self,
        account: &str,
        targets: &Targets<'_>,
    ) -> impl Future<Output = Result<Routes, AwsError>> + Send;
    /// Removes the sandbox's routes; what is gone already is skipped.
    fn deregister(
        &self,
        account: &str,
        tenant: &str,
        sandbox: &str,
        host: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// SSM Run Command on a sandbox's instance.
pub trait Commands: Send + Sync {
    /// Sends the install command; returns its id.
    fn install(
        &self,
        account: &str,
        instance_id: &str,
        sandbox: &str,
        constellations: &[String],
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn progress(
        &self,
        account: &str,
        command_id: &str,
        instance_id: &str,
    ) -> impl Future<Output = Result<Progress, AwsError>> + Send;
}

/// The account's shared infrastructure (NAT, ALB, proxies, NLB, streaming fleet).
pub trait SharedInfrastructure: Send + Sync {
    /// Makes the account's infrastructure what `want` says as far as it can now, and returns
    /// what it changed and what AWS is still changing (call again until that is nothing).
    /// Creating needs `network`; without one, only deletions happen.
    fn converge(
        &self,
        account: &str,
        owner: &Owner,
        network: Option<&AccountNetwork>,
        want: Want,
        client_token: &str,
    ) -> impl Future<Output = Result<Converged, AwsError>> + Send;
}

/// Sharing the management account's machine images with a tenant account.
pub trait ImageSharing: Send + Sync {
    fn share(&self, image_ids: &[&str], account: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Whether a sandbox is in use (`activity`): the idle stop's signals.
pub trait Activity: Send + Sync {
    /// The owner's sandbox's use over `[from, to)`, by its own signals and, for `shared`, those
    /// of its account's NLB and streaming fleet.
    fn sandbox_use(
        &self,
        account: &str,
        owner: &Owner,
        shared: crate::activity::Shared,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<crate::activity::Use, AwsError>> + Send;
}

impl Activity for Provisioner {
    async fn sandbox_use(
        &self,
        account: &str,
        owner: &Owner,
        shared: crate::activity::Shared,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::activity::Use, AwsError> {
        crate::activity::sandbox_use(&self.open(account).await, owner, shared, from, to).await
    }
}

impl Vms for Provisioner {
    async fn find(&self, account: &str, owner: &Owner) -> Result<Vec<Vm>, AwsError> {
        instances::find(self.open(account).await.ec2(), owner).await
    }

    async fn remaining(&self, account: &str, owner: &Owner) -> Result<Vec<Vm>, AwsError> {
        instances::remaining(self.open(account).await.ec2(), owner).await
    }

    async fn launch(&self, account: &str, launch: &Launch<'_>) -> Result<String, AwsError> {
        instances::ensure(self.open(account).await.ec2(), launch).await
    }

    async fn start(&self, account: &str, ids: &[String]) -> Result<(), AwsError> {
        instances::start(self.open(account).await.ec2(), ids).await
    }

    async fn stop(&self, account: &str, ids: &[String]) -> Result<(), AwsError> {
        instances::stop(self.open(account).await.ec2(), ids).await
    }

    async fn terminate(&self, account: &str, ids: &[String]) -> Result<(), AwsError> {
        instances::terminate(self.open(account).await.ec2(), ids).await
    }

    async fn terminate_launched(&self, account: &str, ids: &[String]) -> Result<(), AwsError> {
        instances::terminate_launched(self.open(account).await.ec2(), ids).await
    }
}

impl Networks for Provisioner {
    async fn account_network(
        &self,
        account: &str,
        owner: &Owner,
    ) -> Result<Option<AccountNetwork>, AwsError> {
        network::account_network(self.open(account).await.ec2(), owner).await
    }

    async fn has_vpc(&self, account: &str, owner: &Owner) -> Result<bool, AwsError> {
        network::has_vpc(self.open(account).await.ec2(), owner).await
    }

    async fn ensure_account_network(&self, account: &str, owner: &Owner) -> Result<AccountNetwork, AwsError> {
        network::ensure_account_network(self.open(account).await.ec2(), owner).await
    }

    async fn create_sandbox_network(
        &self,
        account: &str,
        owner: &Owner,
        network: &AccountNetwork,
        names: (&str, &str),
    ) -> Result<SandboxNetwork, AwsError> {
        network::create_sandbox_network(self.open(account).await.ec2(), owner, network, names).await
    }

    async fn delete_sandbox_network(&self, account: &str, owner: &Owner) -> Result<(), AwsError> {
        network::delete_sandbox_network(self.open(account).await.ec2(), owner).await
    }
}

impl Ingress for Provisioner {
    async fn register(&self, account: &str, targets: &Targets<'_>) -> Result<Routes, AwsError> {
        ingress::register(&self.open(account).await, targets).await
    }

    async fn deregister(
        &self,
        account: &str,
        tenant: &str,
        sandbox: &str,
        host: &str,
    ) -> Result<(), AwsError> {
        ingress::deregister(&self.open(account).await, tenant, sandbox, host).await
    }
}

impl Commands for Provisioner {
    async fn install(
        &self,
        account: &str,
        instance_id: &str,
        sandbox: &str,
        constellations: &[String],
    ) -> Result<String, AwsError> {
        commands::install(
            self.open(account).await.ssm(),
            instance_id,
            sandbox,
            constellations,
        )
        .await
    }

    async fn progress(
        &self,
        account: &str,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Progress, AwsError> {
        commands::progress(self.open(account).await.ssm(), command_id, instance_id).await
    }
}

/// [`SharedInfrastructure`] on AWS: the tenant accounts, the proxies' launch settings and the
/// streaming side (AppStream, or its local stand-in).
#[derive(Debug, Clone)]
pub struct Infrastructure {
    pub accounts: Provisioner,
    pub proxy: ProxySpec,
    pub streaming: Streaming,
}

impl SharedInfrastructure for Infrastructure {
    async fn converge(
        &self,
        account: &str,
        owner: &Owner,
        network: Option<&AccountNetwork>,
        want: Want,
        client_token: &str,
    ) -> Result<Converged, AwsError> {
        let clients = self.accounts.open(account).await;
        infra::converge(
            &clients,
            owner,
            network,
            want,
            &self.proxy,
            &self.streaming,
            client_token,
        )
        .await
    }
}

/// [`ImageSharing`] on AWS: EC2 in the management account, which owns the images.
impl ImageSharing for aws_sdk_ec2::Client {
    async fn share(&self, image_ids: &[&str], account: &str) -> Result<(), AwsError> {
        crate::images::share(self, image_ids, account).await
    }
}

/// What is in a tenant account, found by its tags and by describing it (see [`inventory`]).
pub trait Inventory: Send + Sync {
    /// Every sandbox that has resources in the account.
    fn tagged_sandboxes(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<std::collections::BTreeSet<inventory::TaggedSandbox>, AwsError>> + Send;
    /// What the account holds that an empty account must not; empty when it may be reused.
    fn leftovers(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<Vec<inventory::Leftover>, AwsError>> + Send;
}

impl Inventory for Infrastructure {
    async fn tagged_sandboxes(
        &self,
        account: &str,
    ) -> Result<std::collections::BTreeSet<inventory::TaggedSandbox>, AwsError> {
        inventory::tagged_sandboxes(&self.accounts.open(account).await).await
    }

    async fn leftovers(&self, account: &str) -> Result<Vec<inventory::Leftover>, AwsError> {
        inventory::leftovers(&self.accounts.open(account).await, &self.streaming).await
    }
}

/// The organizational unit an account belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Pool,
    Customers,
    Expired,
    Quarantine,
}

/// New accounts for the pool, and each account in its organizational unit.
pub trait AccountFactory: Send + Sync {
    /// Asks for a new account named `name`; returns the creation request's id.
    fn create_account(&self, name: &str) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Every account creation the organization knows of.
    fn creations(&self) -> impl Future<Output = Result<Vec<organizations::Creation>, AwsError>> + Send;
    /// Puts the provisioning role into a new account.
    fn bootstrap(&self, account: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Moves the account into `unit` unless it is there; whether it moved.
    fn place(&self, account: &str, unit: Unit) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// [`AccountFactory`] on AWS Organizations, bootstrapping through the role it creates.
#[derive(Debug, Clone)]
pub struct OrganizationPool {
    pub organization: organizations::Organization,
    /// The management account, through the role Organizations creates in member accounts.
    pub bootstrap: Provisioner,
    /// The provisioning role to put into new accounts.
    pub role_name: String,
    pub management_account: String,
}

impl AccountFactory for OrganizationPool {
    async fn create_account(&self, name: &str) -> Result<String, AwsError> {
        self.organization.create_account(name).await
    }

    async fn creations(&self) -> Result<Vec<organizations::Creation>, AwsError> {
        self.organization.creations().await
    }

    async fn bootstrap(&self, account: &str) -> Result<(), AwsError> {
        organizations::bootstrap(
            &self.bootstrap,
            account,
            &self.role_name,
            &self.management_account,
        )
        .await
    }

    async fn place(&self, account: &str, unit: Unit) -> Result<bool, AwsError> {
        let units = &self.organization.units;
        let id = match unit {
            Unit::Pool => &units.pool,
            Unit::Customers => &units.customers,
            Unit::Expired => &units.expired,
            Unit::Quarantine => &units.quarantine,
        };
        self.organization.place(account, id).await
    }
}
