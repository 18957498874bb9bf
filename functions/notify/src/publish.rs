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

/// Where publishing a batch stopped: the first entry not fully published, and why. The entries
/// before it are published; it and the ones after it are to be given again.
#[derive(Debug, thiserror::Error)]
#[error("publishing stopped at entry {at}: {error}")]
pub struct Stopped {
    pub at: usize,
    pub error: NotifyError,
}

pub async fn publish(
    store: &impl WebhookStore,
    bus: &impl Bus,
    deliveries: &impl Deliveries,
    settings: &Settings,
    entries: &[Entry],
) -> Result<Published, Stopped> {
    // Each message with the index of its entry.
    let messages: Vec<(usize, Message)> = entries
        .iter()
        .enumerate()
        .filter_map(|(at, entry)| Some((at, Message::of(entry, &settings.api_url)?)))
        .collect();
    let Some(&(first, _)) = messages.first() else {
        return Ok(Published::default());
    };
    let all: Vec<Message> = messages.iter().map(|(_, message)| message.clone()).collect();
    bus.put(&all)
        .await
        .map_err(|error| Stopped { at: first, error })?;
    let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
    let mut started = 0;
    // In stream order: a delivery is recorded before the next one of its stream, so that
    // each finds the one before it.
    for (at, message) in &messages {
        let stopped = |error: NotifyError| Stopped { at: *at, error };
        started += deliver(store, deliveries, &mut endpoints, message)
            .await
            .map_err(stopped)?;
    }
    Ok(Published {
        messages: messages.len(),
        deliveries: started,
    })
}

