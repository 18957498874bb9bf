//! `meter-spend`: every minute, each open meter (a sandbox whose cost is still counted, read
//! from the sparse `by-meter` index) is moved up to now. What a sandbox accrued is worked out
//! from its audit trail since the meter's last look, with the account's shared infrastructure
//! split among the account's sandboxes active at each moment, and added to its tenant's month
//! in the same write. Then each tenant's budget is looked at: a threshold reached is recorded
//! once (`budget.threshold`), a sandbox at its cap, or every running one of a tenant at its
//! limit, is stopped through the stop workflow with `budget` as the actor.
//!
//! A meter moves only forward, from where it was read: two sweeps at once add each piece of
//! time once. A change recorded before the meter's time (a clock moved ahead) counts from it.
//!
//! At any count: every open meter is read, and the tenants metered longest ago are moved on
//! first, a tenant's meters together, up to a batch and a time per run; the rest come first in
//! the next run (docs/spend.md, "At any count").

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use sbx_lifecycle::cost::{self, Metered, Pricing, SharedRates, Usd};
use sbx_lifecycle::{Operation, State};
use sbx_store::{Budget, BudgetEvent, Meter, Metering, SandboxStore, SpendStore, StoreError};
use sbx_workflows::Workflows;
use serde::Serialize;
use std::collections::BTreeMap;

/// How long after reading the meters a run moves them on: it starts no tenant (but the first)
/// after this, so that it ends before the next minute's run (two at once are safe, as meters
/// move only from where they were read, but the second would find nothing left to do).
const WALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// Who the budget's stops are by, in the audit trail and events.
pub const ACTOR: &str = "budget";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendReport {
    /// Items the index query read.
    pub read: u64,
    /// Open meters behind now.
    pub due: usize,
    /// Meters moved on.
    pub metered: usize,
    /// Due meters left for the next run, when this one reached its batch or its time: the
    /// tenants metered longest ago go first, so every meter is moved on within a few runs.
    pub deferred: usize,
    /// Meters closed (their sandbox deleted and counted to the end).
    pub closed: usize,
    /// What this run added, in dollars.
    pub accrued_usd: Usd,
    /// Thresholds reached (`acme: 80%`).
    pub thresholds: Vec<String>,
    /// Stops begun for the budget.
    pub stopped: Vec<String>,
    /// Moved by another sweep first, or not stoppable now.
    pub left: Vec<String>,
    pub failed: Vec<String>,
}

/// One meter's window: from where, with which changes, to which version and state.
struct Window {
    from: DateTime<Utc>,
    changes: Vec<(DateTime<Utc>, State)>,
    version: u64,
    state: State,
}

/// A tenant's due meters, each with where its window begins.
type Due<'a> = Vec<(&'a Meter, DateTime<Utc>)>;

/// At most this many tenants are metered at once. Their writes share no item (a tenant's
/// months, days and account are its own), so they cannot conflict; one tenant's are made one
/// after the other.
const TENANTS_AT_ONCE: usize = 8;

/// Whether some meter of `due` was never moved on: such a tenant is never left for the next
/// run, as the clock rule would take the waited time from it (and sandboxes are created far
/// more slowly than a batch is metered).
fn fresh(due: &Due<'_>) -> bool {
    due.iter().any(|(meter, _)| !meter.metered)
}

