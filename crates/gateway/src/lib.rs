//! A local API Gateway for sbx's HTTP API: what API Gateway does between a client and the
//! functions, on 127.0.0.1.
//!
//! For each request it matches a route of [`sbx_api::routes::ROUTES`] (404 `Not Found`
//! otherwise), runs the JWT authorizer ([`jwt::Authorizer`]) for the guarded ones (401
//! `Unauthorized` otherwise), builds the payload v2 event ([`event`]) with the verified
//! claims, reads it into a `lambda_http::Request` exactly as the Lambda runtime does, and calls
//! the route's function in this process. Its own answers have API Gateway's form,
//! `{"message": ...}`; everything else is the function's.

pub mod console;
pub mod event;
pub mod jwt;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use jwt::Authorizer;
use sbx_api::routes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// API Gateway's largest request payload.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// A function as the gateway calls it.
pub type Handler = Arc<
    dyn Fn(lambda_http::Request) -> BoxFuture<'static, lambda_http::Response<lambda_http::Body>>
        + Send
        + Sync,
>;

pub struct Gateway {
    pub authorizer: Authorizer,
    functions: HashMap<&'static str, Handler>,
    /// The web console's files, served under `/console/` (none: the API only).
    console: Option<console::Console>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("authorizer", &self.authorizer)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Gateway {
    pub fn new(authorizer: Authorizer) -> Self {
        Self {
            authorizer,
            functions: HashMap::new(),
            console: None,
        }
    }

    /// Serves the built web console in `dir` under [`console::PREFIX`], beside the API.
    pub fn console(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.console = Some(console::Console::new(dir));
    }

    /// Integrates the function `name` (one of [`routes::FUNCTIONS`]).
    pub fn function(&mut self, name: &'static str, handler: Handler) {
        self.functions.insert(name, handler);
    }

    /// Serves the API on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let app = axum::Router::new().fallback(handle).with_state(self);
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    }
}

/// An answer of API Gateway itself.
fn gateway_answer(status: StatusCode, message: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({ "message": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = route(&gateway, peer, request, &request_id).await;
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("apigw-requestid", id);
    }
    response
}

async fn route(
    gateway: &Gateway,
    peer: SocketAddr,
    request: axum::extract::Request,
    request_id: &str,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(console) = &gateway.console
        && let Some(answer) = console.serve(&parts).await
    {
        return answer;
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let Some((route, id)) = routes::find(method, path) else {
        return gateway_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.authorized {
        let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
        match gateway.authorizer.authorize(authorization).await {
            Ok(claims) => Some(claims),
            // The issuer's keys could not be read: the token may be fine; the client should
            // come back, not log in again.
            Err(refused @ jwt::Refused::Jwks(_)) => {
                tracing::error!(%refused, route = %route.key(), "the authorizer cannot read its keys");
                let mut answer = gateway_answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
                answer
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                return answer;
            }
            Err(refused) => {
                tracing::info!(%refused, route = %route.key(), "unauthorized");
                return gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized");
            }
        }
    } else {
        None
    };
    let Some(function) = gateway.functions.get(route.function).cloned() else {
        tracing::error!(function = route.function, "no integration for the route");
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };

    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        // Bytes outside ASCII pass on as they are (lossily as text), for the function to judge.
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let incoming = event::Incoming {
        method,
        path,
        query: parts.uri.query(),
        headers: &headers,
        body: &body,
        source_ip: &peer.ip().to_string(),
    };
    let matched = event::Matched {
        route_key: route.key(),
        path_parameters: id
            .map(|id| {
                let decoded = percent_encoding::percent_decode_str(id)
                    .decode_utf8_lossy()
                    .into_owned();
                vec![("id", decoded)]
            })
            .unwrap_or_default(),
        claims: claims.as_ref(),
    };
    let event = event::event(&incoming, &matched, request_id, &host).to_string();
    let lambda_request = match lambda_http::request::from_str(&event) {
        Ok(request) => request,
        Err(err) => {
            tracing::error!(%err, "the event does not read as a request");
            return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    // A function that panics is a failed invocation: API Gateway answers 500.
    match tokio::spawn(function(lambda_request)).await {
        Ok(response) => into_http(response),
        Err(err) => {
            tracing::error!(%err, function = route.function, "the function failed");
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

fn into_http(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// A token whose header names RS256 and a key, so that the authorizer must fetch the keys.
    fn token_needing_keys() -> String {
        let b64 =
            |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            b64(serde_json::json!({"alg": "RS256", "kid": "k1"})),
            b64(serde_json::json!({"sub": "alice"}))
        )
    }

    #[tokio::test]
    async fn keys_that_cannot_be_read_are_a_503_not_a_401() {
        // Nothing listens on port 9 of this machine's loopback: every fetch is refused.
        let authorizer = Authorizer::new(
            "https://issuer.example",
            vec!["client".into()],
            jwt::Keys::Url("http://127.0.0.1:9/jwks.json".into()),
        );
        let gateway = Gateway::new(authorizer);
        let request = axum::extract::Request::builder()
            .method("GET")
            .uri("/sandboxes")
            .header("authorization", format!("Bearer {}", token_needing_keys()))
            .body(axum::body::Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let peer = SocketAddr::from(([127, 0, 0, 1], 50_000));
        let answer = route(&gateway, peer, request, "req-1").await;
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()["retry-after"], "1");
        assert!(answer.headers().get("www-authenticate").is_none());
    }
}
