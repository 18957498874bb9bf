//! `warn-expiring`: sandboxes whose next expiry warning may be due, read from the sparse
//! `by-alarm` index, get a `sandbox.expiring` notice at each threshold before their expiry
//! (default 24 h and 1 h), once per threshold and expiry: an extension re-arms them. Only the
//! nearest threshold passed is told (a sandbox made with 30 minutes to live hears "1 h", not
//! "24 h" too). Each notice is written with the record's alarm in one transaction compared on
//! what was read, so of two sweeps at once one gives it.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Duration, Utc};
use sbx_store::{Alarmed, Notice, Sweeps};
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WarningsReport {
    /// Items the index query read.
    pub read: u64,
    pub due: usize,
    /// Notices given: `tenant/id: <threshold>s`.
    pub warned: Vec<String>,
    /// Taken by another sweep, or extended, since they were read.
    pub left: Vec<String>,
}

/// What one alarm decides: the thresholds warned of after it, the notice to give (the nearest
/// threshold passed, if any), and the next alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub warned: Vec<u64>,
    pub notice: Option<u64>,
    pub next: Option<DateTime<Utc>>,
}

pub fn decide(alarmed: &Alarmed, thresholds: &[u64], now: DateTime<Utc>) -> Decision {
    let sandbox = &alarmed.sandbox;
    let expired = sandbox.expires_at <= now;
    if !sandbox.state.is_live() || expired || sandbox.state == sbx_lifecycle::State::Deleting {
        // Nothing left to warn of: the expiry sweep (or the delete) takes it from here.
        return Decision {
            warned: alarmed.warned.clone(),
            notice: None,
            next: None,
        };
    }
    let remaining = sandbox.expires_at - now;
    let passed: Vec<u64> = thresholds
        .iter()
        .copied()
        .filter(|t| remaining <= Duration::seconds(*t as i64) && !alarmed.warned.contains(t))
        .collect();
    let mut warned = alarmed.warned.clone();
    warned.extend(&passed);
    warned.sort_unstable();
    warned.dedup();
    let next = thresholds
        .iter()
        .filter(|t| !warned.contains(t))
        .max()
        .map(|t| sandbox.expires_at - Duration::seconds(*t as i64));
    Decision {
        warned,
        notice: passed.into_iter().min(),
        next,
    }
}

pub async fn sweep(
    store: &impl Sweeps,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<WarningsReport, StepError> {
    let now = input.now(settings)?;
    let due = store.alarms_due(now, settings.batch).await?;
    let mut report = WarningsReport {
        read: due.read,
        due: due.items.len(),
        ..WarningsReport::default()
    };
    for alarmed in &due.items {
        let who = format!("{}/{}", alarmed.sandbox.tenant, alarmed.sandbox.id);
        let decision = decide(alarmed, &settings.expiry_warnings, now);
        let notice = decision
            .notice
            .map(|threshold| Notice::expiring(&alarmed.sandbox, threshold, now));
        if store
            .settle_alarm(alarmed, &decision.warned, decision.next, notice.as_ref())
            .await?
        {
            if let Some(threshold) = decision.notice {
                tracing::info!(sandbox = %who, threshold, expires = %alarmed.sandbox.expires_at, "expiry warning given");
                note(&mut report.warned, format!("{who}: {threshold}s"));
            }
        } else {
            note(&mut report.left, who);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_fakes::FakeStore;
    use sbx_lifecycle::{SandboxOptions, State};

    fn input(at: DateTime<Utc>) -> SweepInput {
        SweepInput {
            execution: "gc-1".into(),
            as_of: Some(at),
        }
    }

    fn fake(expires_in: Duration) -> (FakeStore, DateTime<Utc>) {
        let store = FakeStore::default();
        store.add("sb-1", State::Started, SandboxOptions::default());
        let now = Utc::now();
        store.put_expiry("sb-1", sbx_lifecycle::rfc3339_millis::truncate(now + expires_in));
        (store, now)
    }

    fn thresholds(store: &FakeStore) -> Vec<u64> {
        store
            .notices
            .lock()
            .map(|n| n.iter().map(|n| n.threshold_seconds).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn each_threshold_is_told_once_and_an_extension_rearms_them() {
        let (store, now) = fake(Duration::hours(48));
        let settings = test_settings(true);
        let sweep_at = |at| sweep(&store, &settings, input(at));
        assert_eq!(sweep_at(now).await.map(|r| r.warned.len()).ok(), Some(0));
        assert!(thresholds(&store).is_empty(), "48 h left: nothing to tell");
        sweep_at(now + Duration::hours(25)).await.ok();
        assert_eq!(thresholds(&store), [86_400], "23 h left: the 24 h warning");
        // Two sweeps at the same time, and again: told once.
        let (a, b) = tokio::join!(
            sweep_at(now + Duration::hours(26)),
            sweep_at(now + Duration::hours(26))
        );
        assert!(a.is_ok() && b.is_ok());
        assert_eq!(thresholds(&store), [86_400]);
        sweep_at(now + Duration::minutes(47 * 60 + 30)).await.ok();
        assert_eq!(
            thresholds(&store),
            [86_400, 3_600],
            "30 min left: the 1 h warning"
        );
        let report = sweep_at(now + Duration::minutes(47 * 60 + 50)).await.ok();
        assert_eq!(
            report.map(|r| r.due),
            Some(0),
            "nothing is read once every warning is given"
        );

        // Extended by a day: both warnings are given again, for the new expiry.
        store.put_expiry(
            "sb-1",
            sbx_lifecycle::rfc3339_millis::truncate(now + Duration::hours(72)),
        );
        sweep_at(now + Duration::hours(49)).await.ok();
        sweep_at(now + Duration::minutes(71 * 60 + 30)).await.ok();
        assert_eq!(thresholds(&store), [86_400, 3_600, 86_400, 3_600]);
    }

    #[tokio::test]
    async fn a_short_lived_sandbox_hears_only_the_nearest_threshold() {
        let (store, now) = fake(Duration::minutes(30));
        let report = sweep(&store, &test_settings(true), input(now)).await.ok();
        assert_eq!(report.map(|r| r.warned.len()), Some(1));
        assert_eq!(thresholds(&store), [3_600]);
        let again = sweep(&store, &test_settings(true), input(now + Duration::minutes(10)))
            .await
            .ok();
        assert_eq!(again.map(|r| r.due), Some(0));
    }

    #[tokio::test]
    async fn a_stopped_sandbox_is_warned_and_a_deleted_one_is_not() {
        let (store, now) = fake(Duration::minutes(30));
        store.put_state("sb-1", State::Stopped);
        sweep(&store, &test_settings(true), input(now)).await.ok();
        assert_eq!(
            thresholds(&store),
            [3_600],
            "a stopped sandbox is still deleted at expiry"
        );
        let (store, now) = fake(Duration::minutes(30));
        store.put_state("sb-1", State::Deleting);
        sweep(&store, &test_settings(true), input(now)).await.ok();
        assert!(thresholds(&store).is_empty());
    }

    #[tokio::test]
    async fn a_fixed_clock_refuses_as_of() {
        let (store, now) = fake(Duration::minutes(30));
        let refused = sweep(&store, &test_settings(false), input(now)).await;
        assert!(matches!(refused, Err(StepError::InvalidInput(_))));
    }
}
