//! A tenant's settings, in the tenants table under `settings`: what it is told and when. A
//! tenant without the item has the deployment's defaults.

use crate::client::DynamoStore;
use crate::{StoreError, TenantSettings, TenantSettingsStore};

const KEY: &str = "settings";

impl TenantSettingsStore for DynamoStore {
    async fn tenant_settings(&self, tenant: &str) -> Result<TenantSettings, StoreError> {
        match self.get_tenant_item(tenant, KEY).await? {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Ok(TenantSettings::default()),
        }
    }

    async fn put_tenant_settings(&self, tenant: &str, settings: &TenantSettings) -> Result<(), StoreError> {
        self.put_tenant_item(tenant, KEY, settings).await
    }
}
