//! The API Gateway HTTP API payload (format 2.0) of a request, as a Lambda function receives it.
//!
//! See "Working with AWS Lambda proxy integrations for HTTP APIs" in the API Gateway
//! developer guide. Headers are lower-cased, repeated ones joined with commas; repeated query
//! parameters likewise; cookies move to `cookies`; a body that is not UTF-8 is base64-encoded.

use base64::Engine;
use serde_json::{Map, Value, json};

/// What the gateway knows of one request.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub source_ip: &'a str,
}

/// The matched route.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub route_key: String,
    pub path_parameters: Vec<(&'static str, String)>,
    /// The verified claims, for a route behind the JWT authorizer.
    pub claims: Option<&'a Map<String, Value>>,
}

pub const API_ID: &str = "sbxlocal";
pub const ACCOUNT_ID: &str = "123456789012";

/// A claim as the authorizer passes it: text, with arrays as `[a b c]`.
pub fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(claim_text).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

/// The event, as JSON text.
pub fn event(incoming: &Incoming<'_>, matched: &Matched<'_>, request_id: &str, host: &str) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in incoming.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }

    let mut query = Map::new();
    for pair in incoming
        .query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode_query(name), decode_query(value));
        match query.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query.insert(name, Value::String(value));
            }
        }
    }

    let (body, encoded) = match std::str::from_utf8(incoming.body) {
        _ if incoming.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(incoming.body)),
            true,
        ),
    };
    let now = chrono::Utc::now();
    let user_agent = incoming
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();

    let mut event = json!({
        "version": "2.0",
        "routeKey": matched.route_key,
        "rawPath": incoming.path,
        "rawQueryString": incoming.query.unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(host),
            "http": {
                "method": incoming.method,
                "path": incoming.path,
                "protocol": "HTTP/1.1",
                "sourceIp": incoming.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": matched.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !matched.path_parameters.is_empty() {
        let params: Map<String, Value> = matched
            .path_parameters
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Value::String(value.clone())))
            .collect();
        event["pathParameters"] = Value::Object(params);
    }
    if let Some(claims) = matched.claims {
        let claims: Map<String, Value> = claims
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(claim_text(value))))
            .collect();
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

fn decode_query(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;

    #[test]
    fn the_event_reads_back_as_the_request_the_function_sees() {
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Many".to_owned(), "a".to_owned()),
            ("x-many".to_owned(), "b".to_owned()),
            ("Cookie".to_owned(), "a=1; b=2".to_owned()),
        ];
        let incoming = Incoming {
            method: "POST",
            path: "/sandboxes/sb-1/start",
            query: Some("tenant=acme&x=a%20b"),
            headers: &headers,
            body: br#"{"k":1}"#,
            source_ip: "127.0.0.1",
        };
        let claims: Map<String, Value> = serde_json::from_value(json!({
            "username": "alice", "cognito:groups": ["admins", "ops"], "exp": 5
        }))
        .unwrap_or_default();
        let matched = Matched {
            route_key: "POST /sandboxes/{id}/start".into(),
            path_parameters: vec![("id", "sb-1".into())],
            claims: Some(&claims),
        };
        let event = event(&incoming, &matched, "req-1", "127.0.0.1:9000");
        assert_eq!(event["headers"]["x-many"], "a,b");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        let request = lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri().path(), "/sandboxes/sb-1/start");
        assert_eq!(request.path_parameters().first("id"), Some("sb-1"));
        assert_eq!(request.query_string_parameters().first("x"), Some("a b"));
        let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        else {
            panic!("an HTTP API request context");
        };
        assert_eq!(context.route_key.as_deref(), Some("POST /sandboxes/{id}/start"));
        let jwt = context.authorizer.as_ref().and_then(|a| a.jwt.as_ref());
        let claims = jwt.map(|j| j.claims.clone()).unwrap_or_default();
        assert_eq!(claims["cognito:groups"], "[admins ops]");
        assert_eq!(claims["exp"], "5");
        assert_eq!(claims["username"], "alice");
    }

    #[test]
    fn a_binary_body_is_base64() {
        let incoming = Incoming {
            method: "POST",
            path: "/token",
            query: None,
            headers: &[],
            body: &[0xff, 0xfe],
            source_ip: "127.0.0.1",
        };
        let matched = Matched {
            route_key: "POST /token".into(),
            path_parameters: vec![],
            claims: None,
        };
        let event = event(&incoming, &matched, "r", "h");
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "//4=");
        assert!(event["requestContext"].get("authorizer").is_none());
    }
}
