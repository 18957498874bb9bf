//! `release-stale-locks`: a lease past its expiry is removed, and the removal is journaled in
//! the account's infrastructure journal (who held it, until when). The locks are found through
//! the accounts (one lock per account, by key) and the pool's own lock; none is scanned for.
//! A lease renewed or taken over meanwhile is left, because the removal is conditional on the
//! very lease that was read.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use crate::job::Job;
use sbx_store::{AccountState, AccountStore, InfraChange, LockStore};
use serde::Serialize;

/// The lock that serializes the pool's growth.
pub const POOL_LOCK: &str = "pool";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LocksReport {
    pub checked: usize,
    /// The leases removed: lock, holder and expiry.
    pub removed: Vec<String>,
}

pub async fn sweep(
    store: &(impl AccountStore + LockStore),
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<LocksReport, StepError> {
    let now = input.now(settings)?;
    let mut report = LocksReport::default();
    let mut locks = vec![(None, POOL_LOCK.to_owned())];
    for state in AccountState::ALL {
        for account in store.all_accounts(state).await? {
            locks.push((
                Some(account.account_id.clone()),
                Job::lock_name(&account.account_id),
            ));
        }
    }
    for (account, lock) in locks {
        report.checked += 1;
        let Some(lease) = store.holder(&lock).await? else {
            continue;
        };
        if lease.expires_at >= now || !store.remove_expired(&lease).await? {
            continue;
        }
        let what = format!("{lock}: lease of {} expired at {}", lease.owner, lease.expires_at);
        tracing::warn!(%lock, owner = %lease.owner, expired = %lease.expires_at, "expired lease removed");
        if let Some(account_id) = account {
            let at = chrono::Utc::now();
            store
                .record_infra_change(&InfraChange {
                    account_id,
                    owner: input.execution.clone(),
                    action: format!(
                        "removed the expired lease of {} (until {})",
                        lease.owner, lease.expires_at
                    ),
                    started_at: at,
                    ended_at: at,
                })
                .await?;
        }
        note(&mut report.removed, what);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_fakes::{ACCOUNT, FakeStore};

    #[tokio::test]
    async fn only_expired_leases_are_removed_and_an_accounts_removal_is_journaled() {
        let store = FakeStore::default();
        store.pool(ACCOUNT);
        store.pool("100000000002");
        let past = chrono::Utc::now() - chrono::Duration::minutes(1);
        store.hold_until(&Job::lock_name(ACCOUNT), "arn:exec:dead", past);
        store.hold(&Job::lock_name("100000000002"), "arn:exec:alive");
        store.hold_until(POOL_LOCK, "arn:gc:dead", past);
        let input = SweepInput {
            execution: "arn:gc:2".into(),
            as_of: None,
        };
        let report = sweep(&store, &test_settings(false), input)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report.checked, 3,
            "the pool's lock and one per account: {report:?}"
        );
        assert_eq!(report.removed.len(), 2, "{report:?}");
        assert!(
            store
                .holder(&Job::lock_name(ACCOUNT))
                .await
                .ok()
                .flatten()
                .is_none()
        );
        assert!(store.holder(POOL_LOCK).await.ok().flatten().is_none());
        let alive = store.holder(&Job::lock_name("100000000002")).await.ok().flatten();
        assert_eq!(alive.map(|l| l.owner), Some("arn:exec:alive".into()));
        let journal = store.infra_changes(ACCOUNT).await.unwrap_or_default();
        assert_eq!(journal.len(), 1, "{journal:?}");
        assert!(journal[0].action.contains("arn:exec:dead"), "{journal:?}");
        assert_eq!(journal[0].owner, "arn:gc:2");
    }
}
