//! The fault layer: an HTTP proxy between every AWS client of the local stack and its AWS
//! endpoint (moto), which makes AWS's failures happen on purpose.
//!
//! Of the calls that pass through it, a share is **refused** before it reaches moto (throttled
//! in the service's own protocol, or a plain 500 or 503), a share has its **answer lost** after
//! moto carried it out (the client gets a 503 or a connection closed mid-answer), and any call
//! may be **delayed**. The decisions come from one seeded generator, in the order the calls
//! arrive, so a run with the same seed and the same traffic faults the same calls.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to inject, and how often. Parsed from `--faults`: `20%` (half refused, half lost),
/// or `refuse=0.1,lose=0.1,latency=50ms,seed=7`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Share of calls refused before they reach the endpoint.
    pub refuse: f64,
    /// Share of calls carried out whose answer is lost.
    pub lose: f64,
    /// Every call is delayed by up to this much (uniformly).
    pub latency: Duration,
    /// Share of the engine's Lambda invocations that time out, crash or run twice
    /// (`sbx_sfn_local::invoke::LambdaFaults`).
    pub lambda: f64,
    pub seed: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            refuse: 0.0,
            lose: 0.0,
            latency: Duration::ZERO,
            lambda: 0.0,
            seed: 1,
        }
    }
}

impl FaultSpec {
    /// `rate` of all calls faulted, half refused and half with lost answers, and half of
    /// `rate` of the Lambda invocations.
    pub fn split(rate: f64, seed: u64) -> Self {
        Self {
            refuse: rate / 2.0,
            lose: rate / 2.0,
            lambda: rate / 2.0,
            seed,
            ..Self::default()
        }
    }
}

impl std::str::FromStr for FaultSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut spec = FaultSpec::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or(("rate", part));
            match key {
                "rate" => {
                    let rate = share(value)?;
                    spec.refuse = rate / 2.0;
                    spec.lose = rate / 2.0;
                    spec.lambda = rate / 2.0;
                }
                "lambda" => spec.lambda = share(value)?,
                "refuse" => spec.refuse = share(value)?,
                "lose" => spec.lose = share(value)?,
                "latency" => spec.latency = duration(value)?,
                "seed" => {
                    spec.seed = value
                        .parse()
                        .map_err(|_| format!("seed must be a whole number, not {value:?}"))?
                }
                other => {
                    return Err(format!(
                        "unknown fault {other:?}: use rate, refuse, lose, lambda, latency or seed"
                    ));
                }
            }
        }
        if spec.refuse + spec.lose > 1.0 {
            return Err("refuse and lose together cannot exceed 100%".into());
        }
        Ok(spec)
    }
}

/// `0.2` or `20%`.
fn share(value: &str) -> Result<f64, String> {
    let parsed = match value.strip_suffix('%') {
        Some(percent) => percent.parse::<f64>().map(|p| p / 100.0),
        None => value.parse::<f64>(),
    };
    match parsed {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "a fault rate is between 0 and 1 (or 0% and 100%), not {value:?}"
        )),
    }
}

/// `50ms` or `2s`.
fn duration(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (value.strip_suffix('s').unwrap_or(value), 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::from_secs_f64(n * unit))
        .ok_or_else(|| format!("latency is a duration like 50ms or 1s, not {value:?}"))
}

/// What the layer did to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Throttled in the service's protocol.
    Throttle,
    /// 500 or 503 before the call reaches the endpoint.
    Refuse(StatusCode),
    /// Carried out, then answered 503.
    LoseAs503,
    /// Carried out, then the connection closed before the answer.
    LoseAsReset,
}

/// How many calls went through and what was done to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub calls: u64,
    pub refused: u64,
    pub lost: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
}

