//! Timestamps as fixed-width RFC 3339 in UTC with milliseconds (`2026-11-21T14:00:00.000Z`).
//!
//! A fixed width makes the text sort like the instant, so it can be an index sort key.

/// Serde `with` module for `DateTime<Utc>`.
pub mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `at` at the precision it is stored with.
    pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
    }

    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for an optional instant (with `default` and `skip_serializing_if`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let text: Option<String> = Option::deserialize(deserializer)?;
            text.map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }

    #[cfg(test)]
    mod tests {
        use chrono::{TimeZone, Utc};

        #[test]
        fn text_sorts_like_the_instant() {
            let early = Utc.timestamp_millis_opt(1_700_000_000_000).single();
            let late = Utc.timestamp_millis_opt(1_700_000_000_010).single();
            let (Some(early), Some(late)) = (early, late) else {
                panic!("valid timestamps");
            };
            assert_eq!(super::format(&early), "2023-11-14T22:13:20.000Z");
            assert!(super::format(&early) < super::format(&late));
        }
    }
}
