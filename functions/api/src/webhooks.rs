//! The `api-webhooks` function: a tenant's webhook endpoints (register, list, read, remove,
//! rotate the secret) and each one's delivery log with redelivery. A URL is checked when it is
//! registered (https, and no private, link-local or metadata address) and again at every
//! delivery. The secret is shown once, in the answer that makes it.

use crate::caller::{Caller, identify};
use crate::directory::Directory;
use crate::input;
use crate::problem::{Kind, Problem, json};
use crate::store_errors::problem;
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use sbx_store::{
    Delivery, Endpoint, EndpointSecret, Seal, TenantSettings, TenantSettingsStore, WebhookStore,
};
use sbx_webhooks::{EVENT_TYPES, Policy};
use sbx_workflows::deliveries::Deliveries;
use serde::{Deserialize, Serialize};

/// The most endpoints a tenant may have.
pub const MAX_ENDPOINTS: usize = 10;
/// How long a rotated-out secret still signs.
pub const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
const MAX_DESCRIPTION: usize = 200;
const MAX_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeliverBody {
    delivery: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsBody {
    expiry_warnings: Vec<u64>,
}

/// A tenant's notification settings as the API shows them: the thresholds in force, and
/// whether they are the tenant's own or the default.
#[derive(Debug, Serialize)]
struct NotificationsView {
    tenant: String,
    expiry_warnings: Vec<u64>,
    custom: bool,
}

/// The most expiry warnings a tenant may set, and their range in seconds (a minute to 7 days).
pub const MAX_EXPIRY_WARNINGS: usize = 5;
pub const EXPIRY_WARNING_SECONDS: std::ops::RangeInclusive<u64> = 60..=604_800;

/// An endpoint as the API shows it: never its secrets, except `secret` in the answer that
/// made it.
#[derive(Debug, Serialize)]
struct EndpointView<'a> {
    id: &'a str,
    url: &'a str,
    events: &'a [String],
    description: &'a str,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    created_at: DateTime<Utc>,
    /// How many secrets sign now (two during a rotation's grace period).
    signing_secrets: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
    /// Since when every delivery failed, while they fail.
    #[serde(with = "sbx_lifecycle::rfc3339_millis::option")]
    failing_since: Option<DateTime<Utc>>,
    /// Set while it receives nothing: since when, and why.
    disabled: Option<&'a sbx_store::Disabled>,
}

impl<'a> EndpointView<'a> {
    fn of(endpoint: &'a Endpoint, secret: Option<&'a str>, now: DateTime<Utc>) -> Self {
        Self {
            id: &endpoint.id,
            url: &endpoint.url,
            events: &endpoint.events,
            description: &endpoint.description,
            created_at: endpoint.created_at,
            signing_secrets: endpoint.signing_secrets(now).len(),
            secret,
            failing_since: endpoint.failing_since,
            disabled: endpoint.disabled.as_ref(),
        }
    }
}

#[derive(Debug, Serialize)]
struct DeliveryView<'a> {
    id: String,
    event_id: &'a str,
    event_type: &'a str,
    status: sbx_store::DeliveryStatus,
    attempts: u32,
    redeliveries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<&'a sbx_store::AttemptLog>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "sbx_lifecycle::rfc3339_millis::option"
    )]
    next_at: Option<DateTime<Utc>>,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    created_at: DateTime<Utc>,
    #[serde(with = "sbx_lifecycle::rfc3339_millis")]
    updated_at: DateTime<Utc>,
}

impl<'a> DeliveryView<'a> {
    fn of(delivery: &'a Delivery) -> Self {
        Self {
            id: delivery.id(),
            event_id: &delivery.message_id,
            event_type: &delivery.event_type,
            status: delivery.status,
            attempts: delivery.attempts,
            redeliveries: delivery.redeliveries,
            last: delivery.last.as_ref(),
            next_at: delivery.next_at,
            created_at: delivery.created_at,
            updated_at: delivery.updated_at,
        }
    }
}

pub struct Webhooks<S, W, D, K> {
    pub store: S,
    pub deliveries: W,
    pub directory: D,
    /// Seals each new secret before it is stored: the table never holds one.
    pub seal: K,
    /// Where endpoints may point (loopback only on the local stack).
    pub policy: Policy,
}

