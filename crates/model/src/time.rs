//! Time as the loop sees it: injected, never read from the wall clock by a stage.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A point in time, in milliseconds since the Unix epoch.
///
/// Virtual time (the simulator) and real time use the same type; only the clock
/// that produces it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Build from whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs * 1000)
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self + d`, saturating: never earlier than `self`, whatever `d`.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(millis_saturating(d)))
    }

    /// `self - d`, saturating: never later than `self`, whatever `d` (a cut-off
    /// computed from a huge retention lands at the earliest time, not in the future).
    pub fn minus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_sub(millis_saturating(d)))
    }

    /// The duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// The wall clock, for the production clock only.
    pub fn now_wall() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }
}

/// Where "now" comes from: the wall clock in production, a virtual clock in tests
/// and simulations. Whatever runs in real time takes one instead of reading the wall
/// clock, so that it can be driven in paused or virtual time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// `d` in whole milliseconds, `i64::MAX` when it does not fit (a plain `as i64` of
/// the `u128` wraps, and a wrapped duration is negative).
fn millis_saturating(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        Timestamp::now_wall()
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC to the second (`2026-01-01T00:00:00Z`); times before the epoch
    /// show the epoch. Total: any value formats, years past 9999 with more digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000).max(0);
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), for any `days` a [`Timestamp`] can hold.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Format a duration compactly for logs and tables: `45s`, `3m20s`, `1h02m`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// [`fmt_duration`] for a number of seconds: total, for any `f64` (negative and NaN
/// count as zero, values past what a [`Duration`] holds show as its largest value).
pub fn fmt_duration_secs(secs: f64) -> String {
    let d = if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    };
    fmt_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_total_and_matches_rfc3339_up_to_year_9999() {
        // The same text humantime gives, over the years it can format (to 9999).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 253_402_300_800) as i64; // up to 9999-12-31T23:59:59Z
            let t = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
            assert_eq!(
                Timestamp::from_secs(secs).to_string(),
                humantime::format_rfc3339_seconds(t).to_string()
            );
        }
        // Beyond: no panic (replay read year 10000 and exited 101), and a sane text.
        assert_eq!(
            Timestamp::from_secs(253_402_300_800).to_string(),
            "10000-01-01T00:00:00Z"
        );
        for t in [i64::MAX, i64::MIN, -1, 0] {
            let _ = Timestamp(t).to_string();
        }
        assert_eq!(Timestamp(-5_000).to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn arithmetic_saturates_and_orders() {
        let t = Timestamp::from_secs(100);
        assert_eq!(t.plus(Duration::from_secs(5)), Timestamp::from_secs(105));
        assert_eq!(t.minus(Duration::from_secs(5)), Timestamp::from_secs(95));
        assert_eq!(t.since(Timestamp::from_secs(200)), Duration::ZERO);
        assert_eq!(Timestamp::from_secs(130).since(t), Duration::from_secs(30));
    }

    /// Issue 16 item 12: `minus` of a duration whose milliseconds do not fit an `i64`
    /// wrapped to a negative number, so a prune cut-off `now - retention` landed in
    /// the future and every record was older than it.
    #[test]
    fn huge_durations_saturate_instead_of_wrapping() {
        let now = Timestamp::from_secs(1_800_000_000);
        let huge = [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 1000 + 1),
            humantime::parse_duration("584000000000y").expect("parses"),
        ];
        for d in huge {
            assert!(
                now.minus(d) <= now,
                "{d:?}: cut-off {:?} after now",
                now.minus(d)
            );
            assert!(now.minus(d) < Timestamp(0), "{d:?}");
            assert!(now.plus(d) >= now, "{d:?}");
            assert_eq!(now.plus(d), Timestamp(i64::MAX), "{d:?}");
        }
    }

    /// `/api/v1/knowledge` formats stored seconds; no value may panic there.
    #[test]
    fn duration_formatting_is_total() {
        for s in [
            1e300,
            f64::INFINITY,
            f64::NAN,
            -1e300,
            f64::MAX,
            1.8e19,
            -0.0,
        ] {
            let _ = fmt_duration_secs(s);
        }
        assert_eq!(fmt_duration_secs(f64::NAN), "0s");
        assert_eq!(fmt_duration_secs(90.0), "1m30s");
    }

    #[test]
    fn formats_compact_durations() {
        assert_eq!(fmt_duration(Duration::from_secs(45)), "45s");
        assert_eq!(fmt_duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(fmt_duration(Duration::from_secs(3720)), "1h02m");
    }
}
