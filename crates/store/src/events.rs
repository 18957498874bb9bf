//! The events table: each sandbox's append-only audit trail, one event per record version, and
//! after them in the same partition its notices (`notice.rs`); the accounts' trails and journals
//! live in partitions of their own, see `accounts.rs`.

use crate::StoreError;
use crate::client::DynamoStore;
use crate::item::{Item, build, s};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use sbx_lifecycle::Event;

impl DynamoStore {
    /// The put of `event`, refused if its version's event exists.
    pub(crate) fn event_item(&self, event: &Event) -> Result<TransactWriteItem, StoreError> {
        self.append_item(&event_partition(&event.tenant, &event.sandbox_id), event)
    }

    /// The put of `entry` into `partition` of the events table, refused if an entry with its
    /// `seq` is there: each trail is append-only.
    pub(crate) fn append_item(
        &self,
        partition: &str,
        entry: &impl serde::Serialize,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item: Item = serde_dynamo::to_item(entry)?;
        item.insert("sandbox".into(), s(partition));
        let put = Put::builder()
            .table_name(self.config.tables.events()?)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#seq)")
            .expression_attribute_names("#seq", "seq");
        Ok(TransactWriteItem::builder().put(build(put.build())?).build())
    }

    /// The sandbox's audit trail after the event numbered `after`, oldest first: its notices,
    /// numbered from [`crate::notice::NOTICES_FROM`], are not read.
    pub(crate) async fn read_events(
        &self,
        tenant: &str,
        id: &str,
        after: u64,
    ) -> Result<Vec<Event>, StoreError> {
        self.read_partition_between(&event_partition(tenant, id), after, crate::notice::NOTICES_FROM)
            .await
    }

    /// Every item of one partition of the events table (a sandbox's trail, an account's trail
    /// or journal), in order, page by page.
    pub(crate) async fn read_partition<T: serde::de::DeserializeOwned>(
        &self,
        partition: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.read_partition_after(partition, 0).await
    }

    /// The items of one partition whose `seq` is above `after`, in order, page by page: the
    /// key condition reads only those.
    pub(crate) async fn read_partition_after<T: serde::de::DeserializeOwned>(
        &self,
        partition: &str,
        after: u64,
    ) -> Result<Vec<T>, StoreError> {
        self.read_partition_between(partition, after, u64::MAX).await
    }

    /// The items of one partition whose `seq` is above `after` and below `before`.
    async fn read_partition_between<T: serde::de::DeserializeOwned>(
        &self,
        partition: &str,
        after: u64,
        before: u64,
    ) -> Result<Vec<T>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(self.config.tables.events()?)
                .key_condition_expression("#sandbox = :sandbox AND #seq BETWEEN :first AND :last")
                .expression_attribute_names("#sandbox", "sandbox")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_values(":sandbox", s(partition))
                .expression_attribute_values(":first", AttributeValue::N(after.saturating_add(1).to_string()))
                .expression_attribute_values(
                    ":last",
                    AttributeValue::N((before.saturating_sub(1)).to_string()),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::aws("Query", e))?;
            for item in output.items.unwrap_or_default() {
                found.push(serde_dynamo::from_item(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}

/// A sandbox's partition of the events table: its audit trail and its notices.
pub(crate) fn event_partition(tenant: &str, id: &str) -> String {
    format!("{tenant}#{id}")
}
