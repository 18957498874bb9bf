//! The Standard Webhooks headers of one delivery: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`, `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` once per active
//! secret (two while a rotated secret's grace period runs), separated by spaces.

pub use standardwebhooks::{HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("an endpoint secret is not a whsec_ secret")]
    Secret,
    #[error("the payload is not UTF-8 text")]
    Payload,
    #[error("the endpoint has no active secret")]
    NoSecret,
}

/// The value of `webhook-signature` for message `id`, sent at `timestamp` (seconds since the
/// epoch), signed with each of `secrets`.
pub fn sign<'s>(
    secrets: impl IntoIterator<Item = &'s str>,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, SignError> {
    let mut signatures = Vec::new();
    for secret in secrets {
        let webhook = standardwebhooks::Webhook::new(secret).map_err(|_| SignError::Secret)?;
        signatures.push(
            webhook
                .sign(id, timestamp, body.as_bytes())
                .map_err(|_| SignError::Payload)?,
        );
    }
    if signatures.is_empty() {
        return Err(SignError::NoSecret);
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published test vector.
    #[test]
    fn the_specifications_test_vector_is_signed_as_published() {
        let signature = sign(
            ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap_or_default();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn both_secrets_sign_during_a_rotation_and_each_verifies() {
        let (old, new) = (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        );
        let now = chrono::Utc::now().timestamp();
        let body = r#"{"type":"sandbox.started"}"#;
        let signature = sign([new, old], "evt_1", now, body).unwrap_or_default();
        assert_eq!(signature.split(' ').count(), 2);
        let mut headers = reqwest::header::HeaderMap::new();
        let value = |text: &str| {
            text.parse()
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""))
        };
        headers.insert(HEADER_WEBHOOK_ID, value("evt_1"));
        headers.insert(HEADER_WEBHOOK_TIMESTAMP, value(&now.to_string()));
        headers.insert(HEADER_WEBHOOK_SIGNATURE, value(&signature));
        for secret in [old, new] {
            let verifier = standardwebhooks::Webhook::new(secret).unwrap_or_else(|e| panic!("{e}"));
            assert!(verifier.verify(body.as_bytes(), &headers).is_ok(), "{secret}");
        }
        let stranger = standardwebhooks::Webhook::new("whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(stranger.verify(body.as_bytes(), &headers).is_err());
        assert!(matches!(sign([], "evt_1", now, body), Err(SignError::NoSecret)));
    }
}
