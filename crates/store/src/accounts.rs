//! [`AccountStore`] on DynamoDB: the account pool, and the journal of infrastructure changes.
//!
//! An account item says what the account is doing (pool, assigned, expired, quarantined) and
//! for whom. A tenant's assignment is a second item, `account` in the tenants table, written in
//! the same transaction as the account's move out of the pool: the account's condition makes
//! sure no two tenants get one account, the tenant item's that no tenant gets two.

use crate::dynamo::{DynamoStore, MAX_ATTEMPTS, TxError, backoff, build, n, s, updated};
use crate::schema::BY_STATE;
use crate::transaction::{Part, Transaction};
use crate::{Account, AccountState, AccountStore, InfraChange, StoreError};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

/// The tenants-table item naming the tenant's account.
const ASSIGNMENT_KEY: &str = "account";
/// How many pool accounts one allocation round considers.
const CANDIDATES: i32 = 10;

#[derive(Serialize, Deserialize)]
struct AssignmentItem {
    tenant: String,
    key: String,
    account_id: String,
}

/// The events-table partition of an account's infrastructure journal. `@` cannot begin a
/// tenant name, so this never meets a sandbox's audit partition.
fn journal_partition(account_id: &str) -> String {
    format!("@account#{account_id}")
}

impl DynamoStore {
    async fn assignment(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(tenant))
            .key("key", s(ASSIGNMENT_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        match found.item {
            Some(item) => Ok(Some(
                serde_dynamo::from_item::<_, AssignmentItem>(item)?.account_id,
            )),
            None => Ok(None),
        }
    }

    /// Moves the tenant's own account (assigned, or expired and not yet cleaned) to assigned.
    async fn reuse(&self, tenant: &str, account_id: &str) -> Result<Account, StoreError> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.config.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET #state = :assigned, #updated_at = :now REMOVE #expired_at")
            .condition_expression("#tenant = :tenant AND (#state = :assigned OR #state = :expired)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#expired_at", "expired_at")
            .expression_attribute_values(":assigned", s(AccountState::Assigned.as_str()))
            .expression_attribute_values(":expired", s(AccountState::Expired.as_str()))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":now", s(sbx_lifecycle::rfc3339_millis::format(&now)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated(result)? {
            Some(account) => Ok(account),
            None => {
                let account = self.account(account_id).await?;
                Err(StoreError::AccountUnavailable {
                    account_id: account_id.to_owned(),
                    state: account.state,
                })
            }
        }
    }

    /// Takes `account_id` out of the pool for `tenant`, in one transaction with the tenant's
    /// assignment. `Ok(None)`: another allocation took the account first.
    async fn claim(&self, tenant: &str, account_id: &str) -> Result<Option<Account>, StoreError> {
        let now = sbx_lifecycle::rfc3339_millis::format(&self.clock.now());
        let update = Update::builder()
            .table_name(&self.config.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET #state = :assigned, #tenant = :tenant, #updated_at = :now")
            .condition_expression("#state = :pool")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":assigned", s(AccountState::Assigned.as_str()))
            .expression_attribute_values(":pool", s(AccountState::Pool.as_str()))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":now", s(&now));
        let assignment = AssignmentItem {
            tenant: tenant.to_owned(),
            key: ASSIGNMENT_KEY.to_owned(),
            account_id: account_id.to_owned(),
        };
        let put = Put::builder()
            .table_name(&self.config.tables.tenants)
            .set_item(Some(serde_dynamo::to_item(&assignment)?))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key");
        let transaction = Transaction::default()
            .with(
                Part::Account,
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            )
            .with(
                Part::Assignment,
                TransactWriteItem::builder().put(build(put.build())?).build(),
            );
        match self.transact(transaction).await {
            Ok(()) => {
                tracing::info!(tenant, account = account_id, "account assigned");
                Ok(Some(self.account(account_id).await?))
            }
            Err(TxError::Failed(err)) => Err(err),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Assignment) => {
                // The tenant got an account meanwhile (a concurrent allocation): use that one.
                match self.assignment(tenant).await? {
                    Some(assigned) => self.reuse(tenant, &assigned).await.map(Some),
                    None => Ok(None),
                }
            }
            Err(TxError::Cancelled(_)) => Ok(None),
        }
    }
}

