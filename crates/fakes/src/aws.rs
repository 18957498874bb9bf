//! [`FakeAws`]: the AWS-side ports of `crates/aws/src/ports.rs` (instances, networks, ingress,
//! commands, the shared infrastructure, image sharing, activity and the inventory). It keeps, per
//! account, what the real adapters would find by tag: instances, the account network, each
//! sandbox's network, routes and commands. Like the adapters, its creates return what exists and
//! its deletes tolerate what is gone, so a handler's re-run can be tested against it.

use chrono::Utc;
use sbx_aws::AwsError;
use sbx_aws::commands::Progress;
use sbx_aws::infra::{Converged, Want};
use sbx_aws::ingress::{Routes, Targets};
use sbx_aws::instances::{InstanceState, Launch, Vm};
use sbx_aws::inventory::{Leftover, LeftoverKind, LeftoverState, TaggedSandbox};
use sbx_aws::network::{AccountNetwork, SandboxNetwork};
use sbx_aws::{Commands, ImageSharing, Ingress, Inventory, Networks, Owner, SharedInfrastructure, Vms};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// Who owns a resource, as one key: `sandbox:<tenant>/<id>` or `account:<id>`.
fn key(owner: &Owner) -> String {
    match owner {
        Owner::Sandbox { tenant, sandbox } => format!("sandbox:{tenant}/{sandbox}"),
        Owner::Account { account, .. } => format!("account:{account}"),
    }
}

/// The sandbox a key names, as its tags would.
fn tagged(key: &str) -> Option<TaggedSandbox> {
    let (tenant, sandbox) = key.strip_prefix("sandbox:")?.split_once('/')?;
    Some(TaggedSandbox {
        tenant: tenant.to_owned(),
        sandbox: sandbox.to_owned(),
    })
}

#[derive(Debug, Default)]
pub struct State {
    /// (account, owner key) → instances.
    pub vms: BTreeMap<(String, String), Vec<Vm>>,
    /// (account, client token) → the instance RunInstances made with it: a repeat of a token
    /// answers that instance, as AWS does, and nothing else makes a launch idempotent here.
    pub launch_tokens: BTreeMap<(String, String), String>,
    pub account_networks: BTreeMap<String, AccountNetwork>,
    /// (account, sandbox owner key) → network.
    pub sandbox_networks: BTreeMap<(String, String), SandboxNetwork>,
    /// (account, sandbox) → the routes and the instances behind them.
    pub routes: BTreeMap<(String, String), (Routes, Vec<String>)>,
    /// command id → (account, instance, progress).
    pub commands: BTreeMap<String, (String, String, Progress)>,
    /// account → what the infrastructure is.
    pub infrastructure: BTreeMap<String, Want>,
    /// account → images shared with it.
    pub shared: BTreeMap<String, Vec<String>>,
    /// Every call that changes something, in order: `StartInstances i-1`, ...
    pub changes: Vec<String>,
    /// Instances a describe does not show yet (AWS's visibility window), though they exist.
    pub unseen: std::collections::BTreeSet<String>,
    /// sandbox id → the times it was in use (CPU or requests), as CloudWatch would have them.
    pub activity: BTreeMap<String, Vec<chrono::DateTime<Utc>>>,
    /// Sandboxes whose CPU CloudWatch has not reported for the window: their use is unknown.
    pub unreported: std::collections::BTreeSet<String>,
    /// How many converges in a row still find AWS changing something (`nat pending`), as a
    /// NAT gateway takes minutes to become available or deleted.
    pub converging_for: u32,
    /// The client token of every converge, in order: CreateNatGateway's, which AWS requires
    /// to be 1 to 64 characters and answers a repeat of with the first NAT.
    pub converge_tokens: Vec<String>,
    next_id: u32,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{:04}", self.next_id)
    }
}

#[derive(Debug, Default)]
pub struct FakeAws {
    state: Mutex<State>,
    /// When set, every call fails with this service error code.
    failing: Mutex<Option<&'static str>>,
}

impl FakeAws {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on every call fails with `code` (`Throttling` is transient).
    pub fn fail_with(&self, code: &'static str) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
    }

    fn check(&self, operation: &'static str) -> Result<MutexGuard<'_, State>, AwsError> {
        if let Some(code) = *self.failing.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(AwsError::Api {
                operation,
                code: code.to_owned(),
                message: "injected".to_owned(),
                transient: code == "Throttling",
            });
        }
        Ok(self.state())
    }

