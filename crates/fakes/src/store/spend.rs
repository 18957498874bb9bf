//! Meters, budgets and what was spent ([`sbx_store::SpendStore`]).

use super::{FakeMeter, FakeStore};
use crate::locked;
use sbx_store::StoreError;

/// Meters and budgets as the store keeps them: a meter moves only from where it was read.
impl sbx_store::SpendStore for FakeStore {
    async fn open_meters(&self) -> Result<sbx_store::Meters, StoreError> {
        let meters = locked(&self.meters);
        let items: Vec<sbx_store::Meter> = locked(&self.sandboxes)
            .iter()
            .filter_map(|sandbox| {
                let key = (sandbox.tenant.clone(), sandbox.id.clone());
                let meter = meters.get(&key).cloned().unwrap_or(FakeMeter {
                    at: sandbox.created_at,
                    version: sandbox.version,
                    state: sandbox.state,
                    total: 0,
                    open: true,
                });
                meter.open.then(|| sbx_store::Meter {
                    sandbox: sandbox.clone(),
                    at: meter.at,
                    version: meter.version,
                    state: meter.state,
                    total: meter.total,
                    metered: meters.contains_key(&key),
                })
            })
            .collect();
        Ok(sbx_store::Meters {
            read: items.len() as u64,
            items,
        })
    }

    async fn write_meter(&self, metering: &sbx_store::Metering<'_>) -> Result<bool, StoreError> {
        let meter = metering.meter;
        let sandbox = &meter.sandbox;
        let key = (sandbox.tenant.clone(), sandbox.id.clone());
        let mut meters = locked(&self.meters);
        let current = meters.get(&key).map_or(sandbox.created_at, |m| m.at);
        if current != meter.at || meters.get(&key).is_some_and(|m| !m.open) {
            return Ok(false);
        }
        let total = meter.total + metering.accrued.total();
        meters.insert(
            key,
            FakeMeter {
                at: metering.to,
                version: metering.version,
                state: metering.state,
                total,
                open: metering.state != sbx_lifecycle::State::Deleted,
            },
        );
        for record in locked(&self.sandboxes)
            .iter_mut()
            .filter(|s| s.tenant == sandbox.tenant && s.id == sandbox.id)
        {
            record.cost = Some(sbx_lifecycle::Cost::new(
                total,
                record.created_at,
                metering.to,
                metering.accrued.rate,
            ));
        }
        for (day, micros) in &metering.accrued.by_day {
            *locked(&self.day_spend)
                .entry((sandbox.tenant.clone(), day.clone()))
                .or_default() += micros;
        }
        for (month, micros) in &metering.accrued.by_month() {
            locked(&self.spend)
                .entry((sandbox.tenant.clone(), month.clone()))
                .or_default()
                .0 += micros;
            if let Some(account) = &sandbox.account_id {
                *locked(&self.account_spend)
                    .entry((sandbox.tenant.clone(), month.clone(), account.clone()))
                    .or_default() += micros;
            }
        }
        Ok(true)
    }

    async fn budget(&self, tenant: &str) -> Result<Option<sbx_store::Budget>, StoreError> {
        Ok(locked(&self.budgets).get(tenant).cloned())
    }

    async fn put_budget(
        &self,
        tenant: &str,
        budget: &sbx_store::Budget,
        event: &sbx_store::BudgetEvent,
    ) -> Result<(), StoreError> {
        locked(&self.budgets).insert(tenant.to_owned(), budget.clone());
        locked(&self.budget_events).push(event.clone());
        Ok(())
    }

    async fn month_spend(&self, tenant: &str, month: &str) -> Result<sbx_store::MonthSpend, StoreError> {
        let (micros, warned) = locked(&self.spend)
            .get(&(tenant.to_owned(), month.to_owned()))
            .cloned()
            .unwrap_or_default();
        Ok(sbx_store::MonthSpend {
            tenant: tenant.to_owned(),
            month: month.to_owned(),
            spent: sbx_lifecycle::cost::Usd(micros),
            warned,
        })
    }

    async fn account_spend(
        &self,
        tenant: &str,
        account_id: &str,
        month: &str,
    ) -> Result<sbx_lifecycle::cost::Usd, StoreError> {
        Ok(sbx_lifecycle::cost::Usd(
            locked(&self.account_spend)
                .get(&(tenant.to_owned(), month.to_owned(), account_id.to_owned()))
                .copied()
                .unwrap_or_default(),
        ))
    }

    async fn warn_thresholds(
        &self,
        spend: &sbx_store::MonthSpend,
        warned: &[u32],
        events: &[sbx_store::BudgetEvent],
    ) -> Result<bool, StoreError> {
        let mut all = locked(&self.spend);
        let entry = all
            .entry((spend.tenant.clone(), spend.month.clone()))
            .or_default();
        if entry.1 != spend.warned {
            return Ok(false);
        }
        entry.1 = warned.to_vec();
        locked(&self.budget_events).extend(events.iter().cloned());
        Ok(true)
    }

    async fn budget_events(&self, tenant: &str) -> Result<Vec<sbx_store::BudgetEvent>, StoreError> {
        Ok(locked(&self.budget_events)
            .iter()
            .filter(|e| e.tenant == tenant)
            .cloned()
            .collect())
    }
}
