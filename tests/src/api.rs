//! A client of the HTTP API as an outside caller sees it: plain HTTP to `SBX_API_URL`, with
//! tokens from `POST /token` or, to test the authorizer, tokens made with chosen claims.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sbx_stack::LocalStack;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One answer: status, media type, headers and the body as JSON (`Null` when it is not).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem's `type`, for a problem details answer.
    pub fn problem(&self) -> &str {
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        self.body["type"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(stack: &LocalStack) -> Self {
        Self {
            base: stack.api_url.clone(),
            http: {
                // reqwest's TLS runs on rustls with aws-lc-rs, installed once per process.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                reqwest::Client::new()
            },
        }
    }

    /// A request to `path` with the bearer token `token`.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn reply(builder: reqwest::RequestBuilder) -> Reply {
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("the API did not answer: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// `method path` with a JSON body (or none).
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut builder = self.request(method, path, token);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        Self::reply(builder).await
    }

    /// The tokens of a sign-in that must succeed.
    pub async fn sign_in(&self, username: &str, password: &str) -> Value {
        let reply = self
            .send(
                "POST",
                "/token",
                None,
                Some(&json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(reply.status, 200, "sign-in of {username}: {reply:?}");
        reply.body
    }

    /// An access token of the seeded user `username`.
    pub async fn token(&self, username: &str) -> String {
        let user = sbx_stack::identity::USERS
            .iter()
            .find(|u| u.username == username)
            .unwrap_or_else(|| panic!("no seeded user {username}"));
        self.sign_in(user.username, user.password).await["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Creates a sandbox named `name`; expects 202 and returns the record.
    pub async fn create(&self, token: &str, name: &str) -> Value {
        let reply = self
            .send("POST", "/sandboxes", Some(token), Some(&json!({"name": name})))
            .await;
        assert_eq!(reply.status, 202, "create {name}: {reply:?}");
        reply.body
    }

    /// Polls the sandbox until it is in `state` (or fails the test after two minutes).
    pub async fn wait_for(&self, token: &str, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let reply = self
                .send("GET", &format!("/sandboxes/{id}"), Some(token), None)
                .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            if reply.body["state"] == state {
                return reply.body;
            }
            assert!(
                Instant::now() < deadline && reply.body["state"] != "failed",
                "sandbox {id} is {} while waiting for {state}: {}",
                reply.body["state"],
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Who signs a made-up token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The key moto's Cognito signs with, under its `kid`: the issuer's own key.
    Issuer,
    /// A key the issuer never published, claiming the issuer's `kid`.
    Stranger,
}

/// A token with `claims`, signed RS256 by `signer`.
pub fn forge(claims: &Value, signer: Signer) -> String {
    let der = match signer {
        Signer::Issuer => {
            sbx_moto::user_pool_signing_key().unwrap_or_else(|e| panic!("moto's signing key: {e}"))
        }
        Signer::Stranger => {
            let keys: Value = serde_json::from_str(include_str!("../../crates/gateway/src/test-keys.json"))
                .unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(keys["foreign"]["private_pkcs1_der"].as_str().unwrap_or_default())
                .unwrap_or_default()
        }
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("dummy".into()); // the kid of moto's JWKS
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap_or_else(|e| panic!("{e}"))
}

/// The claims of a token, read without checking it.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}
