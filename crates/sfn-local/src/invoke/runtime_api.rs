//! Functions as real executables, invoked through the Lambda Runtime API.
//!
//! Each running process (a worker) gets a Runtime API endpoint of its own on 127.0.0.1, given to
//! it as `AWS_LAMBDA_RUNTIME_API` with the other `AWS_LAMBDA_*` variables Lambda sets. A worker
//! serves one invocation at a time: an invocation takes an idle worker, or starts a new one (a
//! cold start, whose init duration is recorded), and returns it to the idle list when the
//! function answers. A worker whose invocation is abandoned (a Task timeout) is killed, as Lambda
//! kills a function that runs out of time.

use super::{Function, InvokeError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// One cold start of a function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColdStart {
    /// From spawning the process to its first request for an invocation.
    pub init_duration: Duration,
}

/// A function served by an executable (a `bootstrap`).
#[derive(Clone)]
pub struct RuntimeFunction {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    executable: PathBuf,
    region: String,
    account: String,
    idle: Mutex<Vec<Worker>>,
    cold_starts: Mutex<Vec<ColdStart>>,
}

struct Job {
    id: String,
    payload: Value,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

struct Worker {
    jobs: mpsc::Sender<Job>,
    /// Becomes `Some(error)` when the process has exited: its init error, or `Runtime.ExitError`.
    exited: watch::Receiver<Option<InvokeError>>,
    kill: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.server.abort();
    }
}

/// The Runtime API of one worker.
struct Api {
    function_arn: String,
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    inflight: Mutex<HashMap<String, oneshot::Sender<Result<Value, InvokeError>>>>,
    spawned_at: Instant,
    first_poll: Mutex<Option<oneshot::Sender<Duration>>>,
    init_error: Mutex<Option<(String, Value)>>,
}

impl RuntimeFunction {
    pub fn new(name: impl Into<String>, executable: impl Into<PathBuf>, region: &str, account: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                executable: executable.into(),
                region: region.to_owned(),
                account: account.to_owned(),
                idle: Mutex::new(Vec::new()),
                cold_starts: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Every cold start so far, oldest first.
    pub fn cold_starts(&self) -> Vec<ColdStart> {
        lock(&self.inner.cold_starts).clone()
    }

    /// Workers waiting for an invocation.
    pub fn idle_workers(&self) -> usize {
        lock(&self.inner.idle).len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn service_error(error_type: &str, message: String) -> InvokeError {
    InvokeError::Function {
        error_type: error_type.to_owned(),
        payload: json!({"errorType": error_type, "errorMessage": message}),
    }
}

impl Inner {
    async fn spawn_worker(self: &Arc<Self>) -> Result<Worker, InvokeError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                service_error(
                    "Lambda.ServiceException",
                    format!("cannot open a Runtime API port: {e}"),
                )
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| service_error("Lambda.ServiceException", e.to_string()))?;
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        let (first_tx, first_rx) = oneshot::channel();
        let api = Arc::new(Api {
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                self.region, self.account, self.name
            ),
            jobs: tokio::sync::Mutex::new(jobs_rx),
            inflight: Mutex::new(HashMap::new()),
            spawned_at: Instant::now(),
            first_poll: Mutex::new(Some(first_tx)),
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let mut command = tokio::process::Command::new(&self.executable);
        command
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.name))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/{}", uuid::Uuid::new_v4().simple()),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("_HANDLER", "bootstrap")
            .kill_on_drop(true);
        if std::env::var_os("AWS_REGION").is_none() {
            command
                .env("AWS_REGION", &self.region)
                .env("AWS_DEFAULT_REGION", &self.region);
        }
        let mut child = command.spawn().map_err(|e| {
            server.abort();
            service_error(
                "Lambda.ServiceException",
                format!("cannot start {}: {e}", self.executable.display()),
            )
        })?;

        let (exited_tx, exited_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let exit_api = api.clone();
        tokio::spawn(async move {
            let reason = tokio::select! {
                status = child.wait() => match status {
                    Ok(status) => format!("Runtime exited with error: {status}"),
                    Err(e) => format!("Runtime exited: {e}"),
                },
                _ = kill_rx => {
                    let _ = child.kill().await;
                    "Runtime was stopped".to_owned()
                }
            };
            let error = match lock(&exit_api.init_error).take() {
                Some((error_type, payload)) => InvokeError::Function { error_type, payload },
                None => service_error("Runtime.ExitError", reason),
            };
            let _ = exited_tx.send(Some(error));
        });

        let inner = self.clone();
        tokio::spawn(async move {
            if let Ok(init_duration) = first_rx.await {
                tracing::info!(function = %inner.name, init_ms = init_duration.as_secs_f64() * 1000.0, "cold start");
                lock(&inner.cold_starts).push(ColdStart { init_duration });
            }
        });

        Ok(Worker {
            jobs: jobs_tx,
            exited: exited_rx,
            kill: Some(kill_tx),
            server,
        })
    }
}

impl Function for RuntimeFunction {
    fn invoke(&self, payload: Value) -> BoxFuture<'static, Result<Value, InvokeError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let idle = lock(&inner.idle).pop();
            let mut worker = match idle {
                Some(worker) => worker,
                None => inner.spawn_worker().await?,
            };
            let id = uuid::Uuid::new_v4().to_string();
            let (reply_tx, reply_rx) = oneshot::channel();
            let job = Job {
                id: id.clone(),
                payload,
                reply: reply_tx,
            };
            if worker.jobs.send(job).await.is_err() {
                return Err(service_error(
                    "Lambda.ServiceException",
                    "the worker is gone".into(),
                ));
            }
            // If this future is dropped (a Task timeout), `worker` is dropped too: it is killed.
            let mut exited = worker.exited.clone();
            tokio::select! {
                reply = reply_rx => {
                    let result = reply.unwrap_or_else(|_| Err(service_error("Runtime.ExitError", format!("RequestId: {id} Error: the runtime stopped"))));
                    lock(&inner.idle).push(worker);
                    result
                }
                _ = exited.wait_for(Option::is_some) => {
                    let error = worker.exited.borrow().clone();
                    worker.kill = None;
                    Err(error.unwrap_or_else(|| service_error("Runtime.ExitError", format!("RequestId: {id}"))))
                }
            }
        })
    }
}

