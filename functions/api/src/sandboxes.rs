//! The `api-sandboxes` function: `/sandboxes` and everything under it.
//!
//! A write changes the record first (one conditional write, quota and audit included), then
//! starts the operation's state machine under the execution name the record's version gives.
//! A start whose answer was lost is tried again under the same name; if the execution is
//! definitely refused, the operation is ended as failed at once, so that no record waits for
//! work that never began; if it may have started, the record is left for the sweep to settle.

use crate::caller::{Caller, identify};
use crate::directory::Directory;
use crate::input;
use crate::problem::{Kind, Problem, json};
use crate::store_errors::problem;
use chrono::{DateTime, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sbx_lifecycle::{InstanceSize, NewSandbox, Operation, Sandbox, SandboxOptions, State, rules};
use sbx_store::{ListQuery, SandboxStore, SpendStore, StoreError};
use sbx_workflows::Workflows;
use serde::{Deserialize, Serialize};

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// The longest `next_token` accepted.
const MAX_PAGE_TOKEN: usize = 2048;
pub use sbx_workflows::NOT_STARTED;

/// A running operation's progress (`GET /sandboxes/{id}`'s `progress`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub operation: Operation,
    /// When the operation began (the record's change to its in-progress state), as the
    /// record's timestamps are written.
    pub started_at: String,
    /// The workflow state its execution entered last (`LaunchInstances`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub name: String,
    #[serde(default)]
    pub amq: bool,
    #[serde(default)]
    pub smart_client: bool,
    #[serde(default)]
    pub constellations: Vec<String>,
    #[serde(default, deserialize_with = "whole_number")]
    pub ttl_hours: Option<u32>,
    #[serde(default)]
    pub instance_size: InstanceSize,
}

/// A whole number, also when written as `8.0` (JSON Schema's `integer`). Numbers beyond `u32`
/// saturate, so that the range rule names the limits.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= 0.0 => Ok(Some(if f > f64::from(u32::MAX) {
            u32::MAX
        } else {
            f as u32
        })),
        _ => Err(serde::de::Error::custom(format!(
            "a whole, non-negative number, not {number}"
        ))),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    pub expires_at: String,
}

#[derive(Debug, Serialize)]
struct SandboxPage<'a> {
    items: &'a [Sandbox],
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct EventList<'a> {
    items: &'a [sbx_lifecycle::Event],
}

pub struct Sandboxes<S, W, D> {
    pub store: S,
    pub workflows: W,
    pub directory: D,
    /// The prices a create or start is checked against the tenant's budget with.
    pub pricing: sbx_lifecycle::cost::Pricing,
}

