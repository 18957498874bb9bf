//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Every answer that is not a success is a [`Problem`]: a stable `type` a client can branch on,
//! the HTTP `status`, a `title` per type and a `detail` that says what was wrong with this
//! request. Handlers return problems as responses, never as `Err`: an `Err` would be a 5xx.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use sbx_lifecycle::State;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem, each with its status. The `type` member is the kind's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidTransition,
    QuotaExceeded,
    BudgetExceeded,
    IdempotencyKeyReused,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Unavailable,
    Internal,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::InvalidRequest,
        Kind::Unauthorized,
        Kind::Forbidden,
        Kind::NotFound,
        Kind::InvalidTransition,
        Kind::QuotaExceeded,
        Kind::BudgetExceeded,
        Kind::IdempotencyKeyReused,
        Kind::PayloadTooLarge,
        Kind::UnsupportedMediaType,
        Kind::TooManyRequests,
        Kind::Unavailable,
        Kind::Internal,
    ];

    /// The `type` member: a relative URI reference, stable across releases.
    pub fn name(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "invalid-request",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::InvalidTransition => "invalid-transition",
            Kind::QuotaExceeded => "quota-exceeded",
            Kind::BudgetExceeded => "budget-exceeded",
            Kind::IdempotencyKeyReused => "idempotency-key-reused",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::TooManyRequests => "too-many-requests",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::InvalidTransition | Kind::QuotaExceeded | Kind::BudgetExceeded => StatusCode::CONFLICT,
            Kind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "The request is not valid",
            Kind::Unauthorized => "Authentication failed",
            Kind::Forbidden => "Not allowed",
            Kind::NotFound => "Not found",
            Kind::InvalidTransition => "The current state does not allow this",
            Kind::QuotaExceeded => "The tenant's sandbox quota is used up",
            Kind::BudgetExceeded => "This would take the tenant past its monthly budget",
            Kind::IdempotencyKeyReused => "The idempotency key was used for another request",
            Kind::PayloadTooLarge => "The request body is too large",
            Kind::UnsupportedMediaType => "The request body must be JSON",
            Kind::TooManyRequests => "Too many requests",
            Kind::Unavailable => "Temporarily unavailable",
            Kind::Internal => "Internal error",
        }
    }
}

/// What a 503 or 429 asks the client to wait, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "2";

/// One problem details document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For `invalid-transition`: the sandbox's current state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// For `budget-exceeded`: the month's budget, spend and estimate.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub figures: Option<BudgetFigures>,
}

/// The figures a `budget-exceeded` problem names, in dollars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetFigures {
    pub month: String,
    pub budget_usd: sbx_lifecycle::cost::Usd,
    pub spent_usd: sbx_lifecycle::cost::Usd,
    /// The spend and the estimate of the tenant's sandboxes, with this one, to the month's end.
    pub forecast_usd: sbx_lifecycle::cost::Usd,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.name(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            state: None,
            figures: None,
        }
    }

    pub fn budget_exceeded(detail: impl Into<String>, figures: BudgetFigures) -> Self {
        Self {
            figures: Some(figures),
            ..Self::new(Kind::BudgetExceeded, detail)
        }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(Kind::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, detail)
    }

    /// `operation` is not allowed while the sandbox is in `state`.
    pub fn transition(detail: impl Into<String>, state: State) -> Self {
        Self {
            state: Some(state),
            ..Self::new(Kind::InvalidTransition, detail)
        }
    }

    /// A failure of ours, not the client's: logged in full, answered without internals.
    pub fn internal(kind: Kind, what: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{what}");
        Self::new(kind, format!("{what}; try again later"))
    }

    pub fn response(&self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::new(Body::Text(
            serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"status\":{}}}", self.status)),
        ));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        // A dependency that failed or throttled: come back soon, with the same request.
        if matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(text) => {
            let mut response = Response::new(Body::Text(text));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => Problem::internal(Kind::Internal, "the answer could not be written", &err).response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_problem_json_with_its_status() {
        let response =
            Problem::transition("cannot stop sandbox sb-1: it is stopped", State::Stopped).response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let Body::Text(text) = response.body() else {
            panic!("a text body");
        };
        let doc: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(doc["type"], "invalid-transition");
        assert_eq!(doc["status"], 409);
        assert_eq!(doc["state"], "stopped");
        assert!(doc["detail"].as_str().is_some_and(|d| d.contains("stopped")));
    }

    #[test]
    fn a_failing_dependency_says_when_to_come_back() {
        let unavailable = Problem::new(Kind::Unavailable, "the store is busy; try again later").response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        let throttled = Problem::new(Kind::TooManyRequests, "wait").response();
        assert_eq!(throttled.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        let refused = Problem::invalid("name: too long").response();
        assert!(refused.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn kinds_have_distinct_names() {
        let names: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
        assert_eq!(Kind::QuotaExceeded.name(), "quota-exceeded");
    }
}