impl<S: WebhookStore + TenantSettingsStore, W: Deliveries, D: Directory, K: Seal> Webhooks<S, W, D, K> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let response = match self.route(&request).await {
            Ok(response) => response,
            Err(problem) => problem.response(),
        };
        crate::conditional::answer(&request, response)
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let caller = identify(request, &self.directory).await?;
        match crate::route_key(request).as_deref() {
            Some("POST /webhooks") => self.add(&caller, request).await,
            Some("GET /webhooks") => self.list(&caller, request).await,
            Some("GET /webhooks/{id}") => self.get(&caller, request).await,
            Some("DELETE /webhooks/{id}") => self.remove(&caller, request).await,
            Some("POST /webhooks/{id}/rotate") => self.rotate(&caller, request).await,
            Some("POST /webhooks/{id}/enable") => self.enable(&caller, request).await,
            Some("GET /webhooks/{id}/deliveries") => self.log(&caller, request).await,
            Some("POST /webhooks/{id}/redeliver") => self.redeliver(&caller, request).await,
            Some("GET /tenants/{id}/notifications") => self.notifications(&caller, request, false).await,
            Some("PUT /tenants/{id}/notifications") => self.notifications(&caller, request, true).await,
            other => Err(crate::unknown_route(other)),
        }
    }

    async fn add(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let tenant = tenant(caller, request)?;
        let body: AddBody = input::json_body(request)?;
        let target = sbx_webhooks::address::resolve(&body.url, self.policy)
            .await
            .map_err(|refusal| Problem::invalid(refusal.to_string()))?;
        for (i, event) in body.events.iter().enumerate() {
            if !EVENT_TYPES.contains(&event.as_str()) {
                return Err(Problem::invalid(format!(
                    "events[{i}]: {event:?} is not an event type; one of {}",
                    EVENT_TYPES.join(", ")
                )));
            }
        }
        if body.description.chars().count() > MAX_DESCRIPTION {
            return Err(Problem::invalid(format!(
                "description: at most {MAX_DESCRIPTION} characters"
            )));
        }
        // A description is read by people in the console and the CLI, as a name is.
        sbx_lifecycle::rules::readable("description", &body.description).map_err(Problem::invalid)?;
        let mut events = body.events;
        events.sort();
        events.dedup();
        let now = sbx_lifecycle::rfc3339_millis::truncate(Utc::now());
        let secret = new_secret()?;
        let id = new_id();
        let sealed = self.seal.seal(&tenant, &id, &secret).await.map_err(problem)?;
        let endpoint = Endpoint {
            tenant,
            id,
            url: target.url.to_string(),
            events,
            description: body.description,
            created_at: now,
            version: 1,
            failing_since: None,
            disabled: None,
            secrets: vec![EndpointSecret {
                sealed,
                created_at: now,
                expires_at: None,
            }],
        };
        self.store
            .add_endpoint(&endpoint, MAX_ENDPOINTS)
            .await
            .map_err(problem)?;
        Ok(json(
            StatusCode::CREATED,
            &EndpointView::of(&endpoint, Some(&secret), now),
        ))
    }

    async fn list(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let tenant = tenant(caller, request)?;
        let endpoints = self.store.endpoints(&tenant).await.map_err(problem)?;
        let now = Utc::now();
        let items: Vec<EndpointView> = endpoints.iter().map(|e| EndpointView::of(e, None, now)).collect();
        Ok(json(StatusCode::OK, &serde_json::json!({ "items": items })))
    }

    async fn get(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request, &["tenant"])?;
        let endpoint = self.store.endpoint(&tenant, &id).await.map_err(problem)?;
        Ok(json(
            StatusCode::OK,
            &EndpointView::of(&endpoint, None, Utc::now()),
        ))
    }

    async fn remove(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request, &["tenant"])?;
        self.store.remove_endpoint(&tenant, &id).await.map_err(problem)?;
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    /// A new secret signs from now; the newest old one signs beside it for the grace period
    /// (older ones stop at once), so a receiver can switch without losing a delivery.
    async fn rotate(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request, &["tenant"])?;
        for _ in 0..4 {
            let current = self.store.endpoint(&tenant, &id).await.map_err(problem)?;
            let now = sbx_lifecycle::rfc3339_millis::truncate(Utc::now());
            let secret = new_secret()?;
            let sealed = self.seal.seal(&tenant, &id, &secret).await.map_err(problem)?;
            let mut secrets = vec![EndpointSecret {
                sealed,
                created_at: now,
                expires_at: None,
            }];
            if let Some(previous) = current
                .secrets
                .iter()
                .find(|s| s.expires_at.is_none_or(|end| end > now))
            {
                secrets.push(EndpointSecret {
                    expires_at: Some(
                        previous
                            .expires_at
                            .map_or(now + ROTATION_GRACE, |end| end.min(now + ROTATION_GRACE)),
                    ),
                    ..previous.clone()
                });
            }
            if let Some(rotated) = self
                .store
                .replace_secrets(&current, secrets)
                .await
                .map_err(problem)?
            {
                return Ok(json(
                    StatusCode::OK,
                    &EndpointView::of(&rotated, Some(&secret), now),
                ));
            }
        }
        Err(Problem::new(
            Kind::Unavailable,
            "the endpoint was rotated by another request at the same time; try again",
        ))
    }

    /// A disabled endpoint receives events again, from now; its failures are forgotten. The
    /// deliveries it missed can be redelivered.
    async fn enable(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request, &["tenant"])?;
        let now = Utc::now();
        let endpoint = self
            .store
            .enable_endpoint(&tenant, &id, &caller.username, now)
            .await
            .map_err(problem)?;
        Ok(json(StatusCode::OK, &EndpointView::of(&endpoint, None, now)))
    }

    async fn log(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["tenant", "limit", "next_token"])?;
        let tenant = caller.tenant_for(query.get("tenant"))?;
        let id = endpoint_id(request)?;
        let limit = query.number("limit", 1..=MAX_PAGE)?.unwrap_or(25);
        // An unknown endpoint is 404, not an empty log.
        self.store.endpoint(&tenant, &id).await.map_err(problem)?;
        let page = self
            .store
            .deliveries(&tenant, &id, limit, query.get("next_token"))
            .await
            .map_err(problem)?;
        let items: Vec<DeliveryView> = page.items.iter().map(DeliveryView::of).collect();
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "items": items, "next_token": page.next }),
        ))
    }

    async fn redeliver(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request, &["tenant"])?;
        let body: RedeliverBody = input::json_body(request)?;
        self.store.endpoint(&tenant, &id).await.map_err(problem)?;
        let delivery = self
            .store
            .redeliver(&tenant, &id, &body.delivery, Utc::now())
            .await
            .map_err(problem)?;
        self.deliveries.start(&delivery).await.map_err(|err| {
            Problem::internal(Kind::Unavailable, "the redelivery could not be started", &err)
        })?;
        Ok(json(StatusCode::ACCEPTED, &DeliveryView::of(&delivery)))
    }
}

