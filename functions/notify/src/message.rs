//! What is published: one message per item put into the events table, with a stable id, a
//! type and a thin payload (ids, states, times, a link to the record).
//!
//! | partition | item | types |
//! |---|---|---|
//! | `<tenant>#<sandbox>`, `seq` a version | a sandbox's change of state | `sandbox.created`, `.creating`, `.started`, `.stopping`, `.stopped`, `.starting`, `.deleting`, `.deleted`, `.failed` |
//! | `<tenant>#<sandbox>`, `seq` from `NOTICES_FROM` | a notice about a sandbox (in its partition, so in its order) | `sandbox.expiring`, `.idle`, `.idle-stopped`, `.start-skipped`, `.stop-skipped` |
//! | `@account-trail#<id>` | an account's change of state | `account.pool`, `.assigned`, `.expired`, `.cleaning`, `.quarantined` |
//! | `@budget#<tenant>` | a tenant's budget set, or a threshold of it reached | `budget.updated`, `budget.threshold` |
//! | `@account#<id>` | an account's infrastructure journal | not published |

use chrono::{DateTime, Utc};
use sbx_lifecycle::{Event, State};
use sbx_store::{
    AccountEvent, BudgetEvent, BudgetEventKind, Notice, NoticeKind, Order, WebhookEvent, WebhookEventKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The `source` of every event on the bus.
pub const SOURCE: &str = "sbx";

/// One item of the events table, as its stream carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Sandbox(Event),
    Account(AccountEvent),
    Notice(Notice),
    Budget(BudgetEvent),
    Webhook(WebhookEvent),
    /// Not published (an account's infrastructure journal).
    Other(String),
}

#[derive(Deserialize)]
struct Partition {
    sandbox: String,
    #[serde(default)]
    seq: u64,
}

impl Entry {
    /// Reads an item of the events table.
    pub fn from_item(item: serde_dynamo::Item) -> Result<Self, serde_dynamo::Error> {
        let partition: Partition = serde_dynamo::from_item(item.clone())?;
        Ok(if partition.sandbox.starts_with("@account-trail#") {
            Entry::Account(serde_dynamo::from_item(item)?)
        } else if partition.sandbox.starts_with("@budget#") {
            Entry::Budget(serde_dynamo::from_item(item)?)
        } else if partition.sandbox.starts_with("@webhook#") {
            Entry::Webhook(serde_dynamo::from_item(item)?)
        } else if partition.sandbox.starts_with('@') {
            Entry::Other(partition.sandbox)
        } else if partition.seq >= sbx_store::NOTICES_FROM {
            Entry::Notice(serde_dynamo::from_item(item)?)
        } else {
            Entry::Sandbox(serde_dynamo::from_item(item)?)
        })
    }
}

/// One event out.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Stable: the same item always gives the same id (`webhook-id`, and `id` in the body).
    pub id: String,
    pub event_type: String,
    /// Whose webhooks receive it (an account's event: the tenant it is assigned to, if any).
    pub tenant: Option<String>,
    /// What it is about (a sandbox id, or `@` and an account id), and its place there.
    pub stream: String,
    pub order: Order,
    pub timestamp: DateTime<Utc>,
    pub data: Value,
}

/// The body of a delivery and the detail of a bus event.
#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a Value,
}

impl Message {
    /// The message of `entry` (`None` for what is not published). Links are made on `api_url`.
    pub fn of(entry: &Entry, api_url: &str) -> Option<Self> {
        match entry {
            Entry::Sandbox(event) => Some(Self::sandbox(event, api_url)),
            Entry::Account(event) => Some(Self::account(event)),
            Entry::Notice(notice) => Some(Self::notice(notice, api_url)),
            Entry::Budget(event) => Some(Self::budget(event, api_url)),
            Entry::Webhook(event) => Some(Self::webhook(event, api_url)),
            Entry::Other(_) => None,
        }
    }

