//! [`SandboxStore`] on DynamoDB: the store's logic, on top of everything else in this crate.
//! It reads in order: `item.rs` (building and reading items; imports nothing above it),
//! `client.rs` (the store's settings and DynamoDB client), `transaction.rs` (a transaction's
//! named items and its write token), then a module per kind of item, which each add their
//! writes and reads: `sandboxes.rs` (records), `events.rs` (audit trail), `notice.rs` (notices
//! beside it), `deadlines.rs` (the deadlines' sparse index), `tenants.rs` (quota counter,
//! idempotency keys), `settings.rs` (a tenant's settings), `spend.rs` (meters, budgets, spend,
//! drift), `webhooks.rs` (endpoints, deliveries), `accounts.rs` (the pool), `locks.rs`
//! (leases). Nothing below imports from here.

use crate::client::DynamoStore;
use crate::error::StoreError;
use crate::item::{MAX_ATTEMPTS, backoff};
use crate::transaction::{Part, Transaction, TxError};
use crate::{Created, ListQuery, Page, SandboxStore};
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use sbx_lifecycle::{Change, Endpoints, Event, NewSandbox, Operation, Outcome, Sandbox, State, rules};

impl DynamoStore {
    /// The record and audit event of `change`, each guarded by its condition.
    fn change_items(&self, change: &Change) -> Result<Transaction, StoreError> {
        let transaction = Transaction::default();
        let record = self.record_item(change, transaction.token())?;
        Ok(transaction
            .with(Part::Record, record)
            .with(Part::Event, self.event_item(&change.event)?))
    }

    /// Writes `change` (with `extra`). A transaction that was in fact applied (the record
    /// carries its token) is a success, whatever its answer: a cancellation (the SDK's repeat
    /// of a try that committed, its token forgotten) or a transient failure (the last try's
    /// answer lost). A transient failure of a transaction that did not apply stays an error.
    async fn write_record(&self, change: &Change, transaction: Transaction) -> Result<(), TxError> {
        let token = transaction.token().to_owned();
        let (tenant, id) = (&change.record.tenant, &change.record.id);
        match self.transact(transaction).await {
            Err(TxError::Cancelled(cancelled)) => match self.wrote(tenant, id, &token).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(TxError::Cancelled(cancelled)),
                Err(err) => Err(TxError::Failed(err)),
            },
            Err(TxError::Failed(err)) if err.is_transient() => match self.wrote(tenant, id, &token).await {
                Ok(true) => {
                    tracing::info!(tenant, sandbox = %id, %err, "the transaction's answer was lost; it was applied");
                    Ok(())
                }
                _ => Err(TxError::Failed(err)),
            },
            other => other,
        }
    }

    async fn apply(&self, change: &Change, extra: Option<(Part, TransactWriteItem)>) -> Result<(), TxError> {
        let mut transaction = self.change_items(change).map_err(TxError::Failed)?;
        if let Some((part, item)) = extra {
            transaction.push(part, item);
        }
        self.write_record(change, transaction).await
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
            match self.write_record(&change, transaction).await {
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

    async fn begin(&self, tenant: &str, id: &str, operation: Operation) -> Result<Sandbox, StoreError> {
        self.begin_for(tenant, id, operation, None, None).await
    }

    async fn begin_by(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        actor: &str,
    ) -> Result<Sandbox, StoreError> {
        self.begin_for(tenant, id, operation, None, Some(actor)).await
    }

    async fn set_schedule(
        &self,
        tenant: &str,
        id: &str,
        schedule: &sbx_lifecycle::Schedule,
        now: DateTime<Utc>,
    ) -> Result<Sandbox, StoreError> {
        self.write_schedule(tenant, id, schedule, now).await
    }

    async fn begin_as(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        self.begin_for(tenant, id, operation, Some(execution), None).await
    }

    async fn finish_with(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        outcome: Outcome,
        endpoints: Option<Endpoints>,
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
            let change =
                current.finish_at(operation, outcome.clone(), endpoints.clone(), self.clock.now())?;
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

    async fn get(&self, tenant: &str, id: &str) -> Result<Sandbox, StoreError> {
        self.read_record(tenant, id).await
    }

    async fn list(&self, tenant: &str, query: &ListQuery) -> Result<Page, StoreError> {
        self.query_page(tenant, query).await
    }

    async fn assign_account(&self, tenant: &str, id: &str, account_id: &str) -> Result<Sandbox, StoreError> {
        self.set_account(tenant, id, account_id).await
    }

    async fn name_execution(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        version: u64,
        execution: &str,
    ) -> Result<Sandbox, StoreError> {
        self.set_execution(tenant, id, operation, version, execution)
            .await
    }

    async fn extend(&self, tenant: &str, id: &str, expires_at: DateTime<Utc>) -> Result<Sandbox, StoreError> {
        self.set_expiry(tenant, id, expires_at).await
    }

    async fn events(&self, tenant: &str, id: &str, after: u64) -> Result<Vec<Event>, StoreError> {
        self.read_events(tenant, id, after).await
    }

    async fn live_count(&self, tenant: &str) -> Result<u64, StoreError> {
        self.quota_count(tenant).await
    }
}

impl DynamoStore {
    /// Begins `operation`; with `execution`, for that execution: the record names it in the
    /// same write, and is found begun when an earlier try of it took effect.
    async fn begin_for(
        &self,
        tenant: &str,
        id: &str,
        operation: Operation,
        execution: Option<&str>,
        actor: Option<&str>,
    ) -> Result<Sandbox, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.get(tenant, id).await?;
            if let Some(execution) = execution
                && begun_by(&current, operation, execution)
            {
                return Ok(current);
            }
            let mut change = current.begin(operation, self.clock.now())?.by(actor);
            if let Some(execution) = execution
                && execution != rules::execution_name(id, operation, change.record.version)
            {
                change.record.execution = Some(execution.to_owned());
            }
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
}

/// Whether `record` is running `operation` for `execution`: named on it, or named by its version.
fn begun_by(record: &Sandbox, operation: Operation, execution: &str) -> bool {
    record.state == operation.running()
        && match &record.execution {
            Some(named) => named == execution,
            None => execution == rules::execution_name(&record.id, operation, record.version),
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