impl<S: WebhookStore + TenantSettingsStore, W: Deliveries, D: Directory, K: Seal> Webhooks<S, W, D, K> {
    /// A tenant's notification settings: its members read and set their own, admins any.
    async fn notifications(
        &self,
        caller: &Caller,
        request: &Request,
        set: bool,
    ) -> Result<Response<Body>, Problem> {
        input::query(request, &[])?;
        let tenant = caller.tenant_in_path(
            request,
            "a member reads and sets only their own tenant's settings",
        )?;
        let settings = if set {
            let body: NotificationsBody = input::json_body(request)?;
            let mut warnings = body.expiry_warnings;
            if warnings.len() > MAX_EXPIRY_WARNINGS {
                return Err(Problem::invalid(format!(
                    "expiry_warnings: at most {MAX_EXPIRY_WARNINGS}"
                )));
            }
            for (i, seconds) in warnings.iter().enumerate() {
                if !EXPIRY_WARNING_SECONDS.contains(seconds) {
                    return Err(Problem::invalid(format!(
                        "expiry_warnings[{i}]: seconds before the expiry, 60 to 604800 (7 days), not {seconds}"
                    )));
                }
            }
            warnings.sort_unstable_by(|a, b| b.cmp(a));
            warnings.dedup();
            let settings = TenantSettings {
                expiry_warnings: Some(warnings),
            };
            self.store
                .put_tenant_settings(&tenant, &settings)
                .await
                .map_err(problem)?;
            settings
        } else {
            self.store.tenant_settings(&tenant).await.map_err(problem)?
        };
        let view = NotificationsView {
            custom: settings.expiry_warnings.is_some(),
            expiry_warnings: settings
                .expiry_warnings
                .unwrap_or_else(|| TenantSettings::DEFAULT_EXPIRY_WARNINGS.to_vec()),
            tenant,
        };
        Ok(json(StatusCode::OK, &view))
    }
}

