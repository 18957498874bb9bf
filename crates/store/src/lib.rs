//! The sandbox store on DynamoDB.
//!
//! Two narrow ports, [`SandboxStore`] (records, audit trail, quota) and [`LockStore`] (the
//! per-account lease), and their DynamoDB implementation [`DynamoStore`]. Every change of a
//! sandbox's state is one transaction: a compare-and-set of the record on its state and version,
//! the audit event, and where it applies the tenant's live-sandbox counter. Reads go through keys
//! and indexes; nothing here scans a table.

mod accounts;
mod clock;
mod dynamo;
mod error;
mod events;
mod locks;
mod page;
mod sandboxes;
pub mod schema;
mod tenants;
mod transaction;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dynamo::{DynamoStore, StoreConfig};
pub use error::StoreError;
pub use locks::LockTable;
pub use page::PageKey;
pub use schema::TableNames;

use sbx_lifecycle::{Event, NewSandbox, Operation, Outcome, Sandbox, State};
use std::future::Future;
use std::time::Duration;

/// The result of a create: the record, and whether an earlier request with the same
/// idempotency key had already created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub sandbox: Sandbox,
    pub replayed: bool,
}

/// Which of a tenant's sandboxes to list, and from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub state: Option<State>,
    /// At most this many records (1 to [`ListQuery::MAX_LIMIT`]; 0 means the default).
    pub limit: u32,
    /// The `next_token` of the previous page.
    pub next_token: Option<String>,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: u32 = 25;
    pub const MAX_LIMIT: u32 = 100;
}

/// One page of records; `next_token` is set when more may follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Sandbox>,
    pub next_token: Option<String>,
}

/// Sandbox records, their audit trail and the per-tenant quota. Every method names the tenant;
/// no method can reach another tenant's records.
pub trait SandboxStore: Send + Sync {
    /// Creates the record in `initializing`, counting it against the tenant's quota. With an
    /// idempotency key that was seen before for the same request, returns the first result.
    fn create(
        &self,
        new: NewSandbox,
        idempotency_key: Option<&str>,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    fn get(&self, tenant: &str, id: &str) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    fn list(&self, tenant: &str, query: &ListQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Begins `operation`: moves the record to its in-progress state. Refused with
    /// [`StoreError::Conflict`] (naming the current state) when the lifecycle does not allow it.
    fn begin(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// Ends `operation`, begun at record `version`. Repeating a finish that already took effect
    /// returns the record it produced.
    fn finish(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// Records the account the sandbox lives in. Not a change of state: the version stays.
    /// A sandbox already placed in another account is refused with
    /// [`StoreError::AccountUnavailable`].
    fn assign_account(
        &self,
        tenant: &str,
        id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// Sets the sandbox's expiry. Not a change of state: the version stays, so a running
    /// operation is not disturbed. Refused with [`StoreError::NotExtendable`] once the sandbox
    /// is being deleted.
    fn extend(
        &self,
        tenant: &str,
        id: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// The sandbox's audit trail, oldest first.
    fn events(&self, tenant: &str, id: &str) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// How many of the tenant's sandboxes count against its quota.
    fn live_count(&self, tenant: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Where an account is in its life (SPEC: pool → assigned → expired → cleaned → pool, or
/// quarantined when cleanup leaves anything behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Pool,
    Assigned,
    Expired,
    Quarantined,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Pool => "pool",
            AccountState::Assigned => "assigned",
            AccountState::Expired => "expired",
            AccountState::Quarantined => "quarantined",
        }
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS account of the pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub account_id: String,
    pub state: AccountState,
    /// The tenant it serves (assigned or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub expired_at: Option<chrono::DateTime<chrono::Utc>>,
}

mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => sbx_lifecycle::rfc3339_millis::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(deserializer)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

/// One change of an account's shared infrastructure, kept in its append-only journal: who made
/// it (the lock owner), what it did, and when it began and ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InfraChange {
    pub account_id: String,
    pub owner: String,
    /// What the change did, e.g. `ensure nat,alb,proxies` or `release nlb`.
    pub action: String,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub started_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub ended_at: chrono::DateTime<chrono::Utc>,
}

/// The pool of AWS accounts, one per tenant, and each account's infrastructure journal.
pub trait AccountStore: Send + Sync {
    /// Adds an account to the pool; an account already known is left as it is.
    fn add_to_pool(&self, account_id: &str) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// The tenant's account: its assigned one (an expired one is taken back), or one from the
    /// pool. Two tenants never get one account; a tenant never gets two.
    fn allocate(&self, tenant: &str) -> impl Future<Output = Result<Account, StoreError>> + Send;

    fn account(&self, account_id: &str) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// The account assigned to the tenant (assigned or expired), if any.
    fn tenant_account(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Marks the tenant's account expired: its cleanup may begin once retention has passed.
    fn expire(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Ends an expired account's assignment after cleanup: back to the pool when `clean`,
    /// otherwise to quarantine.
    fn release_to_pool(
        &self,
        account_id: &str,
        clean: bool,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Up to `limit` accounts in `state`, read through the `by-state` index.
    fn accounts(
        &self,
        state: AccountState,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    fn record_infra_change(
        &self,
        change: &InfraChange,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account's infrastructure journal, oldest first.
    fn infra_changes(
        &self,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<InfraChange>, StoreError>> + Send;
}

/// Who holds a lock, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub lock: String,
    pub owner: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Leases on named locks (one per account). A lease is taken with a conditional write,
/// released only by its owner, and may be taken over once it has expired.
pub trait LockStore: Send + Sync {
    /// Takes the lock for `owner` for `lease`, or extends `owner`'s lease. Fails with
    /// [`StoreError::LockHeld`] while another owner's lease runs.
    fn acquire(
        &self,
        lock: &str,
        owner: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Lease, StoreError>> + Send;

    /// Releases `owner`'s lease. Releasing a lock nobody holds succeeds; releasing another
    /// owner's lease fails with [`StoreError::NotLockOwner`].
    fn release(&self, lock: &str, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The current lease, expired or not.
    fn holder(&self, lock: &str) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;
}
