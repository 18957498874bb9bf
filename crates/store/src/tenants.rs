//! The tenants table: each tenant's live-sandbox counter (the quota) and its creates'
//! idempotency keys. (Its account assignment lives in `accounts.rs`, with the pool.)

use crate::client::DynamoStore;
use crate::item::{build, n, s};
use crate::{Created, SandboxStore, StoreError};
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use sbx_lifecycle::{NewSandbox, SandboxOptions};
use serde::{Deserialize, Serialize};

/// The tenants-table item holding the live-sandbox counter.
const QUOTA_KEY: &str = "quota";

/// The idempotency record of a create request.
#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    tenant: String,
    key: String,
    sandbox_id: String,
    /// What was asked for (name and options), to tell a repeat from a reuse of the key.
    request: String,
    ttl: i64,
}

#[derive(Deserialize)]
struct QuotaItem {
    #[serde(default)]
    live: i64,
}

impl DynamoStore {
    /// Counts one more live sandbox for `tenant`, refused at the quota.
    pub(crate) fn count_in(&self, tenant: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .update_expression("SET #live = if_not_exists(#live, :zero) + :one")
            .condition_expression("attribute_not_exists(#live) OR #live < :limit")
            .expression_attribute_names("#live", "live")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(self.config.quota));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    /// Counts one live sandbox less for `tenant`.
    pub(crate) fn count_out(&self, tenant: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .update_expression("ADD #live :minus_one")
            .expression_attribute_names("#live", "live")
            .expression_attribute_values(":minus_one", n(-1));
        Ok(TransactWriteItem::builder()
            .update(build(update.build())?)
            .build())
    }

    /// Remembers `key` for this create; refused while an unexpired record of the key exists.
    pub(crate) fn remember_key(
        &self,
        new: &NewSandbox,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = IdempotencyItem {
            tenant: new.tenant.clone(),
            key: idempotency_key(key),
            sandbox_id: new.id.clone(),
            request: fingerprint(&new.name, &new.options)?,
            ttl: (now + self.config.idempotency_window).timestamp(),
        };
        let put = Put::builder()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(serde_dynamo::to_item(&item)?))
            .condition_expression("attribute_not_exists(#key) OR #ttl < :now")
            .expression_attribute_names("#key", "key")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    pub(crate) async fn replay(&self, new: &NewSandbox, key: &str) -> Result<Option<Created>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(&new.tenant))
            .key("key", s(idempotency_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        let remembered: IdempotencyItem = serde_dynamo::from_item(item)?;
        if remembered.request != fingerprint(&new.name, &new.options)? {
            return Err(StoreError::IdempotencyKeyReused);
        }
        let sandbox = self.get(&new.tenant, &remembered.sandbox_id).await?;
        Ok(Some(Created {
            sandbox,
            replayed: true,
        }))
    }

    /// How many of the tenant's sandboxes count against its quota.
    pub(crate) async fn quota_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(QUOTA_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        let live = match found.item {
            Some(item) => serde_dynamo::from_item::<_, QuotaItem>(item)?.live,
            None => 0,
        };
        Ok(live.max(0) as u64)
    }
}

fn idempotency_key(key: &str) -> String {
    format!("idem#{key}")
}

fn fingerprint(name: &str, options: &SandboxOptions) -> Result<String, StoreError> {
    serde_json::to_string(&(name, options)).map_err(|e| StoreError::Malformed(e.to_string()))
}
