//! The sandbox store on DynamoDB.
//!
//! Eight narrow ports, each taken by the handlers that need it and no others:
//! [`SandboxStore`] (records, audit trail, quota), [`AccountStore`] (the account pool and its
//! infrastructure journal), [`Sweeps`] (the sweeps' index reads: deadlines, expiries, states),
//! [`LockStore`] (the per-account lease), [`WebhookStore`] (endpoints and deliveries),
//! [`TenantSettingsStore`] (what a tenant is told), [`SpendStore`] (meters, budgets, spend) and
//! [`DriftStore`] (the daily cost check); one implementation of all, [`DynamoStore`]. Every
//! change of a
//! sandbox's state is one transaction: a compare-and-set of the record on its state and version,
//! the audit event, and where it applies the tenant's live-sandbox counter. Reads go through keys
//! and indexes; nothing here scans a table.

mod account;
mod accounts;
mod client;
mod clock;
mod deadlines;
mod dynamo;
mod error;
mod events;
pub mod forecast;
mod item;
mod locks;
mod notice;
mod page;
mod sandboxes;
pub mod schema;
pub mod seal;
mod settings;
mod spend;
mod tenants;
mod transaction;
mod webhook;
mod webhooks;

pub use account::{Account, AccountChange, AccountEvent, AccountState, NotAllowed};
pub use deadlines::{WARNING_HORIZON, first_deadline};

pub use client::{DynamoStore, StoreConfig};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use locks::LockTable;
pub use notice::{NOTICES_FROM, Notice, NoticeKind};
pub use page::PageKey;
pub use schema::TableNames;
pub use seal::{KmsSeal, Seal, Sealed};
pub use webhook::{
    AttemptLog, Delivery, DeliveryStatus, Disabled, Endpoint, EndpointSecret, Order, STALE_AFTER,
    WebhookEvent, WebhookEventKind,
};

