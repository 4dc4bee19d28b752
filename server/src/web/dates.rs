//! Dates for people: milliseconds since the epoch as a UTC calendar date (chrono).

use chrono::{DateTime, NaiveDate};

/// The UTC calendar date of a time in milliseconds since the epoch; `None` beyond the years
/// chrono represents (about ±262,000).
pub fn utc_date(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// `YYYY-MM-DD`.
pub fn iso_date(ms: i64) -> Option<String> {
    utc_date(ms).map(|d| d.format("%Y-%m-%d").to_string())
}

/// `21 November 2026`.
pub fn long_date(ms: i64) -> Option<String> {
    utc_date(ms).map(|d| d.format("%-d %B %Y").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(iso_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(iso_date(-1).as_deref(), Some("1969-12-31"));
        assert_eq!(iso_date(951_782_400_000).as_deref(), Some("2000-02-29"));
        assert_eq!(iso_date(1_795_305_600_000 - 1).as_deref(), Some("2026-11-21"));
        assert_eq!(iso_date(1_795_305_600_000).as_deref(), Some("2026-11-22"));
        assert_eq!(long_date(1_709_251_199_000).as_deref(), Some("29 February 2024"));
        assert_eq!(iso_date(4_102_444_800_000).as_deref(), Some("2100-01-01"));
    }

    #[test]
    fn times_beyond_the_calendar_have_no_date() {
        assert_eq!(iso_date(i64::MAX), None);
        assert_eq!(long_date(i64::MIN), None);
    }
}