    fn sandbox(event: &Event, api_url: &str) -> Self {
        let kind = match (event.from, event.to) {
            (None, _) => "created",
            (Some(_), State::Initializing) => "creating",
            (_, state) => state.as_str(),
        };
        let link = format!("{}/sandboxes/{}", api_url.trim_end_matches('/'), event.sandbox_id);
        Self {
            id: stable_id(&format!("{}#{}", event.tenant, event.sandbox_id), event.seq),
            event_type: format!("sandbox.{kind}"),
            tenant: Some(event.tenant.clone()),
            stream: event.sandbox_id.clone(),
            order: Order {
                version: event.seq,
                notice: 0,
            },
            timestamp: event.at,
            data: json!({
                "tenant": event.tenant,
                "sandbox_id": event.sandbox_id,
                "seq": event.seq,
                "operation": event.operation,
                "from": event.from,
                "to": event.to,
                "error": event.error,
                "cause": event.cause,
                "actor": event.actor,
                "links": {"sandbox": link, "events": format!("{link}/events")},
            }),
        }
    }

    fn notice(notice: &Notice, api_url: &str) -> Self {
        let link = format!(
            "{}/sandboxes/{}",
            api_url.trim_end_matches('/'),
            notice.sandbox_id
        );
        let kind = match notice.kind {
            NoticeKind::Expiring => "expiring",
            NoticeKind::Idle => "idle",
            NoticeKind::IdleStopped => "idle-stopped",
            NoticeKind::StartSkipped => "start-skipped",
            NoticeKind::StopSkipped => "stop-skipped",
        };
        Self {
            // Hashed under a name of the notices' own (their partition is the sandbox's): a
            // notice's id never meets a change's.
            id: stable_id(
                &format!("@notice#{}#{}", notice.tenant, notice.sandbox_id),
                notice.seq,
            ),
            event_type: format!("sandbox.{kind}"),
            tenant: Some(notice.tenant.clone()),
            stream: notice.sandbox_id.clone(),
            order: Order {
                version: notice.version,
                notice: notice.seq,
            },
            timestamp: notice.at,
            data: match notice.kind {
                NoticeKind::Expiring => json!({
                    "tenant": notice.tenant,
                    "sandbox_id": notice.sandbox_id,
                    "expires_at": sbx_lifecycle::rfc3339_millis::format(&notice.expires_at),
                    "threshold_seconds": notice.threshold_seconds,
                    "links": {
                        "sandbox": link,
                        // PATCH with {"expires_at": ...} moves the expiry (sbx extend ID --by 24h).
                        "extend": {"method": "PATCH", "href": link},
                    },
                }),
                NoticeKind::StartSkipped | NoticeKind::StopSkipped => json!({
                    "tenant": notice.tenant,
                    "sandbox_id": notice.sandbox_id,
                    "reason": notice.reason,
                    "scheduled_at": notice.scheduled_at.map(|at| sbx_lifecycle::rfc3339_millis::format(&at)),
                    "links": {"sandbox": link},
                }),
                NoticeKind::Idle | NoticeKind::IdleStopped => json!({
                    "tenant": notice.tenant,
                    "sandbox_id": notice.sandbox_id,
                    "idle_minutes": notice.idle_minutes,
                    "stop_at": notice.stop_at.map(|at| sbx_lifecycle::rfc3339_millis::format(&at)),
                    "links": {"sandbox": link},
                }),
            },
        }
    }

    fn budget(event: &BudgetEvent, api_url: &str) -> Self {
        let kind = match event.kind {
            BudgetEventKind::Updated => "updated",
            BudgetEventKind::Threshold => "threshold",
        };
        Self {
            id: stable_id(&format!("@budget#{}", event.tenant), event.seq),
            event_type: format!("budget.{kind}"),
            tenant: Some(event.tenant.clone()),
            stream: "@budget".to_owned(),
            order: Order {
                version: event.seq,
                notice: 0,
            },
            timestamp: event.at,
            data: json!({
                "tenant": event.tenant,
                "month": event.month,
                "monthly_usd": event.monthly_usd,
                "sandbox_cap_usd": event.sandbox_cap_usd,
                "percent": event.percent,
                "spent_usd": event.spent_usd,
                "actor": event.actor,
                "links": {"budget": format!("{}/tenants/{}/budget", api_url.trim_end_matches('/'), event.tenant)},
            }),
        }
    }

