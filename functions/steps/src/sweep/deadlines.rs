//! `run-deadlines`: sandboxes with a deadline that may be due, read from the sparse `by-deadline`
//! index, and what is due for each:
//!
//! - **Expiry warnings**: a `sandbox.expiring` notice at each threshold before the expiry
//!   (the tenant's own, `PUT /tenants/{id}/notifications`, or the deployment's default, 24 h
//!   and 1 h), once per threshold and expiry; an extension re-arms them. Only the
//!   nearest threshold passed is told (a sandbox made with 30 minutes to live hears "1 h", not
//!   "24 h" too).
//! - **Schedules**: the last of the schedule's autostop and autostart occurrences since the
//!   sweep last looked decides: a started sandbox is stopped, a stopped one started, through
//!   the same workflows and lock as a user's, audited with `schedule` as the actor. A sandbox
//!   busy with another operation at that minute keeps the occurrence: it is looked at again
//!   every [`SCHEDULE_RETRY`] until the operation can run, no longer applies (the sandbox got
//!   there by itself), or [`SCHEDULE_PATIENCE`] has passed, when a `sandbox.start-skipped` or
//!   `.stop-skipped` notice says why. A scheduled start passes the API's budget test first
//!   (`sbx_store::forecast`); refused, it is skipped with the reason `budget`.
//!
//! The operation is begun first (a compare-and-set on the record's state: of two sweeps at
//! once, one begins it), then the deadline is settled with the notice in one transaction compared
//! on what was read, so a warning is given once and a sweep that dies between the two finds
//! the sandbox already stopping.

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Duration, Utc};
use sbx_aws::activity::Use;
use sbx_aws::{Activity, Owner};
use sbx_lifecycle::cost::Pricing;
use sbx_lifecycle::{Operation, State};
use sbx_store::forecast::{self, Verdict};
use sbx_store::{
    DueSandbox, Notice, SandboxStore, Settled, SpendStore, StoreError, Sweeps, TenantSettingsStore,
};
use sbx_workflows::Workflows;
use serde::Serialize;
use std::collections::HashMap;

/// The actor of scheduled operations in the audit trail.
pub const SCHEDULE: &str = "schedule";
/// The actor of idle stops in the audit trail.
pub const IDLE: &str = "idle";
/// How soon a scheduled operation the sandbox was busy for is tried again.
pub const SCHEDULE_RETRY: Duration = Duration::minutes(2);
/// How long after its occurrence a scheduled operation is still tried; then it is skipped.
pub const SCHEDULE_PATIENCE: Duration = Duration::minutes(30);

/// How often a sandbox with an idle timeout is looked at.
pub const IDLE_CHECK: Duration = Duration::minutes(5);

