//! The JWT authorizer: what API Gateway checks before a guarded route reaches its function.
//!
//! A token passes when it is an RS256 JWT whose `kid` is in the user pool's JWKS and whose
//! signature verifies with that key, whose `iss` is the pool, whose `aud` (ID tokens) or
//! `client_id` (access tokens) is one of the audiences, which has not expired (`exp`), is not
//! used early (`nbf`, `iat`), and whose `token_use` is `access`. Anything else is refused.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the JWKS may be fetched again for a `kid` it does not hold.
const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// How often one request tries to fetch the JWKS, and the wait after the first failure
/// (doubling).
const FETCH_ATTEMPTS: u32 = 3;
const FETCH_BACKOFF: Duration = Duration::from_millis(50);

/// Why a token was refused. The gateway answers 401 to all of them alike, but for
/// [`Refused::Jwks`]: the keys could not be read, which is no fault of the token (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token is not signed with RS256")]
    Algorithm,
    #[error("the token's key is not in the issuer's JWKS")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    Early,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is not an access token")]
    TokenUse,
    #[error("the issuer's keys cannot be read: {0}")]
    Jwks(String),
}

/// Where the issuer's keys come from.
#[derive(Debug, Clone)]
pub enum Keys {
    /// Fetched from this URL (moto serves `/<pool id>/.well-known/jwks.json`).
    Url(String),
    /// Given; for tests.
    Fixed(JwkSet),
}

#[derive(Debug)]
pub struct Authorizer {
    pub issuer: String,
    /// App client ids that may call the API.
    pub audiences: Vec<String>,
    keys: Keys,
    http: reqwest::Client,
    cache: Mutex<Option<(JwkSet, Instant)>>,
}

