//! In-memory fakes of the AWS-side ports and of the store, for the handlers' unit tests (the
//! steps' and the API's). A dev-dependency only: nothing that ships links it.
//! [`FakeAws`] keeps, per account, what the real adapters would find by tag: instances, the
//! account network, each sandbox's network, routes and commands. Like the adapters, its creates return what exists
//! and its deletes tolerate what is gone, so a handler's re-run can be tested against it.

use chrono::Utc;
use sbx_aws::AwsError;
use sbx_aws::commands::Progress;
use sbx_aws::infra::{Converged, Want};
use sbx_aws::ingress::{Routes, Targets};
use sbx_aws::instances::{InstanceState, Launch, Vm};
use sbx_aws::inventory::{Leftover, LeftoverKind, LeftoverState, TaggedSandbox};
use sbx_aws::network::{AccountNetwork, SandboxNetwork};
use sbx_aws::{Commands, ImageSharing, Ingress, Inventory, Networks, Owner, SharedInfrastructure, Vms};
use sbx_lifecycle::{Event, NewSandbox, Operation, Outcome, Sandbox, SandboxOptions};
use sbx_store::{
    Account, AccountChange, AccountEvent, AccountState, AccountStore, Created, InfraChange, Lease, ListQuery,
    LockStore, Page, SandboxStore, StoreError,
};
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
    async fn last_active(
        &self,
        _account: &str,
        owner: &Owner,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    ) -> Result<Option<chrono::DateTime<Utc>>, AwsError> {
        let state = self.check("GetMetricData")?;
        let Owner::Sandbox { sandbox, .. } = owner else {
            return Ok(None);
        };
        Ok(state
            .activity
            .get(sandbox)
            .into_iter()
            .flatten()
            .filter(|at| **at >= from && **at < to)
            .max()
            .copied())
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

/// The account the fakes' examples live in.
pub const ACCOUNT: &str = "100000000001";

/// An in-memory store: records, the account pool, leases and the infrastructure journal, with
/// the lifecycle's own transition rules. Enough of the store's behaviour for the handlers that
/// take it; the DynamoDB store itself is tested against moto in `crates/store/tests/`.
#[derive(Debug, Default)]
pub struct FakeStore {
    pub sandboxes: Mutex<Vec<Sandbox>>,
    pub events: Mutex<Vec<Event>>,
    /// account id → account.
    pub accounts: Mutex<BTreeMap<String, Account>>,
    pub leases: Mutex<BTreeMap<String, Lease>>,
    pub journal: Mutex<Vec<InfraChange>>,
    /// (tenant, Idempotency-Key) → the sandbox the first request made, and what it asked for:
    /// a repeat answers that sandbox, the key with another request is refused, as the store
    /// does.
    pub keys: Mutex<BTreeMap<(String, String), KeyUse>>,
    /// (tenant, id) → the alarm a sweep set (`None`: off the index), the thresholds warned of,
    /// for the expiry they were set at. An entry for another expiry is stale, as an extension
    /// makes it on the table: the first alarm of the new expiry holds.
    pub alarms: Mutex<BTreeMap<(String, String), FakeAlarm>>,
    pub notices: Mutex<Vec<sbx_store::Notice>>,
    /// tenant → its settings.
    pub settings: Mutex<BTreeMap<String, sbx_store::TenantSettings>>,
    /// (tenant, id) → its meter, once a sweep moved it (before: opened at its creation).
    pub meters: Mutex<BTreeMap<(String, String), FakeMeter>>,
    pub budgets: Mutex<BTreeMap<String, sbx_store::Budget>>,
    /// (tenant, month) → micro-dollars spent and thresholds warned of; (tenant, month,
    /// account) → micro-dollars spent there.
    pub spend: Mutex<BTreeMap<(String, String), MonthItem>>,
    pub account_spend: Mutex<BTreeMap<(String, String, String), u64>>,
    pub budget_events: Mutex<Vec<sbx_store::BudgetEvent>>,
    /// (tenant, day) → micro-dollars spent that day.
    pub day_spend: Mutex<BTreeMap<(String, String), u64>>,
    pub drift_checked_on: Mutex<Option<String>>,
    pub drifts: Mutex<BTreeMap<(String, String), sbx_store::Drift>>,
}

/// A tenant's month: micro-dollars spent, and the thresholds warned of.
pub type MonthItem = (u64, Vec<u32>);

#[derive(Debug, Clone)]
pub struct FakeMeter {
    pub at: chrono::DateTime<Utc>,
    pub version: u64,
    pub state: sbx_lifecycle::State,
    pub total: u64,
    pub open: bool,
}

#[derive(Debug, Clone)]
pub struct FakeAlarm {
    pub at: Option<chrono::DateTime<Utc>>,
    pub warned: Vec<u64>,
    pub expires_at: chrono::DateTime<Utc>,
    pub looked_at: Option<chrono::DateTime<Utc>>,
    pub idle_warned_at: Option<chrono::DateTime<Utc>>,
}

/// What the first request with an Idempotency-Key made, and asked for.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub id: String,
    pub name: String,
    pub options: SandboxOptions,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeStore {
    /// Adds a sandbox of `acme` in `state` with `options`, in `ACCOUNT`.
    pub fn add(&self, id: &str, state: sbx_lifecycle::State, options: SandboxOptions) {
        let now = Utc::now();
        let change = Sandbox::create(
            NewSandbox {
                tenant: "acme".into(),
                id: id.into(),
                name: id.into(),
                options,
                expires_at: now + chrono::Duration::hours(8),
            },
            now,
        );
        let mut record = change.record;
        record.state = state;
        record.account_id = Some(ACCOUNT.into());
        locked(&self.sandboxes).push(record);
    }

    /// Adds a pool account.
    pub fn pool(&self, account_id: &str) {
        let (account, _) = Account::added(account_id, Utc::now());
        locked(&self.accounts).insert(account_id.into(), account);
    }

    /// Gives `owner` the lease of `lock`.
    pub fn hold(&self, lock: &str, owner: &str) {
        self.hold_until(lock, owner, Utc::now() + chrono::Duration::minutes(5));
    }

    /// `owner` holds `lock` until `expires_at` (in the past: a lease its owner left behind).
    pub fn hold_until(&self, lock: &str, owner: &str, expires_at: chrono::DateTime<Utc>) {
        let lease = Lease {
            lock: lock.into(),
            owner: owner.into(),
            expires_at,
        };
        locked(&self.leases).insert(lock.into(), lease);
    }

    /// Sets the expiry of `acme`'s sandbox `id`.
    pub fn put_expiry(&self, id: &str, expires_at: chrono::DateTime<Utc>) {
        for sandbox in locked(&self.sandboxes).iter_mut().filter(|s| s.id == id) {
            sandbox.expires_at = expires_at;
        }
    }

    /// Sets the state of `acme`'s sandbox `id`.
    pub fn put_state(&self, id: &str, state: sbx_lifecycle::State) {
        for sandbox in locked(&self.sandboxes).iter_mut().filter(|s| s.id == id) {
            sandbox.state = state;
        }
    }

    fn record(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        locked(&self.sandboxes)
            .iter()
            .find(|s| s.tenant == tenant && s.id == id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { id: id.into() })
    }

    fn put(&self, record: Sandbox) {
        let mut sandboxes = locked(&self.sandboxes);
        sandboxes.retain(|s| !(s.tenant == record.tenant && s.id == record.id));
        sandboxes.push(record);
    }

    fn account_of(&self, account_id: &str) -> Result<Account, StoreError> {
        locked(&self.accounts)
            .get(account_id)
            .cloned()
            .ok_or_else(|| StoreError::AccountNotFound {
                account_id: account_id.into(),
            })
    }
}

impl SandboxStore for FakeStore {
    async fn create(&self, new: NewSandbox, key: Option<&str>) -> Result<Created, StoreError> {
        if let Some(key) = key {
            let known = locked(&self.keys)
                .get(&(new.tenant.clone(), key.to_owned()))
                .cloned();
            if let Some(used) = known {
                if used.name != new.name || used.options != new.options {
                    return Err(StoreError::IdempotencyKeyReused);
                }
                return Ok(Created {
                    sandbox: self.record(&new.tenant, &used.id)?,
                    replayed: true,
                });
            }
            locked(&self.keys).insert(
                (new.tenant.clone(), key.to_owned()),
                KeyUse {
                    id: new.id.clone(),
                    name: new.name.clone(),
                    options: new.options.clone(),
                },
            );
        }
        if self.record(&new.tenant, &new.id).is_ok() {
            return Err(StoreError::AlreadyExists { id: new.id });
        }
        let change = Sandbox::create(new, Utc::now());
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(Created {
            sandbox: change.record,
            replayed: false,
        })
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        self.record(tenant, id)
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let items = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.tenant == tenant && query.state.is_none_or(|state| s.state == state))
            .cloned()
            .collect();
        Ok(Page {
            items,
            next_token: None,
        })
    }

    async fn begin(&self, tenant: &str, id: &str, operation: Operation) -> Result<Sandbox, StoreError> {
        let change = self.record(tenant, id)?.begin(operation, Utc::now())?;
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn begin_by(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<Sandbox, StoreError> {
        let change = self
            .record(tenant, id)?
            .begin(operation, Utc::now())?
            .by(Some(actor));
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn set_schedule(
        &self,
        tenant: &str,
        id: &str,
        schedule: &sbx_lifecycle::Schedule,
        now: chrono::DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        if matches!(
            record.state,
            sbx_lifecycle::State::Deleting | sbx_lifecycle::State::Deleted
        ) {
            return Err(StoreError::NotExtendable {
                id: id.to_owned(),
                state: record.state,
            });
        }
        record.schedule = (!schedule.is_empty()).then(|| schedule.clone());
        self.put(record.clone());
        let mut alarms = locked(&self.alarms);
        let warned = alarms
            .get(&(tenant.to_owned(), id.to_owned()))
            .filter(|a| a.expires_at == record.expires_at)
            .map(|a| a.warned.clone())
            .unwrap_or_default();
        alarms.insert(
            (tenant.to_owned(), id.to_owned()),
            FakeAlarm {
                at: Some(now),
                warned,
                expires_at: record.expires_at,
                looked_at: Some(now),
                idle_warned_at: None,
            },
        );
        Ok(record)
    }

    async fn begin_as(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        let current = self.record(tenant, id)?;
        if current.state == operation.running() && current.execution.as_deref() == Some(execution) {
            return Ok(current);
        }
        let mut change = current.begin(operation, Utc::now())?;
        change.record.execution = Some(execution.to_owned());
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn finish_with(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
        endpoints: Option<sbx_lifecycle::Endpoints>,
    ) -> Result<Sandbox, StoreError> {
        let current = self.record(tenant, id)?;
        if current.version != version {
            return Err(StoreError::Conflict(sbx_lifecycle::Refused {
                operation,
                current: current.state,
            }));
        }
        let change = current.finish_at(operation, outcome, endpoints, Utc::now())?;
        self.put(change.record.clone());
        locked(&self.events).push(change.event);
        Ok(change.record)
    }

    async fn name_execution(
        &self,
        tenant: &str,
        id: &str,
        _operation: sbx_lifecycle::Operation,
        _version: u64,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.execution = Some(execution.into());
        self.put(record.clone());
        Ok(record)
    }

    async fn assign_account(&self, tenant: &str, id: &str, account_id: &str) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.account_id = Some(account_id.into());
        self.put(record.clone());
        Ok(record)
    }

    async fn extend(
        &self,
        tenant: &str,
        id: &str,
        expires_at: chrono::DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        let mut record = self.record(tenant, id)?;
        record.expires_at = expires_at;
        self.put(record.clone());
        Ok(record)
    }

    async fn events(&self, tenant: &str, id: &str, after: u64) -> Result<Vec<Event>, StoreError> {
        let events = locked(&self.events);
        Ok(events
            .iter()
            .filter(|e| e.tenant == tenant && e.sandbox_id == id && e.seq > after)
            .cloned()
            .collect())
    }

    async fn live_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let sandboxes = locked(&self.sandboxes);
        Ok(sandboxes
            .iter()
            .filter(|s| s.tenant == tenant && s.state.is_live())
            .count() as u64)
    }
}

impl AccountStore for FakeStore {
    async fn add_to_pool(&self, account_id: &str) -> Result<Account, StoreError> {
        if locked(&self.accounts).get(account_id).is_none() {
            self.pool(account_id);
        }
        self.account_of(account_id)
    }

    async fn allocate(&self, tenant: &str) -> Result<Account, StoreError> {
        let mut accounts = locked(&self.accounts);
        let own = accounts.values().find(|a| a.tenant.as_deref() == Some(tenant));
        let (account, change) = match own {
            Some(own) => (
                own.account_id.clone(),
                AccountChange::Reuse {
                    tenant: tenant.into(),
                },
            ),
            None => {
                let free = accounts.values().find(|a| a.state == AccountState::Pool);
                let free = free.ok_or(StoreError::PoolExhausted)?;
                (
                    free.account_id.clone(),
                    AccountChange::Assign {
                        tenant: tenant.into(),
                    },
                )
            }
        };
        let account = accounts.get_mut(&account).ok_or(StoreError::PoolExhausted)?;
        match account.apply(&change, Utc::now()) {
            Ok(Some((next, _))) => *account = next,
            Ok(None) => {}
            Err(refused) => {
                return Err(StoreError::AccountUnavailable {
                    account_id: account.account_id.clone(),
                    state: refused.state,
                });
            }
        }
        Ok(account.clone())
    }

    async fn account(&self, account_id: &str) -> Result<Account, StoreError> {
        self.account_of(account_id)
    }

    async fn tenant_account(&self, tenant: &str) -> Result<Option<Account>, StoreError> {
        let accounts = locked(&self.accounts);
        Ok(accounts
            .values()
            .find(|a| a.tenant.as_deref() == Some(tenant))
            .cloned())
    }

    async fn expire(&self, tenant: &str, account_id: &str) -> Result<Account, StoreError> {
        self.change_account(
            account_id,
            AccountChange::Expire {
                tenant: tenant.into(),
            },
        )
        .await
    }

    async fn change_account(&self, account_id: &str, change: AccountChange) -> Result<Account, StoreError> {
        let mut accounts = locked(&self.accounts);
        let account = accounts
            .get_mut(account_id)
            .ok_or_else(|| StoreError::AccountNotFound {
                account_id: account_id.into(),
            })?;
        match account.apply(&change, Utc::now()) {
            Ok(Some((next, _))) => *account = next,
            Ok(None) => {}
            Err(refused) => {
                return Err(StoreError::AccountUnavailable {
                    account_id: account_id.into(),
                    state: refused.state,
                });
            }
        }
        Ok(account.clone())
    }

    async fn change_account_from(
        &self,
        current: &Account,
        change: AccountChange,
    ) -> Result<Option<Account>, StoreError> {
        let stored = self.account_of(&current.account_id)?;
        if stored.version != current.version {
            return Ok(None);
        }
        self.change_account(&current.account_id, change).await.map(Some)
    }

    async fn all_accounts(&self, state: AccountState) -> Result<Vec<Account>, StoreError> {
        self.accounts(state, i32::MAX).await
    }

    async fn account_events(&self, _account_id: &str, _after: u64) -> Result<Vec<AccountEvent>, StoreError> {
        Ok(Vec::new())
    }

    async fn accounts(&self, state: AccountState, limit: i32) -> Result<Vec<Account>, StoreError> {
        let accounts = locked(&self.accounts);
        let limit = usize::try_from(limit).unwrap_or(0);
        Ok(accounts
            .values()
            .filter(|a| a.state == state)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_infra_change(&self, change: &InfraChange) -> Result<(), StoreError> {
        locked(&self.journal).push(change.clone());
        Ok(())
    }

    async fn infra_changes(&self, account_id: &str) -> Result<Vec<InfraChange>, StoreError> {
        let journal = locked(&self.journal);
        Ok(journal
            .iter()
            .filter(|c| c.account_id == account_id)
            .cloned()
            .collect())
    }
}

impl LockStore for FakeStore {
    async fn acquire(
        &self,
        lock: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        let mut leases = locked(&self.leases);
        let now = Utc::now();
        if let Some(held) = leases
            .get(lock)
            .filter(|l| l.owner != owner && l.expires_at > now)
        {
            return Err(StoreError::LockHeld {
                lock: lock.into(),
                owner: held.owner.clone(),
                until: held.expires_at,
            });
        }
        let lease = Lease {
            lock: lock.into(),
            owner: owner.into(),
            expires_at: now + chrono::Duration::from_std(lease).unwrap_or_default(),
        };
        leases.insert(lock.into(), lease.clone());
        Ok(lease)
    }

    async fn release(&self, lock: &str, owner: &str) -> Result<(), StoreError> {
        let mut leases = locked(&self.leases);
        match leases.get(lock) {
            Some(held) if held.owner != owner => Err(StoreError::NotLockOwner {
                lock: lock.into(),
                owner: owner.into(),
                holder: held.owner.clone(),
            }),
            _ => {
                leases.remove(lock);
                Ok(())
            }
        }
    }

    async fn holder(&self, lock: &str) -> Result<Option<Lease>, StoreError> {
        Ok(locked(&self.leases).get(lock).cloned())
    }

    async fn remove_expired(&self, lease: &Lease) -> Result<bool, StoreError> {
        let mut leases = locked(&self.leases);
        if leases.get(&lease.lock) == Some(lease) && lease.expires_at < Utc::now() {
            leases.remove(&lease.lock);
            return Ok(true);
        }
        Ok(false)
    }
}

/// The state machines as Step Functions runs them, without running anything: StartExecution
/// is idempotent by name (a name already started starts nothing), and each started execution
/// is remembered with its input.
#[derive(Debug, Default)]
pub struct FakeWorkflows {
    /// execution name → (operation, input), in the order they were started.
    pub started: Mutex<Vec<(String, Operation, sbx_workflows::ExecutionInput)>>,
    /// The step `current_step` answers for a running execution.
    pub step: Mutex<Option<String>>,
}

impl FakeWorkflows {
    /// The names of the executions started so far.
    pub fn names(&self) -> Vec<String> {
        locked(&self.started)
            .iter()
            .map(|(name, ..)| name.clone())
            .collect()
    }
}

impl sbx_workflows::Workflows for FakeWorkflows {
    async fn start(
        &self,
        operation: Operation,
        name: &str,
        input: &sbx_workflows::ExecutionInput,
    ) -> Result<(), sbx_workflows::WorkflowError> {
        let mut started = locked(&self.started);
        if !started.iter().any(|(known, ..)| known == name) {
            started.push((name.to_owned(), operation, input.clone()));
        }
        Ok(())
    }

    async fn status(
        &self,
        _operation: Operation,
        name: &str,
    ) -> Result<sbx_workflows::Status, sbx_workflows::WorkflowError> {
        Ok(if locked(&self.started).iter().any(|(known, ..)| known == name) {
            sbx_workflows::Status::Running
        } else {
            sbx_workflows::Status::NotFound
        })
    }

    async fn current_step(
        &self,
        _operation: Operation,
        name: &str,
    ) -> Result<Option<String>, sbx_workflows::WorkflowError> {
        if locked(&self.started).iter().any(|(known, ..)| known == name) {
            Ok(locked(&self.step).clone())
        } else {
            Ok(None)
        }
    }

    fn execution_id(&self, operation: Operation, name: &str) -> String {
        format!("arn:aws:states:us-east-1:123456789012:execution:{operation}:{name}")
    }
}

impl sbx_store::TenantSettingsStore for FakeStore {
    async fn tenant_settings(&self, tenant: &str) -> Result<sbx_store::TenantSettings, StoreError> {
        Ok(locked(&self.settings).get(tenant).cloned().unwrap_or_default())
    }

    async fn put_tenant_settings(
        &self,
        tenant: &str,
        settings: &sbx_store::TenantSettings,
    ) -> Result<(), StoreError> {
        locked(&self.settings).insert(tenant.to_owned(), settings.clone());
        Ok(())
    }
}

/// Meters and budgets as the store keeps them: a meter moves only from where it was read.
impl sbx_store::SpendStore for FakeStore {
    async fn open_meters(&self, limit: usize) -> Result<sbx_store::Meters, StoreError> {
        let meters = locked(&self.meters);
        let items: Vec<sbx_store::Meter> = locked(&self.sandboxes)
            .iter()
            .filter_map(|sandbox| {
                let key = (sandbox.tenant.clone(), sandbox.id.clone());
                let meter = meters.get(&key).cloned().unwrap_or(FakeMeter {
                    at: sandbox.created_at,
                    version: sandbox.version,
                    state: sandbox.state,
                    total: 0,
                    open: true,
                });
                meter.open.then(|| sbx_store::Meter {
                    sandbox: sandbox.clone(),
                    at: meter.at,
                    version: meter.version,
                    state: meter.state,
                    total: meter.total,
                    metered: meters.contains_key(&key),
                })
            })
            .take(limit)
            .collect();
        Ok(sbx_store::Meters {
            read: items.len() as u64,
            items,
        })
    }

    async fn write_meter(&self, metering: &sbx_store::Metering<'_>) -> Result<bool, StoreError> {
        let meter = metering.meter;
        let sandbox = &meter.sandbox;
        let key = (sandbox.tenant.clone(), sandbox.id.clone());
        let mut meters = locked(&self.meters);
        let current = meters.get(&key).map_or(sandbox.created_at, |m| m.at);
        if current != meter.at || meters.get(&key).is_some_and(|m| !m.open) {
            return Ok(false);
        }
        let total = meter.total + metering.accrued.total();
        meters.insert(
            key,
            FakeMeter {
                at: metering.to,
                version: metering.version,
                state: metering.state,
                total,
                open: metering.state != sbx_lifecycle::State::Deleted,
            },
        );
        for record in locked(&self.sandboxes)
            .iter_mut()
            .filter(|s| s.tenant == sandbox.tenant && s.id == sandbox.id)
        {
            record.cost = Some(sbx_lifecycle::Cost::new(
                total,
                record.created_at,
                metering.to,
                metering.accrued.rate,
            ));
        }
        for (day, micros) in &metering.accrued.by_day {
            *locked(&self.day_spend)
                .entry((sandbox.tenant.clone(), day.clone()))
                .or_default() += micros;
        }
        for (month, micros) in &metering.accrued.by_month() {
            locked(&self.spend)
                .entry((sandbox.tenant.clone(), month.clone()))
                .or_default()
                .0 += micros;
            if let Some(account) = &sandbox.account_id {
                *locked(&self.account_spend)
                    .entry((sandbox.tenant.clone(), month.clone(), account.clone()))
                    .or_default() += micros;
            }
        }
        Ok(true)
    }

    async fn budget(&self, tenant: &str) -> Result<Option<sbx_store::Budget>, StoreError> {
        Ok(locked(&self.budgets).get(tenant).cloned())
    }

    async fn put_budget(
        &self,
        tenant: &str,
        budget: &sbx_store::Budget,
        event: &sbx_store::BudgetEvent,
    ) -> Result<(), StoreError> {
        locked(&self.budgets).insert(tenant.to_owned(), budget.clone());
        locked(&self.budget_events).push(event.clone());
        Ok(())
    }

    async fn month_spend(&self, tenant: &str, month: &str) -> Result<sbx_store::MonthSpend, StoreError> {
        let (micros, warned) = locked(&self.spend)
            .get(&(tenant.to_owned(), month.to_owned()))
            .cloned()
            .unwrap_or_default();
        Ok(sbx_store::MonthSpend {
            tenant: tenant.to_owned(),
            month: month.to_owned(),
            spent: sbx_lifecycle::cost::Usd(micros),
            warned,
        })
    }

    async fn account_spend(
        &self,
        tenant: &str,
        account_id: &str,
        month: &str,
    ) -> Result<sbx_lifecycle::cost::Usd, StoreError> {
        Ok(sbx_lifecycle::cost::Usd(
            locked(&self.account_spend)
                .get(&(tenant.to_owned(), month.to_owned(), account_id.to_owned()))
                .copied()
                .unwrap_or_default(),
        ))
    }

    async fn warn_thresholds(
        &self,
        spend: &sbx_store::MonthSpend,
        warned: &[u32],
        events: &[sbx_store::BudgetEvent],
    ) -> Result<bool, StoreError> {
        let mut all = locked(&self.spend);
        let entry = all
            .entry((spend.tenant.clone(), spend.month.clone()))
            .or_default();
        if entry.1 != spend.warned {
            return Ok(false);
        }
        entry.1 = warned.to_vec();
        locked(&self.budget_events).extend(events.iter().cloned());
        Ok(true)
    }

    async fn budget_events(&self, tenant: &str) -> Result<Vec<sbx_store::BudgetEvent>, StoreError> {
        Ok(locked(&self.budget_events)
            .iter()
            .filter(|e| e.tenant == tenant)
            .cloned()
            .collect())
    }
}

impl sbx_store::DriftStore for FakeStore {
    async fn days_spend(
        &self,
        tenant: &str,
        first: &str,
        last: &str,
    ) -> Result<sbx_lifecycle::cost::Usd, StoreError> {
        Ok(sbx_lifecycle::cost::Usd(
            locked(&self.day_spend)
                .iter()
                .filter(|((t, day), _)| t == tenant && day.as_str() >= first && day.as_str() <= last)
                .map(|(_, micros)| micros)
                .sum(),
        ))
    }

    async fn claim_drift_check(&self, day: &str) -> Result<bool, StoreError> {
        let mut checked = locked(&self.drift_checked_on);
        if checked.as_deref().is_some_and(|d| d >= day) {
            return Ok(false);
        }
        *checked = Some(day.to_owned());
        Ok(true)
    }

    async fn release_drift_check(&self, day: &str) -> Result<(), StoreError> {
        let mut checked = locked(&self.drift_checked_on);
        if checked.as_deref() == Some(day) {
            *checked = None;
        }
        Ok(())
    }

    async fn put_drift(&self, tenant: &str, drift: &sbx_store::Drift) -> Result<(), StoreError> {
        locked(&self.drifts).insert((tenant.to_owned(), drift.month.clone()), drift.clone());
        Ok(())
    }

    async fn drift(&self, tenant: &str, month: &str) -> Result<Option<sbx_store::Drift>, StoreError> {
        Ok(locked(&self.drifts)
            .get(&(tenant.to_owned(), month.to_owned()))
            .cloned())
    }
}

/// The sweeps' index reads: only what is due (or in the state) is read, as from a sparse index.
impl sbx_store::Sweeps for FakeStore {
    async fn due(&self, at: chrono::DateTime<Utc>, limit: usize) -> Result<sbx_store::Swept, StoreError> {
        let mut items: Vec<Sandbox> = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.state.is_live() && s.expires_at <= at)
            .cloned()
            .collect();
        items.sort_by_key(|s| s.expires_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Swept { items, read })
    }

    async fn in_state(
        &self,
        state: sbx_lifecycle::State,
        limit: usize,
    ) -> Result<sbx_store::Swept, StoreError> {
        let mut items: Vec<Sandbox> = locked(&self.sandboxes)
            .iter()
            .filter(|s| s.state == state)
            .cloned()
            .collect();
        items.sort_by_key(|s| s.updated_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Swept { items, read })
    }

    async fn alarms_due(
        &self,
        at: chrono::DateTime<Utc>,
        limit: usize,
    ) -> Result<sbx_store::Alarms, StoreError> {
        let alarms = locked(&self.alarms);
        let mut items: Vec<sbx_store::Alarmed> = locked(&self.sandboxes)
            .iter()
            .filter_map(|s| {
                let (alarm_at, warned, looked_at, idle_warned_at) =
                    match alarms.get(&(s.tenant.clone(), s.id.clone())) {
                        Some(set) if set.expires_at == s.expires_at => {
                            (set.at?, set.warned.clone(), set.looked_at, set.idle_warned_at)
                        }
                        _ => (
                            sbx_store::first_alarm(s.expires_at, s.created_at),
                            Vec::new(),
                            None,
                            None,
                        ),
                    };
                (alarm_at <= at).then(|| sbx_store::Alarmed {
                    sandbox: s.clone(),
                    alarm_at,
                    warned,
                    looked_at,
                    idle_warned_at,
                })
            })
            .collect();
        items.sort_by_key(|a| a.alarm_at);
        items.truncate(limit);
        let read = items.len() as u64;
        Ok(sbx_store::Alarms { items, read })
    }

    async fn settle_alarm(
        &self,
        alarmed: &sbx_store::Alarmed,
        settled: &sbx_store::Settled<'_>,
    ) -> Result<bool, StoreError> {
        let sbx_store::Settled {
            warned,
            notices,
            next,
            looked_at,
            idle_warned_at,
        } = *settled;
        let key = (alarmed.sandbox.tenant.clone(), alarmed.sandbox.id.clone());
        let current = locked(&self.sandboxes)
            .iter()
            .find(|s| s.tenant == alarmed.sandbox.tenant && s.id == alarmed.sandbox.id)
            .cloned();
        let mut alarms = locked(&self.alarms);
        let alarm_now = match alarms.get(&key) {
            Some(set) if current.as_ref().is_some_and(|c| c.expires_at == set.expires_at) => set.at,
            _ => current
                .as_ref()
                .map(|c| sbx_store::first_alarm(c.expires_at, c.created_at)),
        };
        // Compared on the alarm and expiry as read.
        if alarm_now != Some(alarmed.alarm_at)
            || current.as_ref().map(|c| c.expires_at) != Some(alarmed.sandbox.expires_at)
        {
            return Ok(false);
        }
        alarms.insert(
            key,
            FakeAlarm {
                at: next,
                warned: warned.to_vec(),
                expires_at: alarmed.sandbox.expires_at,
                looked_at: Some(looked_at),
                idle_warned_at,
            },
        );
        let mut given = locked(&self.notices);
        for notice in notices {
            if !given
                .iter()
                .any(|n| n.sandbox_id == notice.sandbox_id && n.seq == notice.seq)
            {
                given.push(notice.clone());
            }
        }
        Ok(true)
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