    fn webhook(event: &WebhookEvent, api_url: &str) -> Self {
        let kind = match event.kind {
            WebhookEventKind::Disabled => "disabled",
            WebhookEventKind::Enabled => "enabled",
        };
        let api = api_url.trim_end_matches('/');
        Self {
            id: stable_id(&format!("@webhook#{}", event.tenant), event.seq),
            event_type: format!("webhook.{kind}"),
            tenant: Some(event.tenant.clone()),
            stream: format!("@webhook-{}", event.webhook_id),
            order: Order {
                version: event.seq,
                notice: 0,
            },
            timestamp: event.at,
            data: json!({
                "tenant": event.tenant,
                "webhook_id": event.webhook_id,
                "url": event.url,
                "reason": event.reason,
                "failing_since": event.failing_since.map(|at| sbx_lifecycle::rfc3339_millis::format(&at)),
                "links": {
                    "webhook": format!("{api}/webhooks/{}", event.webhook_id),
                    "enable": {"method": "POST", "href": format!("{api}/webhooks/{}/enable", event.webhook_id)},
                },
            }),
        }
    }

    fn account(event: &AccountEvent) -> Self {
        Self {
            id: stable_id(&format!("@account-trail#{}", event.account_id), event.seq),
            event_type: format!("account.{}", event.to.as_str()),
            tenant: event.tenant.clone(),
            stream: format!("@{}", event.account_id),
            order: Order {
                version: event.seq,
                notice: 0,
            },
            timestamp: event.at,
            data: json!({
                "account_id": event.account_id,
                "seq": event.seq,
                "change": event.change,
                "from": event.from.map(|s| s.as_str()),
                "to": event.to.as_str(),
                "tenant": event.tenant,
                "reason": event.reason,
            }),
        }
    }

    /// The JSON body: `{"id", "type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        serde_json::to_string(&Body {
            id: &self.id,
            event_type: &self.event_type,
            timestamp: sbx_lifecycle::rfc3339_millis::format(&self.timestamp),
            data: &self.data,
        })
        .unwrap_or_default()
    }
}

