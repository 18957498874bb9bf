//! `run-deadlines`: sandboxes with a deadline that may be due, read from the sparse `by-alarm`
//! index, and what is due for each:
//!
//! - **Expiry warnings**: a `sandbox.expiring` notice at each threshold before the expiry
//!   (default 24 h and 1 h), once per threshold and expiry; an extension re-arms them. Only the
//!   nearest threshold passed is told (a sandbox made with 30 minutes to live hears "1 h", not
//!   "24 h" too).
//! - **Schedules**: the last of the schedule's autostop and autostart occurrences since the
//!   sweep last looked decides: a started sandbox is stopped, a stopped one started, through
//!   the same workflows and lock as a user's, audited with `schedule` as the actor.
//!
//! The operation is begun first (a compare-and-set on the record's state: of two sweeps at
//! once, one begins it), then the alarm is settled with the notice in one transaction compared
//! on what was read, so a warning is given once and a sweep that dies between the two finds
//! the sandbox already stopping.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Duration, Utc};
use sbx_lifecycle::{Operation, State};
use sbx_store::{Alarmed, Notice, SandboxStore, Settled, StoreError, Sweeps};
use sbx_workflows::Workflows;
use serde::Serialize;

/// The actor of scheduled operations in the audit trail.
pub const SCHEDULE: &str = "schedule";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeadlinesReport {
    /// Items the index query read.
    pub read: u64,
    pub due: usize,
    /// Notices given: `tenant/id: <threshold>s`.
    pub warned: Vec<String>,
    /// Scheduled operations begun: `tenant/id: stop|start`.
    pub scheduled: Vec<String>,
    /// Taken by another sweep, changed since they were read, or busy with another operation.
    pub left: Vec<String>,
    /// Begun, but their workflow could not be started (the record is failed).
    pub failed: Vec<String>,
}

/// What one alarm decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The thresholds warned of after it.
    pub warned: Vec<u64>,
    /// The threshold to tell now (the nearest passed), if any.
    pub notice: Option<u64>,
    /// The scheduled operation due now, if the sandbox's state allows it.
    pub operation: Option<Operation>,
    /// When to look again (`None`: nothing is left to look for).
    pub next: Option<DateTime<Utc>>,
}

