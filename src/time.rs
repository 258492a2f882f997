//! Instants as the pipeline sees them.
//!
//! Every clock in stateflowd is passed in: a pcap record's timestamp when
//! replaying a file, the wall clock read once per received frame when live.
//! Pure modules (decoders, the state table, the exporters' batching) never read
//! a clock themselves, so tests drive them with any time they like.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);

    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s.saturating_mul(1_000_000))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms.saturating_mul(1_000))
    }
    pub const fn from_secs_micros(s: u64, us: u32) -> Self {
        Timestamp(s.saturating_mul(1_000_000).saturating_add(us as u64))
    }
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Sub-second part in nanoseconds.
    pub const fn subsec_nanos(self) -> u32 {
        ((self.0 % 1_000_000) * 1_000) as u32
    }
    pub const fn saturating_sub_secs(self, s: u64) -> Self {
        Timestamp(self.0.saturating_sub(s.saturating_mul(1_000_000)))
    }
    pub const fn saturating_add_micros(self, us: u64) -> Self {
        Timestamp(self.0.saturating_add(us))
    }
    pub const fn saturating_sub_micros(self, us: u64) -> Self {
        Timestamp(self.0.saturating_sub(us))
    }
    /// Microseconds from `earlier` to `self`, 0 if `earlier` is later.
    pub const fn micros_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    /// The wall clock. Only I/O adapters call this.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_micros(d.as_secs(), d.subsec_micros())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Display for Timestamp {
    /// `YYYY-MM-DD hh:mm:ss.mmm` in UTC, as collectors print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.secs();
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60,
            (self.0 / 1000) % 1000
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_utc_calendar_time() {
        // 1680626679 = 2023-04-04 16:44:39 UTC
        let t = Timestamp::from_secs_micros(1_680_626_679, 123_456);
        assert_eq!(t.to_string(), "2023-04-04 16:44:39.123");
        assert_eq!(Timestamp::ZERO.to_string(), "1970-01-01 00:00:00.000");
        // leap day
        assert_eq!(
            Timestamp::from_secs(951_782_400).to_string(),
            "2000-02-29 00:00:00.000"
        );
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_secs(10);
        assert_eq!(t.saturating_sub_secs(20), Timestamp::ZERO);
        assert_eq!(t.micros_since(Timestamp::from_secs(11)), 0);
        assert_eq!(t.subsec_nanos(), 0);
        assert_eq!(Timestamp(1_500_000).subsec_nanos(), 500_000_000);
    }
}
