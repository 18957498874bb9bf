//! Opaque pagination tokens for listing a tenant's sandboxes.
//!
//! A token is the last key a page read, bound to the tenant and the state filter it was issued
//! for: a token of another tenant or another query is refused, never followed.

use crate::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sbx_lifecycle::State;
use serde::{Deserialize, Serialize};

/// Queries one page may take when a state filter leaves most records out.
pub(crate) const MAX_ROUNDS: usize = 8;

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

pub(crate) fn encode(tenant: &str, last_id: &str, state: Option<State>) -> String {
    let token = Token {
        tenant: tenant.to_owned(),
        last_id: last_id.to_owned(),
        state,
    };
    // Serializing a struct of strings cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// The last id of the previous page, if `token` was issued for this tenant and filter.
pub(crate) fn decode(token: &str, tenant: &str, state: Option<State>) -> Result<String, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
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
    fn a_token_round_trips_for_its_own_query_only() {
        let token = encode("acme", "sbx-9", Some(State::Started));
        assert_eq!(
            decode(&token, "acme", Some(State::Started)).ok().as_deref(),
            Some("sbx-9")
        );
        assert!(matches!(
            decode(&token, "globex", Some(State::Started)),
            Err(StoreError::InvalidPageToken)
        ));
        assert!(matches!(
            decode(&token, "acme", None),
            Err(StoreError::InvalidPageToken)
        ));
    }

    #[test]
    fn garbage_is_refused() {
        for token in [
            "",
            "!!!",
            "e30",
            &URL_SAFE_NO_PAD.encode(br#"{"t":"acme","k":"x","z":1}"#),
        ] {
            assert!(
                matches!(decode(token, "acme", None), Err(StoreError::InvalidPageToken)),
                "{token}"
            );
        }
    }
}