/// Records and starts `message`'s deliveries, one per endpoint of its tenant that wants it;
/// returns how many.
async fn deliver(
    store: &impl WebhookStore,
    deliveries: &impl Deliveries,
    endpoints: &mut HashMap<String, Vec<Endpoint>>,
    message: &Message,
) -> Result<usize, NotifyError> {
    let Some(tenant) = &message.tenant else {
        return Ok(0);
    };
    if !endpoints.contains_key(tenant) {
        endpoints.insert(tenant.clone(), store.endpoints(tenant).await?);
    }
    let now = sbx_lifecycle::rfc3339_millis::truncate(Utc::now());
    let body = message.body();
    let mut started = 0;
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
    Ok(started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::settings;
    use crate::fakes::{FakeBus, FakeStream};
    use sbx_fakes::{FakeDeliveries, FakeStore};
    use sbx_lifecycle::State;
    use sbx_store::WebhookStore;

    async fn endpoint(store: &FakeStore, tenant: &str, id: &str, events: &[&str]) {
        let endpoint = Endpoint {
            tenant: tenant.into(),
            id: id.into(),
            url: format!("https://{id}.example/hook"),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            description: String::new(),
            created_at: Utc::now(),
            version: 1,
            failing_since: None,
            disabled: None,
            secrets: vec![],
        };
        store
            .add_endpoint(&endpoint, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// acme's sandbox sb-1 created and started, an account's journal, globex's sb-2 created.
    fn batch() -> FakeStream {
        FakeStream::default()
            .change("acme", "sb-1", 1, None, State::Initializing)
            .journal("100000000001", 7)
            .change("acme", "sb-1", 2, Some(State::Initializing), State::Started)
            .change("globex", "sb-2", 1, None, State::Initializing)
    }

    #[tokio::test]
    async fn a_batch_goes_on_the_bus_in_order_and_to_each_endpoint_that_wants_it() {
        let (store, bus, deliveries) = (
            FakeStore::default(),
            FakeBus::default(),
            FakeDeliveries::default(),
        );
        endpoint(&store, "acme", "wh_all", &[]).await;
        endpoint(&store, "acme", "wh_started", &["sandbox.started"]).await;
        endpoint(&store, "globex", "wh_theirs", &["sandbox.started"]).await;

        let published = publish(&store, &bus, &deliveries, &settings(), &batch().entries())
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(
            published,
            Published {
                messages: 3,
                deliveries: 3
            }
        );
        assert_eq!(
            bus.types(),
            ["sandbox.created", "sandbox.started", "sandbox.created"],
            "the journal is not published"
        );
        let all: Vec<(String, u64)> = store
            .stored_deliveries("acme", "wh_all")
            .iter()
            .map(|d| (d.event_type.clone(), d.order.version))
            .collect();
        assert_eq!(
            all,
            [("sandbox.created".into(), 1), ("sandbox.started".into(), 2)]
        );
        let started = store.stored_deliveries("acme", "wh_started");
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].status, DeliveryStatus::Pending);
        assert_eq!(started[0].stream, "sb-1");
        assert!(started[0].body.contains("https://api.example/sandboxes/sb-1"));
        assert!(
            store.stored_deliveries("globex", "wh_theirs").is_empty(),
            "globex's sb-2 only was created"
        );
        let inputs: Vec<String> = deliveries.inputs().into_iter().map(|i| i.delivery).collect();
        assert_eq!(inputs, ["sb-1.1.0", "sb-1.2.0", "sb-1.2.0"]);
    }

    #[tokio::test]
    async fn a_batch_given_again_records_and_starts_each_delivery_once() {
        let (store, bus, deliveries) = (
            FakeStore::default(),
            FakeBus::default(),
            FakeDeliveries::default(),
        );
        endpoint(&store, "acme", "wh_all", &[]).await;
        let entries = batch().entries();

        for _ in 0..2 {
            publish(&store, &bus, &deliveries, &settings(), &entries)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }

        assert_eq!(store.stored_deliveries("acme", "wh_all").len(), 2);
        assert_eq!(
            deliveries.inputs().len(),
            2,
            "one execution per delivery and round"
        );
        assert_eq!(
            bus.types().len(),
            6,
            "the bus is at least once: its consumers dedupe by id"
        );
        let ids: Vec<String> = bus
            .put
            .lock()
            .map(|p| p.iter().map(|m| m.id.clone()).collect())
            .unwrap_or_default();
        assert_eq!(ids[..3], ids[3..], "under the same ids");
    }

    #[tokio::test]
    async fn a_refused_bus_fails_the_batch_before_any_delivery() {
        let (store, bus, deliveries) = (
            FakeStore::default(),
            FakeBus::default(),
            FakeDeliveries::default(),
        );
        endpoint(&store, "acme", "wh_all", &[]).await;
        bus.fail(true);

        let failed = publish(&store, &bus, &deliveries, &settings(), &batch().entries()).await;

        assert!(
            matches!(
                failed,
                Err(Stopped {
                    at: 0,
                    error: NotifyError::Transient(_)
                })
            ),
            "the whole batch is given again: {failed:?}"
        );
        assert!(store.stored_deliveries("acme", "wh_all").is_empty());
        assert!(deliveries.inputs().is_empty());
    }

    #[tokio::test]
    async fn a_throttled_start_fails_the_batch_as_transient_and_its_retry_starts_the_recorded_delivery() {
        let (store, bus, deliveries) = (
            FakeStore::default(),
            FakeBus::default(),
            FakeDeliveries::default(),
        );
        endpoint(&store, "acme", "wh_all", &[]).await;
        let entries = FakeStream::default()
            .change("acme", "sb-1", 1, None, State::Initializing)
            .entries();
        deliveries.fail(true);

        let failed = publish(&store, &bus, &deliveries, &settings(), &entries).await;
        assert!(
            matches!(
                failed,
                Err(Stopped {
                    at: 0,
                    error: NotifyError::Transient(_)
                })
            ),
            "{failed:?}"
        );
        assert_eq!(
            store.stored_deliveries("acme", "wh_all").len(),
            1,
            "recorded before the start"
        );

        deliveries.recover();
        publish(&store, &bus, &deliveries, &settings(), &entries)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.stored_deliveries("acme", "wh_all").len(), 1);
        assert_eq!(deliveries.inputs().len(), 1);

        deliveries.fail(false);
        let refused = publish(&store, &bus, &deliveries, &settings(), &entries).await;
        assert!(
            matches!(
                refused,
                Err(Stopped {
                    error: NotifyError::Failed(_),
                    ..
                })
            ),
            "a refusal is no throttle: {refused:?}"
        );
    }
}
