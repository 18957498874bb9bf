//! Each tenant's settings ([`sbx_store::TenantSettingsStore`]).

use super::FakeStore;
use crate::locked;
use sbx_store::StoreError;

impl sbx_store::TenantSettingsStore for FakeStore {
    async fn tenant_settings(&self, tenant: &str) -> Result<sbx_store::TenantSettings, StoreError> {
        Ok(locked(&self.settings).get(tenant).cloned().unwrap_or_default())
    }

    async fn put_tenant_settings(
        &self,
        tenant: &str,
        settings: &sbx_store::TenantSettings,
    ) -> Result<(), StoreError> {
        locked(&self.settings).insert(tenant.to_owned(), settings.clone());
        Ok(())
    }
}