    /// Adds an instance of `owner` in `account`; returns its id.
    pub fn add_vm(&self, account: &str, owner: &Owner, role: &str, state: InstanceState) -> String {
        let mut s = self.state();
        let id = s.id("i");
        s.vms
            .entry((account.to_owned(), key(owner)))
            .or_default()
            .push(Vm {
                id: id.clone(),
                role: role.to_owned(),
                state,
            });
        id
    }

    /// Gives `account` a network.
    pub fn add_account_network(&self, account: &str) -> AccountNetwork {
        let mut s = self.state();
        let network = AccountNetwork {
            vpc_id: s.id("vpc"),
            public_subnets: vec![s.id("subnet"), s.id("subnet")],
            alb_group: s.id("sg"),
            proxy_group: s.id("sg"),
            nlb_group: s.id("sg"),
            sandbox_routes: s.id("rtb"),
        };
        s.account_networks.insert(account.to_owned(), network.clone());
        network
    }

    /// Sets every instance with one of `ids` to `state`.
    fn set_states(s: &mut State, ids: &[String], state: InstanceState) {
        for vm in s.vms.values_mut().flatten() {
            if ids.contains(&vm.id) {
                vm.state = state.clone();
            }
        }
    }
}

impl sbx_aws::Activity for FakeAws {
    /// Busy at the last of the sandbox's `activity` times in the window; unknown for a sandbox
    /// in `unreported`; idle otherwise.
    async fn sandbox_use(
        &self,
        _account: &str,
        owner: &Owner,
        _shared: sbx_aws::activity::Shared,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    ) -> Result<sbx_aws::activity::Use, AwsError> {
        use sbx_aws::activity::Use;
        let state = self.check("GetMetricData")?;
        let Owner::Sandbox { sandbox, .. } = owner else {
            return Ok(Use::Unknown("not a sandbox".into()));
        };
        let last = state
            .activity
            .get(sandbox)
            .into_iter()
            .flatten()
            .filter(|at| **at >= from && **at < to)
            .max()
            .copied();
        Ok(match last {
            Some(at) => Use::Busy(at),
            None if state.unreported.contains(sandbox) => {
                Use::Unknown("the CPU is not reported for the window".into())
            }
            None => Use::Idle,
        })
    }
}

impl Vms for FakeAws {
    async fn find(&self, account: &str, owner: &Owner) -> Result<Vec<Vm>, AwsError> {
        let s = self.check("DescribeInstances")?;
        let vms = s
            .vms
            .get(&(account.to_owned(), key(owner)))
            .cloned()
            .unwrap_or_default();
        Ok(vms
            .into_iter()
            .filter(|vm| vm.state != InstanceState::Terminated && !s.unseen.contains(&vm.id))
            .collect())
    }

    /// RunInstances as AWS runs it: a repeat of a client token answers the instance the first
    /// call made; any other call makes a new one. (The adapter also looks for the role's
    /// instance by tag first, but a describe right after a launch can miss it, so only the
    /// token is relied on: a handler that sends no stable token makes two.)
    async fn launch(&self, account: &str, launch: &Launch<'_>) -> Result<String, AwsError> {
        let mut s = self.check("RunInstances")?;
        if launch.client_token.is_empty() || launch.client_token.len() > 64 {
            return Err(AwsError::Api {
                operation: "RunInstances",
                code: "InvalidParameterValue".to_owned(),
                message: format!("client token {:?}: 1 to 64 characters", launch.client_token),
                transient: false,
            });
        }
        let token = (account.to_owned(), launch.client_token.to_owned());
        if let Some(id) = s.launch_tokens.get(&token) {
            return Ok(id.clone());
        }
        let owner = (account.to_owned(), key(launch.owner));
        let id = s.id("i");
        s.changes
            .push(format!("RunInstances {} {}", launch.role, launch.image_id));
        s.vms.entry(owner).or_default().push(Vm {
            id: id.clone(),
            role: launch.role.to_owned(),
            state: InstanceState::Pending,
        });
        s.launch_tokens.insert(token, id.clone());
        Ok(id)
    }

    async fn start(&self, _account: &str, ids: &[String]) -> Result<(), AwsError> {
        let mut s = self.check("StartInstances")?;
        s.changes.push(format!("StartInstances {}", ids.join(" ")));
        Self::set_states(&mut s, ids, InstanceState::Pending);
        Ok(())
    }

