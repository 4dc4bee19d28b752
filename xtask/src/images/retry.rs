//! The retry policy (pure): which failures are retried, how long to wait before the next attempt
//! (exponential backoff with jitter, capped), and `Retry-After`.

use std::time::{Duration, SystemTime};

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// The delay before the first retry (before jitter).
    pub base: Duration,
    /// No backoff delay grows beyond this.
    pub cap: Duration,
    /// The longest `Retry-After` honoured; a longer one is shortened to this.
    pub max_retry_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retries: 4,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// Whether an HTTP status is worth another attempt: 5xx and 429. Any other 4xx will not change.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

impl Policy {
    /// The delay before retry number `retry` (0 for the first retry): `base * 2^retry` capped
    /// at `cap`, with "equal jitter" (a uniform point in the upper half, `jitter` in [0, 1]),
    /// so that parallel clients do not retry in lockstep. A server's `Retry-After` wins when
    /// longer, up to `max_retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(retry.min(31))).min(self.cap);
        let jittered = exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        match retry_after {
            Some(after) => after.min(self.max_retry_after).max(jittered),
            None => jittered,
        }
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP-date (a date in the past means now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(date.timestamp_millis()).ok()?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_5xx_and_429_are_retried() {
        for s in [429, 500, 502, 503, 504, 599] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 408, 410, 418, 499, 600] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p =
            Policy { retries: 10, base: Duration::from_millis(100), cap: Duration::from_secs(1), ..Policy::default() };
        let full: Vec<u128> = (0..6).map(|r| p.delay(r, None, 1.0).as_millis()).collect();
        assert_eq!(full, [100, 200, 400, 800, 1000, 1000]);
        let half: Vec<u128> = (0..6).map(|r| p.delay(r, None, 0.0).as_millis()).collect();
        assert_eq!(half, [50, 100, 200, 400, 500, 500]);
        assert_eq!(p.delay(100, None, 1.0), Duration::from_secs(1), "no overflow on huge retry numbers");
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let p = Policy::default();
        for i in 0..=100 {
            let d = p.delay(2, None, f64::from(i) / 100.0);
            assert!(d >= Duration::from_millis(1000) && d <= Duration::from_millis(2000), "{d:?}");
        }
    }

    #[test]
    fn retry_after_wins_when_longer_and_is_capped() {
        let p = Policy::default();
        assert_eq!(p.delay(0, Some(Duration::from_secs(3)), 1.0), Duration::from_secs(3));
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600)), 1.0), Duration::from_secs(30));
        assert_eq!(p.delay(0, Some(Duration::ZERO), 1.0), Duration::from_millis(500));
    }

    #[test]
    fn parses_retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
