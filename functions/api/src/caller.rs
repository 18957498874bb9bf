//! Who is calling: the claims API Gateway's JWT authorizer verified, and the tenant the user
//! belongs to.
//!
//! The function trusts nothing but the claims in `requestContext.authorizer.jwt.claims`: a
//! request without them did not pass the authorizer and is refused. Access tokens carry the
//! user name and the `cognito:groups`, not custom attributes, so the tenant is read from the
//! user's `custom:tenant` attribute through the [`Directory`].

use crate::directory::Directory;
use crate::problem::{Kind, Problem};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use std::collections::HashMap;

/// The Cognito group of operators.
pub const ADMINS: &str = "admins";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    /// The user's own tenant (`custom:tenant`); admins may have none.
    pub tenant: Option<String>,
    pub admin: bool,
}

/// The verified claims of the request, if API Gateway's authorizer passed any.
pub fn claims(request: &Request) -> Option<HashMap<String, String>> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|jwt| jwt.claims.clone())
            .filter(|claims| !claims.is_empty()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The groups of a `cognito:groups` claim. API Gateway passes array claims as text, `[a b]`;
/// a JSON array and a single name are read too.
pub fn groups(claim: &str) -> Vec<String> {
    let claim = claim.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(claim) {
        return list;
    }
    claim
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .map(|g| g.trim().trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The caller of `request`, or 401/403 as a problem.
pub async fn identify(request: &Request, directory: &impl Directory) -> Result<Caller, Problem> {
    let unauthorized = |detail: &str| Problem::new(Kind::Unauthorized, detail);
    let claims = claims(request).ok_or_else(|| {
        unauthorized(
            "the request carries no verified identity: send a Cognito access token as a bearer token",
        )
    })?;
    if claims.get("token_use").map(String::as_str) != Some("access") {
        return Err(unauthorized("the bearer token must be an access token"));
    }
    let username = claims
        .get("username")
        .filter(|u| !u.is_empty())
        .ok_or_else(|| unauthorized("the access token names no user"))?
        .clone();
    let admin = claims
        .get("cognito:groups")
        .is_some_and(|claim| groups(claim).iter().any(|g| g == ADMINS));
    let tenant = directory
        .tenant_of(&username)
        .await
        .map_err(|err| Problem::internal(Kind::Unavailable, "the user directory could not be read", &err))?;
    if tenant.is_none() && !admin {
        return Err(Problem::new(
            Kind::Forbidden,
            "the user belongs to no tenant (custom:tenant is not set)",
        ));
    }
    Ok(Caller {
        username,
        tenant,
        admin,
    })
}

impl Caller {
    /// The tenant a request acts for: the caller's own, or for an admin the one `asked` for.
    pub fn tenant_for(&self, asked: Option<&str>) -> Result<String, Problem> {
        match (asked, self.admin) {
            (Some(tenant), true) => {
                sbx_lifecycle::rules::id("tenant", tenant).map_err(Problem::invalid)?;
                Ok(tenant.to_owned())
            }
            (Some(_), false) => Err(Problem::new(
                Kind::Forbidden,
                "tenant: only admins may name a tenant",
            )),
            (None, _) => self.tenant.clone().ok_or_else(|| {
                Problem::invalid("tenant: an admin without a tenant of their own must name one (?tenant=)")
            }),
        }
    }

    /// The tenant a `/tenants/{id}/...` route names: 404 for what cannot be a tenant, 403 for a
    /// member naming another tenant than their own (with `forbidden` as its detail).
    pub fn tenant_in_path(&self, request: &Request, forbidden: &str) -> Result<String, Problem> {
        let tenant = crate::input::path_id(request)?;
        if sbx_lifecycle::rules::id("tenant", &tenant).is_err() {
            return Err(Problem::not_found(format!("tenant {tenant:?} not found")));
        }
        if !self.admin && self.tenant.as_deref() != Some(tenant.as_str()) {
            return Err(Problem::new(Kind::Forbidden, forbidden));
        }
        Ok(tenant)
    }

    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.admin {
            Ok(())
        } else {
            Err(Problem::new(
                Kind::Forbidden,
                "only members of the admins group may manage accounts",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::directory::DirectoryError;

    /// A directory of one user, alice of acme.
    struct OneUser;

    impl Directory for OneUser {
        async fn tenant_of(&self, username: &str) -> Result<Option<String>, DirectoryError> {
            Ok((username == "alice").then(|| "acme".to_owned()))
        }
    }

    /// A request as API Gateway passes it, with these claims (none: no authorizer ran).
    fn request(claims: Option<serde_json::Value>) -> Request {
        let mut event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /sandboxes", "rawPath": "/sandboxes",
            "rawQueryString": "", "headers": {}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": "GET", "path": "/sandboxes"}, "routeKey": "GET /sandboxes"},
        });
        if let Some(claims) = claims {
            event["requestContext"]["authorizer"] = serde_json::json!({"jwt": {"claims": claims}});
        }
        lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn status(claims: Option<serde_json::Value>) -> Result<Caller, u16> {
        identify(&request(claims), &OneUser).await.map_err(|p| p.status)
    }

    #[tokio::test]
    async fn only_verified_access_token_claims_identify_a_caller() {
        let alice = status(Some(
            serde_json::json!({"token_use": "access", "username": "alice"}),
        ))
        .await;
        assert_eq!(alice.map(|c| c.tenant), Ok(Some("acme".to_owned())));
        assert_eq!(status(None).await, Err(401), "no authorizer, no caller");
        assert_eq!(status(Some(serde_json::json!({}))).await, Err(401));
        let id_token =
            serde_json::json!({"token_use": "id", "cognito:username": "alice", "username": "alice"});
        assert_eq!(status(Some(id_token)).await, Err(401));
        assert_eq!(
            status(Some(serde_json::json!({"token_use": "access"}))).await,
            Err(401)
        );
        let stranger = serde_json::json!({"token_use": "access", "username": "mallory"});
        assert_eq!(status(Some(stranger)).await, Err(403), "a user without a tenant");
        let admin =
            serde_json::json!({"token_use": "access", "username": "olivia", "cognito:groups": "[admins]"});
        assert_eq!(
            status(Some(admin)).await.map(|c| (c.admin, c.tenant)),
            Ok((true, None))
        );
    }

    #[test]
    fn group_claims_are_read_in_every_form() {
        assert_eq!(groups("[admins]"), ["admins"]);
        assert_eq!(groups("[admins ops]"), ["admins", "ops"]);
        assert_eq!(groups(r#"["admins","ops"]"#), ["admins", "ops"]);
        assert_eq!(groups("admins"), ["admins"]);
        assert!(groups("[]").is_empty());
    }

    fn caller(tenant: Option<&str>, admin: bool) -> Caller {
        Caller {
            username: "u".into(),
            tenant: tenant.map(str::to_owned),
            admin,
        }
    }

    #[test]
    fn only_admins_cross_tenants() {
        assert_eq!(
            caller(Some("acme"), false).tenant_for(None).ok().as_deref(),
            Some("acme")
        );
        assert_eq!(
            caller(Some("acme"), false)
                .tenant_for(Some("globex"))
                .map_err(|p| p.status),
            Err(403)
        );
        assert_eq!(
            caller(None, true).tenant_for(Some("globex")).ok().as_deref(),
            Some("globex")
        );
        assert_eq!(
            caller(None, true).tenant_for(None).map_err(|p| p.status),
            Err(400)
        );
        assert_eq!(
            caller(None, true).tenant_for(Some("Bad!")).map_err(|p| p.status),
            Err(400)
        );
        assert!(caller(Some("acme"), false).require_admin().is_err());
    }
}
