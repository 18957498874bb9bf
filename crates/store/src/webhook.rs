//! The webhook model: a tenant's endpoints and their deliveries, as they are stored. The
//! deciding (signing, where a URL may point, when to try again) is in `sbx-webhooks`.

use chrono::{DateTime, Utc};
use sbx_lifecycle::rfc3339_millis;
use serde::{Deserialize, Serialize};

/// A URL a tenant receives events at.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub tenant: String,
    /// `wh_` and 12 hex digits.
    pub id: String,
    pub url: String,
    /// The event types it receives; empty: every type.
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    /// The compare-and-set token of a rotation.
    pub version: u64,
    /// Newest first. A rotated-out secret signs until its `expires_at`.
    pub secrets: Vec<EndpointSecret>,
    /// When its deliveries began to fail: the first failed attempt since its last answered
    /// one. `None` while it answers.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when it no longer receives deliveries (every one failed for too long), until it
    /// is enabled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<Disabled>,
}

/// Since when, and why, an endpoint receives no deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A change of an endpoint's standing: its audit trail (the events table's `@webhook#<tenant>`
/// partition), published as `webhook.disabled` and `webhook.enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub tenant: String,
    /// The moment in milliseconds: the order they were given in.
    pub seq: u64,
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    pub kind: WebhookEventKind,
    pub webhook_id: String,
    pub url: String,
    /// Why it was disabled; who enabled it.
    pub reason: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub failing_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEventKind {
    Disabled,
    Enabled,
}

impl WebhookEvent {
    /// `endpoint` disabled at `at` for `reason`, or enabled by `reason`'s actor.
    pub fn of(endpoint: &Endpoint, kind: WebhookEventKind, reason: &str, at: DateTime<Utc>) -> Self {
        let at = rfc3339_millis::truncate(at);
        Self {
            tenant: endpoint.tenant.clone(),
            seq: at.timestamp_millis().max(0) as u64,
            at,
            kind,
            webhook_id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            reason: reason.to_owned(),
            failing_since: endpoint.failing_since,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    /// Never the secret itself: KMS's ciphertext of it ([`crate::seal`]).
    pub sealed: crate::Sealed,
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Secrets never reach a log.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("version", &self.version)
            .field("secrets", &self.secrets.len())
            .field("failing_since", &self.failing_since)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointSecret")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The secrets that sign at `now`, newest first, sealed.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&crate::Sealed> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|end| end > now))
            .map(|s| &s.sealed)
            .collect()
    }

    /// Whether it receives events of `event_type`: never while it is disabled.
    pub fn wants(&self, event_type: &str) -> bool {
        self.disabled.is_none() && (self.events.is_empty() || self.events.iter().any(|e| e == event_type))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; attempts go on.
    Pending,
    Delivered,
    /// Every attempt failed (or the endpoint was removed): given up, until a redelivery.
    Failed,
}

impl DeliveryStatus {
    pub fn is_final(self) -> bool {
        self != DeliveryStatus::Pending
    }
}

/// Where an event stands in its stream: the record version it followed, then its place among
/// the notices (expiry warnings) given at that version (0 for the change of state itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Order {
    pub version: u64,
    pub notice: u64,
}

impl Order {
    /// The fixed-width text that sorts as the order does.
    pub fn key(&self) -> String {
        format!("{:012}.{:020}", self.version, self.notice)
    }
}

/// How long past when its execution was due to act a pending delivery is taken for one without
/// an execution ([`Delivery::is_stale`]).
pub const STALE_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// One event for one endpoint, and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant: String,
    pub endpoint: String,
    /// What the event is about: a sandbox id, or `@` and an account id. Deliveries of one
    /// stream to one endpoint go out in order.
    pub stream: String,
    pub order: Order,
    /// The event's stable id: the `webhook-id` of every attempt.
    pub message_id: String,
    pub event_type: String,
    /// The JSON body every attempt sends.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default)]
    pub redeliveries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<AttemptLog>,
    /// While it is pending, when its execution acts next: its next attempt after a failure, or
    /// its next look at the delivery before it in its stream.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339_millis::option"
    )]
    pub next_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339_millis")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339_millis")]
    pub updated_at: DateTime<Utc>,
}

/// The last attempt of a delivery: its HTTP status (none when there was no answer) and the
/// start of what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptLog {
    #[serde(with = "rfc3339_millis")]
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub answer: String,
    pub elapsed_ms: u64,
}

impl Delivery {
    /// The id the API names it by: `<stream>.<version>.<notice>`.
    pub fn id(&self) -> String {
        format!("{}.{}.{}", self.stream, self.order.version, self.order.notice)
    }

    /// Whether it is pending with no execution behind it: its execution was due to act
    /// ([`Delivery::next_at`], else its last change) more than [`STALE_AFTER`] before `now`.
    /// Its execution's steps take minutes at most, retries included, so one that late has
    /// stopped (a timeout, an abandon that failed, a version before this one).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.status == DeliveryStatus::Pending && self.next_at.unwrap_or(self.updated_at) + STALE_AFTER < now
    }

    /// The stream and order a delivery id names.
    pub fn parse_id(id: &str) -> Option<(&str, Order)> {
        let mut parts = id.rsplitn(3, '.');
        let notice = parts.next()?.parse().ok()?;
        let version = parts.next()?.parse().ok()?;
        let stream = parts.next().filter(|s| !s.is_empty() && !s.contains('#'))?;
        Some((stream, Order { version, notice }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_name_their_stream_and_order() {
        let order = Order {
            version: 3,
            notice: 17,
        };
        assert_eq!(Delivery::parse_id("sb-1a2b.3.17"), Some(("sb-1a2b", order)));
        assert_eq!(
            Delivery::parse_id("@123456789012.2.0").map(|(s, _)| s),
            Some("@123456789012")
        );
        assert_eq!(Delivery::parse_id("sb-1.x.0"), None);
        assert_eq!(Delivery::parse_id(".1.0"), None);
        assert_eq!(Delivery::parse_id("a#b.1.0"), None);
        assert!(
            Order {
                version: 2,
                notice: 9
            }
            .key()
                < Order {
                    version: 10,
                    notice: 0
                }
                .key()
        );
        assert!(
            Order {
                version: 2,
                notice: 0
            }
            .key()
                < Order {
                    version: 2,
                    notice: 1
                }
                .key()
        );
    }

    #[test]
    fn a_rotated_out_secret_signs_until_its_grace_period_ends() {
        let t0 = chrono::DateTime::UNIX_EPOCH;
        let endpoint = Endpoint {
            tenant: "acme".into(),
            id: "wh_1".into(),
            url: "https://example.com".into(),
            events: vec!["sandbox.started".into()],
            description: String::new(),
            created_at: t0,
            version: 2,
            failing_since: None,
            disabled: None,
            secrets: vec![
                EndpointSecret {
                    sealed: crate::Sealed("new".into()),
                    created_at: t0,
                    expires_at: None,
                },
                EndpointSecret {
                    sealed: crate::Sealed("old".into()),
                    created_at: t0,
                    expires_at: Some(t0 + chrono::Duration::hours(24)),
                },
            ],
        };
        let texts = |at| {
            endpoint
                .signing_secrets(at)
                .into_iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(t0), ["new", "old"]);
        assert_eq!(texts(t0 + chrono::Duration::hours(25)), ["new"]);
        assert!(endpoint.wants("sandbox.started") && !endpoint.wants("sandbox.stopped"));
        assert!(!format!("{endpoint:?}").contains("new"));
    }
}