async fn next(State(api): State<Arc<Api>>) -> Response {
    if let Some(first) = lock(&api.first_poll).take() {
        let _ = first.send(api.spawned_at.elapsed());
    }
    let job = api.jobs.lock().await.recv().await;
    let Some(job) = job else {
        return (StatusCode::GONE, "the function is shutting down").into_response();
    };
    let body = serde_json::to_vec(&job.payload).unwrap_or_default();
    lock(&api.inflight).insert(job.id.clone(), job.reply);
    let deadline = chrono::Utc::now().timestamp_millis() + 15 * 60 * 1000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", job.id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", api.function_arn.clone());
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{}",
            chrono::Utc::now().timestamp(),
            uuid::Uuid::new_v4().simple()
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, body).into_response()
}

async fn response(State(api): State<Arc<Api>>, Path(id): Path<String>, body: Bytes) -> Response {
    let result = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            service_error(
                "Lambda.InvalidResponse",
                format!("the function returned invalid JSON: {e}"),
            )
        })
    };
    reply(&api, &id, result)
}

async fn invocation_error(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, payload) = error_document(&headers, &body);
    reply(&api, &id, Err(InvokeError::Function { error_type, payload }))
}

async fn init_error(State(api): State<Arc<Api>>, headers: HeaderMap, body: Bytes) -> Response {
    let (error_type, payload) = error_document(&headers, &body);
    tracing::warn!(%error_type, "function init error");
    *lock(&api.init_error) = Some((error_type, payload));
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn error_document(headers: &HeaderMap, body: &[u8]) -> (String, Value) {
    let payload: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| json!({"errorType": "Unhandled", "errorMessage": String::from_utf8_lossy(body)}));
    let error_type = payload
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned());
    (error_type, payload)
}

fn reply(api: &Api, id: &str, result: Result<Value, InvokeError>) -> Response {
    match lock(&api.inflight).remove(id) {
        Some(sender) => {
            let _ = sender.send(result);
            (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"errorType": "InvalidRequestID", "errorMessage": format!("unknown request id {id}")}),
            ),
        )
            .into_response(),
    }
}
