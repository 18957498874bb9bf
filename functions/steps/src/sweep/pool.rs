//! `grow-pool`: when fewer accounts than the low-water mark are in the pool, new ones are made
//! with Organizations CreateAccount, bootstrapped with the provisioning role through the role
//! Organizations creates in them, and added to the pool.
//!
//! The organization's own list of creations is the record of what was asked for: an account
//! whose creation succeeded but that the pool does not know yet (a sweep that died between the
//! two) is bootstrapped and added by the next sweep, and creations still in progress count
//! toward the mark, so nothing is asked for twice. The pool's lock keeps two sweeps from
//! growing it at once. Without an organization, a low pool is a warning.

use super::locks::POOL_LOCK;
use super::{SweepInput, locked, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use sbx_aws::organizations::CreationState;
use sbx_aws::{AccountFactory, Unit};
use sbx_store::{AccountState, AccountStore, LockStore, StoreError};
use serde::Serialize;

/// New accounts are named `sbx-pool-<digest of the sweep and a count>`; creations under other
/// names are not ours.
pub const NAME_PREFIX: &str = "sbx-pool-";

/// After a creation of ours fails (the organization's account limit, most often, which no
/// repeat fixes), none is asked for until this long after the failure: each sweep would
/// otherwise ask again, and fail again. The failure is reported as a warning meanwhile.
pub const FAILED_CREATION_BACKOFF: chrono::Duration = chrono::Duration::hours(1);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolReport {
    /// Accounts in the pool after this sweep.
    pub pool: usize,
    pub low_water: usize,
    /// Creations asked for by this sweep.
    pub requested: usize,
    /// Creations still in progress.
    pub in_progress: usize,
    /// Accounts added to the pool.
    pub added: Vec<String>,
    /// Creations the organization refused, with why.
    pub failed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

pub async fn grow(
    store: &(impl AccountStore + LockStore),
    organization: Option<&impl AccountFactory>,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<PoolReport, StepError> {
    let now = input.now(settings)?;
    let mut report = PoolReport {
        pool: store.all_accounts(AccountState::Pool).await?.len(),
        low_water: settings.low_water,
        ..PoolReport::default()
    };
    let Some(organization) = organization else {
        if report.pool < settings.low_water {
            let warning = format!(
                "the pool has {} accounts, below its low-water mark of {}; no organization is configured (SBX_OU_*) to create more: add accounts with POST /accounts",
                report.pool, settings.low_water
            );
            tracing::warn!("{warning}");
            report.warning = Some(warning);
        }
        return Ok(report);
    };
    locked(store, POOL_LOCK, &input.execution, async || {
        grow_locked(
            store,
            organization,
            settings,
            (&input.execution, now),
            &mut report,
        )
        .await
    })
    .await?;
    Ok(report)
}

async fn grow_locked(
    store: &impl AccountStore,
    organization: &impl AccountFactory,
    settings: &SweepSettings,
    (execution, now): (&str, chrono::DateTime<chrono::Utc>),
    report: &mut PoolReport,
) -> Result<(), StepError> {
    let mut backoff_until = None;
    // Twice: what earlier sweeps asked for, then what this one asks for (an organization may
    // finish a creation at once).
    for round in 0..2 {
        report.in_progress = 0;
        let creations = organization.creations().await?;
        let asked: Vec<String> = creations.iter().map(|c| c.email_name.clone()).collect();
        for creation in creations {
            if !creation.email_name.starts_with(NAME_PREFIX) {
                continue;
            }
            match creation.state {
                CreationState::InProgress => report.in_progress += 1,
                CreationState::Failed { reason } if round == 0 => {
                    note(&mut report.failed, format!("{}: {reason}", creation.request_id));
                    let until = creation.completed_at.map(|at| at + FAILED_CREATION_BACKOFF);
                    if let Some(until) = until.filter(|until| *until > now) {
                        backoff_until = backoff_until.max(Some(until));
                    }
                }
                CreationState::Failed { .. } => {}
                CreationState::Succeeded { account_id } => {
                    if known(store, &account_id).await? {
                        continue;
                    }
                    organization.bootstrap(&account_id).await?;
                    organization.place(&account_id, Unit::Pool).await?;
                    store.add_to_pool(&account_id).await?;
                    tracing::info!(account = %account_id, "new account added to the pool");
                    report.pool += 1;
                    note(&mut report.added, account_id);
                }
            }
        }
        let wanted = settings
            .low_water
            .saturating_sub(report.pool + report.in_progress);
        if round == 1 || wanted == 0 {
            break;
        }
        if let Some(until) = backoff_until {
            let warning = format!(
                "the pool needs {wanted} more accounts, but an account creation failed lately ({}); none is asked for before {until}",
                report.failed.join("; ")
            );
            tracing::warn!("{warning}");
            report.warning = Some(warning);
            break;
        }
        // Named by this sweep and a count, so that a retry of this step (after an answer was
        // lost) finds what the first try asked for instead of asking again.
        let mut n = 0;
        let mut requested = 0;
        while requested < wanted {
            let name = account_name(execution, n);
            n += 1;
            if asked.contains(&name) {
                continue;
            }
            organization.create_account(&name).await?;
            requested += 1;
        }
        report.requested += requested;
    }
    Ok(())
}

/// The name of the `n`th account the sweep `execution` asks for: `sbx-pool-<digest>`.
fn account_name(execution: &str, n: usize) -> String {
    sbx_aws::tags::short_name(NAME_PREFIX.trim_end_matches('-'), execution, &n.to_string())
}

async fn known(store: &impl AccountStore, account_id: &str) -> Result<bool, StepError> {
    match store.account(account_id).await {
        Ok(_) => Ok(true),
        Err(StoreError::AccountNotFound { .. }) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_aws::AwsError;
    use sbx_aws::organizations::Creation;
    use std::sync::Mutex;

    /// An organization whose creations all fail with the account limit.
    #[derive(Default)]
    struct AtItsLimit {
        creations: Mutex<Vec<Creation>>,
    }

    impl AccountFactory for AtItsLimit {
        async fn create_account(&self, name: &str) -> Result<String, AwsError> {
            let mut creations = self.creations.lock().unwrap_or_else(|p| p.into_inner());
            let id = format!("car-{}", creations.len());
            creations.push(Creation {
                request_id: id.clone(),
                email_name: name.to_owned(),
                state: CreationState::Failed {
                    reason: "ACCOUNT_LIMIT_EXCEEDED".into(),
                },
                completed_at: Some(chrono::Utc::now()),
            });
            Ok(id)
        }
        async fn creations(&self) -> Result<Vec<Creation>, AwsError> {
            Ok(self.creations.lock().unwrap_or_else(|p| p.into_inner()).clone())
        }
        async fn bootstrap(&self, _account: &str) -> Result<(), AwsError> {
            Ok(())
        }
        async fn place(&self, _account: &str, _unit: Unit) -> Result<bool, AwsError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn a_failed_creation_is_not_asked_again_by_every_sweep() {
        let store = sbx_fakes::FakeStore::default();
        let organization = AtItsLimit::default();
        let settings = SweepSettings {
            low_water: 1,
            ..crate::sweep::test_settings(true)
        };
        let at = |minutes: i64, n: u32| SweepInput {
            execution: format!("arn:gc:{n}"),
            as_of: Some(chrono::Utc::now() + chrono::Duration::minutes(minutes)),
        };
        let first = grow(&store, Some(&organization), &settings, at(0, 1)).await;
        assert_eq!(first.ok().map(|r| r.requested), Some(1));
        for (n, minutes) in [(2, 1), (3, 15), (4, 59)] {
            let later = grow(&store, Some(&organization), &settings, at(minutes, n)).await;
            let later = later.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(later.requested, 0, "{minutes} min after the failure: {later:?}");
            assert!(
                later
                    .warning
                    .as_deref()
                    .is_some_and(|w| w.contains("ACCOUNT_LIMIT_EXCEEDED")),
                "{later:?}"
            );
        }
        let after = grow(&store, Some(&organization), &settings, at(61, 5)).await;
        assert_eq!(
            after.ok().map(|r| r.requested),
            Some(1),
            "asked again after the hour"
        );
        assert_eq!(organization.creations().await.map(|c| c.len()).ok(), Some(2));
    }

    #[test]
    fn a_sweep_names_its_accounts_the_same_on_every_try() {
        let first = account_name("arn:gc:tick-1", 0);
        assert!(first.starts_with(NAME_PREFIX), "{first}");
        assert_eq!(first, account_name("arn:gc:tick-1", 0));
        assert_ne!(first, account_name("arn:gc:tick-1", 1));
        assert_ne!(first, account_name("arn:gc:tick-2", 0));
    }
}