use sbx_lifecycle::cost::{Micros, Usd};
use sbx_lifecycle::{Endpoints, Event, NewSandbox, Operation, Outcome, Sandbox, State};
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

    /// [`SandboxStore::begin`] on behalf of `actor` (`schedule`, `idle`), named in the audit
    /// event.
    fn begin_by(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        actor: &str,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// Sets (or with an empty one, removes) the sandbox's schedule. Not a change of state: the
    /// version stays. Its next deadline is looked at by the next deadline sweep. Refused with
    /// [`StoreError::NotExtendable`] once the sandbox is being deleted.
    fn set_schedule(
        &self,
        tenant: &str,
        id: &str,
        schedule: &sbx_lifecycle::Schedule,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send;

    /// [`SandboxStore::begin`] for the execution named `execution` (an operator's): the record
    /// names it in the same write, and a repeat of a begin that took effect (its answer lost)
    /// finds the record begun by it and returns it.
    fn begin_as(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        execution: &str,
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
    ) -> impl Future<Output = Result<Sandbox, StoreError>> + Send {
        self.finish_with(tenant, id, operation, version, outcome, None)
    }

    /// [`SandboxStore::finish`], recording where a sandbox that is now started is reached.
    fn finish_with(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
        endpoints: Option<Endpoints>,
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

    /// Names the execution running the operation begun at `version`, when it is not the one
    /// the version names (an operator's). Not a change of state; refused with
    /// [`StoreError::Conflict`] once the record has moved on.
    fn name_execution(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        execution: &str,
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

    /// The sandbox's audit trail, oldest first: the events after the one numbered `after` (0:
    /// all of them), read by key, not filtered.
    fn events(
        &self,
        tenant: &str,
        id: &str,
        after: u64,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// How many of the tenant's sandboxes count against its quota.
    fn live_count(&self, tenant: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
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

    /// Marks the tenant's account expired (its last sandbox is gone): retention begins.
    /// Expiring an expired account of the same tenant is a no-op.
    fn expire(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Applies `change` to the account as one compare-and-set with its audit event. A change
    /// the account's state does not allow is [`StoreError::AccountUnavailable`].
    fn change_account(
        &self,
        account_id: &str,
        change: AccountChange,
    ) -> impl Future<Output = Result<Account, StoreError>> + Send;

    /// Applies `change` to the account as it was read (`current`), compared on that version:
    /// `Ok(None)` when the account has changed since (the caller decided on what is no longer
    /// there). A change `current`'s state does not allow is [`StoreError::AccountUnavailable`].
    fn change_account_from(
        &self,
        current: &Account,
        change: AccountChange,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;

    /// Up to `limit` accounts in `state`, read through the `by-state` index.
    fn accounts(
        &self,
        state: AccountState,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    /// Every account in `state`, read through the `by-state` index page by page.
    fn all_accounts(
        &self,
        state: AccountState,
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    /// The account's audit trail, oldest first: the events after the one numbered `after` (0:
    /// all of them), read by key.
    fn account_events(
        &self,
        account_id: &str,
        after: u64,
    ) -> impl Future<Output = Result<Vec<AccountEvent>, StoreError>> + Send;

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

/// What a sweep read: the records it found, and how many items its queries read to find them
/// (DynamoDB's `ScannedCount`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub items: Vec<Sandbox>,
    pub read: u64,
}

/// The garbage collector's reads across tenants. Each goes through a sparse index, so that it
/// reads what it may act on and nothing else; none scans a table.
pub trait Sweeps: Send + Sync {
    /// Live sandboxes whose expiry is at or before `at`, soonest first, at most `limit`.
    fn due(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Swept, StoreError>> + Send;

    /// Sandboxes in `state`, least recently changed first, at most `limit`.
    fn in_state(&self, state: State, limit: usize) -> impl Future<Output = Result<Swept, StoreError>> + Send;

    /// Sandboxes whose deadline (the next expiry warning that may be due) is at or before `at`,
    /// soonest first, at most `limit`: read through the sparse `by-deadline` index.
    fn deadlines_due(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Deadlines, StoreError>> + Send;

    /// Records that the thresholds `warned` have been warned of for `due_sandbox`'s expiry, puts
    /// `notice`, and moves the deadline to `next` (off the index when `None`): one transaction,
    /// compared on the deadline and expiry as read; `Ok(false)` when another sweep or an
    /// extension changed them since.
    fn settle_deadline(
        &self,
        due_sandbox: &DueSandbox,
        settled: &Settled<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A sandbox on the deadline index: its record, when its deadline is, which warnings (thresholds in
/// seconds before the expiry) were given for its current expiry, and until when a sweep last
/// looked at it (its schedule's occurrences up to then are done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSandbox {
    pub sandbox: Sandbox,
    pub deadline_at: chrono::DateTime<chrono::Utc>,
    pub warned: Vec<u64>,
    pub looked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the idle warning of its current idle spell was given, if it was.
    pub idle_warned_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a deadline sweep settles for one deadline: the thresholds warned of, the notices it gives,
/// the next deadline (`None`: off the index) and the time it looked as of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled<'a> {
    pub warned: &'a [u64],
    pub notices: &'a [Notice],
    pub next: Option<chrono::DateTime<chrono::Utc>>,
    pub looked_at: chrono::DateTime<chrono::Utc>,
    /// The idle warning of the current idle spell (`None`: not idle, or not warned yet).
    pub idle_warned_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a deadline sweep read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadlines {
    pub items: Vec<DueSandbox>,
    /// Items the index query read (`ScannedCount`).
    pub read: u64,
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

    /// Removes `lease` if it is still the lock's lease and has expired; `false` when it was
    /// renewed, taken over or removed meanwhile.
    fn remove_expired(&self, lease: &Lease) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One page of an endpoint's delivery log; `next` is the id to read on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub next: Option<String>,
}

/// Each tenant's webhook endpoints and their deliveries.
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint; refused with [`StoreError::TooManyWebhooks`] once the tenant has
    /// `limit`.
    fn add_endpoint(
        &self,
        endpoint: &Endpoint,
        limit: usize,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn endpoints(&self, tenant: &str) -> impl Future<Output = Result<Vec<Endpoint>, StoreError>> + Send;

    fn endpoint(&self, tenant: &str, id: &str) -> impl Future<Output = Result<Endpoint, StoreError>> + Send;

    /// Removes an endpoint; its pending deliveries give up at their next attempt.
    fn remove_endpoint(&self, tenant: &str, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replaces the endpoint's secrets, compared on the version `current` was read at:
    /// `Ok(None)` when it has changed since.
    fn replace_secrets(
        &self,
        current: &Endpoint,
        secrets: Vec<EndpointSecret>,
    ) -> impl Future<Output = Result<Option<Endpoint>, StoreError>> + Send;

    /// Notes that a delivery to the endpoint failed at `now`; the endpoint as it stands after,
    /// its `failing_since` the first failure since it last answered.
    fn endpoint_failed(
        &self,
        tenant: &str,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Endpoint, StoreError>> + Send;

    /// Notes that the endpoint answered: its failures are forgotten.
    fn endpoint_answered(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Disables `endpoint` for `reason`, with its `webhook.disabled` event, in one
    /// transaction; `false` when it was disabled already.
    fn disable_endpoint(
        &self,
        endpoint: &Endpoint,
        reason: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Enables the endpoint again (by `actor`), its failures forgotten, with its
    /// `webhook.enabled` event; the endpoint as it stands after (unchanged if it was enabled).
    fn enable_endpoint(
        &self,
        tenant: &str,
        id: &str,
        actor: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Endpoint, StoreError>> + Send;

    /// Records a delivery to make; `false` when it was recorded before (the event was
    /// published again).
    fn add_delivery(&self, delivery: &Delivery) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn delivery(
        &self,
        tenant: &str,
        endpoint: &str,
        id: &str,
    ) -> impl Future<Output = Result<Delivery, StoreError>> + Send;

    /// The delivery of the same stream to the same endpoint just before `delivery`.
    fn previous_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// Records where `current` stands after an attempt (`attempt`), or without one: compared
    /// on its status and attempts as read, `Ok(None)` when another invocation recorded first.
    fn record_attempt(
        &self,
        current: &Delivery,
        status: DeliveryStatus,
        attempt: Option<AttemptLog>,
        next_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Option<Delivery>, StoreError>> + Send;

    /// An endpoint's deliveries, by stream and order, from after the delivery `after`.
    fn deliveries(
        &self,
        tenant: &str,
        endpoint: &str,
        limit: u32,
        after: Option<&str>,
    ) -> impl Future<Output = Result<DeliveryPage, StoreError>> + Send;

    /// Makes a delivered or failed delivery pending again with its attempts reset, or a pending
    /// one with no execution behind it ([`Delivery::is_stale`]); refused with
    /// [`StoreError::DeliveryPending`] while it is pending and alive.
    fn redeliver(
        &self,
        tenant: &str,
        endpoint: &str,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Delivery, StoreError>> + Send;
}

/// What a tenant is told, and when: `None` for the deployment's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantSettings {
    /// Seconds before an expiry at which `sandbox.expiring` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_warnings: Option<Vec<u64>>,
}

impl TenantSettings {
    /// The deployment's default expiry warnings: 24 h and 1 h before.
    pub const DEFAULT_EXPIRY_WARNINGS: [u64; 2] = [86_400, 3_600];
}

/// Each tenant's settings.
pub trait TenantSettingsStore: Send + Sync {
    /// The tenant's settings (the defaults when it has set none).
    fn tenant_settings(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<TenantSettings, StoreError>> + Send;

    fn put_tenant_settings(
        &self,
        tenant: &str,
        settings: &TenantSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A tenant's monthly budget (SPEC: Spend), set by an admin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// What the tenant may spend per calendar month (UTC).
    pub monthly_usd: Usd,
    /// What one sandbox may cost in all; at it the sandbox is stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_cap_usd: Option<Usd>,
    /// The percentages of the budget at which an event is recorded, ascending.
    #[serde(default = "Budget::default_thresholds")]
    pub thresholds: Vec<u32>,
    /// Whether the tenant's running sandboxes are stopped once the month's spend reaches the
    /// budget.
    #[serde(default = "Budget::stop_by_default")]
    pub stop_at_limit: bool,
}

impl Budget {
    pub const DEFAULT_THRESHOLDS: [u32; 3] = [50, 80, 100];

    pub fn default_thresholds() -> Vec<u32> {
        Self::DEFAULT_THRESHOLDS.to_vec()
    }

    fn stop_by_default() -> bool {
        true
    }
}

/// What a tenant spent in one month: the sum of its sandboxes' accruals there, and the
/// thresholds already told of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthSpend {
    pub tenant: String,
    /// `2026-12`.
    pub month: String,
    pub spent: Usd,
    pub warned: Vec<u32>,
}

/// A change of a tenant's budget or a threshold reached: its audit trail (the events table's
/// `@budget#<tenant>` partition), published as `budget.updated` and `budget.threshold`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BudgetEvent {
    pub tenant: String,
    /// In the order given: the moment in milliseconds, then what it is.
    pub seq: u64,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: BudgetEventKind,
    pub month: String,
    pub monthly_usd: Usd,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_cap_usd: Option<Usd>,
    /// For a threshold: the percentage reached and the month's spend then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_usd: Option<Usd>,
    /// Who set the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetEventKind {
    Updated,
    Threshold,
}

impl BudgetEvent {
    /// The budget `budget` set by `actor` at `at`.
    pub fn updated(tenant: &str, budget: &Budget, actor: &str, at: chrono::DateTime<chrono::Utc>) -> Self {
        let at = sbx_lifecycle::rfc3339_millis::truncate(at);
        Self {
            tenant: tenant.to_owned(),
            seq: budget_seq(at, 0),
            at,
            kind: BudgetEventKind::Updated,
            month: sbx_lifecycle::cost::month_of(at),
            monthly_usd: budget.monthly_usd,
            sandbox_cap_usd: budget.sandbox_cap_usd,
            percent: None,
            spent_usd: None,
            actor: Some(actor.to_owned()),
        }
    }

    /// `percent` of `budget` reached in the month of `spend`.
    pub fn threshold(
        spend: &MonthSpend,
        budget: &Budget,
        percent: u32,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let at = sbx_lifecycle::rfc3339_millis::truncate(at);
        Self {
            tenant: spend.tenant.clone(),
            seq: budget_seq(at, percent),
            at,
            kind: BudgetEventKind::Threshold,
            month: spend.month.clone(),
            monthly_usd: budget.monthly_usd,
            sandbox_cap_usd: budget.sandbox_cap_usd,
            percent: Some(percent),
            spent_usd: Some(spend.spent),
            actor: None,
        }
    }
}

/// A budget event's number: its moment in milliseconds, then the threshold (0 for a change).
fn budget_seq(at: chrono::DateTime<chrono::Utc>, percent: u32) -> u64 {
    (at.timestamp_millis().max(0) as u64) * 1000 + u64::from(percent.min(999))
}

/// A sandbox whose cost is metered, as the spend sweep reads it: until when it is metered,
/// the record version and state the meter saw last, and its total so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub sandbox: Sandbox,
    pub at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
    pub state: State,
    pub total: Micros,
    /// Metered at least once (a new record's meter starts at its creation).
    pub metered: bool,
}

/// What one metering of a sandbox writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metering<'a> {
    pub meter: &'a Meter,
    /// Metered up to here.
    pub to: chrono::DateTime<chrono::Utc>,
    /// The last version and state seen.
    pub version: u64,
    pub state: State,
    pub accrued: &'a sbx_lifecycle::cost::Accrued,
}

/// The open meters a spend sweep read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meters {
    pub items: Vec<Meter>,
    pub read: u64,
}

/// Budgets, what tenants spent, and the meters of their sandboxes.
pub trait SpendStore: Send + Sync {
    /// Every open meter (a sandbox not yet metered to its deletion), through the sparse
    /// `by-meter` index, page after page: an account's meters are only moved on together.
    fn open_meters(&self) -> impl Future<Output = Result<Meters, StoreError>> + Send;

    /// Moves a meter on and adds what it accrued to its tenant's and its account's months:
    /// one transaction, compared on the meter as read; `Ok(false)` when another sweep moved
    /// it first. A meter that reached `deleted` is closed.
    fn write_meter(&self, metering: &Metering<'_>) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn budget(&self, tenant: &str) -> impl Future<Output = Result<Option<Budget>, StoreError>> + Send;

    /// Sets the tenant's budget and records the change in its budget trail.
    fn put_budget(
        &self,
        tenant: &str,
        budget: &Budget,
        event: &BudgetEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn month_spend(
        &self,
        tenant: &str,
        month: &str,
    ) -> impl Future<Output = Result<MonthSpend, StoreError>> + Send;

    /// What the tenant's sandboxes in `account_id` accrued in `month`.
    fn account_spend(
        &self,
        tenant: &str,
        account_id: &str,
        month: &str,
    ) -> impl Future<Output = Result<Usd, StoreError>> + Send;

    /// Records that `spend`'s thresholds are now `warned`, with their events: compared on the
    /// thresholds as read, `Ok(false)` when another sweep recorded first.
    fn warn_thresholds(
        &self,
        spend: &MonthSpend,
        warned: &[u32],
        events: &[BudgetEvent],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The tenant's budget trail, oldest first.
    fn budget_events(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Vec<BudgetEvent>, StoreError>> + Send;
}

/// A month's estimates compared with what Cost Explorer reports for the tenant's
/// `sbx:tenant` tag, through the end of `through` (exclusive; Cost Explorer's data lags a day).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Drift {
    pub month: String,
    /// The first day not compared (`2026-12-05`: the 1st to the 4th were).
    pub through: String,
    pub reported_usd: Usd,
    pub estimated_usd: Usd,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

/// The daily comparison with Cost Explorer.
pub trait DriftStore: Send + Sync {
    /// What the tenant's sandboxes accrued on the days `first` to `last` (`2026-12-01`),
    /// inclusive.
    fn days_spend(
        &self,
        tenant: &str,
        first: &str,
        last: &str,
    ) -> impl Future<Output = Result<Usd, StoreError>> + Send;

    /// Claims the comparison of `day` for this sweep: `false` when another sweep made (or is
    /// making) it, so that Cost Explorer (a paid API) is asked once a day.
    fn claim_drift_check(&self, day: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives back the claim of `day` after a comparison that failed, so that the next sweep
    /// tries again.
    fn release_drift_check(&self, day: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn put_drift(&self, tenant: &str, drift: &Drift) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn drift(
        &self,
        tenant: &str,
        month: &str,
    ) -> impl Future<Output = Result<Option<Drift>, StoreError>> + Send;
}
