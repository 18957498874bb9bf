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

/// A display name: 1 to 100 printable characters, not only blanks, that reads as it is
/// written ([`readable`]).
pub fn name(value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() || value.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name: 1 to {MAX_NAME_CHARS} printable characters"));
    }
    readable("name", value)
}

/// Free text a person will read (a name): no character that changes how the rest is shown or
/// hides itself, and no mix of scripts whose letters look alike.
///
/// Refused: control characters (Cc), format characters (Cf: bidirectional overrides and
/// isolates, zero-width spaces and joiners, the byte-order mark, ...), line and paragraph
/// separators, private-use, surrogate and unassigned code points; and, after UTS #39's
/// restriction levels, any mix of scripts beyond "moderately restrictive": one script, or
/// Latin with Han, Hiragana, Katakana or Hangul (Chinese, Japanese, Korean), or Latin with one
/// other script that is not Cyrillic, Greek or Cherokee. `Paypal` written with a Cyrillic `а`
/// is refused; `Zahlungen テスト` and `Платежи` are not.
pub fn readable(field: &str, value: &str) -> Result<(), Invalid> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    for c in value.chars() {
        let what = match c.general_category() {
            GeneralCategory::Control => "a control character",
            GeneralCategory::Format => {
                "an invisible format character (bidirectional override, zero-width space or joiner, ...)"
            }
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                "a line or paragraph separator"
            }
            GeneralCategory::PrivateUse | GeneralCategory::Surrogate | GeneralCategory::Unassigned => {
                "a private-use or unassigned code point"
            }
            _ => continue,
        };
        return Err(format!(
            "{field}: must not contain {what}; U+{:04X} was found",
            u32::from(c)
        ));
    }
    if let Some(scripts) = confusable_scripts(value) {
        return Err(format!(
            "{field}: mixes scripts whose letters can look alike ({scripts}); write it in one script"
        ));
    }
    Ok(())
}

/// The scripts `value` mixes beyond UTS #39's moderately restrictive level, named, or `None`.
fn confusable_scripts(value: &str) -> Option<String> {
    use unicode_script::{Script, UnicodeScript};
    use unicode_security::mixed_script::AugmentedScriptSet;
    let mut all = AugmentedScriptSet::default();
    let mut beside_latin = AugmentedScriptSet::default();
    for c in value.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        if !set.base.contains_script(Script::Latin) {
            beside_latin.intersect_with(set);
        }
    }
    let moderate = !all.is_empty()
        || beside_latin.hanb
        || beside_latin.jpan
        || beside_latin.kore
        || (beside_latin.base.len() == 1
            && !beside_latin.base.contains_script(Script::Cyrillic)
            && !beside_latin.base.contains_script(Script::Greek)
            && !beside_latin.base.contains_script(Script::Cherokee));
    if moderate {
        return None;
    }
    let mut scripts: Vec<&str> = Vec::new();
    for c in value.chars() {
        let script = c.script();
        if !matches!(script, Script::Common | Script::Inherited | Script::Unknown)
            && !scripts.contains(&script.full_name())
        {
            scripts.push(script.full_name());
        }
    }
    Some(scripts.join(" and "))
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
    fn names_that_hide_or_reorder_characters_are_refused() {
        for (bad, code) in [
            ("invoice\u{202E}fdp.exe", "U+202E"),   // right-to-left override
            ("pay\u{2066}ments\u{2069}", "U+2066"), // left-to-right isolate
            ("pay\u{200B}ments", "U+200B"),         // zero-width space
            ("pay\u{200D}ments", "U+200D"),         // zero-width joiner
            ("\u{FEFF}payments", "U+FEFF"),         // byte-order mark
            ("pay\u{00AD}ments", "U+00AD"),         // soft hyphen
            ("pay\u{0007}ments", "U+0007"),         // bell
            ("pay\u{2028}ments", "U+2028"),         // line separator
            ("pay\u{E000}ments", "U+E000"),         // private use
        ] {
            let err = name(bad).unwrap_err();
            assert!(err.starts_with("name:") && err.contains(code), "{bad:?}: {err}");
        }
    }

    #[test]
    fn names_mixing_look_alike_scripts_are_refused_and_one_script_is_fine() {
        // Latin with a Cyrillic "а" (U+0430) and "р" (U+0440).
        let err = name("\u{0440}aypal \u{0430}ccount").unwrap_err();
        assert!(
            err.starts_with("name:") && err.contains("Cyrillic") && err.contains("Latin"),
            "{err}"
        );
        // Latin with a Greek omicron.
        assert!(name("g\u{03BF}\u{03BF}gle").is_err());
        for good in [
            "Payments integration #2 (EU)",
            "Zahlungsverkehr – Test",
            "Платежи",
            "Zahlungen テスト",
            "支付 sandbox",
            "결제 sandbox",
            "Paiements à l'étranger",
            "إختبار المدفوعات",
            "test 🚀",
        ] {
            assert_eq!(name(good), Ok(()), "{good}");
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