    async fn stop(&self, _account: &str, ids: &[String]) -> Result<(), AwsError> {
        let mut s = self.check("StopInstances")?;
        s.changes.push(format!("StopInstances {}", ids.join(" ")));
        Self::set_states(&mut s, ids, InstanceState::Stopping);
        Ok(())
    }

    async fn terminate(&self, _account: &str, ids: &[String]) -> Result<(), AwsError> {
        let mut s = self.check("TerminateInstances")?;
        s.changes.push(format!("TerminateInstances {}", ids.join(" ")));
        Self::set_states(&mut s, ids, InstanceState::Terminated);
        Ok(())
    }

    /// As AWS: an id it does not know yet is "not yet"; here every launched id is known.
    async fn terminate_launched(&self, account: &str, ids: &[String]) -> Result<(), AwsError> {
        self.terminate(account, ids).await
    }
}

impl Networks for FakeAws {
    async fn account_network(
        &self,
        account: &str,
        _owner: &Owner,
    ) -> Result<Option<AccountNetwork>, AwsError> {
        Ok(self.check("DescribeVpcs")?.account_networks.get(account).cloned())
    }

    async fn has_vpc(&self, account: &str, owner: &Owner) -> Result<bool, AwsError> {
        Ok(self.account_network(account, owner).await?.is_some())
    }

    async fn ensure_account_network(&self, account: &str, owner: &Owner) -> Result<AccountNetwork, AwsError> {
        if let Some(network) = self.account_network(account, owner).await? {
            return Ok(network);
        }
        self.state().changes.push(format!("CreateVpc {account}"));
        Ok(self.add_account_network(account))
    }

    async fn create_sandbox_network(
        &self,
        account: &str,
        owner: &Owner,
        _network: &AccountNetwork,
        _names: (&str, &str),
    ) -> Result<SandboxNetwork, AwsError> {
        let mut s = self.check("CreateSubnet")?;
        let at = (account.to_owned(), key(owner));
        if let Some(existing) = s.sandbox_networks.get(&at) {
            return Ok(existing.clone());
        }
        let network = SandboxNetwork {
            subnet_id: s.id("subnet"),
            security_group_id: s.id("sg"),
        };
        s.changes.push(format!("CreateSubnet {}", at.1));
        s.sandbox_networks.insert(at, network.clone());
        Ok(network)
    }

    async fn delete_sandbox_network(&self, account: &str, owner: &Owner) -> Result<(), AwsError> {
        let mut s = self.check("DeleteSubnet")?;
        if s.sandbox_networks
            .remove(&(account.to_owned(), key(owner)))
            .is_some()
        {
            s.changes.push(format!("DeleteSubnet {}", key(owner)));
        }
        Ok(())
    }
}

impl Ingress for FakeAws {
    async fn register(&self, account: &str, targets: &Targets<'_>) -> Result<Routes, AwsError> {
        let mut s = self.check("CreateTargetGroup")?;
        let at = (account.to_owned(), targets.sandbox.to_owned());
        if let Some((routes, _)) = s.routes.get(&at) {
            return Ok(routes.clone());
        }
        let routes = Routes {
            host: targets.host.to_owned(),
            amq_port: targets.amq.map(|_| 10_001),
            amq_host: targets.amq.map(|_| "sbx-nlb.elb.example".to_owned()),
        };
        let behind = [Some(targets.http), targets.amq]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        s.changes.push(format!("CreateRule {}", targets.host));
        s.routes.insert(at, (routes.clone(), behind));
        Ok(routes)
    }

    async fn deregister(
        &self,
        account: &str,
        _tenant: &str,
        sandbox: &str,
        host: &str,
    ) -> Result<(), AwsError> {
        let mut s = self.check("DeleteRule")?;
        if s.routes
            .remove(&(account.to_owned(), sandbox.to_owned()))
            .is_some()
        {
            s.changes.push(format!("DeleteRule {host}"));
        }
        Ok(())
    }
}

impl Commands for FakeAws {
    async fn install(
        &self,
        account: &str,
        instance_id: &str,
        _sandbox: &str,
        constellations: &[String],
    ) -> Result<String, AwsError> {
        let mut s = self.check("SendCommand")?;
        let id = s.id("cmd");
        s.changes
            .push(format!("SendCommand {instance_id} {}", constellations.join(" ")));
        s.commands.insert(
            id.clone(),
            (account.to_owned(), instance_id.to_owned(), Progress::Running),
        );
        Ok(id)
    }

