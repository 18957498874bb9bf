//! The webhook store ([`WebhookStore`]): a tenant's endpoints and their deliveries, with the
//! DynamoDB store's conditions: an endpoint's secrets are replaced only at the version they were
//! read at, an attempt is recorded only on the status and attempts it was read with, and a
//! delivery is recorded once per event and endpoint.

use super::FakeStore;
use crate::locked;
use sbx_store::{
    AttemptLog, Delivery, DeliveryPage, DeliveryStatus, Disabled, Endpoint, EndpointSecret, StoreError,
    WebhookEvent, WebhookEventKind, WebhookStore,
};

/// Whether `a` and `b` are the same item of the table: one tenant, one key.
fn same(a: &Delivery, b: &Delivery) -> bool {
    a.tenant == b.tenant && sort_key(a) == sort_key(b)
}

/// Where a delivery sorts among its endpoint's: by stream, then order, as the table's key does.
fn sort_key(delivery: &Delivery) -> (String, String, String) {
    (
        delivery.endpoint.clone(),
        delivery.stream.clone(),
        delivery.order.key(),
    )
}

impl FakeStore {
    /// `tenant`'s deliveries to `endpoint` as stored, in the table's order.
    pub fn stored_deliveries(&self, tenant: &str, endpoint: &str) -> Vec<Delivery> {
        let mut found: Vec<Delivery> = locked(&self.deliveries)
            .iter()
            .filter(|d| d.tenant == tenant && d.endpoint == endpoint)
            .cloned()
            .collect();
        found.sort_by_key(sort_key);
        found
    }

    /// Changes the stored endpoint `tenant`/`id` with `change`; what it returns.
    fn with_endpoint<T>(
        &self,
        tenant: &str,
        id: &str,
        change: impl FnOnce(&mut Endpoint) -> T,
    ) -> Result<T, StoreError> {
        let mut endpoints = locked(&self.endpoints);
        let stored = endpoints
            .iter_mut()
            .find(|e| e.tenant == tenant && e.id == id)
            .ok_or_else(|| StoreError::WebhookNotFound { id: id.to_owned() })?;
        Ok(change(stored))
    }

    fn find_delivery(&self, tenant: &str, endpoint: &str, id: &str) -> Result<Delivery, StoreError> {
        locked(&self.deliveries)
            .iter()
            .find(|d| d.tenant == tenant && d.endpoint == endpoint && d.id() == id)
            .cloned()
            .ok_or_else(|| StoreError::DeliveryNotFound { id: id.to_owned() })
    }
}

impl WebhookStore for FakeStore {
    async fn add_endpoint(&self, endpoint: &Endpoint, limit: usize) -> Result<(), StoreError> {
        let mut endpoints = locked(&self.endpoints);
        if endpoints.iter().filter(|e| e.tenant == endpoint.tenant).count() >= limit {
            return Err(StoreError::TooManyWebhooks { limit });
        }
        if endpoints
            .iter()
            .any(|e| e.tenant == endpoint.tenant && e.id == endpoint.id)
        {
            return Err(StoreError::AlreadyExists {
                id: endpoint.id.clone(),
            });
        }
        endpoints.push(endpoint.clone());
        Ok(())
    }

