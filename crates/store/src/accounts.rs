//! [`AccountStore`] on DynamoDB: the account pool, each account's audit trail, and its journal
//! of infrastructure changes.
//!
//! An account item says what the account is doing and for whom ([`Account`]). Every change of
//! it is one transaction: the item, compared on its version; its audit event; and where the
//! change begins or ends a tenant's assignment, the tenants-table item `account` naming it.
//! The account's condition makes sure no two tenants get one account, the tenant item's that
//! no tenant gets two.

use crate::account::{Account, AccountChange, AccountEvent, AccountState};
use crate::client::DynamoStore;
use crate::item::{Item, MAX_ATTEMPTS, backoff, build, n, refused, s};
use crate::schema::BY_STATE;
use crate::transaction::TxError;
use crate::transaction::{Part, Transaction};
use crate::{AccountStore, InfraChange, StoreError};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

/// The tenants-table item naming the tenant's account.
const ASSIGNMENT_KEY: &str = "account";
/// How many pool accounts one allocation round considers.
const CANDIDATES: usize = 10;

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

/// The events-table partition of an account's audit trail.
fn trail_partition(account_id: &str) -> String {
    format!("@account-trail#{account_id}")
}

impl DynamoStore {
    async fn assignment(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.config.tables.tenants()?)
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

    /// The put of `next`, compared on the version `current` was read at.
    fn account_item(
        &self,
        current: Option<&Account>,
        next: &Account,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(self.config.tables.accounts()?)
            .set_item(Some(serde_dynamo::to_item(next)?));
        let put = match current {
            None => put
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", "account_id"),
            // Items written before accounts had versions have none.
            Some(current) if current.version == 0 => put
                .condition_expression("#state = :state AND attribute_not_exists(#version)")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":state", s(current.state.as_str())),
            Some(current) => put
                .condition_expression("#state = :state AND #version = :version")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":state", s(current.state.as_str()))
                .expression_attribute_values(":version", n(current.version)),
        };
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    fn account_event_item(&self, event: &AccountEvent) -> Result<TransactWriteItem, StoreError> {
        self.append_item(&trail_partition(&event.account_id), event)
    }

    fn assign_item(&self, tenant: &str, account_id: &str) -> Result<TransactWriteItem, StoreError> {
        let assignment = AssignmentItem {
            tenant: tenant.to_owned(),
            key: ASSIGNMENT_KEY.to_owned(),
            account_id: account_id.to_owned(),
        };
        let put = Put::builder()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(serde_dynamo::to_item(&assignment)?))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key");
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    fn unassign_item(&self, tenant: &str, account_id: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(ASSIGNMENT_KEY))
            .condition_expression("attribute_not_exists(#account) OR #account = :account")
            .expression_attribute_names("#account", "account_id")
            .expression_attribute_values(":account", s(account_id));
        Ok(TransactWriteItem::builder()
            .delete(build(delete.build())?)
            .build())
    }

    /// Applies `change` to `current` as one transaction. `Ok(Err(..))`: the transaction was
    /// cancelled (someone changed the account, or the tenant's assignment, first).
    async fn write_change(
        &self,
        current: &Account,
        change: &AccountChange,
    ) -> Result<Result<Account, crate::transaction::Cancelled>, StoreError> {
        let Some((next, event)) =
            current
                .apply(change, self.clock.now())
                .map_err(|refused| StoreError::AccountUnavailable {
                    account_id: current.account_id.clone(),
                    state: refused.state,
                })?
        else {
            return Ok(Ok(current.clone()));
        };
        let mut transaction = Transaction::default()
            .with(Part::Account, self.account_item(Some(current), &next)?)
            .with(Part::Event, self.account_event_item(&event)?);
        match change {
            AccountChange::Assign { tenant } => {
                transaction.push(Part::Assignment, self.assign_item(tenant, &next.account_id)?);
            }
            change if change.ends_assignment(current.state) => {
                if let Some(tenant) = current.tenant.as_deref() {
                    transaction.push(Part::Assignment, self.unassign_item(tenant, &next.account_id)?);
                }
            }
            _ => {}
        }
        match self.transact(transaction).await {
            Ok(()) => {
                tracing::info!(
                    account = %next.account_id,
                    change = change.name(),
                    from = %current.state,
                    to = %next.state,
                    "account changed"
                );
                Ok(Ok(next))
            }
            Err(TxError::Failed(err)) => Err(err),
            Err(TxError::Cancelled(cancelled)) => Ok(Err(cancelled)),
        }
    }

    /// Takes `candidate` out of the pool for `tenant`. `Ok(None)`: another allocation took the
    /// account first.
    async fn claim(&self, tenant: &str, candidate: &Account) -> Result<Option<Account>, StoreError> {
        match self
            .write_change(
                candidate,
                &AccountChange::Assign {
                    tenant: tenant.to_owned(),
                },
            )
            .await
        {
            Ok(Ok(account)) => Ok(Some(account)),
            // The index was behind: the account is no longer in the pool.
            Err(StoreError::AccountUnavailable { .. }) => Ok(None),
            Err(err) => Err(err),
            Ok(Err(cancelled)) if cancelled.refused(Part::Assignment) => {
                // The tenant got an account meanwhile (a concurrent allocation): use that one.
                match self.assignment(tenant).await? {
                    Some(assigned) => self.reuse(tenant, &assigned).await.map(Some),
                    None => Ok(None),
                }
            }
            Ok(Err(_)) => Ok(None),
        }
    }

    async fn reuse(&self, tenant: &str, account_id: &str) -> Result<Account, StoreError> {
        self.change_account(
            account_id,
            AccountChange::Reuse {
                tenant: tenant.to_owned(),
            },
        )
        .await
    }

    /// One page of the `by-state` index, from `start`.
    async fn state_page(
        &self,
        state: AccountState,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Account>, Option<Item>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(self.config.tables.accounts()?)
            .index_name(BY_STATE)
            .key_condition_expression("#state = :state")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state.as_str()))
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", e))?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| Ok(serde_dynamo::from_item(item)?))
            .collect::<Result<Vec<Account>, StoreError>>()?;
        Ok((items, output.last_evaluated_key))
    }
}

