//! An Asia/Shanghai month (`YYYY-MM`): what a review covers. Its first instant is local
//! midnight of its first day, so an event at 23:59 on the last day (local time) counts in it
//! though it is the same day's 15:59 in UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::error::{ApiError, ApiResult};
use crate::points::{day_start, local_day};

/// A calendar month in Asia/Shanghai.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// `YYYY-MM` as sent in `field`; anything else is a validation error naming it.
    pub fn parse(field: &str, raw: &str) -> ApiResult<Self> {
        let bad = || ApiError::invalid(field, "month", "a month as YYYY-MM");
        if raw.len() != 7 || raw.as_bytes()[4] != b'-' {
            return Err(bad());
        }
        NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d")
            .map(|first| Month { first })
            .map_err(|_| bad())
    }

    /// The month (Asia/Shanghai) `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        let d = local_day(at);
        Month {
            first: d - Duration::days(i64::from(d.day0())),
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        Month::of(self.start() - Duration::seconds(1))
    }

    /// The month after.
    pub fn next(self) -> Self {
        Month {
            first: self.first_after(),
        }
    }

    fn first_after(self) -> NaiveDate {
        let (y, m) = if self.first.month() == 12 {
            (self.first.year() + 1, 1)
        } else {
            (self.first.year(), self.first.month() + 1)
        };
        NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(self.first)
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.first_after() - Duration::days(1)
    }

    /// The instant it begins (local midnight of its first day).
    pub fn start(self) -> DateTime<Utc> {
        day_start(self.first)
    }

    /// The instant the next month begins: the month is `start()..end()`.
    pub fn end(self) -> DateTime<Utc> {
        day_start(self.first_after())
    }

    /// `YYYY-MM`.
    pub fn label(self) -> String {
        self.first.format("%Y-%m").to_string()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_month_runs_from_local_midnight_to_local_midnight() -> ApiResult<()> {
        let m = Month::parse("month", "2026-11")?;
        assert_eq!(m.start(), utc("2026-10-31T16:00:00Z"));
        assert_eq!(m.end(), utc("2026-11-30T16:00:00Z"));
        assert_eq!(m.last_day().to_string(), "2026-11-30");
        // 16:30 UTC on 30 November is already 1 December in Shanghai.
        assert_eq!(Month::of(utc("2026-11-30T16:30:00Z")).label(), "2026-12");
        assert_eq!(Month::of(utc("2026-11-30T15:59:59Z")).label(), "2026-11");
        Ok(())
    }

    #[test]
    fn months_step_over_the_year() -> ApiResult<()> {
        let jan = Month::parse("month", "2027-01")?;
        assert_eq!(jan.previous().label(), "2026-12");
        assert_eq!(jan.previous().next(), jan);
        assert_eq!(
            Month::parse("m", "2028-02")?.last_day().to_string(),
            "2028-02-29"
        );
        Ok(())
    }

    #[test]
    fn anything_but_yyyy_mm_is_refused_by_field() {
        for bad in [
            "2026-13",
            "2026-1",
            "2026/11",
            "26-11-01",
            "2026-11-01",
            "",
            "２０２６-11",
        ] {
            match Month::parse("month", bad) {
                Err(ApiError::Validation(e)) => assert_eq!(e[0].field, "month", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
