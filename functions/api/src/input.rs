//! Reading what a client sent: JSON bodies, query parameters and headers, each refused with a
//! 4xx problem that names what is wrong.

use crate::problem::{Kind, Problem};
use lambda_http::http::header;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

/// The largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request's JSON body as `T`. Unknown fields are refused where `T` says so; the problem
/// names the field that is wrong.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            Kind::PayloadTooLarge,
            format!("body: at most {MAX_BODY_BYTES} bytes, not {}", bytes.len()),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::invalid("body: a JSON object is required"));
    }
    // A body sent as another media type is still read when it is JSON (curl's `-d` says
    // `application/x-www-form-urlencoded`); one that is not JSON is told what to send.
    if let Some(media) = declared_non_json(request)
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err()
    {
        return Err(Problem::new(
            Kind::UnsupportedMediaType,
            format!("Content-Type: send application/json, not {media:?}"),
        ));
    }
    // Every body of this API is an object; serde would read a struct from an array too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::invalid("body: a JSON object is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = without_position(&inner);
        if path == "." {
            Problem::invalid(format!("body: {message}"))
        } else {
            Problem::invalid(format!("{path}: {message}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|_| Problem::invalid("body: trailing characters after the JSON value"))?;
    Ok(value)
}

/// The media type of a Content-Type that is not JSON.
fn declared_non_json(request: &Request) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?;
    let media = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (media != "application/json" && !media.ends_with("+json")).then_some(media)
}

/// serde_json's message without " at line 1 column 9", which means nothing to an API client.
fn without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The query parameters, refusing any not in `known` and any given twice.
pub fn query(request: &Request, known: &[&str]) -> Result<Query, Problem> {
    let params = request.query_string_parameters();
    let mut pairs = Vec::new();
    for (name, value) in params.iter() {
        if !known.contains(&name) {
            return Err(Problem::invalid(if known.is_empty() {
                format!("{name}: this route takes no query parameters")
            } else {
                format!("{name}: unknown query parameter; known are {}", known.join(", "))
            }));
        }
        if pairs.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(Problem::invalid(format!("{name}: given more than once")));
        }
        pairs.push((name.to_owned(), value.to_owned()));
    }
    Ok(Query(pairs))
}

#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// An integer parameter within `range`.
    pub fn number(&self, name: &str, range: std::ops::RangeInclusive<u32>) -> Result<Option<u32>, Problem> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match text.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(Problem::invalid(format!(
                "{name}: an integer from {} to {}, not {text:?}",
                range.start(),
                range.end()
            ))),
        }
    }
}

/// The `{id}` of the route.
pub fn path_id(request: &Request) -> Result<String, Problem> {
    request
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_owned)
        .ok_or_else(|| Problem::invalid("id: the path names no id"))
}

/// A header's value as text, refused when it is not visible ASCII or longer than `max`.
pub fn header<'r>(request: &'r Request, name: &str, max: usize) -> Result<Option<&'r str>, Problem> {
    let Some(value) = request.headers().get(name) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(text)
            if !text.is_empty()
                && text.len() <= max
                && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(Some(text))
        }
        _ => Err(Problem::invalid(format!(
            "{name}: 1 to {max} visible ASCII characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body_ {
        name: String,
        #[serde(default)]
        amq: bool,
    }

    fn request(body: &str, content_type: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/sandboxes");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        builder
            .body(Body::Text(body.to_owned()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(result: Result<Body_, Problem>) -> (u16, String) {
        let problem = result.err().unwrap_or_else(|| panic!("a problem"));
        (problem.status, problem.detail)
    }

    #[test]
    fn bodies_are_refused_naming_the_field() {
        assert!(json_body::<Body_>(&request(r#"{"name":"x"}"#, Some("application/json"))).is_ok());
        let (status, detail) = refusal(json_body(&request(r#"{"name":"x","amq":"yes"}"#, None)));
        assert_eq!(status, 400);
        assert!(detail.starts_with("amq: invalid type"), "{detail}");
        let (_, detail) = refusal(json_body(&request(r#"{"name":"x","colour":1}"#, None)));
        assert!(detail.contains("unknown field `colour`"), "{detail}");
        let (_, detail) = refusal(json_body(&request(r#"{"amq":true}"#, None)));
        assert!(detail.contains("missing field `name`"), "{detail}");
        let (_, detail) = refusal(json_body(&request("", None)));
        assert!(detail.starts_with("body:"), "{detail}");
        for not_an_object in [r#"["x", true]"#, "null", " 7"] {
            let (status, detail) = refusal(json_body(&request(not_an_object, None)));
            assert_eq!(
                (status, detail.as_str()),
                (400, "body: a JSON object is required"),
                "{not_an_object}"
            );
        }
        let (_, detail) = refusal(json_body(&request(r#"{"name":"x"} []"#, None)));
        assert!(detail.contains("trailing"), "{detail}");
        assert_eq!(
            refusal(json_body(&request(
                "a=b",
                Some("application/x-www-form-urlencoded")
            )))
            .0,
            415
        );
        assert!(
            json_body::<Body_>(&request(
                r#"{"name":"x"}"#,
                Some("application/x-www-form-urlencoded")
            ))
            .is_ok()
        );
        let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(refusal(json_body(&request(&big, None))).0, 413);
    }
}
