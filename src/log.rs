//! A small logger: stderr in the foreground, and rate limiting so that a
//! flood of bad input is logged once, not once per packet.
//!
//! Messages carry a level; the active level is set once at start. A
//! [`RateLimit`] lets a caller log the first occurrence of a kind of event
//! and then at most once per interval, with the number suppressed.

use crate::time::Timestamp;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warning = 1,
    Notice = 2,
    Info = 3,
    Debug = 4,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: Level) -> bool {
    l as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn log(l: Level, msg: &str) {
    if enabled(l) {
        let tag = match l {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        eprintln!("stateflowd: {tag}: {msg}");
    }
}

/// Logs the first event of a kind, then at most once per `interval`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    interval_us: u64,
    last: Option<Timestamp>,
    suppressed: u64,
}

impl RateLimit {
    pub const fn new(interval_secs: u64) -> Self {
        RateLimit {
            interval_us: interval_secs * 1_000_000,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log now; when it says yes after suppressing some, the
    /// count of those suppressed is returned with it.
    pub fn check(&mut self, now: Timestamp) -> Option<u64> {
        match self.last {
            Some(t) if now.micros_since(t) < self.interval_us && now >= t => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_logs_first_then_once_per_interval() {
        let mut r = RateLimit::new(60);
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(r.check(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(r.check(t0.saturating_add_micros(i * 1_000_000)), None);
        }
        assert_eq!(r.check(Timestamp::from_secs(1060)), Some(5));
        assert_eq!(r.check(Timestamp::from_secs(1061)), None);
    }
}
