//! The garbage collector's steps (SPEC: Garbage collection), one per part of a sweep, each a
//! Lambda that `statemachines/gc.asl.json` calls in turn:
//!
//! - [`locks`]: `release-stale-locks`, expired leases removed and journaled;
//! - [`stuck`]: `reconcile-stuck`, records in a transitional state checked against their
//!   execution;
//! - [`expired`]: `delete-expired`, sandboxes past `expires_at` deleted through the API's path;
//! - [`deadlines`]: `run-deadlines`, a `sandbox.expiring` notice at each threshold before an
//!   expiry, and the schedules' autostop and autostart (also run every minute on their own, by
//!   the `deadlines` workflow);
//! - [`spend`]: `meter-spend`, each sandbox's cost brought up to date and each tenant's
//!   budget looked at (also run every minute, by the `deadlines` workflow);
//! - [`drift`]: `check-drift`, once a day the month's estimates compared with Cost Explorer
//!   (where the deployment reads it);
//! - [`orphans`]: `collect-orphans`, resources of deleted sandboxes, and shared infrastructure
//!   no active sandbox needs;
//! - [`accounts`]: `cycle-accounts`, accounts expired, cleaned, proved empty by an independent
//!   inventory, then back to the pool or quarantined;
//! - [`pool`]: `grow-pool`, new accounts when the pool is below its low-water mark.
//!
//! Every part reads through keys and indexes, and acts through a conditional write or under
//! the account lock, so that two sweeps at once never act twice on one item. Each returns a
//! report of what it did, which the state machine gathers into the sweep's output.

pub mod accounts;
pub mod deadlines;
pub mod drift;
pub mod expired;
pub mod locks;
pub mod orphans;
pub mod pool;
pub mod spend;
pub mod stuck;

use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Utc};
use sbx_aws::{Ingress, Inventory, Networks, SharedInfrastructure, Vms};
use sbx_store::{AccountStore, LockStore, SandboxStore, StoreError};
use serde::Deserialize;
use std::time::Duration;

/// How long a sweep may hold a lock: one cleaning of an account, or one growth of the pool.
pub(crate) const SWEEP_LEASE: Duration = Duration::from_secs(900);

/// The tenant accounts' resources the sweeps remove.
pub trait Aws: Vms + Networks + Ingress {}
impl<T: Vms + Networks + Ingress> Aws for T {}

/// The accounts' shared infrastructure and their inventory.
pub trait Infra: SharedInfrastructure + Inventory {}
impl<T: SharedInfrastructure + Inventory> Infra for T {}

/// The store's parts the account sweeps use.
pub trait Store: SandboxStore + AccountStore + LockStore {}
impl<T: SandboxStore + AccountStore + LockStore> Store for T {}

/// Runs `work` holding `lock` for the sweep `execution`; `None` when another holder has it (the
/// next sweep tries again). The lock is released however `work` ends; a release that fails is
/// left to the lease's expiry.
pub(crate) async fn locked<T>(
    store: &impl LockStore,
    lock: &str,
    execution: &str,
    work: impl AsyncFnOnce() -> Result<T, StepError>,
) -> Result<Option<T>, StepError> {
    match store.acquire(lock, execution, SWEEP_LEASE).await {
        Ok(_) => {}
        Err(StoreError::LockHeld { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    }
    let outcome = work().await;
    if let Err(err) = store.release(lock, execution).await {
        tracing::warn!(%lock, %err, "the sweep's lock could not be released; its lease will run out");
    }
    outcome.map(Some)
}

/// What each part of a sweep is called with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepInput {
    /// The sweep's execution id: the owner of any lock the part takes.
    pub execution: String,
    /// The time the sweep acts as of, instead of now. Only where the clock may be moved
    /// ([`SweepSettings::movable_clock`]): the local stack's way to make time pass.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

impl SweepInput {
    /// The time this sweep acts as of.
    pub fn now(&self, settings: &SweepSettings) -> Result<DateTime<Utc>, StepError> {
        match self.as_of {
            None => Ok(Utc::now()),
            Some(at) if settings.movable_clock => Ok(at),
            Some(_) => Err(StepError::InvalidInput(
                "as_of: this deployment's sweeps run at the current time (SBX_GC_CLOCK is not movable)"
                    .into(),
            )),
        }
    }
}

/// Appends `item` to `list` unless the list is full; reports stay small however much a sweep
/// finds.
pub(crate) fn note(list: &mut Vec<String>, item: String) {
    const MAX: usize = 50;
    if list.len() < MAX {
        list.push(item);
    }
}

/// Sweep settings for unit tests: the defaults, no cooldown, small batches, no pool growth.
#[cfg(test)]
pub(crate) fn test_settings(movable_clock: bool) -> SweepSettings {
    SweepSettings {
        cooldown: chrono::Duration::zero(),
        batch: 10,
        low_water: 0,
        movable_clock,
        ..SweepSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_fakes::FakeStore;

    fn settings(movable_clock: bool) -> SweepSettings {
        test_settings(movable_clock)
    }

    #[tokio::test]
    async fn work_under_a_lock_runs_once_and_releases_it_however_it_ends() {
        let store = FakeStore::default();
        let done = locked(&store, "account:1", "gc-1", async || Ok::<_, StepError>(7)).await;
        assert_eq!(done.ok(), Some(Some(7)));
        let failed = locked(&store, "account:1", "gc-1", async || {
            Err::<(), _>(StepError::Failed("boom".into()))
        })
        .await;
        assert!(matches!(failed, Err(StepError::Failed(_))), "{failed:?}");
        assert!(
            store.holder("account:1").await.ok().flatten().is_none(),
            "released after a failure"
        );
        store.hold("account:1", "exec-create");
        let busy = locked(&store, "account:1", "gc-1", async || Ok::<_, StepError>(1)).await;
        assert_eq!(busy.ok(), Some(None), "another holder: left for the next sweep");
    }

    #[test]
    fn a_sweep_moves_the_clock_only_where_that_is_allowed() {
        let at = Utc::now() + chrono::Duration::days(3);
        let input = SweepInput {
            execution: "arn:gc:1".into(),
            as_of: Some(at),
        };
        assert_eq!(input.now(&settings(true)).ok(), Some(at));
        assert!(matches!(
            input.now(&settings(false)),
            Err(StepError::InvalidInput(_))
        ));
    }
}
