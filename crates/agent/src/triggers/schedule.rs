//! A cron trigger's schedule: the expression parsed by `croner`, evaluated in its time zone,
//! on the engine's millisecond clock.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use waymark_engine::Millis;

/// Why a schedule cannot be used. Names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first); got {0}")]
    FieldCount(usize),
    #[error("not a cron expression: {0}")]
    Expression(String),
    #[error("{0:?} is not an IANA time zone name (like Europe/Paris or UTC)")]
    TimeZone(String),
}

/// An IANA time zone by name (`Europe/Paris`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::TimeZone(name.chars().take(64).collect()))
}

/// A parsed cron schedule in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
}

impl CronSchedule {
    /// Parses `schedule` (5 or 6 fields) in `timezone` (UTC when `None`).
    pub fn parse(schedule: &str, timezone: Option<&str>) -> Result<Self, ScheduleError> {
        let fields = schedule.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(ScheduleError::FieldCount(fields));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(schedule)
            .map_err(|e| ScheduleError::Expression(e.to_string()))?;
        let tz = match timezone {
            None => Tz::UTC,
            Some(name) => parse_time_zone(name)?,
        };
        Ok(CronSchedule { cron, tz })
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The first tick strictly after `after`; `None` if the expression never matches again.
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        let mut from = self.at(after)?;
        // croner works in whole seconds; should it hand back a tick not after `after` (a
        // sub-second remainder), search on from that tick.
        for _ in 0..3 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            if next.timestamp_millis() > after {
                return Some(next.timestamp_millis());
            }
            from = next;
        }
        None
    }

    /// The latest tick at or before `at`, if any.
    pub fn latest_at_or_before(&self, at: Millis) -> Option<Millis> {
        let t = self.at(at)?;
        let prev = self.cron.find_previous_occurrence(&t, true).ok()?;
        let ms = prev.timestamp_millis();
        (ms <= at).then_some(ms)
    }

    /// `at` as RFC 3339 in the schedule's time zone (`Z` when its offset is zero).
    pub fn rfc3339(&self, at: Millis) -> String {
        match self.at(at) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            None => DateTime::<Utc>::from_timestamp_millis(at)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|| at.to_string()),
        }
    }

    fn at(&self, ms: Millis) -> Option<DateTime<Tz>> {
        self.tz.timestamp_millis_opt(ms).single()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc: &str) -> Millis {
        DateTime::parse_from_rfc3339(rfc)
            .expect("test time")
            .timestamp_millis()
    }

    #[test]
    fn every_five_minutes() {
        let s = CronSchedule::parse("*/5 * * * *", None).expect("parses");
        let t0 = ms("2026-01-01T00:00:30Z");
        assert_eq!(s.next_after(t0), Some(ms("2026-01-01T00:05:00Z")));
        let at = ms("2026-01-01T00:05:00Z");
        assert_eq!(s.next_after(at), Some(ms("2026-01-01T00:10:00Z")));
        assert_eq!(s.next_after(at - 1), Some(at));
        assert_eq!(s.next_after(at + 500), Some(ms("2026-01-01T00:10:00Z")));
        assert_eq!(s.latest_at_or_before(at), Some(at));
        assert_eq!(s.latest_at_or_before(at + 500), Some(at));
        assert_eq!(
            s.latest_at_or_before(ms("2026-01-01T01:07:00Z")),
            Some(ms("2026-01-01T01:05:00Z"))
        );
        assert_eq!(s.rfc3339(at), "2026-01-01T00:05:00Z");
    }

    #[test]
    fn time_zones_and_seconds() {
        let s = CronSchedule::parse("0 9 * * 1-5", Some("Europe/Paris")).expect("parses");
        // Friday 2026-01-02 08:00 UTC is 09:00 in Paris.
        let t = ms("2026-01-02T07:00:00Z");
        assert_eq!(s.next_after(t), Some(ms("2026-01-02T08:00:00Z")));
        assert_eq!(
            s.rfc3339(ms("2026-01-02T08:00:00Z")),
            "2026-01-02T09:00:00+01:00"
        );
        // Then Monday: the weekend is skipped.
        assert_eq!(
            s.next_after(ms("2026-01-02T08:00:00Z")),
            Some(ms("2026-01-05T08:00:00Z"))
        );
        let secs = CronSchedule::parse("*/10 * * * * *", None).expect("parses");
        assert_eq!(secs.next_after(1_000), Some(10_000));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        assert_eq!(
            CronSchedule::parse("* * * *", None).err(),
            Some(ScheduleError::FieldCount(4))
        );
        assert!(matches!(
            CronSchedule::parse("* * * * * * 2030", None),
            Err(ScheduleError::FieldCount(7))
        ));
        assert!(matches!(
            CronSchedule::parse("61 * * * *", None),
            Err(ScheduleError::Expression(_))
        ));
        assert!(matches!(
            CronSchedule::parse("* * * * *", Some("Mars/Olympus")),
            Err(ScheduleError::TimeZone(_))
        ));
    }
}
