//! The HTTPS API, as the command line calls it: the base URL, the caller's token (refreshed when
//! it has expired), retries of what may be retried, and errors that keep the API's problem
//! details.

use crate::config::{self, Session};
use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// What went wrong, and the exit code it gives (see [`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line was wrong.
    #[error("{0}")]
    Usage(String),
    /// The API answered with problem details.
    #[error("{kind} ({status}): {detail}")]
    Problem {
        status: u16,
        kind: String,
        detail: String,
    },
    /// The API could not be reached, or answered with something that is not the API.
    #[error("the API at {url} is unavailable: {reason}")]
    Unavailable { url: String, reason: String },
    #[error("not signed in: run `sbx login` (or set SBX_TOKEN)")]
    NotSignedIn,
    /// What was waited for ended badly (a failed operation).
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Local(String),
}

/// The documented exit codes.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CONFLICT: u8 = 4;
    pub const AUTH: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Problem { status, .. } => match *status {
                400 | 413 | 415 => exit::USAGE,
                404 => exit::NOT_FOUND,
                409 | 422 => exit::CONFLICT,
                401 | 403 => exit::AUTH,
                429 | 500..=599 => exit::UNAVAILABLE,
                _ => exit::FAILED,
            },
            CliError::Unavailable { .. } => exit::UNAVAILABLE,
            CliError::NotSignedIn => exit::AUTH,
            CliError::Failed(_) | CliError::Local(_) => exit::FAILED,
        }
    }
}

/// How requests are authorized.
#[derive(Clone)]
enum Auth {
    /// `SBX_TOKEN`: used as it is, never refreshed or saved.
    Token(String),
    /// The saved session, refreshed and saved again when it expires.
    Session(Session),
    None,
}

pub struct Api {
    http: reqwest::Client,
    pub base: String,
    auth: Auth,
}

/// Attempts of a request that may be repeated (reads, and creates under an idempotency key).
const ATTEMPTS: u32 = 4;

impl Api {
    /// The API at `base` (`--api-url`, `SBX_API_URL`, or the saved session's), authorized with
    /// `SBX_TOKEN` or the saved session.
    pub fn open(base: Option<String>) -> Result<Self, CliError> {
        let session = config::load().map_err(|e| CliError::Local(e.to_string()))?;
        let token = std::env::var("SBX_TOKEN").ok().filter(|t| !t.is_empty());
        let base = base
            .or_else(|| std::env::var("SBX_API_URL").ok().filter(|u| !u.is_empty()))
            .or_else(|| session.as_ref().map(|s| s.api_url.clone()))
            .ok_or_else(|| CliError::Usage("no API URL: pass --api-url or set SBX_API_URL".into()))?;
        let base = base.trim_end_matches('/').to_owned();
        let auth = match (token, session) {
            (Some(token), _) => Auth::Token(token),
            (None, Some(session)) if session.api_url == base => Auth::Session(session),
            _ => Auth::None,
        };
        Ok(Self {
            http: client()?,
            base,
            auth,
        })
    }

    /// The API at `base` with no caller yet (`sbx login`).
    pub fn anonymous(base: String) -> Result<Self, CliError> {
        Ok(Self {
            http: client()?,
            base: base.trim_end_matches('/').to_owned(),
            auth: Auth::None,
        })
    }

    /// Signs in with a user name and password; returns the session (not yet saved).
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Session, CliError> {
        let body = json!({"username": username, "password": password});
        let tokens = self
            .call(Method::POST, "/token", Some(&body), &[], None, false)
            .await?;
        session_of(&self.base, username, &tokens, None)
    }

    /// A GET (retried when the connection fails or the API is briefly unavailable).
    pub async fn get(&mut self, path: &str) -> Result<Value, CliError> {
        self.authorized(Method::GET, path, None, &[], true).await
    }

    /// A POST, PATCH or DELETE. With `idempotency_key` it is sent under that key, and repeated
    /// under the same one when the answer is lost: the API then makes one sandbox, not two.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, CliError> {
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|k| vec![("idempotency-key", k)])
            .unwrap_or_default();
        self.authorized(method, path, body, &headers, idempotency_key.is_some())
            .await
    }

    async fn authorized(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        repeatable: bool,
    ) -> Result<Value, CliError> {
        let token = self.token().await?;
        let result = self
            .call(method.clone(), path, body, headers, Some(&token), repeatable)
            .await;
        match result {
            // An access token revoked or expired early: refresh once and try again.
            Err(CliError::Problem { status: 401, .. }) if matches!(self.auth, Auth::Session(_)) => {
                let token = self.refresh().await?;
                self.call(method, path, body, headers, Some(&token), repeatable)
                    .await
            }
            other => other,
        }
    }

    /// The access token to send, refreshed first when it has expired.
    async fn token(&mut self) -> Result<String, CliError> {
        match &self.auth {
            Auth::Token(token) => Ok(token.clone()),
            Auth::Session(session) if !session.expired(Utc::now()) => Ok(session.access_token.clone()),
            Auth::Session(_) => self.refresh().await,
            Auth::None => Err(CliError::NotSignedIn),
        }
    }

    async fn refresh(&mut self) -> Result<String, CliError> {
        let Auth::Session(session) = &self.auth else {
            return Err(CliError::NotSignedIn);
        };
        let Some(refresh_token) = session.refresh_token.clone() else {
            return Err(CliError::NotSignedIn);
        };
        let body = json!({"refresh_token": refresh_token});
        let tokens = self
            .call(Method::POST, "/token", Some(&body), &[], None, true)
            .await
            .map_err(|err| match err {
                CliError::Problem { status: 401, .. } => CliError::NotSignedIn,
                other => other,
            })?;
        let renewed = session_of(&self.base, &session.username, &tokens, Some(refresh_token))?;
        config::save(&renewed).map_err(|e| CliError::Local(e.to_string()))?;
        let token = renewed.access_token.clone();
        self.auth = Auth::Session(renewed);
        Ok(token)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        token: Option<&str>,
        repeatable: bool,
    ) -> Result<Value, CliError> {
        let url = format!("{}{path}", self.base);
        let attempts = if repeatable { ATTEMPTS } else { 1 };
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => answer(&url, response).await,
                Err(err) => Err(CliError::Unavailable {
                    url: self.base.clone(),
                    reason: err.to_string(),
                }),
            };
            let retry = matches!(
                &outcome,
                Err(CliError::Unavailable { .. })
                    | Err(CliError::Problem {
                        status: 429 | 502 | 503 | 504,
                        ..
                    })
            );
            if !retry || attempt >= attempts {
                return outcome;
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
            attempt += 1;
        }
    }
}

