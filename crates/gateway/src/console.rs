//! The web console's files, served beside the API on the same origin, as the deployed
//! CloudFront distribution serves them from S3 under `/console/` (`infra/template.yaml`,
//! `ConsoleHeaders`), with the same security headers.
//!
//! `/` and `/console` lead to `/console/`; `/console/<file>` is a file of the built console
//! (`console/dist`, made by `scripts/build-console`). Nothing outside that directory is served.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Where the console lives on the API's origin.
pub const PREFIX: &str = "/console/";

/// The console's Content-Security-Policy: its own scripts, styles and API only; no inline
/// script or style, no framing, no plugins. The template's response headers policy carries
/// the same value (a repository test compares them).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers every console file is answered with.
pub fn security_headers() -> [(HeaderName, &'static str); 5] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // A new release is picked up at the next load; the files are small.
        (header::CACHE_CONTROL, "no-cache"),
    ]
}

/// The built console in `dir`.
#[derive(Debug, Clone)]
pub struct Console {
    dir: PathBuf,
}

impl Console {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The answer for `request` if its path is the console's, `None` for the API's paths.
    pub async fn serve(&self, request: &axum::http::request::Parts) -> Option<Response> {
        let path = request.uri.path();
        if path == "/" || path == "/console" {
            let mut answer = StatusCode::PERMANENT_REDIRECT.into_response();
            answer
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static(PREFIX));
            return Some(answer);
        }
        let file = path.strip_prefix(PREFIX.trim_end_matches('/'))?;
        if !file.starts_with('/') {
            return None;
        }
        let mut answer =
            if request.method == axum::http::Method::GET || request.method == axum::http::Method::HEAD {
                let inner = axum::http::Request::builder()
                    .method(request.method.clone())
                    .uri(file)
                    .body(axum::body::Body::empty());
                match inner {
                    Ok(inner) => {
                        let served = ServeDir::new(&self.dir)
                            .append_index_html_on_directories(true)
                            .oneshot(inner)
                            .await;
                        match served {
                            Ok(response) => response.map(axum::body::Body::new),
                            Err(never) => match never {},
                        }
                    }
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                }
            } else {
                let mut refused = StatusCode::METHOD_NOT_ALLOWED.into_response();
                refused
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                refused
            };
        for (name, value) in security_headers() {
            answer.headers_mut().insert(name, HeaderValue::from_static(value));
        }
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, path: &str) -> axum::http::request::Parts {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts()
            .0
    }

    fn console() -> (Console, PathBuf) {
        let dir = std::env::temp_dir().join(format!("sbx-console-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("index.html"), "<!doctype html><title>sbx</title>")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("app.js"), "console.log(1)").unwrap_or_else(|e| panic!("{e}"));
        (Console::new(&dir), dir)
    }

    #[tokio::test]
    async fn files_are_served_with_the_security_headers() {
        let (console, dir) = console();
        let Some(index) = console.serve(&parts("GET", "/console/")).await else {
            panic!("the console's index is the console's");
        };
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(index.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            index.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .starts_with("text/html")
        );
        let Some(script) = console.serve(&parts("GET", "/console/app.js")).await else {
            panic!("a file of the console");
        };
        assert!(
            script.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap_or_default()
                .contains("javascript")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn nothing_outside_the_console_is_served_and_the_api_is_left_alone() {
        let (console, dir) = console();
        for escape in [
            "/console/../Cargo.toml",
            "/console/%2e%2e/Cargo.toml",
            "/console/nothing.js",
        ] {
            let answer = console.serve(&parts("GET", escape)).await;
            assert!(
                answer
                    .as_ref()
                    .is_some_and(|a| a.status() == StatusCode::NOT_FOUND),
                "{escape}: {:?}",
                answer.map(|a| a.status())
            );
        }
        assert!(console.serve(&parts("GET", "/sandboxes")).await.is_none());
        assert!(console.serve(&parts("GET", "/consoles")).await.is_none());
        let root = console.serve(&parts("GET", "/")).await;
        assert_eq!(
            root.map(|a| (a.status(), a.headers()[header::LOCATION].clone())),
            Some((StatusCode::PERMANENT_REDIRECT, HeaderValue::from_static(PREFIX)))
        );
        let post = console.serve(&parts("POST", "/console/")).await;
        assert_eq!(post.map(|a| a.status()), Some(StatusCode::METHOD_NOT_ALLOWED));
        let _ = std::fs::remove_dir_all(dir);
    }
}
