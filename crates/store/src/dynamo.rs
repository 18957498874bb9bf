//! [`SandboxStore`] on DynamoDB.

use crate::error::StoreError;
use crate::page::{self, PageKey};
use crate::schema::TableNames;
use crate::transaction::{Cancelled, Part, Transaction};
use crate::{Clock, Created, ListQuery, Page, SandboxStore, SystemClock};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use sbx_lifecycle::{Change, Event, NewSandbox, Operation, Outcome, Sandbox, SandboxOptions, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The value of the `live` attribute, the partition of the sparse `by-expiry` index.
const LIVE: &str = "live";
/// The tenants-table item holding the live-sandbox counter.
const QUOTA_KEY: &str = "quota";
/// How often a write is tried again when concurrent writers interfere.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Settings of the store; [`StoreConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub tables: TableNames,
    /// Live (not deleted) sandboxes a tenant may have.
    pub quota: u32,
    /// How long a deleted record is kept for audit before its TTL removes it.
    pub deleted_retention: chrono::Duration,
    /// How long an idempotency key is remembered.
    pub idempotency_window: chrono::Duration,
    /// Signs the page tokens of [`SandboxStore::list`].
    pub page_key: PageKey,
}

impl StoreConfig {
    pub fn new(tables: TableNames) -> Self {
        Self {
            tables,
            quota: 10,
            deleted_retention: chrono::Duration::days(90),
            idempotency_window: chrono::Duration::hours(24),
            page_key: PageKey::random(),
        }
    }
}

/// The sandbox store and the lock store on DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) config: StoreConfig,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The idempotency record of a create request.
#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    tenant: String,
    key: String,
    sandbox_id: String,
    /// What was asked for (name and options), to tell a repeat from a reuse of the key.
    request: String,
    ttl: i64,
}

#[derive(Deserialize)]
struct QuotaItem {
    #[serde(default)]
    live: i64,
}

/// A transaction that did not apply: why each of its items was refused, or another error.
pub(crate) enum TxError {
    Cancelled(Cancelled),
    Failed(StoreError),
}

impl DynamoStore {
    pub fn new(client: Client, config: StoreConfig) -> Self {
        Self {
            client,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The record and audit event of `change`, each guarded by its condition.
    fn change_items(&self, change: &Change) -> Result<Transaction, StoreError> {
        let mut record: Item = serde_dynamo::to_item(&change.record)?;
        if change.record.state.is_live() {
            record.insert("live".into(), s(LIVE));
        } else {
            let ttl = change.record.updated_at + self.config.deleted_retention;
            record.insert("ttl".into(), n(ttl.timestamp()));
        }
        let put = Put::builder()
            .table_name(&self.config.tables.sandboxes)
            .set_item(Some(record));
        let put = match change.expected() {
            None => put
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", "id"),
            Some((state, version)) => put
                .condition_expression("#state = :state AND #version = :version")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":state", s(state.as_str()))
                .expression_attribute_values(":version", n(version)),
        };

        let mut event: Item = serde_dynamo::to_item(&change.event)?;
        event.insert(
            "sandbox".into(),
            s(event_partition(&change.event.tenant, &change.event.sandbox_id)),
        );
        let event = Put::builder()
            .table_name(&self.config.tables.events)
            .set_item(Some(event))
            .condition_expression("attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", "seq");

        Ok(Transaction::default()
            .with(
                Part::Record,
                TransactWriteItem::builder().put(build(put.build())?).build(),
            )
            .with(
                Part::Event,
                TransactWriteItem::builder().put(build(event.build())?).build(),
            ))
    }

    /// Counts one more live sandbox for `tenant`, refused at the quota.
    fn count_in(&self, tenant: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .update_expression("SET #live = if_not_exists(#live, :zero) + :one")
            .condition_expression("attribute_not_exists(#live) OR #live < :limit")
            .expression_attribute_names("#live", "live")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(self.config.quota));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    /// Counts one live sandbox less for `tenant`.
    fn count_out(&self, tenant: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .update_expression("ADD #live :minus_one")
            .expression_attribute_names("#live", "live")
            .expression_attribute_values(":minus_one", n(-1));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    /// Remembers `key` for this create; refused while an unexpired record of the key exists.
    fn remember_key(
        &self,
        new: &NewSandbox,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = IdempotencyItem {
            tenant: new.tenant.clone(),
            key: idempotency_key(key),
            sandbox_id: new.id.clone(),
            request: fingerprint(&new.name, &new.options)?,
            ttl: (now + self.config.idempotency_window).timestamp(),
        };
        let put = Put::builder()
            .table_name(&self.config.tables.tenants)
            .set_item(Some(serde_dynamo::to_item(&item)?))
            .condition_expression("attribute_not_exists(#key) OR #ttl < :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    pub(crate) async fn transact(&self, transaction: Transaction) -> Result<(), TxError> {
        let (parts, items) = transaction.into_parts();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    Err(TxError::Cancelled(Cancelled {
                        parts,
                        reasons: cancelled.cancellation_reasons().to_vec(),
                    }))
                }
                _ => Err(TxError::Failed(StoreError::aws("TransactWriteItems", err))),
            },
        }
    }

