//! [`LockStore`] on DynamoDB: one lease item per lock in the locks table. [`LockTable`] needs
//! that table only, so a function whose role reaches nothing else can hold it.

use crate::client::DynamoStore;
use crate::item::{MAX_ATTEMPTS, backoff, n, refused, s};
use crate::{Clock, Lease, LockStore, StoreError, SystemClock};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The locks table.
#[derive(Clone)]
pub struct LockTable {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LockTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockTable")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl LockTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl DynamoStore {
    /// The locks table of this store.
    pub fn locks(&self) -> Result<LockTable, StoreError> {
        Ok(LockTable {
            client: self.client.clone(),
            table: self.config.tables.locks()?.to_owned(),
            clock: self.clock.clone(),
        })
    }
}

impl LockStore for DynamoStore {
    async fn acquire(&self, lock: &str, owner: &str, lease: Duration) -> Result<Lease, StoreError> {
        self.locks()?.acquire(lock, owner, lease).await
    }

    async fn release(&self, lock: &str, owner: &str) -> Result<(), StoreError> {
        self.locks()?.release(lock, owner).await
    }

    async fn holder(&self, lock: &str) -> Result<Option<Lease>, StoreError> {
        self.locks()?.holder(lock).await
    }

    async fn remove_expired(&self, lease: &Lease) -> Result<bool, StoreError> {
        self.locks()?.remove_expired(lease).await
    }
}

#[derive(Serialize, Deserialize)]
struct LeaseItem {
    lock: String,
    owner: String,
    /// Milliseconds since the epoch; the lease may be taken over after it.
    expires_at: i64,
    /// Seconds since the epoch: DynamoDB removes leases long past their expiry.
    ttl: i64,
}

impl LeaseItem {
    fn lease(self) -> Lease {
        Lease {
            expires_at: DateTime::<Utc>::from_timestamp_millis(self.expires_at).unwrap_or_default(),
            lock: self.lock,
            owner: self.owner,
        }
    }
}

/// How long after its expiry a forgotten lease item is removed by TTL.
const LINGER: chrono::Duration = chrono::Duration::days(1);

impl LockStore for LockTable {
    async fn acquire(&self, lock: &str, owner: &str, lease: Duration) -> Result<Lease, StoreError> {
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        for attempt in 1..=MAX_ATTEMPTS {
            let now = self.clock.now();
            let expires_at = now.checked_add_signed(lease).unwrap_or(DateTime::<Utc>::MAX_UTC);
            let item = LeaseItem {
                lock: lock.to_owned(),
                owner: owner.to_owned(),
                expires_at: expires_at.timestamp_millis(),
                ttl: (expires_at.checked_add_signed(LINGER).unwrap_or(expires_at)).timestamp(),
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(serde_dynamo::to_item(&item)?))
                .condition_expression("attribute_not_exists(#lock) OR #expires_at < :now OR #owner = :owner")
                .expression_attribute_names("#lock", "lock")
                .expression_attribute_names("#expires_at", "expires_at")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .expression_attribute_values(":owner", s(owner))
                .send()
                .await;
            match result {
                Ok(_) => {
                    tracing::info!(lock, owner, %expires_at, "lock acquired");
                    return Ok(item.lease());
                }
                Err(err) if refused(&err) => {
                    match self.holder(lock).await? {
                        Some(holder) => {
                            return Err(StoreError::LockHeld {
                                lock: lock.to_owned(),
                                owner: holder.owner,
                                until: holder.expires_at,
                            });
                        }
                        // Released between our write and our read: try again.
                        None => backoff(attempt).await,
                    }
                }
                Err(err) => return Err(StoreError::aws("PutItem", err)),
            }
        }
        Err(StoreError::Contended {
            operation: "acquire",
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn release(&self, lock: &str, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("lock", s(lock))
            .condition_expression("attribute_not_exists(#lock) OR #owner = :owner")
            .expression_attribute_names("#lock", "lock")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(lock, owner, "lock released");
                Ok(())
            }
            Err(err) if refused(&err) => {
                let holder = self
                    .holder(lock)
                    .await?
                    .map(|lease| lease.owner)
                    .unwrap_or_default();
                Err(StoreError::NotLockOwner {
                    lock: lock.to_owned(),
                    owner: owner.to_owned(),
                    holder,
                })
            }
            Err(err) => Err(StoreError::aws("DeleteItem", err)),
        }
    }

    async fn holder(&self, lock: &str) -> Result<Option<Lease>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("lock", s(lock))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        found
            .item
            .map(|item: HashMap<String, AttributeValue>| {
                Ok(serde_dynamo::from_item::<_, LeaseItem>(item)?.lease())
            })
            .transpose()
    }

    async fn remove_expired(&self, lease: &Lease) -> Result<bool, StoreError> {
        let now = self.clock.now();
        if lease.expires_at >= now {
            return Ok(false);
        }
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("lock", s(&lease.lock))
            .condition_expression("#owner = :owner AND #expires_at = :expires_at AND #expires_at < :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#expires_at", "expires_at")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":expires_at", n(lease.expires_at.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(lock = %lease.lock, owner = %lease.owner, "expired lease removed");
                Ok(true)
            }
            Err(err) if refused(&err) => Ok(false),
            Err(err) => Err(StoreError::aws("DeleteItem", err)),
        }
    }
}
