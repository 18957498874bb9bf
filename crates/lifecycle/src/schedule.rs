//! A sandbox's schedule: when it stops and starts by itself (a time of day on chosen weekdays,
//! in a time zone), and after how long without activity it is stopped. Pure: what the next
//! occurrence after an instant is, and whether an occurrence fell in a span.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// The schedule a sandbox is given (`PUT /sandboxes/{id}/schedule`); every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostop: Option<Recurrence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<Recurrence>,
    /// A started sandbox with no activity for this many minutes is stopped (after a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_minutes: Option<u32>,
}

/// A time of day on some weekdays, in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    /// `HH:MM`, 24-hour.
    pub at: String,
    /// `mon` ... `sun`; empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// An IANA time zone name, e.g. `Europe/London`.
    pub time_zone: String,
}

/// The shortest and longest idle timeouts, in minutes. EC2's basic monitoring has 5-minute
/// periods that arrive minutes late: a shorter timeout, with its quarter of grace, would judge
/// a sandbox on one or two data points.
pub const IDLE_MINUTES: std::ops::RangeInclusive<u32> = 30..=7 * 24 * 60;

impl Schedule {
    /// Checks every part, naming the field that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        for (name, recurrence) in [("autostop", &self.autostop), ("autostart", &self.autostart)] {
            if let Some(recurrence) = recurrence {
                recurrence.parsed().map_err(|e| format!("{name}.{e}"))?;
            }
        }
        if let Some(minutes) = self.idle_minutes
            && !IDLE_MINUTES.contains(&minutes)
        {
            return Err(format!(
                "idle_minutes: {} to {} (7 days), not {minutes}",
                IDLE_MINUTES.start(),
                IDLE_MINUTES.end()
            ));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.autostop.is_none() && self.autostart.is_none() && self.idle_minutes.is_none()
    }

    /// The first occurrence of autostop or autostart strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [&self.autostop, &self.autostart]
            .into_iter()
            .flatten()
            .filter_map(|r| r.next_after(after))
            .min()
    }
}

struct Parsed {
    at: NaiveTime,
    days: Vec<Weekday>,
    zone: chrono_tz::Tz,
}

impl Recurrence {
    fn parsed(&self) -> Result<Parsed, String> {
        let wrong = || format!("at: a time of day as HH:MM, not {:?}", self.at);
        if self.at.len() != 5 || self.at.as_bytes()[2] != b':' {
            return Err(wrong());
        }
        let at = NaiveTime::parse_from_str(&self.at, "%H:%M").map_err(|_| wrong())?;
        let mut days = Vec::new();
        for (i, day) in self.days.iter().enumerate() {
            let parsed = match day.as_str() {
                "mon" => Weekday::Mon,
                "tue" => Weekday::Tue,
                "wed" => Weekday::Wed,
                "thu" => Weekday::Thu,
                "fri" => Weekday::Fri,
                "sat" => Weekday::Sat,
                "sun" => Weekday::Sun,
                _ => {
                    return Err(format!(
                        "days[{i}]: one of mon, tue, wed, thu, fri, sat, sun, not {day:?}"
                    ));
                }
            };
            if !days.contains(&parsed) {
                days.push(parsed);
            }
        }
        let zone: chrono_tz::Tz = self.time_zone.parse().map_err(|_| {
            format!(
                "time_zone: an IANA time zone such as Europe/London, not {:?}",
                self.time_zone
            )
        })?;
        Ok(Parsed { at, days, zone })
    }

