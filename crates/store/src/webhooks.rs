//! A tenant's webhook endpoints and their deliveries, in the tenants table: `webhook#<id>` for
//! an endpoint, `delivery#<endpoint>#<stream>#<order>` for a delivery, so that an endpoint's
//! deliveries are one key range and those of one stream sort in the order they go out.

use crate::client::DynamoStore;
use crate::item::{Item, build, n, s, updated, written};
use crate::transaction::{Part, Transaction, TxError};
use crate::webhook::{
    AttemptLog, Delivery, DeliveryStatus, Disabled, Endpoint, EndpointSecret, Order, WebhookEvent,
    WebhookEventKind,
};
use crate::{DeliveryPage, StoreError, WebhookStore};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// How long a delivery stays in the log (DynamoDB removes it through `ttl`).
const DELIVERY_RETENTION: chrono::Duration = chrono::Duration::days(30);

fn endpoint_key(id: &str) -> String {
    format!("webhook#{id}")
}

/// The events table's partition of a tenant's endpoints' changes of standing.
fn webhook_partition(tenant: &str) -> String {
    format!("@webhook#{tenant}")
}

fn deliveries_prefix(endpoint: &str) -> String {
    format!("delivery#{endpoint}#")
}

fn stream_prefix(endpoint: &str, stream: &str) -> String {
    format!("delivery#{endpoint}#{stream}#")
}

fn delivery_key(endpoint: &str, stream: &str, order: Order) -> String {
    format!("{}{}", stream_prefix(endpoint, stream), order.key())
}

impl DynamoStore {
    async fn query_prefix(
        &self,
        tenant: &str,
        prefix: &str,
        limit: Option<i32>,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<(Vec<Item>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(self.config.tables.tenants()?)
            .key_condition_expression("#tenant = :tenant AND begins_with(#key, :prefix)")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", e))?;
        Ok((output.items.unwrap_or_default(), output.last_evaluated_key))
    }

    /// Puts `value` whole as the tenant's item `key` (a setting, a record of its own).
    pub(crate) async fn put_tenant_item(
        &self,
        tenant: &str,
        key: &str,
        value: &impl serde::Serialize,
    ) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(value)?;
        item.insert("tenant".into(), s(tenant));
        item.insert("key".into(), s(key));
        self.client
            .put_item()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::aws("PutItem", e))?;
        Ok(())
    }

    pub(crate) async fn get_tenant_item(&self, tenant: &str, key: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("GetItem", e))?;
        Ok(output.item)
    }

    async fn put_new(&self, mut item: Item, key: String) -> Result<bool, StoreError> {
        item.insert("key".into(), s(key));
        let result = self
            .client
            .put_item()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key")
            .send()
            .await;
        Ok(written("PutItem", result)?.is_some())
    }
}

impl DynamoStore {
    /// Changes an endpoint's standing (`update`, under its condition) with its `event`, in one
    /// transaction; `false` when the condition refused it.
    async fn standing(
        &self,
        endpoint: &Endpoint,
        update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
        event: &WebhookEvent,
    ) -> Result<bool, StoreError> {
        let transaction = Transaction::default()
            .with(
                Part::Endpoint,
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            )
            .with(
                Part::Event,
                self.append_item(&webhook_partition(&endpoint.tenant), event)?,
            );
        match self.transact(transaction).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Endpoint) => Ok(false),
            // The same change given twice in one millisecond: recorded once.
            Err(TxError::Cancelled(cancelled)) if cancelled.refused(Part::Event) => Ok(true),
            Err(TxError::Cancelled(cancelled)) => Err(StoreError::Contended {
                operation: "the standing of a webhook endpoint",
                attempts: u32::from(cancelled.contended()),
            }),
            Err(TxError::Failed(err)) => Err(err),
        }
    }
}

fn time(at: DateTime<Utc>) -> AttributeValue {
    s(sbx_lifecycle::rfc3339_millis::format(
        &sbx_lifecycle::rfc3339_millis::truncate(at),
    ))
}

