//! For the handlers' unit tests: [`FakeDirectory`], the user directory, and requests as API
//! Gateway passes them, with a user's verified claims. The store's and the workflows' fakes are
//! `sbx_fakes`.

use crate::directory::{Directory, DirectoryError};
use lambda_http::{Body, Request, Response};

/// alice and bob are in tenant acme, eve in globex, root is an admin of none; nobody else is
/// anywhere.
pub struct FakeDirectory;

impl Directory for FakeDirectory {
    async fn tenant_of(&self, username: &str) -> Result<Option<String>, DirectoryError> {
        Ok(match username {
            "alice" | "bob" => Some("acme".to_owned()),
            "eve" => Some("globex".to_owned()),
            _ => None,
        })
    }
}

/// A request as API Gateway passes it: `route` is its route key (`POST /webhooks/{id}/rotate`),
/// `path` the path with its query (`/webhooks/wh_1/rotate?tenant=acme`), from `user` (`root`
/// is in the `admins` group). The path's second segment is the `{id}` parameter.
pub fn request(
    user: &str,
    route: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Request {
    let (method, template) = route.split_once(' ').unwrap_or(("GET", "/"));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let id = path.split('/').nth(2).filter(|_| template.contains("{id}"));
    let parameters: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    let mut head = serde_json::json!({"content-type": "application/json"});
    for (name, value) in headers {
        head[*name] = (*value).into();
    }
    let mut claims = serde_json::json!({"token_use": "access", "username": user});
    if user == "root" {
        claims["cognito:groups"] = "[admins]".into();
    }
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {template}"),
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": (!parameters.is_empty()).then_some(parameters),
        "headers": head,
        "pathParameters": id.map(|id| serde_json::json!({"id": id})),
        "requestContext": {
            "accountId": "123456789012", "apiId": "sbx", "domainName": "api.sbx.example",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "test"},
            "requestId": "r", "routeKey": format!("{method} {template}"), "stage": "$default",
            "time": "05/Dec/2026:08:00:00 +0000", "timeEpoch": 1_796_457_600_000_u64,
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// The JSON body of an answer (`null` for none).
pub fn json_of(response: &Response<Body>) -> serde_json::Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}
