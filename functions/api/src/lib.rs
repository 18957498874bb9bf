//! The HTTP API of sbx: four Lambda functions behind API Gateway's HTTP API (payload v2).
//!
//! - `api-token` ([`token`]): `POST /token`, sign-in with Cognito.
//! - `api-sandboxes` ([`sandboxes`]): the sandboxes of the caller's tenant.
//! - `api-accounts` ([`accounts`]): the account pool, for admins, and the tenants' budgets
//!   ([`budget`]).
//! - `api-webhooks` ([`webhooks`]): the tenant's webhook endpoints and their delivery logs.
//!
//! [`routes::ROUTES`] says which function serves which route. Each function dispatches on the
//! route key API Gateway puts in the request context, reads the caller from the claims its JWT
//! authorizer verified ([`caller`]), and answers every error as problem details ([`problem`]).
//! [`functions::Function`] builds a function from its settings, once per process; the Lambda
//! binaries ([`lambda`]) and the local API gateway both use it.

pub mod accounts;
pub mod budget;
pub mod caller;
pub mod conditional;
pub mod directory;
#[cfg(test)]
pub mod fakes;
pub mod functions;
pub mod input;
pub mod lambda;
pub mod origin;
pub mod problem;
pub mod routes;
pub mod sandboxes;
pub mod secrets;
pub mod store_errors;
pub mod token;
pub mod webhooks;

pub use functions::{Function, Settings};

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use problem::Problem;

/// The route key of the request: the one API Gateway matched, or for an event without one
/// (`cargo lambda invoke` with a hand-written event) the route its method and path match.
pub fn route_key(request: &Request) -> Option<String> {
    if let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        && let Some(key) = context.route_key.as_ref().filter(|k| k.as_str() != "$default")
    {
        return Some(key.clone());
    }
    routes::find(request.method().as_str(), request.uri().path()).map(|(route, _)| route.key())
}

/// The answer to a route this function does not serve.
pub fn unknown_route(key: Option<&str>) -> Problem {
    Problem::not_found(match key {
        Some(key) => format!("this function does not serve {key}"),
        None => "no such route".to_owned(),
    })
}