fn tenant(caller: &Caller, request: &Request) -> Result<String, Problem> {
    let query = input::query(request, &["tenant"])?;
    caller.tenant_for(query.get("tenant"))
}

fn target(caller: &Caller, request: &Request, known: &[&str]) -> Result<(String, String), Problem> {
    let query = input::query(request, known)?;
    Ok((caller.tenant_for(query.get("tenant"))?, endpoint_id(request)?))
}

/// The endpoint id of a `/webhooks/{id}` request; one that cannot exist is not found.
fn endpoint_id(request: &Request) -> Result<String, Problem> {
    let id = input::path_id(request)?;
    let valid = id.len() == 15 && id.starts_with("wh_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(Problem::not_found(format!("webhook {id:?} not found")));
    }
    Ok(id)
}

/// `wh_` and 12 hex digits of a random UUID.
fn new_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("wh_{}", &uuid[..12])
}

fn new_secret() -> Result<String, Problem> {
    sbx_webhooks::secret::generate()
        .map_err(|err| Problem::internal(Kind::Internal, "no secret could be made", &err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeDirectory, json_of, request};
    use sbx_fakes::{FakeDeliveries, FakeSeal, FakeStore};
    use sbx_store::{DeliveryStatus, Order};
    use serde_json::{Value, json};

    /// A public address written as itself: registering it needs no DNS.
    const URL: &str = "https://93.184.215.14/hooks";

    type Api = Webhooks<FakeStore, FakeDeliveries, FakeDirectory, FakeSeal>;

    fn api() -> Api {
        Webhooks {
            store: FakeStore::default(),
            deliveries: FakeDeliveries::default(),
            directory: FakeDirectory,
            seal: FakeSeal,
            policy: Policy::default(),
        }
    }

    async fn call(
        api: &Api,
        user: &str,
        route: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = api.handle(request(user, route, path, &[], body)).await;
        (response.status(), json_of(&response))
    }

    async fn register(api: &Api, user: &str) -> Value {
        let (status, body) = call(
            api,
            user,
            "POST /webhooks",
            "/webhooks",
            Some(json!({"url": URL})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    fn delivery(endpoint: &str, version: u64, status: DeliveryStatus) -> Delivery {
        Delivery {
            tenant: "acme".into(),
            endpoint: endpoint.into(),
            stream: "sb-1".into(),
            order: Order { version, notice: 0 },
            message_id: format!("evt_{version}"),
            event_type: "sandbox.started".into(),
            body: "{}".into(),
            status,
            attempts: 8,
            redeliveries: 0,
            last: None,
            next_at: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_secret_is_shown_once_in_the_answer_that_makes_it() {
        let api = api();
        let made = register(&api, "alice").await;
        let secret = made["secret"].as_str().unwrap_or_default();
        assert!(secret.starts_with("whsec_"), "{made}");
        assert_eq!(made["signing_secrets"], 1);
        let id = made["id"].as_str().unwrap_or_default();

        let (status, read) = call(
            &api,
            "alice",
            "GET /webhooks/{id}",
            &format!("/webhooks/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read["url"], URL);
        let (_, list) = call(&api, "bob", "GET /webhooks", "/webhooks", None).await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(1),
            "bob shares alice's tenant"
        );
        for shown in [read.to_string(), list.to_string()] {
            assert!(
                !shown.contains(secret) && !shown.contains("\"secret\""),
                "{shown}"
            );
        }
        let stored = api
            .store
            .endpoint("acme", id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // Stored sealed, for this endpoint: the table holds no secret.
        let sealed = stored.signing_secrets(Utc::now());
        assert_eq!(sealed.len(), 1);
        assert!(!sealed[0].0.contains(secret), "{:?}", sealed[0].0);
        let opened = api.seal.open("acme", id, sealed[0]).await;
        assert_eq!(opened.ok().as_deref(), Some(secret));
    }

    #[tokio::test]
    async fn a_refused_registration_says_why_and_stores_nothing() {
        let api = api();
        for (body, wanted) in [
            (json!({"url": "https://10.0.0.7/hooks"}), "private"),
            (json!({"url": "https://169.254.169.254/latest"}), "link-local"),
            (json!({"url": "http://93.184.215.14/hooks"}), "must be https"),
            (json!({"url": URL, "events": ["sandbox.exploded"]}), "events[0]"),
            (json!({"url": URL, "description": "a\u{7}b"}), "description"),
            (
                json!({"url": URL, "description": "invoice\u{202E}fdp.exe"}),
                "U+202E",
            ),
            (json!({"url": URL, "description": "pay\u{200B}ments"}), "U+200B"),
            (
                json!({"url": URL, "description": "P\u{430}ypal"}),
                "description: mixes scripts",
            ),
            (json!({"url": "https://2852039166/"}), "link-local"),
            (json!({"url": "https://0251.0376.0251.0376/"}), "link-local"),
            (json!({"url": URL, "colour": "red"}), "unknown field"),
        ] {
            let (status, problem) =
                call(&api, "alice", "POST /webhooks", "/webhooks", Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(wanted), "{body}: {detail}");
        }
        assert!(api.store.endpoints("acme").await.unwrap_or_default().is_empty());
    }

    #[tokio::test]
    async fn a_tenant_has_at_most_ten_endpoints() {
        let api = api();
        for _ in 0..MAX_ENDPOINTS {
            register(&api, "alice").await;
        }
        let (status, problem) = call(
            &api,
            "alice",
            "POST /webhooks",
            "/webhooks",
            Some(json!({"url": URL})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            problem["type"].as_str().map(|t| t.ends_with("quota-exceeded")),
            Some(true),
            "{problem}"
        );
        register(&api, "eve").await;
    }

    #[tokio::test]
    async fn another_tenants_endpoint_is_not_found() {
        let api = api();
        let id = register(&api, "alice").await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let path = format!("/webhooks/{id}");
        assert_eq!(
            call(&api, "eve", "GET /webhooks/{id}", &path, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&api, "eve", "DELETE /webhooks/{id}", &path, None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&api, "alice", "GET /webhooks/{id}", "/webhooks/wh_nothex", None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let as_admin = format!("{path}?tenant=acme");
        assert_eq!(
            call(&api, "root", "GET /webhooks/{id}", &as_admin, None).await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&api, "alice", "DELETE /webhooks/{id}", &path, None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&api, "alice", "GET /webhooks/{id}", &path, None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_disabled_endpoint_shows_why_and_its_tenant_enables_it_again() {
        let api = api();
        let made = register(&api, "alice").await;
        let id = made["id"].as_str().unwrap_or_default();
        let path = format!("/webhooks/{id}");
        assert_eq!(made["disabled"], Value::Null);
        let endpoint = api
            .store
            .endpoint("acme", id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let disabled = api
            .store
            .disable_endpoint(&endpoint, "every delivery failed for 5 days", Utc::now())
            .await;
        assert!(matches!(disabled, Ok(true)), "{disabled:?}");

        let (_, shown) = call(&api, "bob", "GET /webhooks/{id}", &path, None).await;
        assert_eq!(shown["disabled"]["reason"], "every delivery failed for 5 days");
        assert!(shown["disabled"]["at"].is_string(), "{shown}");

        let enable = format!("{path}/enable");
        let (status, _) = call(&api, "eve", "POST /webhooks/{id}/enable", &enable, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's is not found");
        let (status, enabled) = call(&api, "bob", "POST /webhooks/{id}/enable", &enable, None).await;
        assert_eq!(status, StatusCode::OK, "{enabled}");
        assert_eq!(enabled["disabled"], Value::Null);
        assert_eq!(enabled["failing_since"], Value::Null);
        let (status, again) = call(&api, "bob", "POST /webhooks/{id}/enable", &enable, None).await;
        assert_eq!(
            (status, &again["disabled"]),
            (StatusCode::OK, &Value::Null),
            "enabling twice changes nothing"
        );
        let trail: Vec<(sbx_store::WebhookEventKind, String)> = api
            .store
            .webhook_events
            .lock()
            .map(|events| events.iter().map(|e| (e.kind, e.reason.clone())).collect())
            .unwrap_or_default();
        assert_eq!(
            trail,
            [
                (
                    sbx_store::WebhookEventKind::Disabled,
                    "every delivery failed for 5 days".to_owned()
                ),
                (sbx_store::WebhookEventKind::Enabled, "bob".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn a_rotation_signs_with_the_new_secret_and_the_last_one_for_a_day() {
        let api = api();
        let made = register(&api, "alice").await;
        let id = made["id"].as_str().unwrap_or_default();
        let path = format!("/webhooks/{id}/rotate");

        let (status, rotated) = call(&api, "alice", "POST /webhooks/{id}/rotate", &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rotated["signing_secrets"], 2);
        let (_, again) = call(&api, "alice", "POST /webhooks/{id}/rotate", &path, None).await;
        assert_eq!(again["signing_secrets"], 2, "the oldest stops at once");

        let stored = api
            .store
            .endpoint("acme", id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let now = Utc::now();
        let mut opened = Vec::new();
        for sealed in stored.signing_secrets(now) {
            opened.push(api.seal.open("acme", id, sealed).await.unwrap_or_default());
        }
        assert_eq!(
            opened,
            [
                again["secret"].as_str().unwrap_or_default(),
                rotated["secret"].as_str().unwrap_or_default()
            ]
        );
        assert_eq!(
            stored
                .signing_secrets(now + ROTATION_GRACE + chrono::Duration::minutes(1))
                .len(),
            1
        );
        assert_eq!(stored.version, 3);
    }

    #[tokio::test]
    async fn a_settled_delivery_is_redelivered_once_and_a_pending_one_is_refused() {
        let api = api();
        let id = register(&api, "alice").await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for (version, status) in [
            (1, DeliveryStatus::Failed),
            (2, DeliveryStatus::Pending),
            (3, DeliveryStatus::Delivered),
        ] {
            api.store
                .add_delivery(&delivery(&id, version, status))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let path = format!("/webhooks/{id}/redeliver");
        let route = "POST /webhooks/{id}/redeliver";

        let (status, redelivered) =
            call(&api, "alice", route, &path, Some(json!({"delivery": "sb-1.1.0"}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{redelivered}");
        assert_eq!(
            (redelivered["status"].as_str(), redelivered["attempts"].as_u64()),
            (Some("pending"), Some(0))
        );
        assert_eq!(redelivered["redeliveries"], 1);
        let (status, problem) =
            call(&api, "alice", route, &path, Some(json!({"delivery": "sb-1.2.0"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let (status, _) = call(&api, "alice", route, &path, Some(json!({"delivery": "sb-1.9.0"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let started: Vec<String> = api.deliveries.inputs().into_iter().map(|i| i.delivery).collect();
        assert_eq!(started, ["sb-1.1.0"]);

        api.deliveries.fail(true);
        let (status, _) = call(&api, "alice", route, &path, Some(json!({"delivery": "sb-1.3.0"}))).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a throttled start is not the client's fault"
        );
    }

    #[tokio::test]
    async fn the_delivery_log_pages_in_stream_order() {
        let api = api();
        let id = register(&api, "alice").await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for version in 1..=5 {
            api.store
                .add_delivery(&delivery(&id, version, DeliveryStatus::Delivered))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let route = "GET /webhooks/{id}/deliveries";
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(token) => format!("/webhooks/{id}/deliveries?limit=2&next_token={token}"),
                None => format!("/webhooks/{id}/deliveries?limit=2"),
            };
            let (status, page) = call(&api, "alice", route, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(
                page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d["id"].to_string()),
            );
            next = page["next_token"].as_str().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                "\"sb-1.1.0\"",
                "\"sb-1.2.0\"",
                "\"sb-1.3.0\"",
                "\"sb-1.4.0\"",
                "\"sb-1.5.0\""
            ]
        );
        let (status, _) = call(
            &api,
            "alice",
            route,
            &format!("/webhooks/{id}/deliveries?next_token=garbage"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = call(
            &api,
            "alice",
            route,
            &format!("/webhooks/{id}/deliveries?limit=0"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_member_sets_their_own_tenants_expiry_warnings_only() {
        let api = api();
        let route = "PUT /tenants/{id}/notifications";
        let (status, set) = call(
            &api,
            "alice",
            route,
            "/tenants/acme/notifications",
            Some(json!({"expiry_warnings": [60, 3600, 60]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{set}");
        assert_eq!(
            set,
            json!({"tenant": "acme", "expiry_warnings": [3600, 60], "custom": true})
        );
        let (status, _) = call(
            &api,
            "alice",
            route,
            "/tenants/globex/notifications",
            Some(json!({"expiry_warnings": [60]})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, problem) = call(
            &api,
            "alice",
            route,
            "/tenants/acme/notifications",
            Some(json!({"expiry_warnings": [59]})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        let (_, theirs) = call(
            &api,
            "eve",
            "GET /tenants/{id}/notifications",
            "/tenants/globex/notifications",
            None,
        )
        .await;
        assert_eq!(theirs["custom"], false);
        assert_eq!(theirs["expiry_warnings"], json!([86_400, 3_600]));
    }
}