    async fn endpoints(&self, tenant: &str) -> Result<Vec<Endpoint>, StoreError> {
        let mut found: Vec<Endpoint> = locked(&self.endpoints)
            .iter()
            .filter(|e| e.tenant == tenant)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn endpoint(&self, tenant: &str, id: &str) -> Result<Endpoint, StoreError> {
        locked(&self.endpoints)
            .iter()
            .find(|e| e.tenant == tenant && e.id == id)
            .cloned()
            .ok_or_else(|| StoreError::WebhookNotFound { id: id.to_owned() })
    }

    async fn remove_endpoint(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        let mut endpoints = locked(&self.endpoints);
        let before = endpoints.len();
        endpoints.retain(|e| !(e.tenant == tenant && e.id == id));
        if endpoints.len() == before {
            return Err(StoreError::WebhookNotFound { id: id.to_owned() });
        }
        Ok(())
    }

    async fn replace_secrets(
        &self,
        current: &Endpoint,
        secrets: Vec<EndpointSecret>,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut endpoints = locked(&self.endpoints);
        let stored = endpoints
            .iter_mut()
            .find(|e| e.tenant == current.tenant && e.id == current.id)
            .ok_or_else(|| StoreError::WebhookNotFound {
                id: current.id.clone(),
            })?;
        if stored.version != current.version {
            return Ok(None);
        }
        stored.secrets = secrets;
        stored.version += 1;
        Ok(Some(stored.clone()))
    }

    async fn endpoint_failed(
        &self,
        tenant: &str,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Endpoint, StoreError> {
        self.with_endpoint(tenant, id, |stored| {
            stored.failing_since = stored
                .failing_since
                .or(Some(sbx_lifecycle::rfc3339_millis::truncate(now)));
            stored.clone()
        })
    }

    async fn endpoint_answered(&self, tenant: &str, id: &str) -> Result<(), StoreError> {
        // Gone is what was asked too.
        let _ = self.with_endpoint(tenant, id, |stored| stored.failing_since = None);
        Ok(())
    }

    async fn disable_endpoint(
        &self,
        endpoint: &Endpoint,
        reason: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let disabled = self.with_endpoint(&endpoint.tenant, &endpoint.id, |stored| {
            if stored.disabled.is_some() {
                return false;
            }
            stored.disabled = Some(Disabled {
                at: sbx_lifecycle::rfc3339_millis::truncate(now),
                reason: reason.to_owned(),
            });
            true
        })?;
        if disabled {
            locked(&self.webhook_events).push(WebhookEvent::of(
                endpoint,
                WebhookEventKind::Disabled,
                reason,
                now,
            ));
        }
        Ok(disabled)
    }

    async fn enable_endpoint(
        &self,
        tenant: &str,
        id: &str,
        actor: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Endpoint, StoreError> {
        let (before, after) = self.with_endpoint(tenant, id, |stored| {
            let before = stored.clone();
            stored.disabled = None;
            stored.failing_since = None;
            (before, stored.clone())
        })?;
        if before.disabled.is_some() {
            locked(&self.webhook_events).push(WebhookEvent::of(
                &before,
                WebhookEventKind::Enabled,
                actor,
                now,
            ));
        }
        Ok(after)
    }

    async fn add_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let mut deliveries = locked(&self.deliveries);
        if deliveries.iter().any(|d| same(d, delivery)) {
            return Ok(false);
        }
        deliveries.push(delivery.clone());
        Ok(true)
    }

    async fn delivery(&self, tenant: &str, endpoint: &str, id: &str) -> Result<Delivery, StoreError> {
        self.find_delivery(tenant, endpoint, id)
    }

    async fn previous_delivery(&self, delivery: &Delivery) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .stored_deliveries(&delivery.tenant, &delivery.endpoint)
            .into_iter()
            .rfind(|d| d.stream == delivery.stream && d.order < delivery.order))
    }

    async fn record_attempt(
        &self,
        current: &Delivery,
        status: DeliveryStatus,
        attempt: Option<AttemptLog>,
        next_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut deliveries = locked(&self.deliveries);
        let Some(stored) = deliveries.iter_mut().find(|d| same(d, current)) else {
            return Err(StoreError::DeliveryNotFound { id: current.id() });
        };
        if (stored.status, stored.attempts, stored.redeliveries)
            != (current.status, current.attempts, current.redeliveries)
        {
            return Ok(None);
        }
        stored.status = status;
        if attempt.is_some() {
            stored.attempts += 1;
            stored.last = attempt;
        }
        stored.next_at = next_at;
        stored.updated_at = sbx_lifecycle::rfc3339_millis::truncate(now);
        Ok(Some(stored.clone()))
    }

    async fn deliveries(
        &self,
        tenant: &str,
        endpoint: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<DeliveryPage, StoreError> {
        let all = self.stored_deliveries(tenant, endpoint);
        let start = match after {
            Some(id) => {
                let (stream, order) = Delivery::parse_id(id).ok_or(StoreError::InvalidPageToken)?;
                let after = (endpoint.to_owned(), stream.to_owned(), order.key());
                all.iter().take_while(|d| sort_key(d) <= after).count()
            }
            None => 0,
        };
        let items: Vec<Delivery> = all.iter().skip(start).take(limit as usize).cloned().collect();
        let next = (start + items.len() < all.len())
            .then(|| items.last().map(Delivery::id))
            .flatten();
        Ok(DeliveryPage { items, next })
    }

    async fn redeliver(
        &self,
        tenant: &str,
        endpoint: &str,
        id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Delivery, StoreError> {
        let mut deliveries = locked(&self.deliveries);
        let stored = deliveries
            .iter_mut()
            .find(|d| d.tenant == tenant && d.endpoint == endpoint && d.id() == id)
            .ok_or_else(|| StoreError::DeliveryNotFound { id: id.to_owned() })?;
        // Settled, or pending with no execution behind it.
        if stored.status == DeliveryStatus::Pending && !stored.is_stale(now) {
            return Err(StoreError::DeliveryPending { id: stored.id() });
        }
        stored.status = DeliveryStatus::Pending;
        stored.attempts = 0;
        stored.redeliveries += 1;
        stored.next_at = None;
        stored.updated_at = sbx_lifecycle::rfc3339_millis::truncate(now);
        Ok(stored.clone())
    }
}
