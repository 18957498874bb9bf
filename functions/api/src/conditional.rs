//! Conditional reads (RFC 9110 §13): every successful `GET` carries an `ETag` computed from
//! its body, and a `GET` whose `If-None-Match` names that tag is answered `304 Not Modified`
//! with no body. The console polls its pages this way: an unchanged record or list costs a
//! few header bytes on the wire, not the whole JSON again.
//!
//! The tag is the body's SHA-256 (its first 16 bytes), so it changes exactly when the answer
//! does, whichever field changed (a workflow step, an endpoint, a page's items). It is weak
//! (`W/`): the same JSON may be written with other whitespace by another release.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

/// The answer to `request`: `response` with its `ETag`, or `304` when the client has it.
pub fn answer(request: &Request, response: Response<Body>) -> Response<Body> {
    if request.method() != Method::GET || response.status() != StatusCode::OK {
        return response;
    }
    let tag = etag(body_bytes(response.body()));
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return response;
    };
    let held = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| matches(list, &tag));
    let mut response = response;
    if held {
        let mut not_modified = Response::new(Body::Empty);
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        not_modified.headers_mut().insert(header::ETAG, value);
        not_modified
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return not_modified;
    }
    response.headers_mut().insert(header::ETAG, value);
    // Stored answers must be checked again before each use: the records change at any time.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The weak tag of `body`.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Whether an `If-None-Match` value names `tag` (weak comparison: `W/` is ignored on both
/// sides), or is `*`.
fn matches(list: &str, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = opaque(tag);
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || opaque(candidate) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(if_none_match: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method("GET")
            .uri("/sandboxes/sb-1");
        if let Some(tag) = if_none_match {
            builder = builder.header("if-none-match", tag);
        }
        builder.body(Body::Empty).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ok(body: &str) -> Response<Body> {
        Response::new(Body::Text(body.to_owned()))
    }

    #[test]
    fn a_read_carries_the_tag_of_its_body() {
        let answer = answer(&get(None), ok(r#"{"state":"started"}"#));
        assert_eq!(answer.status(), StatusCode::OK);
        let tag = answer.headers()[header::ETAG]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(tag, etag(br#"{"state":"started"}"#));
        assert!(tag.starts_with("W/\"") && tag.len() == 2 + 2 + 32, "{tag}");
        assert_ne!(tag, etag(br#"{"state":"stopped"}"#));
    }

    #[test]
    fn the_same_body_is_not_sent_again_but_a_changed_one_is() {
        let tag = etag(br#"{"state":"started"}"#);
        let same = answer(&get(Some(&tag)), ok(r#"{"state":"started"}"#));
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        assert!(matches!(same.body(), Body::Empty));
        assert_eq!(same.headers()[header::ETAG], tag.as_str());
        let changed = answer(&get(Some(&tag)), ok(r#"{"state":"stopping"}"#));
        assert_eq!(changed.status(), StatusCode::OK);
        // A strong form of the same tag, and a list naming it, match too.
        let strong = tag.trim_start_matches("W/").to_owned();
        let list = format!("\"other\", {strong}");
        assert_eq!(
            answer(&get(Some(&list)), ok(r#"{"state":"started"}"#)).status(),
            StatusCode::NOT_MODIFIED
        );
    }

    #[test]
    fn writes_and_problems_are_never_conditional() {
        let tag = etag(b"{}");
        let mut problem = ok("{}");
        *problem.status_mut() = StatusCode::NOT_FOUND;
        assert_eq!(answer(&get(Some(&tag)), problem).status(), StatusCode::NOT_FOUND);
        let post = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/sandboxes")
            .header("if-none-match", tag.as_str())
            .body(Body::Empty)
            .unwrap_or_else(|e| panic!("{e}"));
        let answered = answer(&post, ok("{}"));
        assert_eq!(answered.status(), StatusCode::OK);
        assert!(answered.headers().get(header::ETAG).is_none());
    }
}