impl<S: SandboxStore + SpendStore, W: Workflows, D: Directory> Sandboxes<S, W, D> {
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
            Some("POST /sandboxes") => self.create(&caller, request).await,
            Some("GET /sandboxes") => self.list(&caller, request).await,
            Some("GET /sandboxes/{id}") => self.get(&caller, request).await,
            Some("PATCH /sandboxes/{id}") => self.extend(&caller, request).await,
            Some("PUT /sandboxes/{id}/schedule") => self.schedule(&caller, request).await,
            Some("DELETE /sandboxes/{id}") => self.begin(&caller, request, Operation::Delete).await,
            Some("POST /sandboxes/{id}/start") => self.begin(&caller, request, Operation::Start).await,
            Some("POST /sandboxes/{id}/stop") => self.begin(&caller, request, Operation::Stop).await,
            Some("GET /sandboxes/{id}/events") => self.events(&caller, request).await,
            other => Err(crate::unknown_route(other)),
        }
    }

    async fn create(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["tenant"])?;
        let tenant = caller.tenant_for(query.get("tenant"))?;
        let key = input::header(request, "idempotency-key", MAX_IDEMPOTENCY_KEY)?;
        let body: CreateBody = input::json_body(request)?;
        rules::name(&body.name).map_err(Problem::invalid)?;
        rules::constellations(&body.constellations).map_err(Problem::invalid)?;
        let hours = body.ttl_hours.unwrap_or(rules::DEFAULT_TTL_HOURS);
        rules::ttl_hours(hours).map_err(Problem::invalid)?;
        let new = NewSandbox {
            tenant,
            id: new_id(),
            name: body.name,
            options: SandboxOptions {
                amq: body.amq,
                smart_client: body.smart_client,
                constellations: body.constellations,
                instance_size: body.instance_size,
            },
            expires_at: Utc::now() + chrono::Duration::hours(i64::from(hours)),
        };
        let now = Utc::now();
        crate::budget::check(
            &self.store,
            &self.pricing,
            &Sandbox::create(new.clone(), now).record,
            now,
        )
        .await?;
        let created = self.store.create(new, key).await.map_err(problem)?;
        let sandbox = created.sandbox;
        // A repeated request whose create never got its execution starts it now; one whose
        // work is under way or done starts nothing.
        if sandbox.state == State::Initializing && sandbox.version == 1 {
            self.launch(Operation::Create, &sandbox).await?;
        }
        Ok(accepted(&sandbox))
    }

    async fn list(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["tenant", "state", "limit", "next_token"])?;
        let tenant = caller.tenant_for(query.get("tenant"))?;
        let state = match query.get("state") {
            None => None,
            Some(text) => Some(text.parse::<State>().map_err(|_| {
                let states: Vec<_> = State::ALL.iter().map(|s| s.as_str()).collect();
                Problem::invalid(format!("state: one of {}, not {text:?}", states.join(", ")))
            })?),
        };
        let limit = query
            .number("limit", 1..=ListQuery::MAX_LIMIT)?
            .unwrap_or(ListQuery::DEFAULT_LIMIT);
        let next_token = match query.get("next_token") {
            Some(token) if token.is_empty() || token.len() > MAX_PAGE_TOKEN => {
                return Err(problem(StoreError::InvalidPageToken));
            }
            other => other.map(str::to_owned),
        };
        let page = self
            .store
            .list(
                &tenant,
                &ListQuery {
                    state,
                    limit,
                    next_token,
                },
            )
            .await
            .map_err(problem)?;
        Ok(json(
            StatusCode::OK,
            &SandboxPage {
                items: &page.items,
                next_token: page.next_token.as_deref(),
            },
        ))
    }

    async fn get(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request)?;
        let sandbox = self.store.get(&tenant, &id).await.map_err(problem)?;
        let progress = self.progress(&sandbox).await;
        let mut body = serde_json::to_value(&sandbox)
            .map_err(|e| Problem::internal(Kind::Internal, "the record", &e))?;
        if let Some(fields) = body.as_object_mut() {
            if let Some(progress) = progress {
                fields.insert(
                    "progress".into(),
                    serde_json::to_value(progress).unwrap_or_default(),
                );
            }
            fields.insert(
                "actions".into(),
                serde_json::to_value(sandbox.actions(Utc::now())).unwrap_or_default(),
            );
        }
        Ok(json(StatusCode::OK, &body))
    }

    /// What a running operation has reached, for `--wait` displays: the operation, when it
    /// began, and the workflow step its execution entered last (one read of the newest
    /// events). A step that cannot be read is left out; the record is still answered.
    async fn progress(&self, sandbox: &Sandbox) -> Option<Progress> {
        let operation = sandbox.state.running_operation()?;
        let name = sandbox
            .execution
            .clone()
            .unwrap_or_else(|| rules::execution_name(&sandbox.id, operation, sandbox.version));
        let step = match self.workflows.current_step(operation, &name).await {
            Ok(step) => step,
            Err(err) => {
                tracing::warn!(%err, "the current step cannot be read");
                None
            }
        };
        Some(Progress {
            operation,
            started_at: sandbox
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            step,
        })
    }

    async fn begin(
        &self,
        caller: &Caller,
        request: &Request,
        operation: Operation,
    ) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request)?;
        if operation == Operation::Start {
            let sandbox = self.store.get(&tenant, &id).await.map_err(problem)?;
            // Only a start that can begin is weighed; the others are refused as before.
            if operation.may_begin(Some(sandbox.state), sandbox.failure.as_ref()) {
                crate::budget::check(&self.store, &self.pricing, &sandbox, Utc::now()).await?;
            }
        }
        match self.store.begin(&tenant, &id, operation).await {
            Ok(sandbox) => {
                self.launch(operation, &sandbox).await?;
                Ok(accepted(&sandbox))
            }
            Err(StoreError::Conflict(refused)) if refused.current == operation.running() => {
                self.resume(&tenant, &id, operation).await?;
                Err(problem(StoreError::Conflict(refused)))
            }
            Err(err) => Err(problem(err)),
        }
    }

    /// A request repeated while its operation runs (its first answer a 503, or lost) is still
    /// refused, but first makes sure the execution the record's version names was started:
    /// the first try may have changed the record and then failed to start it, or died before
    /// it could. Starting that name again starts nothing when it already runs or ran. An
    /// operation run by an execution the record names (an operator's) is that execution's.
    async fn resume(&self, tenant: &str, id: &str, operation: Operation) -> Result<(), Problem> {
        let sandbox = self.store.get(tenant, id).await.map_err(problem)?;
        if sandbox.state == operation.running() && sandbox.execution.is_none() {
            self.launch(operation, &sandbox).await?;
        }
        Ok(())
    }

    async fn extend(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request)?;
        let body: PatchBody = input::json_body(request)?;
        let at = DateTime::parse_from_rfc3339(&body.expires_at)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| Problem::invalid("expires_at: an RFC 3339 date-time, e.g. 2026-11-30T18:00:00Z"))?;
        let current = self.store.get(&tenant, &id).await.map_err(problem)?;
        rules::expires_at(current.created_at, Utc::now(), at).map_err(Problem::invalid)?;
        let sandbox = self.store.extend(&tenant, &id, at).await.map_err(problem)?;
        Ok(json(StatusCode::OK, &sandbox))
    }

    /// Sets the sandbox's schedule (autostop, autostart, idle timeout); `{}` removes it.
    async fn schedule(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let (tenant, id) = target(caller, request)?;
        let schedule: sbx_lifecycle::Schedule = input::json_body(request)?;
        schedule.validate().map_err(Problem::invalid)?;
        let sandbox = self
            .store
            .set_schedule(&tenant, &id, &schedule, Utc::now())
            .await
            .map_err(problem)?;
        Ok(json(StatusCode::OK, &sandbox))
    }

    async fn events(&self, caller: &Caller, request: &Request) -> Result<Response<Body>, Problem> {
        let query = input::query(request, &["tenant", "after"])?;
        let tenant = caller.tenant_for(query.get("tenant"))?;
        let id = sandbox_id(request)?;
        // Only the events after this one (a client that has the trail up to `after` reads what
        // is new, not the whole history again).
        let after = query.number("after", 0..=u32::MAX)?.unwrap_or(0);
        // An unknown sandbox is 404, not an empty trail.
        self.store.get(&tenant, &id).await.map_err(problem)?;
        let events = self
            .store
            .events(&tenant, &id, u64::from(after))
            .await
            .map_err(problem)?;
        Ok(json(StatusCode::OK, &EventList { items: &events }))
    }

    /// Starts the execution of `operation` that `sandbox`'s version calls for
    /// ([`sbx_workflows::launch`]). When it cannot be started the client gets a 503.
    async fn launch(&self, operation: Operation, sandbox: &Sandbox) -> Result<(), Problem> {
        sbx_workflows::launch(&self.store, &self.workflows, operation, sandbox)
            .await
            .map_err(|err| {
                Problem::internal(
                    Kind::Unavailable,
                    &format!("the {operation} of sandbox {} could not be started", sandbox.id),
                    &err,
                )
            })
    }
}

