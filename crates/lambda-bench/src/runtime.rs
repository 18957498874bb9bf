//! A Lambda Runtime API that serves one invocation: it notes when the function first asks for
//! work (`GET /next`, the end of its init), hands it the event, and notes when the answer comes
//! (`/response` or `/error`). A second `GET /next` waits forever, as on Lambda between events.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// What one run saw, in the order it happens.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub first_next: Option<Instant>,
    pub answered: Option<Instant>,
    /// `ok`, the error type of `/error`, or `init error: <type>`.
    pub outcome: Option<String>,
}

pub struct Probe {
    event: String,
    seen: Mutex<Seen>,
    pub done: Notify,
}

impl Probe {
    pub fn new(event: String) -> Arc<Self> {
        Arc::new(Self {
            event,
            seen: Mutex::default(),
            done: Notify::new(),
        })
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

const REQUEST_ID: &str = "00000000-0000-4000-8000-000000000001";

async fn next(State(probe): State<Arc<Probe>>) -> (HeaderMap, String) {
    let now = Instant::now();
    let first = {
        let mut seen = probe.seen.lock().unwrap_or_else(|p| p.into_inner());
        let first = seen.first_next.is_none();
        seen.first_next.get_or_insert(now);
        first
    };
    if !first {
        std::future::pending::<()>().await;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", REQUEST_ID.to_owned()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000001".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    (headers, probe.event.clone())
}

async fn response(State(probe): State<Arc<Probe>>, Path(_id): Path<String>) -> StatusCode {
    probe.note(|seen| {
        seen.answered = Some(Instant::now());
        seen.outcome = Some("ok".into());
    });
    probe.done.notify_one();
    StatusCode::ACCEPTED
}

fn error_type(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errorType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

async fn error(State(probe): State<Arc<Probe>>, Path(_id): Path<String>, body: String) -> StatusCode {
    probe.note(|seen| {
        seen.answered = Some(Instant::now());
        seen.outcome = Some(error_type(&body));
    });
    probe.done.notify_one();
    StatusCode::ACCEPTED
}

async fn init_error(State(probe): State<Arc<Probe>>, body: String) -> StatusCode {
    probe.note(|seen| seen.outcome = Some(format!("init error: {}", error_type(&body))));
    probe.done.notify_one();
    StatusCode::ACCEPTED
}

/// Serves `probe` on a free port of 127.0.0.1; returns `host:port` for `AWS_LAMBDA_RUNTIME_API`.
pub async fn serve(probe: Arc<Probe>) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(probe);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, server))
}