impl AccountStore for DynamoStore {
    async fn add_to_pool(&self, account_id: &str) -> Result<Account, StoreError> {
        let account = Account {
            account_id: account_id.to_owned(),
            state: AccountState::Pool,
            tenant: None,
            updated_at: sbx_lifecycle::rfc3339_millis::truncate(self.clock.now()),
            expired_at: None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.config.tables.accounts)
            .set_item(Some(serde_dynamo::to_item(&account)?))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", "account_id")
            .send()
            .await;
        match result {
            Ok(_) => Ok(account),
            // Seeding twice keeps what is there.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                self.account(account_id).await
            }
            Err(err) => Err(StoreError::aws("PutItem", err)),
        }
    }

    async fn allocate(&self, tenant: &str) -> Result<Account, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            if let Some(assigned) = self.assignment(tenant).await? {
                return self.reuse(tenant, &assigned).await;
            }
            let candidates = self.accounts(AccountState::Pool, CANDIDATES).await?;
            if candidates.is_empty() {
                // A concurrent allocation for this tenant may have taken the last pool account.
                if let Some(assigned) = self.assignment(tenant).await? {
                    return self.reuse(tenant, &assigned).await;
                }
                return Err(StoreError::PoolExhausted);
            }
            // Start at a different candidate per tenant, so that concurrent allocations for
            // different tenants rarely race for the same account.
            let offset = fastrand::usize(..candidates.len());
            for i in 0..candidates.len() {
                let candidate = &candidates[(offset + i) % candidates.len()];
                if let Some(account) = self.claim(tenant, &candidate.account_id).await? {
                    return Ok(account);
                }
            }
            backoff(attempt).await;
        }
        Err(StoreError::Contended {
            operation: "allocate",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn account(&self, account_id: &str) -> Result<Account, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.config.tables.accounts)
            .key("account_id", s(account_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        match found.item {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Err(StoreError::AccountNotFound {
                account_id: account_id.to_owned(),
            }),
        }
    }

    async fn tenant_account(&self, tenant: &str) -> Result<Option<Account>, StoreError> {
        match self.assignment(tenant).await? {
            Some(account_id) => self.account(&account_id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn expire(&self, tenant: &str, account_id: &str) -> Result<Account, StoreError> {
        let now = sbx_lifecycle::rfc3339_millis::format(&self.clock.now());
        let result = self
            .client
            .update_item()
            .table_name(&self.config.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET #state = :expired, #updated_at = :now, #expired_at = :now")
            .condition_expression("#tenant = :tenant AND #state = :assigned")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#expired_at", "expired_at")
            .expression_attribute_values(":expired", s(AccountState::Expired.as_str()))
            .expression_attribute_values(":assigned", s(AccountState::Assigned.as_str()))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":now", s(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        if let Some(account) = updated(result)? {
            tracing::info!(tenant, account = account_id, "account expired");
            return Ok(account);
        }
        let account = self.account(account_id).await?;
        match (account.state, account.tenant.as_deref()) {
            // Expiring twice is a no-op.
            (AccountState::Expired, Some(owner)) if owner == tenant => Ok(account),
            (state, _) => Err(StoreError::AccountUnavailable {
                account_id: account_id.to_owned(),
                state,
            }),
        }
    }

    async fn release_to_pool(&self, account_id: &str, clean: bool) -> Result<Account, StoreError> {
        let account = self.account(account_id).await?;
        let Some(tenant) = account.tenant.clone() else {
            return Ok(account);
        };
        let next = if clean {
            AccountState::Pool
        } else {
            AccountState::Quarantined
        };
        let now = sbx_lifecycle::rfc3339_millis::format(&self.clock.now());
        let update = Update::builder()
            .table_name(&self.config.tables.accounts)
            .key("account_id", s(account_id))
            .update_expression("SET #state = :next, #updated_at = :now REMOVE #tenant, #expired_at")
            .condition_expression("#state = :expired AND #tenant = :tenant")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#expired_at", "expired_at")
            .expression_attribute_values(":next", s(next.as_str()))
            .expression_attribute_values(":expired", s(AccountState::Expired.as_str()))
            .expression_attribute_values(":tenant", s(&tenant))
            .expression_attribute_values(":now", s(now));
        let delete = Delete::builder()
            .table_name(&self.config.tables.tenants)
            .key("tenant", s(&tenant))
            .key("key", s(ASSIGNMENT_KEY))
            .condition_expression("#account = :account")
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_values(":account", s(account_id));
        let transaction = Transaction::default()
            .with(
                Part::Account,
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            )
            .with(
                Part::Assignment,
                TransactWriteItem::builder()
                    .delete(build(delete.build())?)
                    .build(),
            );
        match self.transact(transaction).await {
            Ok(()) => self.account(account_id).await,
            Err(TxError::Failed(err)) => Err(err),
            Err(TxError::Cancelled(_)) => Err(StoreError::AccountUnavailable {
                account_id: account_id.to_owned(),
                state: self.account(account_id).await?.state,
            }),
        }
    }

    async fn accounts(&self, state: AccountState, limit: i32) -> Result<Vec<Account>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.config.tables.accounts)
            .index_name(BY_STATE)
            .key_condition_expression("#state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item(item)?))
            .collect()
    }

    async fn record_infra_change(&self, change: &InfraChange) -> Result<(), StoreError> {
        let mut item: crate::dynamo::Item = serde_dynamo::to_item(change)?;
        item.insert("sandbox".into(), s(journal_partition(&change.account_id)));
        item.insert("seq".into(), n(change.started_at.timestamp_micros()));
        self.client
            .put_item()
            .table_name(&self.config.tables.events)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", "seq")
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem", e))?;
        Ok(())
    }

    async fn infra_changes(&self, account_id: &str) -> Result<Vec<InfraChange>, StoreError> {
        let mut changes = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.config.tables.events)
                .key_condition_expression("#sandbox = :sandbox")
                .expression_attribute_names("#sandbox", "sandbox")
                .expression_attribute_values(":sandbox", s(journal_partition(account_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                changes.push(serde_dynamo::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(changes);
            }
        }
    }
}
