//! The drift check's records ([`sbx_store::DriftStore`]): what a day's check found per sandbox.

use super::FakeStore;
use crate::locked;
use sbx_store::StoreError;

impl sbx_store::DriftStore for FakeStore {
    async fn days_spend(
        &self,
        tenant: &str,
        first: &str,
        last: &str,
    ) -> Result<sbx_lifecycle::cost::Usd, StoreError> {
        Ok(sbx_lifecycle::cost::Usd(
            locked(&self.day_spend)
                .iter()
                .filter(|((t, day), _)| t == tenant && day.as_str() >= first && day.as_str() <= last)
                .map(|(_, micros)| micros)
                .sum(),
        ))
    }

    async fn claim_drift_check(&self, day: &str) -> Result<bool, StoreError> {
        let mut checked = locked(&self.drift_checked_on);
        if checked.as_deref().is_some_and(|d| d >= day) {
            return Ok(false);
        }
        *checked = Some(day.to_owned());
        Ok(true)
    }

    async fn release_drift_check(&self, day: &str) -> Result<(), StoreError> {
        let mut checked = locked(&self.drift_checked_on);
        if checked.as_deref() == Some(day) {
            *checked = None;
        }
        Ok(())
    }

    async fn put_drift(&self, tenant: &str, drift: &sbx_store::Drift) -> Result<(), StoreError> {
        locked(&self.drifts).insert((tenant.to_owned(), drift.month.clone()), drift.clone());
        Ok(())
    }

    async fn drift(&self, tenant: &str, month: &str) -> Result<Option<sbx_store::Drift>, StoreError> {
        Ok(locked(&self.drifts)
            .get(&(tenant.to_owned(), month.to_owned()))
            .cloned())
    }
}
