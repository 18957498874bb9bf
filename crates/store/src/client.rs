//! The store's connection: its settings and the DynamoDB client every table module writes
//! and reads with. The tables' modules add their methods to [`DynamoStore`]; the store's logic
//! (`dynamo.rs`) sits on top of them.

use crate::page::PageKey;
use crate::schema::TableNames;
use crate::{Clock, SystemClock};
use aws_sdk_dynamodb::Client;
use std::sync::Arc;

/// Settings of the store; [`StoreConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub tables: TableNames,
    /// Live (not deleted) sandboxes a tenant may have.
    pub quota: u32,
    /// How long a deleted record is kept for audit before its TTL removes it.
    pub deleted_retention: chrono::Duration,
    /// How long an idempotency key is remembered.
    pub idempotency_window: chrono::Duration,
    /// Signs the page tokens of [`SandboxStore::list`].
    pub page_key: PageKey,
}

impl StoreConfig {
    pub fn new(tables: TableNames) -> Self {
        Self {
            tables,
            quota: 10,
            deleted_retention: chrono::Duration::days(90),
            idempotency_window: chrono::Duration::hours(24),
            page_key: PageKey::random(),
        }
    }
}

/// The sandbox store and the lock store on DynamoDB.
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) config: StoreConfig,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    pub fn new(client: Client, config: StoreConfig) -> Self {
        Self {
            client,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