/// The tenant and sandbox id a `/sandboxes/{id}` request is about.
fn target(caller: &Caller, request: &Request) -> Result<(String, String), Problem> {
    let query = input::query(request, &["tenant"])?;
    let tenant = caller.tenant_for(query.get("tenant"))?;
    Ok((tenant, sandbox_id(request)?))
}

/// The sandbox id of a `/sandboxes/{id}` request.
fn sandbox_id(request: &Request) -> Result<String, Problem> {
    let id = input::path_id(request)?;
    // An id that cannot exist is not found, as another tenant's is.
    if rules::id("id", &id).is_err() {
        return Err(Problem::not_found(format!("sandbox {id:?} not found")));
    }
    Ok(id)
}

fn accepted(sandbox: &Sandbox) -> Response<Body> {
    let mut response = json(StatusCode::ACCEPTED, sandbox);
    if let Ok(location) = HeaderValue::from_str(&format!("/sandboxes/{}", sandbox.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A new sandbox id: `sb-` and 12 hex digits of a random UUID.
fn new_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("sb-{}", &uuid[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_hours_are_whole_numbers_in_any_notation() {
        let ttl = |json: &str| {
            serde_json::from_str::<CreateBody>(&format!(r#"{{"name":"n","ttl_hours":{json}}}"#))
                .map(|b| b.ttl_hours)
                .map_err(|e| e.to_string())
        };
        assert_eq!(ttl("8"), Ok(Some(8)));
        assert_eq!(ttl("8.0"), Ok(Some(8)));
        assert_eq!(ttl("null"), Ok(None));
        assert_eq!(ttl("1e12"), Ok(Some(u32::MAX)));
        assert!(ttl("8.5").is_err() && ttl("-1").is_err() && ttl("\"8\"").is_err());
    }

    #[test]
    fn ids_are_short_and_valid() {
        let id = new_id();
        assert_eq!(id.len(), 15);
        assert!(rules::id("id", &id).is_ok());
        assert_ne!(id, new_id());
    }

    /// The handler on the fakes: the store honours idempotency keys and conditional changes,
    /// the workflows start a name once, as the real ones do.
    mod on_fakes {
        use super::super::*;
        use crate::fakes::{FakeDirectory, json_of};
        use sbx_fakes::{FakeStore, FakeWorkflows};

        type Handler = Sandboxes<FakeStore, FakeWorkflows, FakeDirectory>;

        fn handler() -> Handler {
            Sandboxes {
                store: FakeStore::default(),
                workflows: FakeWorkflows::default(),
                directory: FakeDirectory,
                pricing: sbx_lifecycle::cost::Pricing::pinned(&Default::default())
                    .unwrap_or_else(|e| panic!("{e}")),
            }
        }

        /// alice's request.
        fn request(
            route: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: Option<serde_json::Value>,
        ) -> Request {
            crate::fakes::request("alice", route, path, headers, body)
        }

        #[tokio::test]
        async fn a_create_repeated_with_its_key_makes_one_sandbox_and_starts_one_execution() {
            let api = handler();
            let body = serde_json::json!({"name": "payments", "amq": true});
            let create = || {
                request(
                    "POST /sandboxes",
                    "/sandboxes",
                    &[("idempotency-key", "k-1")],
                    Some(body.clone()),
                )
            };
            let first = api.handle(create()).await;
            assert_eq!(first.status(), StatusCode::ACCEPTED);
            let again = api.handle(create()).await;
            assert_eq!(again.status(), StatusCode::ACCEPTED);
            let (a, b) = (json_of(&first), json_of(&again));
            assert_eq!(a["id"], b["id"], "the repeat answers the same sandbox");
            assert_eq!(api.store.sandboxes.lock().map(|s| s.len()).unwrap_or(0), 1);
            let id = a["id"].as_str().unwrap_or_default();
            assert_eq!(api.workflows.names(), [format!("{id}-create-v1")]);
            // The same key with another body is refused, and makes nothing.
            let other = request(
                "POST /sandboxes",
                "/sandboxes",
                &[("idempotency-key", "k-1")],
                Some(serde_json::json!({"name": "cards"})),
            );
            assert_eq!(api.handle(other).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(api.workflows.names().len(), 1);
        }

        #[tokio::test]
        async fn a_refused_create_stores_nothing_and_starts_nothing() {
            let api = handler();
            let hostile = request(
                "POST /sandboxes",
                "/sandboxes",
                &[],
                Some(serde_json::json!({"name": "invoice\u{202E}fdp.exe"})),
            );
            let answer = api.handle(hostile).await;
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
            assert!(
                json_of(&answer)["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("name:"))
            );
            assert!(api.store.sandboxes.lock().map(|s| s.is_empty()).unwrap_or(false));
            assert!(api.workflows.names().is_empty());
        }

        #[tokio::test]
        async fn a_stop_begins_once_and_its_repeat_is_refused_with_the_running_state() {
            let api = handler();
            api.store.add(
                "sb-000000000001",
                sbx_lifecycle::State::Started,
                Default::default(),
            );
            let path = "/sandboxes/sb-000000000001/stop";
            let stop = || request("POST /sandboxes/{id}/stop", path, &[], None);
            assert_eq!(api.handle(stop()).await.status(), StatusCode::ACCEPTED);
            let repeat = api.handle(stop()).await;
            assert_eq!(repeat.status(), StatusCode::CONFLICT);
            assert_eq!(json_of(&repeat)["state"], "stopping");
            let names = api.workflows.names();
            assert_eq!(names.len(), 1, "{names:?}");
            assert!(names[0].starts_with("sb-000000000001-stop-v"), "{names:?}");
        }

        #[tokio::test]
        async fn a_read_says_what_may_be_done_and_an_unchanged_one_is_not_sent_again() {
            let api = handler();
            api.store.add(
                "sb-000000000002",
                sbx_lifecycle::State::Stopped,
                Default::default(),
            );
            let path = "/sandboxes/sb-000000000002";
            let get = |tag: Option<&str>| {
                let headers: Vec<(&str, &str)> = tag.map(|t| vec![("if-none-match", t)]).unwrap_or_default();
                request("GET /sandboxes/{id}", path, &headers, None)
            };
            let read = api.handle(get(None)).await;
            assert_eq!(read.status(), StatusCode::OK);
            let record = json_of(&read);
            assert_eq!(record["actions"]["start"]["allowed"], true);
            assert_eq!(record["actions"]["stop"]["allowed"], false);
            let tag = read.headers()["etag"].to_str().unwrap_or_default().to_owned();
            assert_eq!(
                api.handle(get(Some(&tag))).await.status(),
                StatusCode::NOT_MODIFIED
            );
        }
    }
}