fn client() -> Result<reqwest::Client, CliError> {
    // rustls on aws-lc-rs; installing twice (a second Api) is no error.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("sbx-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CliError::Local(format!("cannot make an HTTP client: {e}")))
}

/// The body of a success, or the problem of a failure.
async fn answer(url: &str, response: reqwest::Response) -> Result<Value, CliError> {
    let status = response.status();
    let text = response.text().await.map_err(|e| CliError::Unavailable {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if status.is_success() {
        if text.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(&text).map_err(|e| CliError::Unavailable {
            url: url.to_owned(),
            reason: format!("the answer is not JSON: {e}"),
        });
    }
    let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let kind = problem["type"].as_str().map(str::to_owned);
    let detail = problem["detail"].as_str().map(str::to_owned);
    match (kind, detail) {
        (Some(kind), Some(detail)) => Err(CliError::Problem {
            status: status.as_u16(),
            kind,
            detail,
        }),
        _ if status == StatusCode::BAD_GATEWAY || status.is_server_error() => Err(CliError::Unavailable {
            url: url.to_owned(),
            reason: format!("HTTP {status}"),
        }),
        _ => Err(CliError::Problem {
            status: status.as_u16(),
            kind: status.canonical_reason().unwrap_or("error").to_lowercase(),
            detail: text.chars().take(200).collect(),
        }),
    }
}

fn session_of(
    base: &str,
    username: &str,
    tokens: &Value,
    previous_refresh: Option<String>,
) -> Result<Session, CliError> {
    let access_token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| CliError::Local("the token answer has no access_token".into()))?
        .to_owned();
    let expires_in = tokens["expires_in"].as_i64().unwrap_or(3600);
    Ok(Session {
        api_url: base.to_owned(),
        username: username.to_owned(),
        access_token,
        refresh_token: tokens["refresh_token"]
            .as_str()
            .map(str::to_owned)
            .or(previous_refresh),
        expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
    })
}

/// `path` for `tenant` (admins name one), or as it is.
pub fn with_tenant(path: String, tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("{path}{}tenant={t}", if path.contains('?') { '&' } else { '?' }),
        None => path,
    }
}

/// Every item of every page of `path`.
pub async fn pages(api: &mut Api, path: &str) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page_path = match &token {
            Some(t) => format!(
                "{path}{}next_token={t}",
                if path.contains('?') { '&' } else { '?' }
            ),
            None => path.to_owned(),
        };
        let page = api.get(&page_path).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// The caller's own tenant, as the API names it on their sandboxes' list.
pub async fn own_tenant(api: &mut Api) -> Result<String, CliError> {
    let page = api.get("/sandboxes?limit=1").await?;
    if let Some(tenant) = page["items"][0]["tenant"].as_str() {
        return Ok(tenant.to_owned());
    }
    Err(CliError::Usage(
        "your tenant has no sandbox to name it by: pass --tenant".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(status: u16) -> CliError {
        CliError::Problem {
            status,
            kind: "k".into(),
            detail: "d".into(),
        }
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        assert_eq!(problem(404).exit_code(), exit::NOT_FOUND);
        assert_eq!(problem(409).exit_code(), exit::CONFLICT);
        assert_eq!(problem(422).exit_code(), exit::CONFLICT);
        assert_eq!(problem(401).exit_code(), exit::AUTH);
        assert_eq!(problem(403).exit_code(), exit::AUTH);
        assert_eq!(problem(400).exit_code(), exit::USAGE);
        assert_eq!(problem(503).exit_code(), exit::UNAVAILABLE);
        assert_eq!(CliError::NotSignedIn.exit_code(), exit::AUTH);
        assert_eq!(CliError::Usage("x".into()).exit_code(), exit::USAGE);
        assert_eq!(
            problem(409).to_string(),
            "k (409): d",
            "a problem is one line with its type and detail"
        );
    }

    #[test]
    fn a_session_expires_a_minute_early() {
        let now = Utc::now();
        let session = Session {
            api_url: "u".into(),
            username: "alice".into(),
            access_token: "a".into(),
            refresh_token: None,
            expires_at: now + chrono::Duration::seconds(30),
        };
        assert!(session.expired(now));
        assert!(!format!("{session:?}").contains("\"a\""));
    }
}
