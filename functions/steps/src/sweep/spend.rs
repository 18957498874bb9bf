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

use super::{SweepInput, note};
use crate::config::SweepSettings;
use crate::error::StepError;
use chrono::{DateTime, Utc};
use sbx_lifecycle::cost::{self, Metered, Pricing, SharedRates, Usd};
use sbx_lifecycle::{Operation, State};
use sbx_store::{Budget, BudgetEvent, Meter, Metering, SandboxStore, SpendStore, StoreError};
use sbx_workflows::Workflows;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The most meters one run reads.
const MAX_METERS: usize = 10_000;

/// Who the budget's stops are by, in the audit trail and events.
pub const ACTOR: &str = "budget";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendReport {
    /// Items the index query read.
    pub read: u64,
    /// Meters moved on.
    pub metered: usize,
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

pub async fn sweep(
    store: &(impl SpendStore + SandboxStore),
    workflows: &impl Workflows,
    pricing: &Pricing,
    settings: &SweepSettings,
    input: SweepInput,
) -> Result<SpendReport, StepError> {
    let now = input.now(settings)?;
    let meters = store.open_meters(MAX_METERS).await?;
    let mut report = SpendReport {
        read: meters.read,
        ..SpendReport::default()
    };
    // Where new meters start: not before the time the others were metered to, so that a clock
    // moved ahead does not give a new sandbox the hours before it.
    let clock = meters.items.iter().filter(|m| m.metered).map(|m| m.at).max();
    let mut by_account: BTreeMap<Option<String>, Vec<(&Meter, Window)>> = BTreeMap::new();
    for meter in &meters.items {
        let sandbox = &meter.sandbox;
        let from = match (meter.metered, clock) {
            (false, Some(clock)) => meter.at.max(clock),
            _ => meter.at,
        };
        if from >= now {
            continue;
        }
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
            .entry(sandbox.account_id.clone())
            .or_default()
            .push((meter, window));
    }
    let mut totals: BTreeMap<(String, String), (cost::Micros, State)> = BTreeMap::new();
    let mut tenants = BTreeSet::new();
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
            let who = format!("{}/{}", sandbox.tenant, sandbox.id);
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
                note(&mut report.left, who);
                continue;
            }
            report.metered += 1;
            report.accrued_usd.0 += accrued.total();
            if window.state == State::Deleted {
                report.closed += 1;
            }
            tenants.insert(sandbox.tenant.clone());
            totals.insert(
                (sandbox.tenant.clone(), sandbox.id.clone()),
                (meter.total + accrued.total(), window.state),
            );
        }
    }
    for tenant in &tenants {
        let Some(budget) = store.budget(tenant).await? else {
            continue;
        };
        let over_limit = thresholds(store, tenant, &budget, now, &mut report).await?;
        let capped = |total: cost::Micros| budget.sandbox_cap_usd.is_some_and(|cap| total >= cap.0);
        let stop: Vec<&String> = totals
            .iter()
            .filter(|((t, _), (total, state))| {
                t == tenant && *state == State::Started && (over_limit || capped(*total))
            })
            .map(|((_, id), _)| id)
            .collect();
        for id in stop {
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

    fn created(store: &FakeStore, id: &str) -> DateTime<Utc> {
        store
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.created_at)
            .unwrap_or_else(Utc::now)
    }

    fn cost_of(store: &FakeStore, id: &str) -> Usd {
        store
            .sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.cost.clone())
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