struct Layer {
    spec: FaultSpec,
    /// IAM, when the stack enforces its roles: each call is authorized before anything else.
    iam: Option<Arc<crate::iam::Enforcer>>,
    rng: Mutex<fastrand::Rng>,
    upstream: String,
    client: reqwest::Client,
    counters: Counters,
}

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    endpoint: String,
    layer: Arc<Layer>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .field("spec", &self.layer.spec)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Serves on a free port of 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: &str, spec: FaultSpec) -> std::io::Result<Self> {
        Self::start_with(upstream, spec, None).await
    }

    /// As [`FaultProxy::start`], with IAM enforced by `iam` before any fault.
    pub async fn start_with(
        upstream: &str,
        spec: FaultSpec,
        iam: Option<Arc<crate::iam::Enforcer>>,
    ) -> std::io::Result<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?;
        let layer = Arc::new(Layer {
            rng: Mutex::new(fastrand::Rng::with_seed(spec.seed)),
            spec,
            iam,
            upstream: upstream.trim_end_matches('/').to_owned(),
            client,
            counters: Counters::default(),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().fallback({
            let layer = layer.clone();
            move |request: Request<Body>| {
                let layer = layer.clone();
                async move { layer.handle(request).await }
            }
        });
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "the fault layer stopped");
            }
        });
        Ok(Self {
            endpoint,
            layer,
            task,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn spec(&self) -> &FaultSpec {
        &self.layer.spec
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.layer.counters;
        FaultStats {
            calls: c.calls.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Layer {
    /// The fault for the next call, and its delay.
    fn decide(&self) -> (Option<Fault>, Duration) {
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let roll = rng.f64();
        let kind = rng.u8(0..4);
        let delay = self.spec.latency.mul_f64(rng.f64());
        let fault = if roll < self.spec.refuse {
            Some(match kind {
                0 | 1 => Fault::Throttle,
                2 => Fault::Refuse(StatusCode::INTERNAL_SERVER_ERROR),
                _ => Fault::Refuse(StatusCode::SERVICE_UNAVAILABLE),
            })
        } else if roll < self.spec.refuse + self.spec.lose {
            Some(if kind < 2 {
                Fault::LoseAs503
            } else {
                Fault::LoseAsReset
            })
        } else {
            None
        };
        (fault, delay)
    }

    async fn handle(&self, request: Request<Body>) -> Response<Body> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let (parts, body) = request.into_parts();
        let protocol = Protocol::of(&parts.headers);
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(err) => return plain(StatusCode::BAD_REQUEST, &format!("unreadable request: {err}")),
        };
        let call = self
            .iam
            .as_ref()
            .and_then(|_| crate::iam::call::Call::read(&parts.headers, &body));
        if let (Some(iam), Some(call)) = (&self.iam, &call) {
            if let Err(denial) = iam.authorize(call) {
                tracing::warn!(%denial, "refused by IAM");
                return protocol.access_denied(&denial.to_string());
            }
        }
        let (fault, delay) = self.decide();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Some(Fault::Throttle) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return protocol.throttle();
            }
            Some(Fault::Refuse(status)) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return protocol.server_error(status);
            }
            _ => {}
        }
        let (status, headers, bytes) = match self.forward(&parts, body).await {
            Ok(answer) => answer,
            Err(err) => return plain(StatusCode::BAD_GATEWAY, &format!("the endpoint: {err}")),
        };
        if let (Some(iam), Some(call), true) = (&self.iam, &call, status.is_success()) {
            iam.observe(call, &bytes);
        }
        let mut answer = Response::new(Body::from(bytes));
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        match fault {
            Some(Fault::LoseAs503) => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                protocol.server_error(StatusCode::SERVICE_UNAVAILABLE)
            }
            Some(Fault::LoseAsReset) => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                reset(answer)
            }
            _ => answer,
        }
    }

    async fn forward(
        &self,
        parts: &axum::http::request::Parts,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut headers = parts.headers.clone();
        headers.remove(header::CONTENT_LENGTH);
        let answer = self
            .client
            .request(parts.method.clone(), format!("{}{path}", self.upstream))
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let mut headers = answer.headers().clone();
        let bytes = answer.bytes().await?;
        headers.remove(header::TRANSFER_ENCODING);
        headers.remove(header::CONNECTION);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        Ok((status, headers, bytes))
    }
}

/// The answer's head, then the connection closes before its body: what a client sees when a
/// connection is reset after the call took effect.
fn reset(answer: Response<Body>) -> Response<Body> {
    let (parts, _) = answer.into_parts();
    let broken = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by the fault layer",
        ))
    });
    let mut response = Response::new(Body::from_stream(broken));
    *response.status_mut() = parts.status;
    *response.headers_mut() = parts.headers;
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(text.to_owned()));
    *response.status_mut() = status;
    response
}

/// The wire protocol of a call, which decides how its errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// EC2's query protocol (`<Response><Errors>`).
    Ec2,
    /// The AWS query protocol (ELBv2, IAM, STS: `<ErrorResponse>`).
    Query,
    /// JSON 1.0 (DynamoDB).
    Dynamo,
    /// JSON 1.1 (SSM, Organizations, the tagging API, Secrets Manager, Step Functions).
    Json,
    /// Cognito's JSON 1.1, which throttles with its own exception.
    Cognito,
    /// Anything unsigned and untargeted, e.g. the JWKS document.
    Plain,
}

impl Protocol {
    fn of(headers: &HeaderMap) -> Self {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if target.starts_with("DynamoDB_") {
            return Protocol::Dynamo;
        }
        if target.starts_with("AWSCognitoIdentityProviderService") {
            return Protocol::Cognito;
        }
        if !target.is_empty() {
            return Protocol::Json;
        }
        let service = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(signed_service);
        match service.as_deref() {
            Some("ec2") => Protocol::Ec2,
            Some(_) => Protocol::Query,
            None => Protocol::Plain,
        }
    }

    fn throttle(self) -> Response<Body> {
        match self {
            // EC2 throttles with 503 RequestLimitExceeded.
            Protocol::Ec2 => self.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ),
            Protocol::Query => self.error(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
            Protocol::Dynamo => self.error(
                StatusCode::BAD_REQUEST,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            ),
            Protocol::Json => self.error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded"),
            Protocol::Cognito => self.error(
                StatusCode::BAD_REQUEST,
                "TooManyRequestsException",
                "Too many requests",
            ),
            Protocol::Plain => self.error(StatusCode::TOO_MANY_REQUESTS, "", "Too many requests"),
        }
    }

