//! The API's one way in: CloudFront, behind WAF. API Gateway's `execute-api` endpoint cannot be
//! turned off while CloudFront uses it as its origin, so CloudFront adds a secret header
//! ([`HEADER`]) to every request it forwards, and each function refuses, with 403, a request
//! that comes without it (someone calling `execute-api` directly, past the WAF).
//!
//! The secret is read from Secrets Manager once per cold start ([`crate::secrets`]). Without one
//! (the local stack, whose gateway is the only way in) every request is admitted.

use crate::problem::{Kind, Problem};
use lambda_http::{Body, Request, Response};

/// The header CloudFront adds (`OriginCustomHeaders` in `infra/template.yaml`).
pub const HEADER: &str = "x-sbx-origin-verify";

/// The origin secret a request must carry, if any.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Origin {
    secret: Option<String>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Origin {
    /// Every request must carry `secret`.
    pub fn secret(secret: impl Into<String>) -> Self {
        Self {
            secret: Some(secret.into()),
        }
    }

    /// Every request is admitted.
    pub fn open() -> Self {
        Self { secret: None }
    }

    /// The refusal of a request that did not come through CloudFront; `None` admits it.
    pub fn refuse(&self, request: &Request) -> Option<Response<Body>> {
        let secret = self.secret.as_deref()?;
        let given = request.headers().get(HEADER).map(|v| v.as_bytes());
        if given.is_some_and(|given| constant_time_eq(given, secret.as_bytes())) {
            return None;
        }
        tracing::warn!("a request without the origin header was refused");
        Some(
            Problem::new(
                Kind::Forbidden,
                "requests must come through the API's CloudFront entry, not the execute-api endpoint",
            )
            .response(),
        )
    }
}

/// Compares without stopping at the first difference, so the time taken says nothing about
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(header: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder().uri("/sandboxes");
        if let Some(value) = header {
            builder = builder.header(HEADER, value);
        }
        builder.body(Body::Empty).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn with_a_secret_only_requests_that_carry_it_are_admitted() {
        let origin = Origin::secret("s3cret-value");
        assert!(origin.refuse(&request(Some("s3cret-value"))).is_none());
        for wrong in [None, Some("s3cret-valuf"), Some("s3cret"), Some("")] {
            let refused = origin.refuse(&request(wrong));
            assert_eq!(
                refused.map(|r| r.status().as_u16()),
                Some(403),
                "{wrong:?} is refused"
            );
        }
    }

    #[test]
    fn without_a_secret_everything_is_admitted_and_debug_hides_it() {
        assert!(Origin::open().refuse(&request(None)).is_none());
        assert!(!format!("{:?}", Origin::secret("s3cret-value")).contains("s3cret"));
    }
}
