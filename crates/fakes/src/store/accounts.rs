//! The account pool ([`AccountStore`]): accounts and their moves, with the pool's rules, and the
//! infrastructure journal.

use super::FakeStore;
use crate::locked;
use chrono::Utc;
use sbx_store::{Account, AccountChange, AccountEvent, AccountState, AccountStore, InfraChange, StoreError};

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
