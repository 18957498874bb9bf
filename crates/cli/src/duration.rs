//! Durations as people write them on the command line: `30m`, `12h`, `2d`.

use crate::api::CliError;

/// `30m`, `12h`, `2d` (or seconds with `s`).
pub fn duration(text: &str) -> Result<chrono::Duration, CliError> {
    duration_of("--by", text)
}

/// [`duration`] for the option `flag`, named in the error.
pub fn duration_of(flag: &str, text: &str) -> Result<chrono::Duration, CliError> {
    let bad = || CliError::Usage(format!("{flag}: a duration like 30m, 12h or 2d, not {text:?}"));
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = number.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        assert_eq!(duration("30m").ok(), Some(chrono::Duration::minutes(30)));
        assert_eq!(duration("2d").ok(), Some(chrono::Duration::days(2)));
        for bad in ["", "h", "12", "1.5h", "3w"] {
            assert!(matches!(duration(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
