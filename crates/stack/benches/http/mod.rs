//! What the benchmarks that drive the API share: signing in, a call, and polling a sandbox
//! until it reaches a state.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
    response.json().await.unwrap_or(Value::Null)
}

/// `user`'s access token.
pub async fn token(http: &reqwest::Client, api: &str, user: &str, password: &str) -> String {
    let signed_in = http
        .post(format!("{api}/token"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tokens: Value = signed_in.json().await.unwrap_or(Value::Null);
    tokens["access_token"].as_str().unwrap_or_default().to_owned()
}

/// Polls the sandbox until it is in `state` (two minutes at most); its record then.
pub async fn wait_state(http: &reqwest::Client, api: &str, token: &str, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let record = call(
            http,
            reqwest::Method::GET,
            format!("{api}/sandboxes/{id}"),
            token,
            None,
        )
        .await;
        if record["state"] == state {
            return record;
        }
        assert!(
            Instant::now() < deadline && record["state"] != "failed",
            "{record}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