/// `evt_` and 24 hex digits of the SHA-256 of the item's key.
fn stable_id(partition: &str, seq: u64) -> String {
    let digest = Sha256::digest(format!("{partition}/{seq}").as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbx_lifecycle::Operation;

    fn event(seq: u64, from: Option<State>, to: State) -> Event {
        Event {
            tenant: "acme".into(),
            sandbox_id: "sb-1".into(),
            seq,
            at: DateTime::UNIX_EPOCH,
            operation: Operation::Create,
            from,
            to,
            error: None,
            cause: None,
            actor: None,
        }
    }

    #[test]
    fn each_change_of_state_has_one_type_and_a_stable_id() {
        let cases = [
            (event(1, None, State::Initializing), "sandbox.created"),
            (
                event(2, Some(State::Initializing), State::Started),
                "sandbox.started",
            ),
            (
                event(3, Some(State::Started), State::Stopping),
                "sandbox.stopping",
            ),
            (event(4, Some(State::Stopping), State::Stopped), "sandbox.stopped"),
            (
                event(5, Some(State::Failed), State::Initializing),
                "sandbox.creating",
            ),
            (event(6, Some(State::Starting), State::Failed), "sandbox.failed"),
            (event(7, Some(State::Deleting), State::Deleted), "sandbox.deleted"),
        ];
        for (event, kind) in cases {
            let message = Message::sandbox(&event, "http://127.0.0.1:1/");
            assert_eq!(message.event_type, kind);
            assert_eq!(message, Message::sandbox(&event, "http://127.0.0.1:1/"));
            assert_eq!(
                message.order,
                Order {
                    version: event.seq,
                    notice: 0
                }
            );
        }
        let first = Message::sandbox(&event(1, None, State::Initializing), "https://api.example.com");
        let second = Message::sandbox(
            &event(2, Some(State::Initializing), State::Started),
            "https://api.example.com",
        );
        assert_ne!(first.id, second.id);
        assert!(first.id.starts_with("evt_") && first.id.len() == 28);
        let body: Value = serde_json::from_str(&second.body()).unwrap_or_default();
        assert_eq!(body["type"], "sandbox.started");
        assert_eq!(body["id"], second.id.as_str());
        assert_eq!(
            body["data"]["links"]["sandbox"],
            "https://api.example.com/sandboxes/sb-1"
        );
        assert_eq!(body["timestamp"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_budget_threshold_is_published_to_its_tenant_with_the_figures() {
        let spend = sbx_store::MonthSpend {
            tenant: "acme".into(),
            month: "2026-12".into(),
            spent: sbx_lifecycle::cost::Usd(41_000_000),
            warned: vec![],
        };
        let budget = sbx_store::Budget {
            monthly_usd: sbx_lifecycle::cost::Usd(50_000_000),
            sandbox_cap_usd: None,
            thresholds: vec![80],
            stop_at_limit: true,
        };
        let event = BudgetEvent::threshold(&spend, &budget, 80, DateTime::UNIX_EPOCH);
        let mut body = serde_json::to_value(&event).unwrap_or_default();
        body["sandbox"] = json!("@budget#acme");
        let item: serde_dynamo::Item = serde_dynamo::to_item(body).unwrap_or_else(|e| panic!("{e}"));
        let entry = Entry::from_item(item).unwrap_or_else(|e| panic!("{e}"));
        let message = Message::of(&entry, "https://api.example").unwrap_or_else(|| panic!("published"));
        assert_eq!(message.event_type, "budget.threshold");
        assert_eq!(message.tenant.as_deref(), Some("acme"));
        assert_eq!(message.data["percent"], 80);
        assert_eq!(message.data["spent_usd"], 41.0);
        assert_eq!(message.data["monthly_usd"], 50.0);
        assert_eq!(
            message.id,
            Message::of(&entry, "https://other")
                .map(|m| m.id)
                .unwrap_or_default(),
            "stable"
        );
    }

    /// An endpoint's change of standing, read back from its item as the stream carries it:
    /// published to its tenant, with the links to it and to enable it.
    #[test]
    fn a_disabled_endpoint_is_published_to_its_tenant_with_the_reason() {
        let endpoint = sbx_store::Endpoint {
            tenant: "acme".into(),
            id: "wh_1".into(),
            url: "https://hooks.example/in".into(),
            events: vec![],
            description: String::new(),
            created_at: DateTime::UNIX_EPOCH,
            version: 1,
            failing_since: Some(DateTime::UNIX_EPOCH),
            disabled: None,
            secrets: vec![],
        };
        let event = WebhookEvent::of(
            &endpoint,
            WebhookEventKind::Disabled,
            "every delivery failed for 5 days",
            DateTime::UNIX_EPOCH + chrono::Duration::days(5),
        );
        let mut body = serde_json::to_value(&event).unwrap_or_default();
        body["sandbox"] = json!("@webhook#acme");
        let item: serde_dynamo::Item = serde_dynamo::to_item(body).unwrap_or_else(|e| panic!("{e}"));
        let entry = Entry::from_item(item).unwrap_or_else(|e| panic!("{e}"));
        let message = Message::of(&entry, "https://api.example/").unwrap_or_else(|| panic!("published"));
        assert_eq!(message.event_type, "webhook.disabled");
        assert_eq!(message.tenant.as_deref(), Some("acme"));
        assert_eq!(message.data["reason"], "every delivery failed for 5 days");
        assert_eq!(message.data["failing_since"], "1970-01-01T00:00:00.000Z");
        assert_eq!(
            message.data["links"]["enable"]["href"],
            "https://api.example/webhooks/wh_1/enable"
        );
    }

    #[test]
    fn a_sandboxs_partition_holds_its_changes_and_after_them_its_notices() {
        let record = sbx_lifecycle::Sandbox::create(
            sbx_lifecycle::NewSandbox {
                tenant: "acme".into(),
                id: "sb-1".into(),
                name: "n".into(),
                options: sbx_lifecycle::SandboxOptions::default(),
                expires_at: DateTime::UNIX_EPOCH + chrono::Duration::days(20_001),
            },
            DateTime::UNIX_EPOCH + chrono::Duration::days(20_000),
        )
        .record;
        let at = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let notice = Notice::idle_stopped(&record, 60, at);
        assert!(notice.seq >= sbx_store::NOTICES_FROM);
        let entry = |mut body: Value| {
            body["sandbox"] = json!("acme#sb-1");
            let item: serde_dynamo::Item = serde_dynamo::to_item(body).unwrap_or_else(|e| panic!("{e}"));
            Entry::from_item(item).unwrap_or_else(|e| panic!("{e}"))
        };
        let notice = entry(serde_json::to_value(&notice).unwrap_or_default());
        assert!(matches!(notice, Entry::Notice(n) if n.kind == NoticeKind::IdleStopped));
        let change = event(7, Some(State::Started), State::Stopping);
        let change = entry(serde_json::to_value(&change).unwrap_or_default());
        assert!(matches!(change, Entry::Sandbox(e) if e.seq == 7));
    }
}