/// How long after the idle warning an idle sandbox is stopped: a quarter of its timeout, at
/// most 15 minutes.
pub fn idle_grace(idle_minutes: u32) -> Duration {
    Duration::minutes(i64::from(idle_minutes / 4).clamp(1, 15))
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeadlinesReport {
    /// Items the index query read.
    pub read: u64,
    pub due: usize,
    /// Notices given: `tenant/id: <kind>`.
    pub notices: Vec<String>,
    /// Operations begun: `tenant/id: stop|start by schedule|idle`.
    pub begun: Vec<String>,
    /// Taken by another sweep, changed since they were read, or busy with another operation.
    pub left: Vec<String>,
    /// Begun, but their workflow could not be started (the record is failed); or their
    /// activity could not be read (looked at again later).
    pub failed: Vec<String>,
    /// Sandboxes with an idle timeout whose use is not known (CloudWatch has not reported
    /// their CPU for the whole window): not stopped, looked at again later.
    pub unknown: Vec<String>,
}

/// A notice a decision gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// The expiry is this many seconds away.
    Expiring(u64),
    /// Idle: stopped at this time unless used before.
    Idle(DateTime<Utc>),
    IdleStopped,
    /// The scheduled operation due at that time did not happen, for the reason.
    Skipped(Operation, &'static str, DateTime<Utc>),
}

/// What one deadline decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The thresholds warned of after it.
    pub warned: Vec<u64>,
    pub tell: Vec<Tell>,
    /// The operation due now, and who it is by.
    pub operation: Option<(Operation, &'static str)>,
    /// When to look again (`None`: nothing is left to look for).
    pub next: Option<DateTime<Utc>>,
    pub idle_warned_at: Option<DateTime<Utc>>,
    /// The occurrence the scheduled operation is due for, if one is.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Where the next look starts (`None`: now): an occurrence the sandbox was too busy for
    /// stays in view.
    pub keep_since: Option<DateTime<Utc>>,
}

impl Decision {
    /// Keeps the scheduled occurrence in view (`since`, where this look started) and looks
    /// again within [`SCHEDULE_RETRY`].
    pub fn defer(&mut self, since: DateTime<Utc>, now: DateTime<Utc>) {
        self.keep_since = Some(since);
        let retry = now + SCHEDULE_RETRY;
        self.next = Some(self.next.map_or(retry, |next| next.min(retry)));
    }
}

/// `idle`: whether the sandbox was idle for its whole timeout up to now (`None`: it has no
/// timeout, is not started, or its activity could not be read).
pub fn decide(
    due_sandbox: &DueSandbox,
    thresholds: &[u64],
    now: DateTime<Utc>,
    idle: Option<bool>,
) -> Decision {
    let sandbox = &due_sandbox.sandbox;
    let over = !sandbox.state.is_live() || sandbox.state == State::Deleting || sandbox.expires_at <= now;
    if over {
        // Nothing left to do: the expiry sweep (or the delete) takes it from here.
        return Decision {
            warned: due_sandbox.warned.clone(),
            tell: Vec::new(),
            operation: None,
            next: None,
            idle_warned_at: None,
            scheduled_at: None,
            keep_since: None,
        };
    }
    let remaining = sandbox.expires_at - now;
    let passed: Vec<u64> = thresholds
        .iter()
        .copied()
        .filter(|t| remaining <= Duration::seconds(*t as i64) && !due_sandbox.warned.contains(t))
        .collect();
    let mut warned = due_sandbox.warned.clone();
    warned.extend(&passed);
    warned.sort_unstable();
    warned.dedup();
    let mut tell: Vec<Tell> = passed.into_iter().min().map(Tell::Expiring).into_iter().collect();
    let next_warning = thresholds
        .iter()
        .filter(|t| !warned.contains(t))
        .max()
        .map(|t| sandbox.expires_at - Duration::seconds(*t as i64));

    let (mut operation, mut next_occurrence, mut next_idle) = (None, None, None);
    let (mut idle_warned_at, mut scheduled_at, mut busy_since) = (None, None, None);
    if let Some(schedule) = &sandbox.schedule {
        let since = due_sandbox.looked_at.unwrap_or(now);
        let last = |r: &Option<sbx_lifecycle::Recurrence>| r.as_ref().and_then(|r| r.last_in(since, now));
        let wanted = match (last(&schedule.autostop), last(&schedule.autostart)) {
            (Some(stop), Some(start)) if start > stop => Some((Operation::Start, start)),
            (Some(stop), _) => Some((Operation::Stop, stop)),
            (None, Some(start)) => Some((Operation::Start, start)),
            (None, None) => None,
        };
        if let Some((wanted, at)) = wanted {
            let (from, to) = match wanted {
                Operation::Stop => (State::Started, State::Stopped),
                _ => (State::Stopped, State::Started),
            };
            if sandbox.state == from {
                operation = Some((wanted, SCHEDULE));
                scheduled_at = Some(at);
            } else if sandbox.state == to {
                // It got there by itself: nothing applies.
            } else if matches!(
                sandbox.state,
                State::Initializing | State::Starting | State::Stopping
            ) && now - at < SCHEDULE_PATIENCE
            {
                // Busy with another operation: tried again shortly.
                busy_since = Some(since);
            } else {
                let reason = match sandbox.state {
                    State::Failed => "failed",
                    _ => "busy",
                };
                tell.push(Tell::Skipped(wanted, reason, at));
            }
        }
        next_occurrence = schedule.next_after(now);

        if let Some(minutes) = schedule.idle_minutes {
            next_idle = Some(now + IDLE_CHECK);
            if sandbox.state == State::Started && idle.is_none() {
                // Its use could not be read: the spell's warning stands.
                idle_warned_at = due_sandbox.idle_warned_at;
            }
            if sandbox.state == State::Started && idle == Some(true) {
                let grace = idle_grace(minutes);
                match due_sandbox.idle_warned_at {
                    None => {
                        tell.push(Tell::Idle(now + grace));
                        idle_warned_at = Some(now);
                        next_idle = Some(now + grace);
                    }
                    Some(warned_at) if now >= warned_at + grace => {
                        if operation.is_none() {
                            operation = Some((Operation::Stop, IDLE));
                            tell.push(Tell::IdleStopped);
                        }
                    }
                    Some(warned_at) => {
                        idle_warned_at = Some(warned_at);
                        next_idle = Some(warned_at + grace);
                    }
                }
            }
        }
    }
    let next = [next_warning, next_occurrence, next_idle]
        .into_iter()
        .flatten()
        .min()
        .filter(|at| *at < sandbox.expires_at);
    let mut decision = Decision {
        warned,
        tell,
        operation,
        next,
        idle_warned_at,
        scheduled_at,
        keep_since: None,
    };
    if let Some(since) = busy_since {
        decision.defer(since, now);
    }
    decision
}

/// Whether the started sandbox was idle for its whole timeout up to `now`: started at least
/// that long ago, and in use by no signal over it, with the signals reported for all of it
/// (`Ok(None)` when that is not known: no data is never idleness).
async fn idle_for(
    activity: &impl Activity,
    sandbox: &sbx_lifecycle::Sandbox,
    now: DateTime<Utc>,
) -> Option<Result<Option<bool>, sbx_aws::AwsError>> {
    let minutes = sandbox.schedule.as_ref()?.idle_minutes?;
    let account = sandbox.account_id.as_deref()?;
    if sandbox.state != State::Started {
        return None;
    }
    let window = Duration::minutes(i64::from(minutes));
    // `updated_at` of a started record is when it became started.
    if now - sandbox.updated_at < window {
        return Some(Ok(Some(false)));
    }
    let owner = Owner::Sandbox {
        tenant: sandbox.tenant.clone(),
        sandbox: sandbox.id.clone(),
    };
    let shared = sbx_aws::activity::Shared {
        amq: sandbox.options.amq,
        smart_client: sandbox.options.smart_client,
    };
    Some(
        activity
            .sandbox_use(account, &owner, shared, now - window, now)
            .await
            .map(|used| match used {
                Use::Idle => Some(true),
                Use::Busy(_) => Some(false),
                Use::Unknown(why) => {
                    tracing::info!(sandbox = %sandbox.id, %why, "the sandbox's use is not known: it is not stopped");
                    None
                }
            }),
    )
}

fn notice(tell: Tell, sandbox: &sbx_lifecycle::Sandbox, now: DateTime<Utc>) -> Notice {
    let minutes = sandbox
        .schedule
        .as_ref()
        .and_then(|s| s.idle_minutes)
        .unwrap_or_default();
    match tell {
        Tell::Expiring(threshold) => Notice::expiring(sandbox, threshold, now),
        Tell::Idle(stop_at) => Notice::idle(sandbox, minutes, now, stop_at),
        Tell::IdleStopped => Notice::idle_stopped(sandbox, minutes, now),
        Tell::Skipped(operation, reason, at) => Notice::skipped(sandbox, operation, reason, at, now),
    }
}

pub async fn sweep(
    store: &(impl Sweeps + SandboxStore + TenantSettingsStore + SpendStore),
    workflows: &impl Workflows,
    activity: &impl Activity,
    pricing: &Pricing,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<DeadlinesReport, StepError> {
    let now = input.now(settings)?;
    let due = store.deadlines_due(now, settings.batch).await?;
    let mut report = DeadlinesReport {
        read: due.read,
        due: due.items.len(),
        ..DeadlinesReport::default()
    };
    let mut thresholds: HashMap<String, Vec<u64>> = HashMap::new();
    for due_sandbox in &due.items {
        let sandbox = &due_sandbox.sandbox;
        let who = format!("{}/{}", sandbox.tenant, sandbox.id);
        let idle = match idle_for(activity, sandbox, now).await {
            Some(Ok(Some(idle))) => Some(idle),
            Some(Ok(None)) => {
                note(&mut report.unknown, who.clone());
                None
            }
            Some(Err(err)) => {
                // Looked at again after the next check: an idle sandbox is stopped a little later.
                tracing::warn!(sandbox = %who, %err, "the sandbox's activity could not be read");
                note(&mut report.failed, format!("{who}: activity: {err}"));
                None
            }
            None => None,
        };
        // The tenant's own thresholds, read once per tenant and run.
        if !thresholds.contains_key(&sandbox.tenant) {
            let own = store.tenant_settings(&sandbox.tenant).await?.expiry_warnings;
            thresholds.insert(
                sandbox.tenant.clone(),
                own.unwrap_or_else(|| settings.expiry_warnings.clone()),
            );
        }
        let tenant_thresholds = thresholds.get(&sandbox.tenant).cloned().unwrap_or_default();
        let mut decision = decide(due_sandbox, &tenant_thresholds, now, idle);
        let since = due_sandbox.looked_at.unwrap_or(now);
        // A scheduled start passes the budget test a user's start passes.
        if let (Some((Operation::Start, SCHEDULE)), Some(at)) = (decision.operation, decision.scheduled_at) {
            match forecast::verdict(store, pricing, sandbox, now).await {
                Ok(Verdict::Within) => {}
                Ok(Verdict::Over(figures)) => {
                    tracing::info!(sandbox = %who, forecast = %figures.forecast_usd, budget = %figures.budget_usd, "a scheduled start is skipped: over budget");
                    decision.operation = None;
                    decision.tell.push(Tell::Skipped(Operation::Start, "budget", at));
                }
                Err(err) => {
                    // Looked at again shortly, the occurrence kept.
                    note(&mut report.failed, format!("{who}: budget: {err}"));
                    decision.operation = None;
                    decision.defer(since, now);
                }
            }
        }
        let mut tell = decision.tell.clone();
        let mut begun = None;
        if let Some((operation, actor)) = decision.operation {
            match store
                .begin_by(&sandbox.tenant, &sandbox.id, operation, actor)
                .await
            {
                Ok(record) => {
                    match sbx_workflows::launch(store, workflows, operation, &record).await {
                        Ok(()) => {
                            tracing::info!(sandbox = %who, %operation, actor, "operation begun by a deadline");
                            note(&mut report.begun, format!("{who}: {operation} by {actor}"));
                        }
                        Err(err) => note(&mut report.failed, format!("{who}: {err}")),
                    }
                    begun = Some(record);
                }
                // Changed since it was read (another sweep, a user): the next look decides, a
                // scheduled operation's occurrence kept in view.
                Err(StoreError::Conflict(refused)) => {
                    tell.retain(|t| *t != Tell::IdleStopped);
                    if actor == SCHEDULE {
                        decision.defer(since, now);
                    }
                    note(&mut report.left, format!("{who} ({})", refused.current));
                }
                Err(StoreError::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        // The idle stop's notice follows the stop's own event (it is about the record it made).
        let notices: Vec<Notice> = tell
            .iter()
            .map(|t| match t {
                Tell::IdleStopped => notice(*t, begun.as_ref().unwrap_or(sandbox), now),
                _ => notice(*t, sandbox, now),
            })
            .collect();
        let settled = Settled {
            warned: &decision.warned,
            notices: &notices,
            next: decision.next,
            looked_at: decision.keep_since.unwrap_or(now),
            idle_warned_at: decision.idle_warned_at,
        };
        if store.settle_deadline(due_sandbox, &settled).await? {
            for notice in &notices {
                tracing::info!(sandbox = %who, kind = ?notice.kind, "notice given");
                note(&mut report.notices, format!("{who}: {:?}", notice.kind));
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
    use sbx_fakes::{FakeAws, FakeStore, FakeWorkflows};
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

    fn pricing() -> &'static Pricing {
        static PRICING: std::sync::OnceLock<Pricing> = std::sync::OnceLock::new();
        PRICING.get_or_init(|| {
            Pricing::pinned(&sbx_lifecycle::cost::SharedInfra::default()).unwrap_or_else(|e| panic!("{e}"))
        })
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
        let aws = FakeAws::default();
        let sweep_at = |at| sweep(&store, &workflows, &aws, pricing(), &settings, input(at));
        assert_eq!(sweep_at(now).await.map(|r| r.notices.len()).ok(), Some(0));
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
            &FakeAws::default(),
            pricing(),
            &test_settings(true),
            input(now),
        )
        .await
        .ok();
        assert_eq!(report.map(|r| r.notices.len()), Some(1));
        assert_eq!(thresholds(&store), [3_600]);
        let again = sweep(
            &store,
            &FakeWorkflows::default(),
            &FakeAws::default(),
            pricing(),
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
            &FakeAws::default(),
            pricing(),
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
            &FakeAws::default(),
            pricing(),
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
            &FakeAws::default(),
            pricing(),
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
        let aws = FakeAws::default();
        let settings = test_settings(true);
        let next_stop = recurrence("19:00").next_after(now).unwrap_or(now);
        // Before the occurrence: nothing.
        let report = sweep(
            &store,
            &workflows,
            &FakeAws::default(),
            pricing(),
            &settings,
            input(now + Duration::seconds(1)),
        )
        .await
        .ok();
        assert_eq!(report.map(|r| r.begun.len()), Some(0));
        // Just after it, twice at once: one stop, by the schedule.
        let at = next_stop + Duration::seconds(30);
        let (a, b) = tokio::join!(
            sweep(&store, &workflows, &aws, pricing(), &settings, input(at)),
            sweep(&store, &workflows, &aws, pricing(), &settings, input(at))
        );
        let begun = a.map(|r| r.begun.len()).unwrap_or(9) + b.map(|r| r.begun.len()).unwrap_or(9);
        assert_eq!(begun, 1, "one stop for one occurrence");
        assert_eq!(
            actors(&store).last(),
            Some(&("stopping".to_owned(), Some(SCHEDULE.to_owned())))
        );
        // The stop finishes; the next morning's autostart starts it.
        store.put_state("sb-1", State::Stopped);
        let morning = recurrence("07:00").next_after(next_stop).unwrap_or(now) + Duration::seconds(30);
        let report = sweep(
            &store,
            &workflows,
            &FakeAws::default(),
            pricing(),
            &settings,
            input(morning),
        )
        .await
        .ok();
        assert_eq!(
            report.map(|r| r.begun),
            Some(vec!["acme/sb-1: start by schedule".to_owned()])
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
            &FakeAws::default(),
            pricing(),
            &settings,
            input(morning + Duration::seconds(10)),
        )
        .await
        .ok();
        assert_eq!(again.map(|r| r.begun.len()), Some(0));
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
        let due_sandbox = |state, looked_at| DueSandbox {
            sandbox: sbx_lifecycle::Sandbox {
                state,
                ..sandbox.clone()
            },
            deadline_at: now,
            warned: vec![],
            looked_at: Some(looked_at),
            idle_warned_at: None,
        };
        // Both passed since the last look: the later (the start) decides.
        let both = decide(
            &due_sandbox(State::Stopped, now),
            &[],
            start + Duration::minutes(1),
            None,
        );
        assert_eq!(both.operation, Some((Operation::Start, SCHEDULE)));
        assert_eq!(both.next, Some(stop + Duration::days(1)));
        // A stop due while the sandbox is stopped already: nothing to do.
        let idle = decide(
            &due_sandbox(State::Stopped, now),
            &[],
            stop + Duration::minutes(1),
            None,
        );
        assert_eq!(idle.operation, None);
        // Looked at after the occurrence already: it is done.
        let done = decide(
            &due_sandbox(State::Started, stop),
            &[],
            stop + Duration::minutes(1),
            None,
        );
        assert_eq!(done.operation, None);
    }

    /// The kinds and reasons of the notices given so far.
    fn skipped(store: &FakeStore) -> Vec<(sbx_store::NoticeKind, Option<String>)> {
        store
            .notices
            .lock()
            .map(|n| {
                n.iter()
                    .filter(|n| {
                        matches!(
                            n.kind,
                            sbx_store::NoticeKind::StartSkipped | sbx_store::NoticeKind::StopSkipped
                        )
                    })
                    .map(|n| (n.kind, n.reason.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A sandbox with one scheduled `operation` at `time`, the sweep's ports, and the
    /// occurrence's time; looked at once just before it.
    struct Scheduled {
        store: FakeStore,
        workflows: FakeWorkflows,
        aws: FakeAws,
        settings: SweepSettings,
        at: DateTime<Utc>,
    }

    impl Scheduled {
        async fn new(operation: Operation, time: &str, state: State) -> Self {
            let (store, now) = fake(Duration::days(20));
            let recurrence = Some(recurrence(time));
            let schedule = match operation {
                Operation::Stop => sbx_lifecycle::Schedule {
                    autostop: recurrence,
                    ..sbx_lifecycle::Schedule::default()
                },
                _ => sbx_lifecycle::Schedule {
                    autostart: recurrence,
                    ..sbx_lifecycle::Schedule::default()
                },
            };
            assert!(store.set_schedule("acme", "sb-1", &schedule, now).await.is_ok());
            store.put_state("sb-1", state);
            let at = self::recurrence(time).next_after(now).unwrap_or(now);
            let scheduled = Self {
                store,
                workflows: FakeWorkflows::default(),
                aws: FakeAws::default(),
                settings: test_settings(true),
                at,
            };
            scheduled.sweep(-Duration::minutes(1)).await;
            scheduled
        }

        /// A sweep `after` the occurrence: the operations it began.
        async fn sweep(&self, after: Duration) -> Option<Vec<String>> {
            sweep(
                &self.store,
                &self.workflows,
                &self.aws,
                pricing(),
                &self.settings,
                input(self.at + after),
            )
            .await
            .ok()
            .map(|report| report.begun)
        }
    }

    /// A 19:00 autostop that falls while a user's start runs is kept: looked at again every
    /// two minutes, and done once the start has ended.
    #[tokio::test]
    async fn a_scheduled_stop_during_a_users_start_is_done_once_the_start_ends() {
        let scheduled = Scheduled::new(Operation::Stop, "19:00", State::Started).await;
        scheduled.store.put_state("sb-1", State::Starting);

        assert_eq!(scheduled.sweep(Duration::seconds(30)).await, Some(vec![]));
        let retry = scheduled.at + Duration::seconds(30) + SCHEDULE_RETRY;
        let due = scheduled
            .store
            .deadlines_due(retry, 10)
            .await
            .map(|d| d.items.len());
        assert_eq!(due.ok(), Some(1), "looked at again within {SCHEDULE_RETRY}");

        scheduled.store.put_state("sb-1", State::Started);
        assert_eq!(
            scheduled.sweep(Duration::minutes(3)).await,
            Some(vec!["acme/sb-1: stop by schedule".to_owned()])
        );
        assert!(skipped(&scheduled.store).is_empty());
    }

    /// Still busy half an hour after the occurrence: skipped, and the notice says why.
    #[tokio::test]
    async fn a_scheduled_stop_still_blocked_after_half_an_hour_is_skipped_with_a_notice() {
        let scheduled = Scheduled::new(Operation::Stop, "19:00", State::Started).await;
        scheduled.store.put_state("sb-1", State::Starting);
        for minutes in [1, 10, 20, 31] {
            scheduled.sweep(Duration::minutes(minutes)).await;
        }
        assert_eq!(
            skipped(&scheduled.store),
            [(sbx_store::NoticeKind::StopSkipped, Some("busy".to_owned()))]
        );
        scheduled.store.put_state("sb-1", State::Started);
        assert_eq!(
            scheduled.sweep(Duration::minutes(33)).await,
            Some(vec![]),
            "a skipped occurrence is over"
        );
    }

    /// A morning autostart of a tenant over its budget is skipped with the reason `budget`: the
    /// same test as a user's start.
    #[tokio::test]
    async fn an_autostart_over_the_budget_is_skipped_with_a_notice() {
        let scheduled = Scheduled::new(Operation::Start, "07:00", State::Stopped).await;
        let budget = sbx_store::Budget {
            monthly_usd: sbx_lifecycle::cost::Usd(10_000),
            sandbox_cap_usd: None,
            thresholds: vec![],
            stop_at_limit: true,
        };
        scheduled
            .store
            .budgets
            .lock()
            .map(|mut b| b.insert("acme".to_owned(), budget))
            .ok();

        assert_eq!(
            scheduled.sweep(Duration::seconds(30)).await,
            Some(vec![]),
            "not started"
        );
        assert_eq!(
            skipped(&scheduled.store),
            [(sbx_store::NoticeKind::StartSkipped, Some("budget".to_owned()))]
        );
        assert_eq!(
            scheduled.store.get("acme", "sb-1").await.map(|s| s.state).ok(),
            Some(State::Stopped)
        );
    }

    async fn idle_store(now: DateTime<Utc>) -> FakeStore {
        let (store, _) = fake(Duration::days(20));
        let schedule = sbx_lifecycle::Schedule {
            idle_minutes: Some(60),
            ..sbx_lifecycle::Schedule::default()
        };
        let set = store.set_schedule("acme", "sb-1", &schedule, now).await;
        assert!(set.is_ok());
        store
    }

    fn kinds(store: &FakeStore) -> Vec<sbx_store::NoticeKind> {
        store
            .notices
            .lock()
            .map(|n| n.iter().map(|n| n.kind).collect())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn an_idle_sandbox_is_warned_then_stopped_and_use_in_between_keeps_it() {
        use sbx_store::NoticeKind::{Idle, IdleStopped};
        let now = Utc::now();
        let (workflows, settings) = (FakeWorkflows::default(), test_settings(true));
        // Idle for two hours (no activity at all): warned, then stopped after the grace.
        let store = idle_store(now).await;
        let aws = FakeAws::default();
        let t1 = now + Duration::hours(2);
        sweep(&store, &workflows, &aws, pricing(), &settings, input(t1))
            .await
            .ok();
        assert_eq!(kinds(&store), [Idle]);
        sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(t1 + Duration::minutes(5)),
        )
        .await
        .ok();
        assert_eq!(kinds(&store), [Idle], "within the grace: nothing more");
        let report = sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(t1 + Duration::minutes(16)),
        )
        .await
        .ok();
        assert_eq!(
            report.map(|r| r.begun),
            Some(vec!["acme/sb-1: stop by idle".to_owned()])
        );
        assert_eq!(kinds(&store), [Idle, IdleStopped]);
        assert_eq!(
            actors(&store).last(),
            Some(&("stopping".to_owned(), Some(IDLE.to_owned())))
        );

        // Used after the warning: not stopped, and a later idle spell is warned of again.
        let store = idle_store(now).await;
        let aws = FakeAws::default();
        sweep(&store, &workflows, &aws, pricing(), &settings, input(t1))
            .await
            .ok();
        aws.state()
            .activity
            .insert("sb-1".into(), vec![t1 + Duration::minutes(3)]);
        let report = sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(t1 + Duration::minutes(16)),
        )
        .await
        .ok();
        assert_eq!(report.map(|r| r.begun.len()), Some(0));
        assert_eq!(kinds(&store), [Idle]);
        sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(t1 + Duration::minutes(64)),
        )
        .await
        .ok();
        assert_eq!(
            kinds(&store),
            [Idle, Idle],
            "an hour after the last use: warned again"
        );

        // Started less than the timeout ago: not idle, nothing read.
        let store = idle_store(now).await;
        let aws = FakeAws::default();
        aws.fail_with("Throttling");
        let report = sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(now + Duration::minutes(30)),
        )
        .await
        .ok();
        assert_eq!(report.map(|r| (r.notices.len(), r.failed.len())), Some((0, 0)));
        // Activity that cannot be read: nothing is stopped, and it is reported.
        let report = sweep(&store, &workflows, &aws, pricing(), &settings, input(t1))
            .await
            .ok();
        assert_eq!(report.map(|r| (r.begun.len(), r.failed.len())), Some((0, 1)));
    }

    #[tokio::test]
    async fn a_sandbox_whose_use_is_not_reported_is_neither_warned_nor_stopped() {
        let now = Utc::now();
        let (workflows, settings) = (FakeWorkflows::default(), test_settings(true));
        let store = idle_store(now).await;
        let aws = FakeAws::default();
        // CloudWatch has not reported the CPU for the window: not idle, however long.
        aws.state().unreported.insert("sb-1".into());
        let t1 = now + Duration::hours(2);
        for minutes in [0, 16, 40] {
            let report = sweep(
                &store,
                &workflows,
                &aws,
                pricing(),
                &settings,
                input(t1 + Duration::minutes(minutes)),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (report.begun.len(), report.unknown.as_slice()),
                (0, ["acme/sb-1".to_owned()].as_slice()),
                "{report:?}"
            );
        }
        assert!(kinds(&store).is_empty(), "no idle warning without data");
        // Reported again, and idle: now it is warned of.
        aws.state().unreported.clear();
        let report = sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(t1 + Duration::minutes(45)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.unknown.is_empty(), "{report:?}");
        assert_eq!(kinds(&store), [sbx_store::NoticeKind::Idle]);
    }

    #[tokio::test]
    async fn a_tenant_hears_at_its_own_thresholds() {
        use sbx_store::TenantSettingsStore;
        let (store, now) = fake(Duration::hours(10));
        let own = sbx_store::TenantSettings {
            expiry_warnings: Some(vec![4 * 3600]),
        };
        assert!(store.put_tenant_settings("acme", &own).await.is_ok());
        let (workflows, aws, settings) = (FakeWorkflows::default(), FakeAws::default(), test_settings(true));
        sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(now + Duration::hours(5)),
        )
        .await
        .ok();
        assert!(
            thresholds(&store).is_empty(),
            "5 h left: no 24 h warning for this tenant"
        );
        sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(now + Duration::hours(7)),
        )
        .await
        .ok();
        assert_eq!(thresholds(&store), [4 * 3600]);
        sweep(
            &store,
            &workflows,
            &aws,
            pricing(),
            &settings,
            input(now + Duration::minutes(9 * 60 + 30)),
        )
        .await
        .ok();
        assert_eq!(thresholds(&store), [4 * 3600], "no 1 h warning either");
    }
}