    async fn progress(
        &self,
        account: &str,
        command_id: &str,
        instance_id: &str,
    ) -> Result<Progress, AwsError> {
        let s = self.check("GetCommandInvocation")?;
        match s.commands.get(command_id) {
            Some((a, i, progress)) if a == account && i == instance_id => Ok(progress.clone()),
            _ => Err(AwsError::Api {
                operation: "GetCommandInvocation",
                code: "InvocationDoesNotExist".to_owned(),
                message: command_id.to_owned(),
                transient: false,
            }),
        }
    }
}

impl SharedInfrastructure for FakeAws {
    async fn converge(
        &self,
        account: &str,
        _owner: &Owner,
        network: Option<&AccountNetwork>,
        want: Want,
        client_token: &str,
    ) -> Result<Converged, AwsError> {
        let mut s = self.check("DescribeNatGateways")?;
        if client_token.is_empty() || client_token.len() > 64 {
            return Err(AwsError::Api {
                operation: "CreateNatGateway",
                code: "InvalidParameterValue".to_owned(),
                message: format!("client token {client_token:?}: 1 to 64 characters"),
                transient: false,
            });
        }
        s.converge_tokens.push(client_token.to_owned());
        if s.converging_for > 0 {
            s.converging_for -= 1;
            return Ok(Converged {
                changes: Vec::new(),
                waiting: vec!["nat pending".to_owned()],
            });
        }
        let before = s.infrastructure.get(account).copied().unwrap_or_default();
        // Without a network nothing can be created, only removed.
        let after = match network {
            Some(_) => want,
            None => Want {
                base: before.base && want.base,
                nlb: before.nlb && want.nlb,
                fleet: before.fleet && want.fleet,
            },
        };
        let mut changes = Vec::new();
        for (name, was, is) in [
            ("base", before.base, after.base),
            ("nlb", before.nlb, after.nlb),
            ("fleet", before.fleet, after.fleet),
        ] {
            match (was, is) {
                (false, true) => changes.push(format!("created {name}")),
                (true, false) => changes.push(format!("deleted {name}")),
                _ => {}
            }
        }
        s.changes.extend(changes.iter().map(|c| format!("{account} {c}")));
        s.infrastructure.insert(account.to_owned(), after);
        Ok(Converged {
            changes,
            waiting: Vec::new(),
        })
    }
}

impl ImageSharing for FakeAws {
    async fn share(&self, image_ids: &[&str], account: &str) -> Result<(), AwsError> {
        let mut s = self.check("ModifyImageAttribute")?;
        let shared = s.shared.entry(account.to_owned()).or_default();
        for image in image_ids {
            if !shared.iter().any(|i| i == image) {
                shared.push((*image).to_owned());
            }
        }
        Ok(())
    }
}

/// The inventory as the tags show it: every sandbox with an instance (not terminated) or a
/// network in the account, and what an empty account must not hold.
impl Inventory for FakeAws {
    async fn tagged_sandboxes(
        &self,
        account: &str,
    ) -> Result<std::collections::BTreeSet<TaggedSandbox>, AwsError> {
        let s = self.check("GetResources")?;
        let with_vms = s
            .vms
            .iter()
            .filter(|((a, _), vms)| {
                a == account && vms.iter().any(|vm| vm.state != InstanceState::Terminated)
            })
            .filter_map(|((_, key), _)| tagged(key));
        let with_network = s
            .sandbox_networks
            .keys()
            .filter(|(a, _)| a == account)
            .filter_map(|(_, key)| tagged(key));
        Ok(with_vms.chain(with_network).collect())
    }

    async fn leftovers(&self, account: &str) -> Result<Vec<Leftover>, AwsError> {
        let s = self.check("DescribeInstances")?;
        let mut left = Vec::new();
        for ((a, _), vms) in &s.vms {
            for vm in vms
                .iter()
                .filter(|vm| a == account && vm.state != InstanceState::Terminated)
            {
                left.push(Leftover {
                    kind: LeftoverKind::Instance,
                    id: vm.id.clone(),
                    state: Some(LeftoverState::Instance(vm.state.clone())),
                });
            }
        }
        for ((a, _), network) in &s.sandbox_networks {
            if a == account {
                left.push(Leftover {
                    kind: LeftoverKind::Subnet,
                    id: network.subnet_id.clone(),
                    state: None,
                });
            }
        }
        left.sort();
        Ok(left)
    }
}
