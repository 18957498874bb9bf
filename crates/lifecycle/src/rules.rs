//! What a valid name, option and lifetime is: the one set of input rules that the API and the
//! operators' entry into the state machines (`begin-operation`) both apply.
//!
//! Each check returns `Err` with a message that starts with the field it is about, so that a
//! caller can answer "what was wrong" without knowing the rule.

use crate::Operation;
use chrono::{DateTime, Duration, Utc};

/// The longest a sandbox may live, counted from its creation.
pub const MAX_TTL_HOURS: u32 = 24 * 30;
/// How long a sandbox lives when the request does not say.
pub const DEFAULT_TTL_HOURS: u32 = 8;
/// At most this many constellations per sandbox.
pub const MAX_CONSTELLATIONS: usize = 20;
/// At most this many characters in a sandbox's display name.
pub const MAX_NAME_CHARS: usize = 100;

/// A message naming the field that is wrong, e.g. `ttl_hours: 1 to 720`.
pub type Invalid = String;

/// Ids of tenants, sandboxes and constellations: 1 to 63 of `a-z`, `0-9` and `-`, starting with
/// a letter or digit (they become parts of host names and AWS tags).
pub fn id(field: &str, value: &str) -> Result<(), Invalid> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("{field}: 1 to 63 of a-z, 0-9 and -, not starting with -"))
    }
}

/// A display name: 1 to 100 printable characters, not only blanks.
pub fn name(value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty()
        || value.chars().count() > MAX_NAME_CHARS
        || value.chars().any(char::is_control)
    {
        return Err(format!("name: 1 to {MAX_NAME_CHARS} printable characters"));
    }
    Ok(())
}

pub fn constellations(values: &[String]) -> Result<(), Invalid> {
    if values.len() > MAX_CONSTELLATIONS {
        return Err(format!("constellations: at most {MAX_CONSTELLATIONS} names"));
    }
    for (i, value) in values.iter().enumerate() {
        id(&format!("constellations[{i}]"), value)?;
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = values.iter().find(|v| !seen.insert(v.as_str())) {
        return Err(format!("constellations: {twice} is named twice"));
    }
    Ok(())
}

pub fn ttl_hours(hours: u32) -> Result<(), Invalid> {
    if (1..=MAX_TTL_HOURS).contains(&hours) {
        Ok(())
    } else {
        Err(format!("ttl_hours: 1 to {MAX_TTL_HOURS}"))
    }
}

/// A new expiry for a sandbox created at `created_at`: later than `now`, and within the
/// maximum lifetime.
pub fn expires_at(created_at: DateTime<Utc>, now: DateTime<Utc>, at: DateTime<Utc>) -> Result<(), Invalid> {
    let latest = created_at + Duration::hours(i64::from(MAX_TTL_HOURS));
    if at <= now {
        return Err("expires_at: must be in the future".into());
    }
    if at > latest {
        return Err(format!(
            "expires_at: at most {MAX_TTL_HOURS} hours after the sandbox was created, i.e. not after {}",
            crate::rfc3339_millis::format(&latest)
        ));
    }
    Ok(())
}

/// The name of the execution that runs `operation` on a sandbox at record `version`. The same
/// request always yields the same name, so Step Functions never starts its work twice.
pub fn execution_name(sandbox_id: &str, operation: Operation, version: u64) -> String {
    format!("{sandbox_id}-{operation}-v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_host_name_labels() {
        assert!(id("tenant", "acme-2").is_ok());
        for bad in ["", "-acme", "Acme", "a_b", "a.b", &"a".repeat(64)] {
            let err = id("tenant", bad).unwrap_err();
            assert!(err.starts_with("tenant:"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_printable_and_bounded() {
        assert!(name("Payments integration").is_ok());
        assert!(name(&"é".repeat(100)).is_ok());
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            assert!(name(bad).unwrap_err().starts_with("name:"), "{bad:?}");
        }
    }

    #[test]
    fn constellations_name_the_bad_entry() {
        assert!(constellations(&["payments".into(), "cards".into()]).is_ok());
        let err = constellations(&["payments".into(), "Cards!".into()]).unwrap_err();
        assert!(err.starts_with("constellations[1]:"), "{err}");
        let err = constellations(&["a".into(), "a".into()]).unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
        assert!(constellations(&many).is_err());
    }

    #[test]
    fn ttl_and_expiry_stay_within_the_maximum_lifetime() {
        assert!(ttl_hours(1).is_ok() && ttl_hours(MAX_TTL_HOURS).is_ok());
        assert!(ttl_hours(0).is_err() && ttl_hours(MAX_TTL_HOURS + 1).is_err());
        let created = Utc::now() - Duration::hours(10);
        let now = Utc::now();
        assert!(expires_at(created, now, now + Duration::hours(1)).is_ok());
        assert!(expires_at(created, now, now - Duration::seconds(1)).is_err());
        let last = created + Duration::hours(i64::from(MAX_TTL_HOURS));
        assert!(expires_at(created, now, last).is_ok());
        assert!(expires_at(created, now, last + Duration::seconds(1)).is_err());
    }

    #[test]
    fn execution_names_are_deterministic() {
        assert_eq!(execution_name("sb-1", Operation::Stop, 3), "sb-1-stop-v3");
    }
}