pub async fn sweep(
    store: &(impl SpendStore + SandboxStore),
    workflows: &impl Workflows,
    pricing: &Pricing,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<SpendReport, StepError> {
    let now = input.now(settings)?;
    let meters = store.open_meters().await?;
    // The run's time for moving meters on starts once they are read.
    let began = std::time::Instant::now();
    let mut report = SpendReport {
        read: meters.read,
        ..SpendReport::default()
    };
    // Where new meters start: not before the time the others were metered to, so that a clock
    // moved ahead does not give a new sandbox the hours before it.
    let clock = meters.items.iter().filter(|m| m.metered).map(|m| m.at).max();
    // Each tenant's due meters. The shared infrastructure is split among the sandboxes of the
    // tenant's account, so a tenant's meters are moved on together or not at all.
    let mut by_tenant: BTreeMap<&str, Due<'_>> = BTreeMap::new();
    for meter in &meters.items {
        let from = match (meter.metered, clock) {
            (false, Some(clock)) => meter.at.max(clock),
            _ => meter.at,
        };
        if from < now {
            report.due += 1;
            by_tenant
                .entry(meter.sandbox.tenant.as_str())
                .or_default()
                .push((meter, from));
        }
    }
    // The tenants metered longest ago first; those past the run's batch wait for the next run,
    // where they come first.
    let mut tenants: Vec<_> = by_tenant.into_iter().collect();
    tenants.sort_by_key(|(tenant, due)| (!fresh(due), due.iter().map(|(_, from)| *from).min(), *tenant));
    let mut taken = 0;
    let mut chosen = Vec::new();
    for (tenant, due) in tenants {
        if taken > 0 && taken + due.len() > settings.meter_batch && !fresh(&due) {
            report.deferred += due.len();
            continue;
        }
        taken += due.len();
        chosen.push((tenant, due));
    }
    // Those that would start after the run's time wait too.
    let work: Vec<_> = chosen
        .into_iter()
        .enumerate()
        .map(|(i, (tenant, due))| {
            // The first is never left, however long the run has taken: some meter always moves.
            let deadline = (i > 0).then_some(began + WALL_BUDGET);
            meter_tenant(store, workflows, pricing, now, tenant, due, deadline)
        })
        .collect();
    let metered: Vec<Result<SpendReport, StepError>> = futures::stream::iter(work)
        .buffered(TENANTS_AT_ONCE)
        .collect()
        .await;
    for part in metered {
        report.absorb(part?);
    }
    Ok(report)
}

impl SpendReport {
    fn absorb(&mut self, part: SpendReport) {
        self.metered += part.metered;
        self.deferred += part.deferred;
        self.closed += part.closed;
        self.accrued_usd.0 += part.accrued_usd.0;
        for (list, items) in [
            (&mut self.thresholds, part.thresholds),
            (&mut self.stopped, part.stopped),
            (&mut self.left, part.left),
            (&mut self.failed, part.failed),
        ] {
            for item in items {
                note(list, item);
            }
        }
    }
}

/// Moves a tenant's due meters on to `now`, then looks at its budget; or leaves them for the
/// next run when it starts past `deadline`.
async fn meter_tenant(
    store: &(impl SpendStore + SandboxStore),
    workflows: &impl Workflows,
    pricing: &Pricing,
    now: DateTime<Utc>,
    tenant: &str,
    due: Due<'_>,
    deadline: Option<std::time::Instant>,
) -> Result<SpendReport, StepError> {
    if deadline.is_some_and(|at| std::time::Instant::now() > at) && !fresh(&due) {
        return Ok(SpendReport {
            deferred: due.len(),
            ..SpendReport::default()
        });
    }
    let mut report = SpendReport::default();
    let mut by_account: BTreeMap<Option<&str>, Vec<(&Meter, Window)>> = BTreeMap::new();
    for (meter, from) in due {
        let sandbox = &meter.sandbox;
        let mut window = Window {
            from,
            changes: Vec::new(),
            version: meter.version,
            state: meter.state,
        };
        if sandbox.version > meter.version || sandbox.state != meter.state {
            for event in store.events(&sandbox.tenant, &sandbox.id, meter.version).await? {
                window.changes.push((event.at, event.to));
                window.version = event.seq;
                window.state = event.to;
            }
        }
        by_account
            .entry(sandbox.account_id.as_deref())
            .or_default()
            .push((meter, window));
    }
    let mut totals: BTreeMap<&str, (cost::Micros, State)> = BTreeMap::new();
    for (account, group) in &by_account {
        // A sandbox not placed yet shares nothing.
        let shared = if account.is_some() {
            pricing.shared
        } else {
            SharedRates::default()
        };
        let metered: Vec<Metered<'_>> = group
            .iter()
            .map(|(meter, window)| Metered {
                options: &meter.sandbox.options,
                from: window.from,
                state: meter.state,
                changes: window.changes.clone(),
            })
            .collect();
        let accrued = if account.is_some() {
            cost::accrue(&pricing.prices, &shared, &metered, now)?
        } else {
            // Each alone: not yet in an account, nothing of theirs is shared.
            let mut each = Vec::new();
            for one in metered {
                each.extend(cost::accrue(&pricing.prices, &shared, &[one], now)?);
            }
            each
        };
        for ((meter, window), accrued) in group.iter().zip(&accrued) {
            let sandbox = &meter.sandbox;
            let written = store
                .write_meter(&Metering {
                    meter,
                    to: now,
                    version: window.version,
                    state: window.state,
                    accrued,
                })
                .await?;
            if !written {
                note(&mut report.left, format!("{tenant}/{}", sandbox.id));
                continue;
            }
            report.metered += 1;
            report.accrued_usd.0 += accrued.total();
            if window.state == State::Deleted {
                report.closed += 1;
            }
            totals.insert(&sandbox.id, (meter.total + accrued.total(), window.state));
        }
    }
    if report.metered == 0 {
        return Ok(report);
    }
    let Some(budget) = store.budget(tenant).await? else {
        return Ok(report);
    };
    let over_limit = thresholds(store, tenant, &budget, now, &mut report).await?;
    let capped = |total: cost::Micros| budget.sandbox_cap_usd.is_some_and(|cap| total >= cap.0);
    for (id, (total, state)) in totals {
        if state == State::Started && (over_limit || capped(total)) {
            stop_for_budget(store, workflows, tenant, id, &mut report).await?;
        }
    }
    Ok(report)
}

/// Records the thresholds of `budget` the tenant's month has reached and not told of yet;
/// whether the month's spend has reached the budget and running sandboxes are to stop.
async fn thresholds(
    store: &impl SpendStore,
    tenant: &str,
    budget: &Budget,
    now: DateTime<Utc>,
    report: &mut SpendReport,
) -> Result<bool, StepError> {
    let spend = store.month_spend(tenant, &cost::month_of(now)).await?;
    let reached = |percent: u32| {
        u128::from(spend.spent.0) * 100 >= u128::from(budget.monthly_usd.0) * u128::from(percent)
    };
    let new: Vec<u32> = budget
        .thresholds
        .iter()
        .copied()
        .filter(|p| reached(*p) && !spend.warned.contains(p))
        .collect();
    if !new.is_empty() {
        let mut warned = spend.warned.clone();
        warned.extend(&new);
        warned.sort_unstable();
        let events: Vec<BudgetEvent> = new
            .iter()
            .map(|p| BudgetEvent::threshold(&spend, budget, *p, now))
            .collect();
        if store.warn_thresholds(&spend, &warned, &events).await? {
            for percent in &new {
                tracing::info!(%tenant, percent, spent = %spend.spent, budget = %budget.monthly_usd, "budget threshold reached");
                note(&mut report.thresholds, format!("{tenant}: {percent}%"));
            }
        }
    }
    Ok(budget.stop_at_limit && reached(100))
}

async fn stop_for_budget(
    store: &impl SandboxStore,
    workflows: &impl Workflows,
    tenant: &str,
    id: &str,
    report: &mut SpendReport,
) -> Result<(), StepError> {
    let who = format!("{tenant}/{id}");
    match store.begin_by(tenant, id, Operation::Stop, ACTOR).await {
        Ok(record) => match sbx_workflows::launch(store, workflows, Operation::Stop, &record).await {
            Ok(()) => {
                tracing::info!(sandbox = %who, "stopped for its budget");
                note(&mut report.stopped, who);
            }
            Err(err) => note(&mut report.failed, format!("{who}: {err}")),
        },
        Err(StoreError::Conflict(refused)) => note(&mut report.left, format!("{who} ({})", refused.current)),
        Err(StoreError::NotFound { .. }) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::test_settings;
    use sbx_fakes::{FakeStore, FakeWorkflows};
    use sbx_lifecycle::SandboxOptions;

    fn pricing() -> Pricing {
        Pricing::pinned(&cost::SharedInfra::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn input(at: DateTime<Utc>) -> SweepInput {
        SweepInput {
            execution: "arn:spend:1".into(),
            as_of: Some(at),
        }
    }

    /// The fake store's record `id`.
    fn record(store: &FakeStore, id: &str) -> Option<sbx_lifecycle::Sandbox> {
        store
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|s| s.id == id)
            .cloned()
    }

    fn created(store: &FakeStore, id: &str) -> DateTime<Utc> {
        record(store, id).map_or_else(Utc::now, |s| s.created_at)
    }

    fn cost_of(store: &FakeStore, id: &str) -> Usd {
        record(store, id)
            .and_then(|s| s.cost)
            .map(|c| c.estimated_usd)
            .unwrap_or_default()
    }

    async fn run(store: &FakeStore, at: DateTime<Utc>) -> SpendReport {
        sweep(
            store,
            &FakeWorkflows::default(),
            &pricing(),
            &test_settings(true),
            input(at),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn two_hours_of_two_started_sandboxes_cost_their_vms_and_one_nat() {
        let store = FakeStore::default();
        store.add("sb-a", State::Started, SandboxOptions::default());
        store.add("sb-b", State::Started, SandboxOptions::default());
        let t0 = created(&store, "sb-a").max(created(&store, "sb-b"));
        let report = run(&store, t0 + chrono::Duration::hours(2)).await;
        assert_eq!(report.metered, 2);
        let own = pricing()
            .prices
            .own(&SandboxOptions::default())
            .unwrap_or_default();
        let each = (own.running + own.stored) * 2 + pricing().shared.base;
        // The two were created a few microseconds apart: allow a micro-dollar or so.
        for id in ["sb-a", "sb-b"] {
            let got = cost_of(&store, id).0;
            assert!(got.abs_diff(each) <= 20, "{id}: {got} vs {each}");
        }
        // Run again at the same time: nothing more is counted.
        let again = run(&store, t0 + chrono::Duration::hours(2)).await;
        assert_eq!(again.metered, 0);
        let month = store
            .month_spend("acme", &cost::month_of(t0 + chrono::Duration::hours(2)))
            .await;
        let spent = month.map(|m| m.spent.0).unwrap_or_default();
        assert!(spent.abs_diff(2 * each) <= 40, "{spent}");
    }

    /// Gives `id` to `tenant` and its `account` in the fake store.
    fn place(store: &FakeStore, id: &str, tenant: &str, account: &str) {
        for sandbox in store
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            if sandbox.id == id {
                sandbox.tenant = tenant.into();
                sandbox.account_id = Some(account.into());
            }
        }
    }

    #[tokio::test]
    async fn past_its_batch_a_run_leaves_whole_tenants_to_the_next_and_every_meter_moves() {
        let store = FakeStore::default();
        for (id, tenant, account) in [
            ("sb-a", "acme", "111"),
            ("sb-b", "acme", "111"),
            ("sb-c", "globex", "222"),
        ] {
            store.add(id, State::Started, SandboxOptions::default());
            place(&store, id, tenant, account);
        }
        let t0 = ["sb-a", "sb-b", "sb-c"]
            .into_iter()
            .map(|id| created(&store, id))
            .max()
            .unwrap_or_else(Utc::now);
        let settings = SweepSettings {
            meter_batch: 1,
            ..test_settings(true)
        };
        let run = async |hours: i64| {
            sweep(
                &store,
                &FakeWorkflows::default(),
                &pricing(),
                &settings,
                input(t0 + chrono::Duration::hours(hours)),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let metered_to = |id: &str| record(&store, id).and_then(|s| s.cost).map(|c| c.as_of);
        let at = |hours| {
            Some(sbx_lifecycle::rfc3339_millis::truncate(
                t0 + chrono::Duration::hours(hours),
            ))
        };
        // A meter never moved on is never left: the first run takes all three.
        let first = run(1).await;
        assert_eq!((first.due, first.metered, first.deferred), (3, 3, 0), "{first:?}");
        // Then one tenant a run, whole: acme first (both metered to +1 h, acme sorts first),
        // both its meters together past the batch of one, while globex waits.
        let second = run(2).await;
        assert_eq!((second.metered, second.deferred), (2, 1), "{second:?}");
        assert_eq!(
            (metered_to("sb-a"), metered_to("sb-b"), metered_to("sb-c")),
            (at(2), at(2), at(1))
        );
        // globex, metered longest ago now, goes first.
        let third = run(3).await;
        assert_eq!((third.metered, third.deferred), (1, 2), "{third:?}");
        assert_eq!(metered_to("sb-c"), at(3));
        let fourth = run(4).await;
        assert_eq!((fourth.metered, fourth.deferred), (2, 1), "{fourth:?}");
        assert_eq!((metered_to("sb-a"), metered_to("sb-b")), (at(4), at(4)));
        // Nothing is lost by waiting: each sandbox's cost is its own rate over all its time,
        // whichever run counted it.
        let own = pricing()
            .prices
            .own(&SandboxOptions::default())
            .unwrap_or_default();
        let c = cost_of(&store, "sb-c").0;
        let expected = (own.running + own.stored + pricing().shared.base) * 3;
        assert!(c.abs_diff(expected) <= 20, "{c} vs {expected}");
    }

    #[tokio::test]
    async fn thresholds_fire_once_each_and_the_cap_stops_the_sandbox() {
        let store = FakeStore::default();
        store.add("sb-a", State::Started, SandboxOptions::default());
        let t0 = created(&store, "sb-a");
        store.budgets.lock().unwrap_or_else(|p| p.into_inner()).insert(
            "acme".into(),
            Budget {
                monthly_usd: Usd(10_000_000),
                sandbox_cap_usd: Some(Usd(4_500_000)),
                thresholds: Budget::default_thresholds(),
                stop_at_limit: true,
            },
        );
        // ~$0.42 an hour: 12 h is about $5 (50%), and past the $4.50 cap.
        let report = run(&store, t0 + chrono::Duration::hours(12)).await;
        assert_eq!(report.thresholds, ["acme: 50%"]);
        assert_eq!(report.stopped, ["acme/sb-a"]);
        let record = store.get("acme", "sb-a").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(record.state, State::Stopping);
        let events = store.events("acme", "sb-a", 0).await.unwrap_or_default();
        assert_eq!(events.last().and_then(|e| e.actor.as_deref()), Some(ACTOR));
        // A second run at the same time tells nothing again and stops nothing again.
        let again = run(&store, t0 + chrono::Duration::hours(12)).await;
        assert!(
            again.thresholds.is_empty() && again.stopped.is_empty(),
            "{again:?}"
        );
        assert_eq!(store.budget_events("acme").await.map(|e| e.len()).ok(), Some(1));
    }

    #[tokio::test]
    async fn a_deleted_sandbox_is_counted_to_its_deletion_and_its_meter_closed() {
        let store = FakeStore::default();
        store.add("sb-a", State::Stopped, SandboxOptions::default());
        let t0 = created(&store, "sb-a");
        store.put_state("sb-a", State::Deleted);
        let report = run(&store, t0 + chrono::Duration::hours(1)).await;
        assert_eq!((report.metered, report.closed), (1, 1));
        let later = run(&store, t0 + chrono::Duration::hours(5)).await;
        assert_eq!(later.metered, 0, "a closed meter is not read again");
    }
}