    /// The first occurrence strictly after `after`. A time that a clock change skips that day
    /// happens at the first instant after the gap; one it repeats happens the first time.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let parsed = self.parsed().ok()?;
        let local = after.with_timezone(&parsed.zone).date_naive();
        // Yesterday (in the zone) to eight days on covers every weekday whatever the offset.
        (-1..=8).find_map(|offset| {
            let day = local + Duration::days(offset);
            if !parsed.days.is_empty() && !parsed.days.contains(&day.weekday()) {
                return None;
            }
            let wall = day.and_time(parsed.at);
            let instant = match parsed.zone.from_local_datetime(&wall) {
                chrono::LocalResult::Single(t) => t,
                chrono::LocalResult::Ambiguous(first, _) => first,
                // In a gap: the first whole minute that exists after it.
                chrono::LocalResult::None => (1..=180).find_map(|m| {
                    parsed
                        .zone
                        .from_local_datetime(&(wall + Duration::minutes(m)))
                        .earliest()
                })?,
            }
            .with_timezone(&Utc);
            (instant > after).then_some(instant)
        })
    }

    /// Whether an occurrence falls in `(from, to]`.
    pub fn occurs_in(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.next_after(from).is_some_and(|at| at <= to)
    }

    /// The last occurrence in `(from, to]`, if any.
    pub fn last_in(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The occurrences of the week before `to` are enough: an older one is followed by a
        // newer one in that week, or there is none in the week at all (no weekday chosen).
        let start = from.max(to - Duration::days(8));
        let mut last = None;
        let mut at = start;
        while let Some(next) = self.next_after(at).filter(|next| *next <= to) {
            last = Some(next);
            at = next;
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    fn every(at: &str, days: &[&str], zone: &str) -> Recurrence {
        Recurrence {
            at: at.into(),
            days: days.iter().map(|d| d.to_string()).collect(),
            time_zone: zone.into(),
        }
    }

    #[test]
    fn the_next_occurrence_is_on_a_chosen_weekday_in_the_zone() {
        let weekdays = every("19:00", &["mon", "tue", "wed", "thu", "fri"], "Europe/London");
        // Friday 2026-12-04 18:00 UTC (GMT in winter) → 19:00 the same day.
        assert_eq!(
            weekdays.next_after(utc("2026-12-04T18:00:00Z")),
            Some(utc("2026-12-04T19:00:00Z"))
        );
        // Friday 19:00 exactly → not again until Monday.
        assert_eq!(
            weekdays.next_after(utc("2026-12-04T19:00:00Z")),
            Some(utc("2026-12-07T19:00:00Z"))
        );
        // New York in summer is UTC-4.
        let daily = every("08:30", &[], "America/New_York");
        assert_eq!(
            daily.next_after(utc("2026-07-01T13:00:00Z")),
            Some(utc("2026-07-02T12:30:00Z"))
        );
        assert!(daily.occurs_in(utc("2026-07-02T12:00:00Z"), utc("2026-07-02T12:30:00Z")));
        assert_eq!(
            daily.last_in(utc("2026-06-01T00:00:00Z"), utc("2026-07-02T12:00:00Z")),
            Some(utc("2026-07-01T12:30:00Z"))
        );
        assert_eq!(
            daily.last_in(utc("2026-07-01T12:30:00Z"), utc("2026-07-02T12:00:00Z")),
            None
        );
        assert!(!daily.occurs_in(utc("2026-07-02T12:30:00Z"), utc("2026-07-02T13:00:00Z")));
    }

    #[test]
    fn clock_changes_move_an_occurrence_to_the_first_instant_that_exists() {
        // 2026-03-29 01:30 does not exist in London (01:00 → 02:00).
        let gap = every("01:30", &[], "Europe/London");
        assert_eq!(
            gap.next_after(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // 2026-10-25 01:30 happens twice; the first (BST, 00:30 UTC) counts.
        let twice = every("01:30", &[], "Europe/London");
        assert_eq!(
            twice.next_after(utc("2026-10-24T12:00:00Z")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn a_bad_part_is_named() {
        let bad = |s: Schedule| s.validate().err().unwrap_or_default();
        assert!(
            bad(Schedule {
                autostop: Some(every("25:00", &[], "UTC")),
                ..Schedule::default()
            })
            .starts_with("autostop.at:")
        );
        assert!(
            bad(Schedule {
                autostop: Some(every("7:00", &[], "UTC")),
                ..Schedule::default()
            })
            .starts_with("autostop.at:")
        );
        assert!(
            bad(Schedule {
                autostop: Some(every("07:00", &["MON"], "UTC")),
                ..Schedule::default()
            })
            .starts_with("autostop.days[0]:")
        );
        assert!(
            bad(Schedule {
                autostart: Some(every("07:00", &["fun"], "UTC")),
                ..Schedule::default()
            })
            .starts_with("autostart.days[0]:")
        );
        assert!(
            bad(Schedule {
                autostop: Some(every("07:00", &[], "Mars/Olympus")),
                ..Schedule::default()
            })
            .starts_with("autostop.time_zone:")
        );
        for too_short in [5, 10, 29] {
            assert!(
                bad(Schedule {
                    idle_minutes: Some(too_short),
                    ..Schedule::default()
                })
                .starts_with("idle_minutes: 30 to"),
                "{too_short} minutes judges on one or two 5-minute data points"
            );
        }
        assert!(
            Schedule {
                idle_minutes: Some(120),
                autostop: Some(every("19:00", &["fri"], "Asia/Tokyo")),
                ..Schedule::default()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(Schedule::default().next_after(utc("2026-01-01T00:00:00Z")), None);
    }
}