impl Authorizer {
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, keys: Keys) -> Self {
        let cache = match &keys {
            Keys::Fixed(set) => Some((set.clone(), Instant::now())),
            Keys::Url(_) => None,
        };
        Self {
            issuer: issuer.into(),
            audiences,
            keys,
            http: http_client(),
            cache: Mutex::new(cache),
        }
    }

    /// The claims of the `Authorization` header's token, if it passes every check.
    pub async fn authorize(&self, authorization: Option<&str>) -> Result<Map<String, Value>, Refused> {
        let header = authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(Refused::Missing)?;
        // API Gateway takes the token with or without the Bearer scheme.
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => header,
        };
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Map<String, Value>, Refused> {
        if token.split('.').count() != 3 {
            return Err(Refused::Malformed);
        }
        // `alg: none` and every algorithm but RS256 end here: the header does not parse, or
        // names another algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Algorithm)?;
        if header.alg != Algorithm::RS256 {
            return Err(Refused::Algorithm);
        }
        let kid = header.kid.ok_or(Refused::UnknownKey)?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_aud = false; // `aud` or `client_id`, checked below
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|err| {
                use jsonwebtoken::errors::ErrorKind;
                match err.kind() {
                    ErrorKind::InvalidSignature => Refused::Signature,
                    ErrorKind::ExpiredSignature => Refused::Expired,
                    ErrorKind::ImmatureSignature => Refused::Early,
                    ErrorKind::InvalidIssuer => Refused::Issuer,
                    ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => Refused::Issuer,
                    ErrorKind::MissingRequiredClaim(_) => Refused::Expired,
                    ErrorKind::InvalidAlgorithm => Refused::Algorithm,
                    _ => Refused::Malformed,
                }
            })?
            .claims;

        let now = chrono::Utc::now().timestamp();
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now)
        {
            return Err(Refused::Early);
        }
        let audience = claims
            .get("aud")
            .or_else(|| claims.get("client_id"))
            .and_then(Value::as_str)
            .ok_or(Refused::Audience)?;
        if !self.audiences.iter().any(|a| a == audience) {
            return Err(Refused::Audience);
        }
        if claims.get("token_use").and_then(Value::as_str) != Some("access") {
            return Err(Refused::TokenUse);
        }
        Ok(claims)
    }

    /// The decoding key `kid`, fetching the JWKS when it is not known (at most every 30 s).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refused> {
        let (known, stale) = {
            let cache = self
                .cache
                .lock()
                .map_err(|_| Refused::Jwks("poisoned cache".into()))?;
            match cache.as_ref() {
                Some((set, at)) => (set.find(kid).cloned(), at.elapsed() > REFETCH_AFTER),
                None => (None, true),
            }
        };
        let jwk = match (known, &self.keys) {
            (Some(jwk), _) => jwk,
            (None, Keys::Url(url)) if stale => {
                let set = self.fetch(url).await?;
                let jwk = set.find(kid).cloned();
                if let Ok(mut cache) = self.cache.lock() {
                    *cache = Some((set, Instant::now()));
                }
                jwk.ok_or(Refused::UnknownKey)?
            }
            _ => return Err(Refused::UnknownKey),
        };
        DecodingKey::from_jwk(&jwk).map_err(|_| Refused::UnknownKey)
    }

    /// The key set at `url`, tried again after a failure (a 5xx, a reset, a cut-off body).
    async fn fetch(&self, url: &str) -> Result<JwkSet, Refused> {
        let mut attempt = 1;
        loop {
            let fetched = match self.http.get(url).send().await.and_then(|r| r.error_for_status()) {
                Ok(response) => response.json::<JwkSet>().await,
                Err(err) => Err(err),
            };
            match fetched {
                Ok(set) => return Ok(set),
                Err(err) if attempt < FETCH_ATTEMPTS => {
                    tracing::warn!(%err, attempt, "fetching the JWKS failed; trying again");
                    tokio::time::sleep(FETCH_BACKOFF * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err(err) => return Err(Refused::Jwks(err.to_string())),
            }
        }
    }
}

/// A client for the key set. reqwest's TLS (which the command line enables, and cargo unifies
/// across the workspace) runs on rustls with the aws-lc-rs provider, which must be installed
/// once per process; installing it again is no error.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    //! Every check against tokens signed with a test key (`test-keys.json`, made for these
    //! tests only): one that is trusted, one that is not.
    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";
    const CLIENT: &str = "client-1";

    fn keys() -> Value {
        serde_json::from_str(include_str!("test-keys.json")).unwrap_or_default()
    }

    fn signing_key(name: &str) -> EncodingKey {
        let der = base64::engine::general_purpose::STANDARD
            .decode(keys()[name]["private_pkcs1_der"].as_str().unwrap_or_default())
            .unwrap_or_default();
        EncodingKey::from_rsa_der(&der)
    }

    fn authorizer() -> Authorizer {
        let set: JwkSet = serde_json::from_value(json!({"keys": [keys()["trusted"]["jwk"]]}))
            .unwrap_or_else(|e| panic!("{e}"));
        Authorizer::new(ISSUER, vec![CLIENT.into()], Keys::Fixed(set))
    }

    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": ISSUER, "client_id": CLIENT, "token_use": "access", "username": "alice",
            "sub": "u-1", "iat": now, "exp": now + 600, "cognito:groups": ["admins"],
        })
    }

    fn sign(key: &str, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &signing_key(key)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn with(change: impl FnOnce(&mut Value)) -> String {
        let mut claims = claims();
        change(&mut claims);
        sign("trusted", "trusted", &claims)
    }

    async fn refused(token: &str) -> Option<Refused> {
        authorizer().verify(token).await.err()
    }

    #[tokio::test]
    async fn a_valid_access_token_passes_with_its_claims() {
        let claims = authorizer()
            .authorize(Some(&format!("Bearer {}", with(|_| {}))))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(claims["username"], "alice");
        assert!(
            authorizer().authorize(Some(&with(|_| {}))).await.is_ok(),
            "without the scheme"
        );
    }

    #[tokio::test]
    async fn every_wrong_token_is_refused_for_its_reason() {
        let now = chrono::Utc::now().timestamp();
        assert_eq!(authorizer().authorize(None).await.err(), Some(Refused::Missing));
        assert_eq!(
            authorizer().authorize(Some("Bearer ")).await.err(),
            Some(Refused::Malformed)
        );
        assert_eq!(refused("not-a-jwt").await, Some(Refused::Malformed));
        assert_eq!(refused("a.b.c").await, Some(Refused::Algorithm));
        assert_eq!(
            refused(&with(|c| c["exp"] = json!(now - 1))).await,
            Some(Refused::Expired)
        );
        assert_eq!(
            refused(&with(|c| c["nbf"] = json!(now + 600))).await,
            Some(Refused::Early)
        );
        assert_eq!(
            refused(&with(|c| c["iat"] = json!(now + 600))).await,
            Some(Refused::Early)
        );
        assert_eq!(
            refused(&with(
                |c| c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/other")
            ))
            .await,
            Some(Refused::Issuer)
        );
        assert_eq!(
            refused(&with(|c| c["client_id"] = json!("client-2"))).await,
            Some(Refused::Audience)
        );
        // An ID token: `aud` is the client, `token_use` is `id`.
        let id_token = with(|c| {
            c["token_use"] = json!("id");
            c["aud"] = json!(CLIENT);
        });
        assert_eq!(refused(&id_token).await, Some(Refused::TokenUse));
        // Signed by a key the issuer does not publish, under its own kid or the trusted one.
        assert_eq!(
            refused(&sign("foreign", "foreign", &claims())).await,
            Some(Refused::UnknownKey)
        );
        assert_eq!(
            refused(&sign("foreign", "trusted", &claims())).await,
            Some(Refused::Signature)
        );
    }

    #[tokio::test]
    async fn unsigned_and_altered_tokens_are_refused() {
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "trusted"})),
            b64(&claims())
        );
        assert_eq!(refused(&none).await, Some(Refused::Algorithm));
        let hs256 = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "HS256", "kid": "trusted"})),
            b64(&claims())
        );
        assert_eq!(refused(&hs256).await, Some(Refused::Algorithm));
        // A valid token whose payload is changed: another user, the same signature.
        let token = with(|_| {});
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = claims();
        claims["username"] = json!("mallory");
        let altered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(refused(&altered).await, Some(Refused::Signature));
    }

    /// Serves the trusted key set, answering 503 to the first `failures` requests.
    async fn flaky_jwks(failures: usize) -> String {
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = axum::Router::new().fallback(move || {
            let served = served.clone();
            async move {
                if served.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
                    Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                } else {
                    Ok(axum::Json(json!({"keys": [keys()["trusted"]["jwk"]]})))
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}/jwks.json",
            listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn keys_that_cannot_be_read_are_not_the_tokens_fault() {
        let token = with(|_| {});
        let recovering = Authorizer::new(ISSUER, vec![CLIENT.into()], Keys::Url(flaky_jwks(2).await));
        assert!(
            recovering.verify(&token).await.is_ok(),
            "two failed fetches are tried again within the request"
        );
        let down = Authorizer::new(
            ISSUER,
            vec![CLIENT.into()],
            Keys::Url(flaky_jwks(usize::MAX).await),
        );
        assert!(
            matches!(down.verify(&token).await, Err(Refused::Jwks(_))),
            "the gateway answers 503 to this, not 401"
        );
    }
}
