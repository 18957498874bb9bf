//! Endpoint secrets: `whsec_` and 32 random bytes in base64, as the Standard Webhooks
//! specification writes them. A secret is shown once, when it is made.

use base64::Engine;

pub const PREFIX: &str = "whsec_";
const BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
#[error("no random bytes for a secret")]
pub struct NoRandom;

/// A new secret from the operating system's random source.
pub fn generate() -> Result<String, NoRandom> {
    let mut key = [0u8; BYTES];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| NoRandom)?;
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// A secret shortened for lists and logs: its prefix and last four characters.
pub fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{PREFIX}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_well_formed() {
        let (a, b) = (generate().unwrap_or_default(), generate().unwrap_or_default());
        assert!(a.starts_with(PREFIX));
        assert_ne!(a, b);
        let key = base64::engine::general_purpose::STANDARD
            .decode(a.trim_start_matches(PREFIX))
            .unwrap_or_default();
        assert_eq!(key.len(), BYTES);
        assert!(standardwebhooks::Webhook::new(&a).is_ok());
        assert_eq!(hint("whsec_abcdefgh"), "whsec_…efgh");
    }
}