pub fn decide(alarmed: &Alarmed, thresholds: &[u64], now: DateTime<Utc>) -> Decision {
    let sandbox = &alarmed.sandbox;
    let over = !sandbox.state.is_live() || sandbox.state == State::Deleting || sandbox.expires_at <= now;
    if over {
        // Nothing left to do: the expiry sweep (or the delete) takes it from here.
        return Decision {
            warned: alarmed.warned.clone(),
            notice: None,
            operation: None,
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
    let next_warning = thresholds
        .iter()
        .filter(|t| !warned.contains(t))
        .max()
        .map(|t| sandbox.expires_at - Duration::seconds(*t as i64));

    let (mut operation, mut next_occurrence) = (None, None);
    if let Some(schedule) = &sandbox.schedule {
        let since = alarmed.looked_at.unwrap_or(now);
        let last = |r: &Option<sbx_lifecycle::Recurrence>| r.as_ref().and_then(|r| r.last_in(since, now));
        operation = match (last(&schedule.autostop), last(&schedule.autostart)) {
            (Some(stop), Some(start)) if start > stop => Some(Operation::Start),
            (Some(_), _) => Some(Operation::Stop),
            (None, Some(_)) => Some(Operation::Start),
            (None, None) => None,
        }
        .filter(|op| match op {
            Operation::Stop => sandbox.state == State::Started,
            Operation::Start => sandbox.state == State::Stopped,
            _ => false,
        });
        next_occurrence = schedule.next_after(now);
    }
    let next = [next_warning, next_occurrence]
        .into_iter()
        .flatten()
        .min()
        .filter(|at| *at < sandbox.expires_at);
    Decision {
        warned,
        notice: passed.into_iter().min(),
        operation,
        next,
    }
}

pub async fn sweep(
    store: &(impl Sweeps + SandboxStore),
    workflows: &impl Workflows,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<DeadlinesReport, StepError> {
    let now = input.now(settings)?;
    let due = store.alarms_due(now, settings.batch).await?;
    let mut report = DeadlinesReport {
        read: due.read,
        due: due.items.len(),
        ..DeadlinesReport::default()
    };
    for alarmed in &due.items {
        let sandbox = &alarmed.sandbox;
        let who = format!("{}/{}", sandbox.tenant, sandbox.id);
        let decision = decide(alarmed, &settings.expiry_warnings, now);
        if let Some(operation) = decision.operation {
            match store
                .begin_by(&sandbox.tenant, &sandbox.id, operation, SCHEDULE)
                .await
            {
                Ok(begun) => match sbx_workflows::launch(store, workflows, operation, &begun).await {
                    Ok(()) => {
                        tracing::info!(sandbox = %who, %operation, "scheduled operation begun");
                        note(&mut report.scheduled, format!("{who}: {operation}"));
                    }
                    Err(err) => note(&mut report.failed, format!("{who}: {err}")),
                },
                // Changed since it was read (another sweep, a user): the next look decides.
                Err(StoreError::Conflict(refused)) => {
                    note(&mut report.left, format!("{who} ({})", refused.current));
                }
                Err(StoreError::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        let notice = decision
            .notice
            .map(|threshold| Notice::expiring(sandbox, threshold, now));
        let settled = Settled {
            warned: &decision.warned,
            notice: notice.as_ref(),
            next: decision.next,
            looked_at: now,
        };
        if store.settle_alarm(alarmed, &settled).await? {
            if let Some(threshold) = decision.notice {
                tracing::info!(sandbox = %who, threshold, expires = %sandbox.expires_at, "expiry warning given");
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
    use sbx_fakes::{FakeStore, FakeWorkflows};
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
        let workflows = FakeWorkflows::default();
        let sweep_at = |at| sweep(&store, &workflows, &settings, input(at));
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
        let report = sweep(
            &store,
            &FakeWorkflows::default(),
            &test_settings(true),
            input(now),
        )
        .await
        .ok();
        assert_eq!(report.map(|r| r.warned.len()), Some(1));
        assert_eq!(thresholds(&store), [3_600]);
        let again = sweep(
            &store,
            &FakeWorkflows::default(),
            &test_settings(true),
            input(now + Duration::minutes(10)),
        )
        .await
        .ok();
        assert_eq!(again.map(|r| r.due), Some(0));
    }

    #[tokio::test]
    async fn a_stopped_sandbox_is_warned_and_a_deleted_one_is_not() {
        let (store, now) = fake(Duration::minutes(30));
        store.put_state("sb-1", State::Stopped);
        sweep(
            &store,
            &FakeWorkflows::default(),
            &test_settings(true),
            input(now),
        )
        .await
        .ok();
        assert_eq!(
            thresholds(&store),
            [3_600],
            "a stopped sandbox is still deleted at expiry"
        );
        let (store, now) = fake(Duration::minutes(30));
        store.put_state("sb-1", State::Deleting);
        sweep(
            &store,
            &FakeWorkflows::default(),
            &test_settings(true),
            input(now),
        )
        .await
        .ok();
        assert!(thresholds(&store).is_empty());
    }

    #[tokio::test]
    async fn a_fixed_clock_refuses_as_of() {
        let (store, now) = fake(Duration::minutes(30));
        let refused = sweep(
            &store,
            &FakeWorkflows::default(),
            &test_settings(false),
            input(now),
        )
        .await;
        assert!(matches!(refused, Err(StepError::InvalidInput(_))));
    }

    fn recurrence(at: &str) -> sbx_lifecycle::Recurrence {
        sbx_lifecycle::Recurrence {
            at: at.into(),
            days: vec![],
            time_zone: "UTC".into(),
        }
    }

    fn actors(store: &FakeStore) -> Vec<(String, Option<String>)> {
        store
            .events
            .lock()
            .map(|e| {
                e.iter()
                    .map(|e| (e.to.as_str().to_owned(), e.actor.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_schedule_stops_and_starts_once_per_occurrence_as_the_schedule() {
        let (store, now) = fake(Duration::days(20));
        let schedule = sbx_lifecycle::Schedule {
            autostop: Some(recurrence("19:00")),
            autostart: Some(recurrence("07:00")),
            idle_minutes: None,
        };
        let set = store.set_schedule("acme", "sb-1", &schedule, now).await;
        assert!(set.is_ok());
        let workflows = FakeWorkflows::default();
        let settings = test_settings(true);
        let next_stop = recurrence("19:00").next_after(now).unwrap_or(now);
        // Before the occurrence: nothing.
        let report = sweep(&store, &workflows, &settings, input(now + Duration::seconds(1)))
            .await
            .ok();
        assert_eq!(report.map(|r| r.scheduled.len()), Some(0));
        // Just after it, twice at once: one stop, by the schedule.
        let at = next_stop + Duration::seconds(30);
        let (a, b) = tokio::join!(
            sweep(&store, &workflows, &settings, input(at)),
            sweep(&store, &workflows, &settings, input(at))
        );
        let begun = a.map(|r| r.scheduled.len()).unwrap_or(9) + b.map(|r| r.scheduled.len()).unwrap_or(9);
        assert_eq!(begun, 1, "one stop for one occurrence");
        assert_eq!(
            actors(&store).last(),
            Some(&("stopping".to_owned(), Some(SCHEDULE.to_owned())))
        );
        // The stop finishes; the next morning's autostart starts it.
        store.put_state("sb-1", State::Stopped);
        let morning = recurrence("07:00").next_after(next_stop).unwrap_or(now) + Duration::seconds(30);
        let report = sweep(&store, &workflows, &settings, input(morning)).await.ok();
        assert_eq!(
            report.map(|r| r.scheduled),
            Some(vec!["acme/sb-1: start".to_owned()])
        );
        assert_eq!(
            actors(&store).last(),
            Some(&("starting".to_owned(), Some(SCHEDULE.to_owned())))
        );
        // Looked at again the same minute: nothing more.
        store.put_state("sb-1", State::Started);
        let again = sweep(
            &store,
            &workflows,
            &settings,
            input(morning + Duration::seconds(10)),
        )
        .await
        .ok();
        assert_eq!(again.map(|r| r.scheduled.len()), Some(0));
    }

    #[test]
    fn the_last_occurrence_since_the_last_look_decides_and_the_state_must_allow_it() {
        let (store, now) = fake(Duration::days(20));
        let mut sandbox = store
            .sandboxes
            .lock()
            .map(|s| s[0].clone())
            .unwrap_or_else(|p| p.into_inner()[0].clone());
        sandbox.schedule = Some(sbx_lifecycle::Schedule {
            autostop: Some(recurrence("19:00")),
            autostart: Some(recurrence("07:00")),
            idle_minutes: None,
        });
        let stop = recurrence("19:00").next_after(now).unwrap_or(now);
        let start = recurrence("07:00").next_after(stop).unwrap_or(now);
        let alarmed = |state, looked_at| Alarmed {
            sandbox: sbx_lifecycle::Sandbox {
                state,
                ..sandbox.clone()
            },
            alarm_at: now,
            warned: vec![],
            looked_at: Some(looked_at),
        };
        // Both passed since the last look: the later (the start) decides.
        let both = decide(&alarmed(State::Stopped, now), &[], start + Duration::minutes(1));
        assert_eq!(both.operation, Some(Operation::Start));
        assert_eq!(both.next, Some(stop + Duration::days(1)));
        // A stop due while the sandbox is stopped already: nothing to do.
        let idle = decide(&alarmed(State::Stopped, now), &[], stop + Duration::minutes(1));
        assert_eq!(idle.operation, None);
        // Looked at after the occurrence already: it is done.
        let done = decide(&alarmed(State::Started, stop), &[], stop + Duration::minutes(1));
        assert_eq!(done.operation, None);
    }
}
