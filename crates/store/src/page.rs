//! Opaque pagination tokens for listing a tenant's sandboxes.
//!
//! A token is the last key a page read, bound to the tenant and the state filter it was issued
//! for, and signed with the store's [`PageKey`] (HMAC-SHA256). A token that was changed, or that
//! was issued for another tenant or another query, is refused, never followed.

use crate::StoreError;
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sbx_lifecycle::State;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// Queries one page may take when a state filter leaves most records out.
pub(crate) const MAX_ROUNDS: usize = 8;

/// The secret that signs page tokens. Every instance of a deployment must share it, or a token
/// issued by one is refused by another. Its clones share one key.
#[derive(Clone)]
pub struct PageKey(Arc<Source>);

enum Source {
    Secret(hmac::Key),
    /// Drawn on first use: seeding aws-lc's random generator costs tens of milliseconds of
    /// CPU, which a Lambda's init must not pay for a key that most functions never use.
    Random(OnceLock<hmac::Key>),
}

impl PageKey {
    /// A key from at least 32 bytes of secret.
    pub fn new(secret: &[u8]) -> Result<Self, StoreError> {
        if secret.len() < 32 {
            return Err(StoreError::Malformed(
                "a page token key needs at least 32 bytes".into(),
            ));
        }
        Ok(Self(Arc::new(Source::Secret(hmac::Key::new(
            hmac::HMAC_SHA256,
            secret,
        )))))
    }

    /// A random key for one process (a local stack, a test, or a step function, whose page
    /// tokens never leave it), drawn when it first signs.
    pub fn random() -> Self {
        Self(Arc::new(Source::Random(OnceLock::new())))
    }

    fn key(&self) -> &hmac::Key {
        match &*self.0 {
            Source::Secret(key) => key,
            Source::Random(cell) => cell.get_or_init(|| {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                // Generating an HMAC key from the system's random source only fails without one.
                hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                    .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &fastrand_bytes()))
            }),
        }
    }
}

fn fastrand_bytes() -> [u8; 32] {
    std::array::from_fn(|_| fastrand::u8(..))
}

impl std::fmt::Debug for PageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageKey(..)")
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    #[serde(rename = "t")]
    tenant: String,
    #[serde(rename = "k")]
    last_id: String,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    state: Option<State>,
}

pub(crate) fn encode(key: &PageKey, tenant: &str, last_id: &str, state: Option<State>) -> String {
    let token = Token {
        tenant: tenant.to_owned(),
        last_id: last_id.to_owned(),
        state,
    };
    // Serializing a struct of strings cannot fail.
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default());
    let tag = hmac::sign(key.key(), body.as_bytes());
    format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The last id of the previous page, if `token` was signed with `key` and issued for this
/// tenant and filter.
pub(crate) fn decode(
    key: &PageKey,
    token: &str,
    tenant: &str,
    state: Option<State>,
) -> Result<String, StoreError> {
    let (body, tag) = token.split_once('.').ok_or(StoreError::InvalidPageToken)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| StoreError::InvalidPageToken)?;
    hmac::verify(key.key(), body.as_bytes(), &tag).map_err(|_| StoreError::InvalidPageToken)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| StoreError::InvalidPageToken)?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidPageToken)?;
    if token.tenant != tenant || token.state != state || token.last_id.is_empty() {
        return Err(StoreError::InvalidPageToken);
    }
    Ok(token.last_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_key_is_drawn_once_and_shared_by_its_clones() {
        let key = PageKey::random();
        let clone = key.clone();
        let token = encode(&clone, "acme", "sbx-1", None);
        assert_eq!(decode(&key, &token, "acme", None).ok().as_deref(), Some("sbx-1"));
        assert!(
            decode(&PageKey::random(), &token, "acme", None).is_err(),
            "another random key refuses it"
        );
    }

    #[test]
    fn a_token_round_trips_for_its_own_query_only() {
        let key = PageKey::random();
        let token = encode(&key, "acme", "sbx-9", Some(State::Started));
        assert_eq!(
            decode(&key, &token, "acme", Some(State::Started)).ok().as_deref(),
            Some("sbx-9")
        );
        assert!(matches!(
            decode(&key, &token, "globex", Some(State::Started)),
            Err(StoreError::InvalidPageToken)
        ));
        assert!(matches!(
            decode(&key, &token, "acme", None),
            Err(StoreError::InvalidPageToken)
        ));
        assert!(matches!(
            decode(&PageKey::random(), &token, "acme", Some(State::Started)),
            Err(StoreError::InvalidPageToken)
        ));
    }

    #[test]
    fn a_changed_token_is_refused() {
        let key = PageKey::random();
        let token = encode(&key, "acme", "sbx-1", None);
        let (body, tag) = token.split_once('.').unwrap_or_default();
        // The same tenant and query, another starting point: well-formed, but not signed.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"t":"acme","k":"sbx-0"}"#);
        assert_ne!(forged, body);
        for changed in [
            format!("{forged}.{tag}"),
            forged.clone(),
            format!("{body}x.{tag}"),
            format!("{body}.{tag}x"),
        ] {
            assert!(
                matches!(
                    decode(&key, &changed, "acme", None),
                    Err(StoreError::InvalidPageToken)
                ),
                "{changed}"
            );
        }
    }

    #[test]
    fn garbage_is_refused() {
        let key = PageKey::random();
        for token in ["", ".", "!!!", "e30", "e30.e30", "a.b.c"] {
            assert!(
                matches!(
                    decode(&key, token, "acme", None),
                    Err(StoreError::InvalidPageToken)
                ),
                "{token}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(PageKey::new(&[7; 31]).is_err());
        assert!(PageKey::new(&[7; 32]).is_ok());
    }
}
