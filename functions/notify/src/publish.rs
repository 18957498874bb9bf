//! `publish-events`: the events table's stream, a batch at a time, in order. Each new item is
//! put on the `sbx` bus, and for each of its tenant's endpoints that wants its type a delivery
//! is recorded and its `deliver` execution started. Never inside the request that made the
//! change: the stream calls this after the change's transaction committed.
//!
//! At least once: a batch that fails is given again (by Lambda's event source mapping, or the
//! local stack's reader), so an event may reach the bus twice under one id; a delivery is
//! recorded once per event and endpoint, and its execution is started under a name of its own.

use crate::error::NotifyError;
use crate::message::{Entry, Message};
use crate::settings::Settings;
use chrono::Utc;
use sbx_store::{Delivery, DeliveryStatus, Endpoint, WebhookStore};
use sbx_workflows::deliveries::Deliveries;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;

/// The event bus.
pub trait Bus: Send + Sync {
    /// Puts `messages` on the bus; an error when any could not be put.
    fn put(&self, messages: &[Message]) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    pub messages: usize,
    pub deliveries: usize,
}

pub async fn publish(
    store: &impl WebhookStore,
    bus: &impl Bus,
    deliveries: &impl Deliveries,
    settings: &Settings,
    entries: &[Entry],
) -> Result<Published, NotifyError> {
    let messages: Vec<Message> = entries
        .iter()
        .filter_map(|entry| Message::of(entry, &settings.api_url))
        .collect();
    if messages.is_empty() {
        return Ok(Published::default());
    }
    bus.put(&messages).await?;
    let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
    let mut started = 0;
    // In stream order: a delivery is recorded before the next one of its stream, so that
    // each finds the one before it.
    for message in &messages {
        let Some(tenant) = &message.tenant else { continue };
        if !endpoints.contains_key(tenant) {
            endpoints.insert(tenant.clone(), store.endpoints(tenant).await?);
        }
        let now = sbx_lifecycle::rfc3339_millis::truncate(Utc::now());
        let body = message.body();
        for endpoint in endpoints.get(tenant).into_iter().flatten() {
            if !endpoint.wants(&message.event_type) {
                continue;
            }
            let delivery = Delivery {
                tenant: tenant.clone(),
                endpoint: endpoint.id.clone(),
                stream: message.stream.clone(),
                order: message.order,
                message_id: message.id.clone(),
                event_type: message.event_type.clone(),
                body: body.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                redeliveries: 0,
                last: None,
                next_at: None,
                created_at: now,
                updated_at: now,
            };
            // Recorded by an earlier try of this batch: started again under the same name.
            store.add_delivery(&delivery).await?;
            deliveries.start(&delivery).await.map_err(|e| {
                if e.transient {
                    NotifyError::Transient(e.to_string())
                } else {
                    NotifyError::Failed(e.to_string())
                }
            })?;
            started += 1;
        }
    }
    Ok(Published {
        messages: messages.len(),
        deliveries: started,
    })
}