impl WebhookStore for DynamoStore {
    async fn add_endpoint(&self, endpoint: &Endpoint, limit: usize) -> Result<(), StoreError> {
        // The limit is read, then the endpoint put: two registrations at once may pass it by
        // one, which costs nothing but a delivery more.
        if self.endpoints(&endpoint.tenant).await?.len() >= limit {
            return Err(StoreError::TooManyWebhooks { limit });
        }
        let item: Item = serde_dynamo::to_item(endpoint)?;
        if self.put_new(item, endpoint_key(&endpoint.id)).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists {
                id: endpoint.id.clone(),
            })
        }
    }

    async fn endpoints(&self, tenant: &str) -> Result<Vec<Endpoint>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let (items, next) = self.query_prefix(tenant, "webhook#", None, start).await?;
            for item in items {
                found.push(serde_dynamo::from_item(item)?);
            }
            start = next;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn endpoint(&self, tenant: &str, id: &str) -> Result<Endpoint, StoreError> {
        match self.get_tenant_item(tenant, &endpoint_key(id)).await? {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Err(StoreError::WebhookNotFound { id: id.to_owned() }),
        }
    }

    async fn remove_endpoint(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let removed = self
            .client
            .delete_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(endpoint_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::aws("DeleteItem", e))?;
        match removed.attributes {
            Some(_) => Ok(()),
            None => Err(StoreError::WebhookNotFound { id: id.to_owned() }),
        }
    }

    async fn replace_secrets(
        &self,
        current: &Endpoint,
        secrets: Vec<EndpointSecret>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(&current.tenant))
            .key("key", s(endpoint_key(&current.id)))
            .update_expression("SET #secrets = :secrets, #version = :next")
            .condition_expression("#version = :version")
            .expression_attribute_names("#secrets", "secrets")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":secrets", serde_dynamo::to_attribute_value(&secrets)?)
            .expression_attribute_values(":version", n(current.version))
            .expression_attribute_values(":next", n(current.version + 1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated::<Endpoint>(result)? {
            Some(endpoint) => Ok(Some(endpoint)),
            // Removed, or rotated by someone else since it was read.
            None => {
                self.endpoint(&current.tenant, &current.id).await?;
                Ok(None)
            }
        }
    }

    async fn endpoint_failed(
        &self,
        tenant: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(endpoint_key(id)))
            .update_expression("SET #failing = if_not_exists(#failing, :now)")
            .condition_expression("attribute_exists(#key)")
            .expression_attribute_names("#failing", "failing_since")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":now", time(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        updated::<Endpoint>(result)?.ok_or_else(|| StoreError::WebhookNotFound { id: id.to_owned() })
    }

    async fn endpoint_answered(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(endpoint_key(id)))
            .update_expression("REMOVE #failing")
            .condition_expression("attribute_exists(#failing)")
            .expression_attribute_names("#failing", "failing_since")
            .send()
            .await;
        // Refused: it was not failing (or is gone), which is what was asked.
        written("UpdateItem", result).map(|_| ())
    }

    async fn disable_endpoint(
        &self,
        endpoint: &Endpoint,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let disabled = Disabled {
            at: sbx_lifecycle::rfc3339_millis::truncate(now),
            reason: reason.to_owned(),
        };
        let update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(&endpoint.tenant))
            .key("key", s(endpoint_key(&endpoint.id)))
            .update_expression("SET #disabled = :disabled")
            .condition_expression("attribute_exists(#key) AND attribute_not_exists(#disabled)")
            .expression_attribute_names("#disabled", "disabled")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":disabled", serde_dynamo::to_attribute_value(&disabled)?);
        let event = WebhookEvent::of(endpoint, WebhookEventKind::Disabled, reason, now);
        match self.standing(endpoint, update, &event).await? {
            true => Ok(true),
            false => {
                // Gone, or disabled already.
                self.endpoint(&endpoint.tenant, &endpoint.id).await?;
                Ok(false)
            }
        }
    }

    async fn enable_endpoint(
        &self,
        tenant: &str,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Endpoint, StoreError> {
        let endpoint = self.endpoint(tenant, id).await?;
        if endpoint.disabled.is_none() {
            return Ok(endpoint);
        }
        let update = Update::builder()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(endpoint_key(id)))
            .update_expression("REMOVE #disabled, #failing")
            .condition_expression("attribute_exists(#disabled)")
            .expression_attribute_names("#disabled", "disabled")
            .expression_attribute_names("#failing", "failing_since");
        let event = WebhookEvent::of(&endpoint, WebhookEventKind::Enabled, actor, now);
        self.standing(&endpoint, update, &event).await?;
        // Enabled now, or by someone else meanwhile.
        self.endpoint(tenant, id).await
    }

    async fn add_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let mut item: Item = serde_dynamo::to_item(delivery)?;
        item.insert(
            "ttl".into(),
            n((delivery.created_at + DELIVERY_RETENTION).timestamp()),
        );
        self.put_new(
            item,
            delivery_key(&delivery.endpoint, &delivery.stream, delivery.order),
        )
        .await
    }

    async fn delivery(&self, tenant: &str, endpoint: &str, id: &str) -> Result<Delivery, StoreError> {
        let missing = || StoreError::DeliveryNotFound { id: id.to_owned() };
        let (stream, order) = Delivery::parse_id(id).ok_or_else(missing)?;
        match self
            .get_tenant_item(tenant, &delivery_key(endpoint, stream, order))
            .await?
        {
            Some(item) => Ok(serde_dynamo::from_item(item)?),
            None => Err(missing()),
        }
    }

    async fn previous_delivery(&self, delivery: &Delivery) -> Result<Option<Delivery>, StoreError> {
        let prefix = stream_prefix(&delivery.endpoint, &delivery.stream);
        let output = self
            .client
            .query()
            .table_name(self.config.tables.tenants()?)
            .key_condition_expression("#tenant = :tenant AND #key BETWEEN :low AND :high")
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(":tenant", s(&delivery.tenant))
            .expression_attribute_values(":low", s(&prefix))
            .expression_attribute_values(
                ":high",
                s(delivery_key(&delivery.endpoint, &delivery.stream, delivery.order)),
            )
            .scan_index_forward(false)
            .limit(2)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("Query", e))?;
        for item in output.items.unwrap_or_default() {
            let found: Delivery = serde_dynamo::from_item(item)?;
            if found.order < delivery.order {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    async fn record_attempt(
        &self,
        current: &Delivery,
        status: DeliveryStatus,
        attempt: Option<AttemptLog>,
        next_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut next = current.clone();
        next.status = status;
        if attempt.is_some() {
            next.attempts += 1;
            next.last = attempt;
        }
        next.next_at = next_at;
        next.updated_at = sbx_lifecycle::rfc3339_millis::truncate(now);
        let mut item: Item = serde_dynamo::to_item(&next)?;
        item.insert(
            "key".into(),
            s(delivery_key(&next.endpoint, &next.stream, next.order)),
        );
        item.insert(
            "ttl".into(),
            n((next.created_at + DELIVERY_RETENTION).timestamp()),
        );
        // Compared on what was read: of two invocations of one attempt, one records it.
        let result = self
            .client
            .put_item()
            .table_name(self.config.tables.tenants()?)
            .set_item(Some(item))
            .condition_expression(
                "#status = :status AND #attempts = :attempts AND #redeliveries = :redeliveries",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#redeliveries", "redeliveries")
            .expression_attribute_values(":status", serde_dynamo::to_attribute_value(current.status)?)
            .expression_attribute_values(":attempts", n(current.attempts))
            .expression_attribute_values(":redeliveries", n(current.redeliveries))
            .send()
            .await;
        Ok(written("PutItem", result)?.map(|_| next))
    }

    async fn deliveries(
        &self,
        tenant: &str,
        endpoint: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<DeliveryPage, StoreError> {
        let start = match after {
            Some(id) => {
                let (stream, order) = Delivery::parse_id(id).ok_or(StoreError::InvalidPageToken)?;
                Some(HashMap::from([
                    ("tenant".to_owned(), s(tenant)),
                    ("key".to_owned(), s(delivery_key(endpoint, stream, order))),
                ]))
            }
            None => None,
        };
        let (items, next) = self
            .query_prefix(tenant, &deliveries_prefix(endpoint), Some(limit as i32), start)
            .await?;
        let items: Vec<Delivery> = items
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<_, _>>()?;
        let next = next.and_then(|_| items.last().map(Delivery::id));
        Ok(DeliveryPage { items, next })
    }

    async fn redeliver(
        &self,
        tenant: &str,
        endpoint: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let missing = || StoreError::DeliveryNotFound { id: id.to_owned() };
        let (stream, order) = Delivery::parse_id(id).ok_or_else(missing)?;
        let result = self
            .client
            .update_item()
            .table_name(self.config.tables.tenants()?)
            .key("tenant", s(tenant))
            .key("key", s(delivery_key(endpoint, stream, order)))
            .update_expression(
                "SET #status = :pending, #attempts = :zero, #updated = :now \
                 ADD #redeliveries :one REMOVE #next_at",
            )
            // Settled, or pending with no execution behind it (`Delivery::is_stale`).
            .condition_expression(
                "attribute_exists(#key) AND (#status <> :pending OR #next_at < :stale \
                 OR (attribute_not_exists(#next_at) AND #updated < :stale))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#updated", "updated_at")
            .expression_attribute_names("#redeliveries", "redeliveries")
            .expression_attribute_names("#next_at", "next_at")
            .expression_attribute_names("#key", "key")
            .expression_attribute_values(
                ":stale",
                s(sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(now - crate::STALE_AFTER),
                )),
            )
            .expression_attribute_values(
                ":pending",
                serde_dynamo::to_attribute_value(DeliveryStatus::Pending)?,
            )
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(
                ":now",
                s(sbx_lifecycle::rfc3339_millis::format(
                    &sbx_lifecycle::rfc3339_millis::truncate(now),
                )),
            )
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated::<Delivery>(result)? {
            Some(delivery) => Ok(delivery),
            None => {
                let current = self.delivery(tenant, endpoint, id).await?;
                Err(StoreError::DeliveryPending { id: current.id() })
            }
        }
    }
}
