//! A route's daily windows: local times written `HH:MM`, checked not to overlap, and the window
//! occurrence a moment falls in (named after the local date the window opened).

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldError;
use crate::points::local_offset;
use crate::stored::{self, Corrupt};

const MAX_WINDOWS: usize = 8;

/// A daily window as written: local times `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    #[schema(example = "19:00")]
    pub start: String,
    /// Not after `start` means the window crosses midnight.
    #[schema(example = "21:00")]
    pub end: String,
}

/// A daily window in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Window {
    fn crosses_midnight(self) -> bool {
        self.end <= self.start
    }

    /// Minutes of the day covered, on a 24 h circle.
    fn minutes(self) -> impl Iterator<Item = u16> {
        let len = if self.crosses_midnight() {
            1440 - self.start + self.end
        } else {
            self.end - self.start
        };
        (0..len).map(move |k| (self.start + k) % 1440)
    }

    pub(super) fn body(self) -> WindowBody {
        WindowBody {
            start: hhmm(self.start),
            end: hhmm(self.end),
        }
    }

    pub(super) fn label(self) -> String {
        format!("{}–{}", hhmm(self.start), hhmm(self.end))
    }
}

/// Checks windows: `HH:MM`, not empty, not overlapping, at most [`MAX_WINDOWS`].
pub fn parse_windows(body: &[WindowBody], errors: &mut Vec<FieldError>) -> Vec<Window> {
    if body.is_empty() || body.len() > MAX_WINDOWS {
        errors.push(FieldError::new(
            "windows",
            "count",
            format!("1–{MAX_WINDOWS} windows"),
        ));
    }
    let mut out = Vec::new();
    let mut taken = [None::<usize>; 1440];
    for (i, w) in body.iter().enumerate() {
        let (start, end) = (parse_hhmm(&w.start), parse_hhmm(&w.end));
        for (field, v) in [("start", start), ("end", end)] {
            if v.is_none() {
                errors.push(FieldError::new(
                    format!("windows[{i}].{field}"),
                    "time",
                    "a local time HH:MM, 00:00–23:59",
                ));
            }
        }
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        if start == end {
            errors.push(FieldError::new(
                format!("windows[{i}].end"),
                "empty_window",
                "end must differ from start (an end before the start crosses midnight)",
            ));
            continue;
        }
        let window = Window { start, end };
        if let Some(other) = window.minutes().find_map(|m| taken[m as usize]) {
            errors.push(FieldError::new(
                format!("windows[{i}]"),
                "overlap",
                format!("overlaps windows[{other}]"),
            ));
            continue;
        }
        for m in window.minutes() {
            taken[m as usize] = Some(i);
        }
        out.push(window);
    }
    out
}

/// The occurrence of a window that `at` falls in, as `YYYY-MM-DD#index`, if any.
pub fn occurrence(windows: &[Window], at: DateTime<Utc>) -> Option<String> {
    let local = at.with_timezone(&local_offset()).naive_local();
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let today = local.date();
    let key = |d: NaiveDate, i: usize| format!("{}#{i}", d.format("%Y-%m-%d"));
    windows.iter().enumerate().find_map(|(i, w)| {
        if !w.crosses_midnight() {
            (w.start <= minute && minute < w.end).then(|| key(today, i))
        } else if minute >= w.start {
            Some(key(today, i))
        } else if minute < w.end {
            Some(key(today - Duration::days(1), i))
        } else {
            None
        }
    })
}

/// A route's stored windows. They were checked when written, so any fault is a corrupt row: it
/// must not quietly become a route without windows, or with fewer.
pub fn stored_windows(raw: &str) -> Result<Vec<Window>, Corrupt> {
    let body: Vec<WindowBody> = stored::json("patrol route windows", raw)?;
    let mut faults = Vec::new();
    let windows = parse_windows(&body, &mut faults);
    if faults.is_empty() {
        Ok(windows)
    } else {
        Err(Corrupt::new("patrol route windows", raw))
    }
}

pub(super) fn windows_json(windows: &[Window]) -> String {
    let body: Vec<WindowBody> = windows.iter().map(|w| w.body()).collect();
    serde_json::to_string(&body).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: &str, end: &str) -> WindowBody {
        WindowBody {
            start: start.into(),
            end: end.into(),
        }
    }

    fn at(local: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(&format!("{local}+08:00")) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{local}: {e}"),
        }
    }

    #[test]
    fn windows_name_their_occurrence_by_the_date_they_opened() {
        let mut errors = Vec::new();
        let windows = parse_windows(&[w("07:00", "08:30"), w("22:00", "02:00")], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let key = |t: &str| occurrence(&windows, at(t));
        assert_eq!(key("2026-12-01T07:00:00").as_deref(), Some("2026-12-01#0"));
        assert_eq!(key("2026-12-01T08:29:59").as_deref(), Some("2026-12-01#0"));
        assert_eq!(key("2026-12-01T08:30:00"), None, "end is exclusive");
        assert_eq!(key("2026-12-01T23:10:00").as_deref(), Some("2026-12-01#1"));
        assert_eq!(key("2026-12-02T01:59:00").as_deref(), Some("2026-12-01#1"));
        assert_eq!(key("2026-12-02T02:00:00"), None);
        assert_eq!(key("2026-12-01T12:00:00"), None);
        // 23:30 UTC is 07:30 next morning in Shanghai.
        let utc = DateTime::parse_from_rfc3339("2026-12-01T23:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(
            utc.and_then(|t| occurrence(&windows, t)).as_deref(),
            Some("2026-12-02#0")
        );
    }

    #[test]
    fn bad_windows_are_named() {
        let rules = |body: &[WindowBody]| {
            let mut errors = Vec::new();
            parse_windows(body, &mut errors);
            errors
                .into_iter()
                .map(|e| (e.field, e.rule))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rules(&[w("7:00", "24:00")]),
            [
                ("windows[0].start".to_owned(), "time".to_owned()),
                ("windows[0].end".to_owned(), "time".to_owned())
            ]
        );
        assert_eq!(
            rules(&[w("19:00", "19:00")]),
            [("windows[0].end".to_owned(), "empty_window".to_owned())]
        );
        assert_eq!(
            rules(&[w("22:00", "02:00"), w("01:00", "03:00")]),
            [("windows[1]".to_owned(), "overlap".to_owned())]
        );
        assert_eq!(rules(&[]), [("windows".to_owned(), "count".to_owned())]);
        assert!(rules(&[w("00:00", "00:00")]).len() == 1);
        assert!(rules(&[w("21:00", "00:00"), w("00:00", "01:00")]).is_empty());
    }
}
