//! [`FakeStore`]: the store's ports (`crates/store/src/lib.rs`) in memory, one file per port
//! beside this one, as the DynamoDB store has one per table. Records, the account pool, leases,
//! the infrastructure journal, deadlines and notices, meters and budgets, drift and webhooks, with
//! the lifecycle's own transition rules and the store's conditions (a write compared on what
//! was read is refused when it changed). The DynamoDB store itself is tested against moto in
//! `crates/store/tests/`.

mod accounts;
mod drift;
mod locks;
mod sandboxes;
mod settings;
mod spend;
mod sweeps;
mod webhooks;

use crate::{ACCOUNT, locked};
use chrono::Utc;
use sbx_lifecycle::{Event, NewSandbox, Sandbox, SandboxOptions};
use sbx_store::{Account, InfraChange, Lease, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// An in-memory store. Enough of the store's behaviour for the handlers that take it.
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
    /// (tenant, id) → the deadline a sweep set (`None`: off the index), the thresholds warned of,
    /// for the expiry they were set at. An entry for another expiry is stale, as an extension
    /// makes it on the table: the first deadline of the new expiry holds.
    pub deadlines: Mutex<BTreeMap<(String, String), FakeDeadline>>,
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
    pub endpoints: Mutex<Vec<sbx_store::Endpoint>>,
    /// The endpoints' changes of standing (`webhook.disabled`, `.enabled`), in order.
    pub webhook_events: Mutex<Vec<sbx_store::WebhookEvent>>,
    pub deliveries: Mutex<Vec<sbx_store::Delivery>>,
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
pub struct FakeDeadline {
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