    /// IAM's refusal, as each protocol writes it: EC2's `UnauthorizedOperation`, the query
    /// services' `AccessDenied`, the JSON services' `AccessDeniedException`.
    fn access_denied(self, message: &str) -> Response<Body> {
        match self {
            Protocol::Ec2 => self.error(
                StatusCode::FORBIDDEN,
                "UnauthorizedOperation",
                &format!("You are not authorized to perform this operation. {message}"),
            ),
            Protocol::Query => self.error(StatusCode::FORBIDDEN, "AccessDenied", message),
            Protocol::Dynamo | Protocol::Json | Protocol::Cognito => {
                self.error(StatusCode::BAD_REQUEST, "AccessDeniedException", message)
            }
            Protocol::Plain => self.error(StatusCode::FORBIDDEN, "AccessDenied", message),
        }
    }

    fn server_error(self, status: StatusCode) -> Response<Body> {
        let code = match (self, status) {
            (Protocol::Ec2, StatusCode::INTERNAL_SERVER_ERROR) => "InternalError",
            (Protocol::Ec2, _) => "Unavailable",
            (Protocol::Dynamo, StatusCode::INTERNAL_SERVER_ERROR) => "InternalServerError",
            (_, StatusCode::INTERNAL_SERVER_ERROR) => "InternalFailure",
            _ => "ServiceUnavailable",
        };
        self.error(status, code, "injected by the fault layer")
    }

    fn error(self, status: StatusCode, code: &str, message: &str) -> Response<Body> {
        let request_id = uuid_like();
        let (content_type, body) = match self {
            Protocol::Ec2 => (
                "text/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
                ),
            ),
            Protocol::Query => (
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    if status.is_server_error() { "Receiver" } else { "Sender" }
                ),
            ),
            Protocol::Dynamo => (
                "application/x-amz-json-1.0",
                serde_json::json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message}).to_string(),
            ),
            Protocol::Json | Protocol::Cognito => (
                "application/x-amz-json-1.1",
                serde_json::json!({"__type": code, "message": message}).to_string(),
            ),
            Protocol::Plain => ("text/plain", message.to_owned()),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        if matches!(self, Protocol::Json | Protocol::Cognito | Protocol::Dynamo) {
            if let Ok(code) = HeaderValue::from_str(code) {
                headers.insert("x-amzn-errortype", code);
            }
        }
        response
    }
}

/// The service a SigV4 `Authorization` header signs for: `Credential=AK/date/region/SERVICE/aws4_request`.
fn signed_service(authorization: &str) -> Option<String> {
    let credential = authorization.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    scope.split('/').nth(3).map(str::to_owned)
}

fn uuid_like() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_parsed_from_the_command_line_forms() {
        assert_eq!("20%".parse::<FaultSpec>(), Ok(FaultSpec::split(0.2, 1)));
        let spec: FaultSpec = "refuse=0.05, lose=10%, lambda=3%, latency=50ms, seed=7"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            spec,
            FaultSpec {
                refuse: 0.05,
                lose: 0.1,
                latency: Duration::from_millis(50),
                lambda: 0.03,
                seed: 7
            }
        );
        assert!("rate=2".parse::<FaultSpec>().is_err());
        assert!("refuse=0.6,lose=0.6".parse::<FaultSpec>().is_err());
        assert!("colour=red".parse::<FaultSpec>().is_err());
        assert!("latency=fast".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn the_protocol_is_read_from_the_target_or_the_signature() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("DynamoDB_20120810.PutItem"),
        );
        assert_eq!(Protocol::of(&headers), Protocol::Dynamo);
        headers.insert("x-amz-target", HeaderValue::from_static("AmazonSSM.SendCommand"));
        assert_eq!(Protocol::of(&headers), Protocol::Json);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AK/20261201/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        assert_eq!(Protocol::of(&headers), Protocol::Ec2);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AK/20261201/us-east-1/elasticloadbalancing/aws4_request",
            ),
        );
        assert_eq!(Protocol::of(&headers), Protocol::Query);
        assert_eq!(Protocol::of(&HeaderMap::new()), Protocol::Plain);
    }

    #[test]
    fn the_same_seed_makes_the_same_decisions() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let layer = |seed| Layer {
            spec: FaultSpec::split(0.5, seed),
            iam: None,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            upstream: String::new(),
            client: reqwest::Client::new(),
            counters: Counters::default(),
        };
        let run = |l: &Layer| (0..200).map(|_| l.decide().0).collect::<Vec<_>>();
        let (first, again, other) = (run(&layer(3)), run(&layer(3)), run(&layer(4)));
        assert_eq!(first, again);
        assert_ne!(first, other);
        let faulted = first.iter().filter(|f| f.is_some()).count();
        assert!((60..140).contains(&faulted), "about half of 200: {faulted}");
        assert!(first.contains(&Some(Fault::LoseAsReset)) && first.contains(&Some(Fault::Throttle)));
    }
}