    async fn replay(&self, new: &NewSandbox, key: &str) -> Result<Option<Created>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(&new.tenant))
            .key("key", s(idempotency_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        let remembered: IdempotencyItem = serde_dynamo::from_item(item)?;
        if remembered.request != fingerprint(&new.name, &new.options)? {
            return Err(StoreError::IdempotencyKeyReused);
        }
        let sandbox = self.get(&new.tenant, &remembered.sandbox_id).await?;
        Ok(Some(Created {
            sandbox,
            replayed: true,
        }))
    }

    async fn apply(&self, change: &Change, extra: Option<(Part, TransactWriteItem)>) -> Result<(), TxError> {
        let mut transaction = self.change_items(change).map_err(TxError::Failed)?;
        if let Some((part, item)) = extra {
            transaction.push(part, item);
        }
        self.transact(transaction).await
    }
}

impl SandboxStore for DynamoStore {
    async fn create(&self, new: NewSandbox, idempotency_key: Option<&str>) -> Result<Created, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let now = self.clock.now();
            let change = Sandbox::create(new.clone(), now);
            let mut transaction = self.change_items(&change)?;
            transaction.push(Part::QuotaCounter, self.count_in(&new.tenant)?);
            if let Some(key) = idempotency_key {
                transaction.push(Part::IdempotencyKey, self.remember_key(&new, key, now)?);
            }
            match self.transact(transaction).await {
                Ok(()) => {
                    tracing::info!(tenant = %new.tenant, sandbox = %new.id, "sandbox created");
                    return Ok(Created {
                        sandbox: change.record,
                        replayed: false,
                    });
                }
                Err(TxError::Failed(err)) => return Err(err),
                Err(TxError::Cancelled(cancelled)) => {
                    if let Some(key) = idempotency_key.filter(|_| cancelled.refused(Part::IdempotencyKey)) {
                        match self.replay(&new, key).await? {
                            Some(created) => return Ok(created),
                            None => continue, // the key expired meanwhile: try again
                        }
                    }
                    if cancelled.refused(Part::Record) {
                        return Err(StoreError::AlreadyExists { id: new.id });
                    }
                    if cancelled.refused(Part::QuotaCounter) {
                        return Err(StoreError::QuotaExceeded {
                            limit: self.config.quota,
                        });
                    }
                    backoff(attempt).await;
                }
            }
        }
        Err(StoreError::Contended {
            operation: "create",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.config.tables.sandboxes)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        match found.item {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Err(StoreError::NotFound { id: id.to_owned() }),
        }
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Page, StoreError> {
        let limit = match query.limit {
            0 => ListQuery::DEFAULT_LIMIT,
            limit => limit.min(ListQuery::MAX_LIMIT),
        };
        let mut start = match &query.next_token {
            Some(token) => {
                let last_id = page::decode(&self.config.page_key, token, tenant, query.state)?;
                Some(HashMap::from([
                    ("tenant".to_owned(), s(tenant)),
                    ("id".to_owned(), s(last_id)),
                ]))
            }
            None => None,
        };
        let mut items = Vec::new();
        // With a state filter, a query may return fewer matches than it read: read on until the
        // page is full or the tenant's records end, in a bounded number of rounds.
        for _ in 0..page::MAX_ROUNDS {
            let remaining = limit - items.len() as u32;
            let mut request = self
                .client
                .query()
                .table_name(&self.config.tables.sandboxes)
                .key_condition_expression("#tenant = :tenant")
                .expression_attribute_names("#tenant", "tenant")
                .expression_attribute_values(":tenant", s(tenant))
                .consistent_read(true)
                .limit(remaining as i32)
                .set_exclusive_start_key(start.take());
            if let Some(state) = query.state {
                request = request
                    .filter_expression("#state = :state")
                    .expression_attribute_names("#state", "state")
                    .expression_attribute_values(":state", s(state.as_str()));
            }
            let output = request.send().await.map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                items.push(serde_dynamo::from_item::<_, Sandbox>(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || items.len() as u32 >= limit {
                break;
            }
        }
        let next_token = match start {
            Some(key) => {
                let last_id = key
                    .get("id")
                    .and_then(|id| id.as_s().ok())
                    .ok_or_else(|| StoreError::Malformed("LastEvaluatedKey without an id".into()))?;
                Some(page::encode(&self.config.page_key, tenant, last_id, query.state))
            }
            None => None,
        };
        Ok(Page { items, next_token })
    }

    async fn begin(&self, tenant: &str, id: &str, operation: Operation) -> Result<Sandbox, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.get(tenant, id).await?;
            let change = current.begin(operation, self.clock.now())?;
            match self.apply(&change, None).await {
                Ok(()) => {
                    tracing::info!(tenant, sandbox = id, %operation, version = change.record.version, "operation begun");
                    return Ok(change.record);
                }
                Err(TxError::Failed(err)) => return Err(err),
                // Someone else changed the record first: read it again and decide anew.
                Err(TxError::Cancelled(cancelled)) => {
                    if cancelled.contended() {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Contended {
            operation: "begin",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn finish(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
    ) -> Result<Sandbox, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.get(tenant, id).await?;
            if current.version != version {
                if current.version == version + 1 && already_finished(&current, operation, &outcome) {
                    return Ok(current);
                }
                return Err(StoreError::Conflict(sbx_lifecycle::Refused {
                    operation,
                    current: current.state,
                }));
            }
            let change = current.finish(operation, outcome.clone(), self.clock.now())?;
            let release = match change.record.state {
                State::Deleted => Some((Part::QuotaCounter, self.count_out(tenant)?)),
                _ => None,
            };
            match self.apply(&change, release).await {
                Ok(()) => {
                    tracing::info!(tenant, sandbox = id, %operation, state = %change.record.state, "operation finished");
                    return Ok(change.record);
                }
                Err(TxError::Failed(err)) => return Err(err),
                Err(TxError::Cancelled(cancelled)) => {
                    if cancelled.contended() {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Contended {
            operation: "finish",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn assign_account(&self, tenant: &str, id: &str, account_id: &str) -> Result<Sandbox, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.tables.sandboxes)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .update_expression("SET #account = :account")
            .condition_expression(
                "attribute_exists(#id) AND (attribute_not_exists(#account) OR #account = :account)",
            )
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":account", s(account_id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                // NotFound when there is no such record; otherwise it lives in another account.
                self.get(tenant, id).await?;
                Err(StoreError::AccountUnavailable {
                    account_id: account_id.to_owned(),
                    state: crate::AccountState::Assigned,
                })
            }
        }
    }

    async fn extend(&self, tenant: &str, id: &str, expires_at: DateTime<Utc>) -> Result<Sandbox, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.config.tables.sandboxes)
            .key("tenant", s(tenant))
            .key("id", s(id))
            .update_expression("SET #expires = :expires")
            .condition_expression("attribute_exists(#id) AND NOT (#state IN (:deleting, :deleted))")
            .expression_attribute_names("#expires", "expires_at")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(
                ":expires",
                s(sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(expires_at),
                )),
            )
            .expression_attribute_values(":deleting", s(State::Deleting.as_str()))
            .expression_attribute_values(":deleted", s(State::Deleted.as_str()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(sandbox) => Ok(sandbox),
            None => {
                // NotFound when there is no such record; otherwise it is being deleted.
                let current = self.get(tenant, id).await?;
                Err(StoreError::NotExtendable {
                    id: id.to_owned(),
                    state: current.state,
                })
            }
        }
    }

    async fn events(&self, tenant: &str, id: &str) -> Result<Vec<Event>, StoreError> {
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.config.tables.events)
                .key_condition_expression("#sandbox = :sandbox")
                .expression_attribute_names("#sandbox", "sandbox")
                .expression_attribute_values(":sandbox", s(event_partition(tenant, id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                events.push(serde_dynamo::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(events);
            }
        }
    }

    async fn live_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        let live = match found.item {
            Some(item) => serde_dynamo::from_item::<_, QuotaItem>(item)?.live,
            None => 0,
        };
        Ok(live.max(0) as u64)
    }
}

/// Whether `record` is what finishing `operation` with `outcome` produced.
fn already_finished(record: &Sandbox, operation: Operation, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Succeeded => record.state == operation.succeeded(),
        Outcome::Failed { error, .. } => record
            .failure
            .as_ref()
            .is_some_and(|failure| failure.operation == operation && &failure.error == error),
    }
}

fn event_partition(tenant: &str, id: &str) -> String {
    format!("{tenant}#{id}")
}

fn idempotency_key(key: &str) -> String {
    format!("idem#{key}")
}

fn fingerprint(name: &str, options: &SandboxOptions) -> Result<String, StoreError> {
    serde_json::to_string(&(name, options)).map_err(|e| StoreError::Malformed(e.to_string()))
}

/// Waits a little longer after each lost attempt, with jitter so that racers spread out.
pub(crate) async fn backoff(attempt: u32) {
    let ceiling = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))).await;
}

pub(crate) fn build<T>(built: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    built.map_err(|e| StoreError::Aws {
        operation: "build request",
        transient: false,
        source: Box::new(e),
    })
}

/// The item a conditional UpdateItem (with `ReturnValues: ALL_NEW`) wrote; `None` when its
/// condition did not hold.
pub(crate) fn updated<T: serde::de::DeserializeOwned>(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError>,
    >,
) -> Result<Option<T>, StoreError> {
    match result {
        Ok(output) => Ok(Some(serde_dynamo::from_item(
            output.attributes.unwrap_or_default(),
        )?)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(StoreError::aws("UpdateItem", err)),
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
