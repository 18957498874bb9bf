//! The API's routes: which function serves each, and which need a bearer token.
//!
//! This table is the one list of routes. The template's `HttpApi` routes, the OpenAPI document
//! and the local API gateway are checked against it (see `tests/tests/api_contract.rs`).

/// One route of the HTTP API, as API Gateway names it (`POST /sandboxes/{id}/start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path template; `{id}` matches one path segment.
    pub path: &'static str,
    /// The Lambda function that serves it.
    pub function: &'static str,
    /// Whether API Gateway's JWT authorizer guards it.
    pub authorized: bool,
}

impl Route {
    /// API Gateway's route key, which the function dispatches on.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub const TOKEN: &str = "api-token";
pub const SANDBOXES: &str = "api-sandboxes";
pub const ACCOUNTS: &str = "api-accounts";
pub const WEBHOOKS: &str = "api-webhooks";

/// The API functions, each a `[[bin]]` of this crate.
pub const FUNCTIONS: [&str; 4] = [TOKEN, SANDBOXES, ACCOUNTS, WEBHOOKS];

const fn route(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        authorized: true,
    }
}

pub const ROUTES: [Route; 27] = [
    Route {
        method: "POST",
        path: "/token",
        function: TOKEN,
        authorized: false,
    },
    route("POST", "/sandboxes", SANDBOXES),
    route("GET", "/sandboxes", SANDBOXES),
    route("GET", "/sandboxes/{id}", SANDBOXES),
    route("PATCH", "/sandboxes/{id}", SANDBOXES),
    route("DELETE", "/sandboxes/{id}", SANDBOXES),
    route("POST", "/sandboxes/{id}/start", SANDBOXES),
    route("POST", "/sandboxes/{id}/stop", SANDBOXES),
    route("GET", "/sandboxes/{id}/events", SANDBOXES),
    route("PUT", "/sandboxes/{id}/schedule", SANDBOXES),
    route("GET", "/accounts", ACCOUNTS),
    route("POST", "/accounts", ACCOUNTS),
    route("GET", "/accounts/{id}", ACCOUNTS),
    route("GET", "/accounts/{id}/events", ACCOUNTS),
    route("POST", "/accounts/{id}/clean", ACCOUNTS),
    route("POST", "/webhooks", WEBHOOKS),
    route("GET", "/webhooks", WEBHOOKS),
    route("GET", "/webhooks/{id}", WEBHOOKS),
    route("DELETE", "/webhooks/{id}", WEBHOOKS),
    route("POST", "/webhooks/{id}/rotate", WEBHOOKS),
    route("POST", "/webhooks/{id}/enable", WEBHOOKS),
    route("GET", "/webhooks/{id}/deliveries", WEBHOOKS),
    route("POST", "/webhooks/{id}/redeliver", WEBHOOKS),
    route("GET", "/tenants/{id}/notifications", WEBHOOKS),
    route("PUT", "/tenants/{id}/notifications", WEBHOOKS),
    route("GET", "/tenants/{id}/budget", ACCOUNTS),
    route("PUT", "/tenants/{id}/budget", ACCOUNTS),
];

/// The route `method` and `path` match, with the value of `{id}` if the template has one.
pub fn find<'p>(method: &str, path: &'p str) -> Option<(&'static Route, Option<&'p str>)> {
    ROUTES.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let mut id = None;
        let mut wanted = route.path.split('/');
        let mut given = path.split('/');
        loop {
            match (wanted.next(), given.next()) {
                (None, None) => return Some((route, id)),
                (Some("{id}"), Some(segment)) if !segment.is_empty() => id = Some(segment),
                (Some(a), Some(b)) if a == b => {}
                _ => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_route_and_id() {
        let (route, id) = find("POST", "/sandboxes/sb-1/start").unwrap_or_else(|| panic!("a route"));
        assert_eq!(route.key(), "POST /sandboxes/{id}/start");
        assert_eq!(id, Some("sb-1"));
        assert_eq!(
            find("GET", "/sandboxes").map(|(r, _)| r.function),
            Some(SANDBOXES)
        );
        assert!(find("GET", "/sandboxes/").is_none());
        assert!(find("GET", "/sandboxes//events").is_none());
        assert!(find("PUT", "/sandboxes/sb-1").is_none());
        assert!(find("GET", "/nowhere").is_none());
        assert!(!find("POST", "/token").is_some_and(|(r, _)| r.authorized));
    }

    #[test]
    fn every_function_serves_a_route() {
        for function in FUNCTIONS {
            assert!(ROUTES.iter().any(|r| r.function == function), "{function}");
        }
    }
}