impl AccountStore for DynamoStore {
    async fn add_to_pool(&self, account_id: &str) -> Result<Account, StoreError> {
        let (account, event) = Account::added(account_id, self.clock.now());
        let transaction = Transaction::default()
            .with(Part::Account, self.account_item(None, &account)?)
            .with(Part::Event, self.account_event_item(&event)?);
        match self.transact(transaction).await {
            Ok(()) => Ok(account),
            // Adding twice keeps what is there.
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Account) => {
                self.account(account_id).await
            }
            Err(TxError::Cancelled(_)) => Err(StoreError::Contended {
                operation: "add_to_pool",
                attempts: 1,
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }

    async fn allocate(&self, tenant: &str) -> Result<Account, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            if let Some(assigned) = self.assignment(tenant).await? {
                return self.reuse(tenant, &assigned).await;
            }
            let (candidates, _) = self
                .state_page(AccountState::Pool, Some(CANDIDATES as i32), None)
                .await?;
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
                if let Some(account) = self.claim(tenant, candidate).await? {
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
            .table_name(self.config.tables.accounts()?)
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
        self.change_account(
            account_id,
            AccountChange::Expire {
                tenant: tenant.to_owned(),
            },
        )
        .await
    }

    async fn change_account(&self, account_id: &str, change: AccountChange) -> Result<Account, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.account(account_id).await?;
            match self.write_change(&current, &change).await? {
                Ok(account) => return Ok(account),
                // Someone changed the account first: read it again and decide anew.
                Err(cancelled) => {
                    if cancelled.contended() {
                        backoff(attempt).await;
                    }
                }
            }
        }
        Err(StoreError::Contended {
            operation: "change_account",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn change_account_from(
        &self,
        current: &Account,
        change: AccountChange,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self.write_change(current, &change).await?.ok())
    }

    async fn accounts(&self, state: AccountState, limit: i32) -> Result<Vec<Account>, StoreError> {
        Ok(self.state_page(state, Some(limit.max(1)), None).await?.0)
    }

    async fn all_accounts(&self, state: AccountState) -> Result<Vec<Account>, StoreError> {
        let mut accounts = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.state_page(state, None, start).await?;
            accounts.extend(page);
            start = next;
            if start.is_none() {
                return Ok(accounts);
            }
        }
    }

    async fn account_events(&self, account_id: &str, after: u64) -> Result<Vec<AccountEvent>, StoreError> {
        self.read_partition_after(&trail_partition(account_id), after)
            .await
    }

    async fn record_infra_change(&self, change: &InfraChange) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(change)?;
        item.insert("sandbox".into(), s(journal_partition(&change.account_id)));
        item.insert("seq".into(), n(change.started_at.timestamp_micros()));
        let written = self
            .client
            .put_item()
            .table_name(self.config.tables.events()?)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", "seq")
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            // The entry is there: this very write, repeated after its answer was lost, or
            // another entry of the same microsecond.
            Err(err) if refused(&err) => {
                let found = self
                    .client
                    .get_item()
                    .table_name(self.config.tables.events()?)
                    .key("sandbox", item["sandbox"].clone())
                    .key("seq", item["seq"].clone())
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| StoreError::aws("GetItem", e))?;
                match found
                    .item
                    .map(serde_dynamo::from_item::<_, InfraChange>)
                    .transpose()?
                {
                    // Read back, times are to the millisecond.
                    Some(entry) if entry.owner == change.owner && entry.action == change.action => Ok(()),
                    _ => Err(StoreError::aws("PutItem", err)),
                }
            }
            Err(err) => Err(StoreError::aws("PutItem", err)),
        }
    }

    async fn infra_changes(&self, account_id: &str) -> Result<Vec<InfraChange>, StoreError> {
        self.read_partition(&journal_partition(account_id)).await
    }
}
