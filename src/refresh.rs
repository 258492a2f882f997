//! Asking the firewall for fresher counters (opt-in).
//!
//! Modern pfsync never sends a state's final counters: only full states
//! (INS, bulk-transfer UPD, or the reply to a request) carry them. A pfsync
//! peer may ask for a state with UPD_REQ (id, creator); the firewall then
//! sends that state in full. With refreshing on, stateflowd asks for states
//! that show activity (UPD_C) when the counters it holds are older than a
//! configured age, at most once per state per interval and at most a set
//! number of requests per second overall, so the exported counters are at
//! most that stale and the firewall's extra work is bounded. At start it
//! can also ask for a bulk transfer (UPD_REQ with id 0, creator 0), so the
//! states that existed before stateflowd started become known; like the
//! kernel, it asks again every [`BULK_RETRY_US`] until a bulk transfer
//! ends (BUS end), at most [`BULK_TRIES`] times.
//!
//! Pure policy: time is passed in; the caller sends what it returns.

use crate::pfsync::Message;
use crate::state::StateId;
use crate::time::Timestamp;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshConfig {
    /// Counters older than this (µs) are refreshed on the next activity.
    pub max_age_us: u64,
    /// Most requests sent per second.
    pub max_per_sec: u32,
    /// Ask for a bulk transfer when starting.
    pub bulk_at_start: bool,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        RefreshConfig {
            max_age_us: 60_000_000,
            max_per_sec: 1000,
            bulk_at_start: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshStats {
    pub requests: u64,
    pub bulk_requests: u64,
    /// Wanted but refused by the overall rate limit.
    pub rate_limited: u64,
}

/// Interval between bulk requests while none has been answered.
pub const BULK_RETRY_US: u64 = 5_000_000;
/// Most bulk requests sent before giving up (the kernel's limit is 12).
pub const BULK_TRIES: u32 = 12;

/// Remembered request times are bounded; older ones are forgotten first.
const MAX_TRACKED: usize = 1 << 16;

pub struct Refresher {
    cfg: RefreshConfig,
    asked: HashMap<StateId, Timestamp>,
    /// Token bucket in millionths of a request.
    tokens: u64,
    refilled: Option<Timestamp>,
    started: bool,
    /// A bulk transfer was asked for and has not ended yet.
    bulk_pending: bool,
    bulk_sent: Option<Timestamp>,
    stats: RefreshStats,
}

impl Refresher {
    pub fn new(cfg: RefreshConfig) -> Self {
        Refresher {
            cfg,
            asked: HashMap::new(),
            tokens: u64::from(cfg.max_per_sec) * 1_000_000,
            refilled: None,
            started: false,
            bulk_pending: false,
            bulk_sent: None,
            stats: RefreshStats::default(),
        }
    }

    pub fn stats(&self) -> RefreshStats {
        self.stats
    }

    /// The bulk request to send when starting, once.
    pub fn start(&mut self) -> Option<Message> {
        if self.started || !self.cfg.bulk_at_start {
            return None;
        }
        self.started = true;
        self.bulk_pending = true;
        self.stats.bulk_requests += 1;
        Some(Message::UpdateRequest { id: 0, creator: 0 })
    }

    /// A bulk transfer ended (BUS end): no more bulk requests are due.
    pub fn on_bulk_end(&mut self) {
        self.bulk_pending = false;
    }

    /// Time passes: a bulk request not answered within
    /// [`BULK_RETRY_US`] is sent again.
    pub fn poll(&mut self, now: Timestamp) -> Option<Message> {
        if !self.bulk_pending || self.stats.bulk_requests >= u64::from(BULK_TRIES) {
            return None;
        }
        let sent = *self.bulk_sent.get_or_insert(now);
        if now.micros_since(sent) < BULK_RETRY_US {
            return None;
        }
        self.bulk_sent = Some(now);
        self.stats.bulk_requests += 1;
        Some(Message::UpdateRequest { id: 0, creator: 0 })
    }

    fn take_token(&mut self, now: Timestamp) -> bool {
        let cap = u64::from(self.cfg.max_per_sec) * 1_000_000;
        if let Some(t) = self.refilled {
            let add = now
                .micros_since(t)
                .saturating_mul(u64::from(self.cfg.max_per_sec));
            self.tokens = self.tokens.saturating_add(add).min(cap);
        }
        self.refilled = Some(now);
        if self.tokens >= 1_000_000 {
            self.tokens -= 1_000_000;
            true
        } else {
            false
        }
    }

    /// A state showed activity at `now`; its counters date from
    /// `counters_at`. Returns the request to send, if one is due.
    pub fn on_activity(
        &mut self,
        id: StateId,
        counters_at: Timestamp,
        now: Timestamp,
    ) -> Option<Message> {
        if now.micros_since(counters_at) < self.cfg.max_age_us {
            return None;
        }
        if let Some(&t) = self.asked.get(&id) {
            if now.micros_since(t) < self.cfg.max_age_us {
                return None;
            }
        }
        if !self.take_token(now) {
            self.stats.rate_limited += 1;
            return None;
        }
        if self.asked.len() >= MAX_TRACKED {
            let horizon = now.saturating_sub_micros(self.cfg.max_age_us);
            self.asked.retain(|_, t| *t >= horizon);
            if self.asked.len() >= MAX_TRACKED {
                self.asked.clear();
            }
        }
        self.asked.insert(id, now);
        self.stats.requests += 1;
        Some(Message::UpdateRequest {
            id: id.id,
            creator: id.creator,
        })
    }

    /// Forgets a state that ended.
    pub fn forget(&mut self, id: &StateId) {
        self.asked.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(1000 + s)
    }

    #[test]
    fn asks_for_stale_states_once_per_interval() {
        let mut r = Refresher::new(RefreshConfig {
            max_age_us: 10_000_000,
            max_per_sec: 100,
            bulk_at_start: true,
        });
        assert_eq!(
            r.start(),
            Some(Message::UpdateRequest { id: 0, creator: 0 })
        );
        assert_eq!(r.start(), None);
        let id = StateId { creator: 7, id: 9 };
        // fresh counters: nothing to ask
        assert_eq!(r.on_activity(id, t(0), t(5)), None);
        assert_eq!(
            r.on_activity(id, t(0), t(11)),
            Some(Message::UpdateRequest { id: 9, creator: 7 })
        );
        // asked already; the reply has not come yet
        assert_eq!(r.on_activity(id, t(0), t(15)), None);
        assert!(r.on_activity(id, t(0), t(22)).is_some());
        assert_eq!(r.stats().requests, 2);
    }

    #[test]
    fn bulk_requests_repeat_until_a_transfer_ends() {
        let mut r = Refresher::new(RefreshConfig::default());
        assert!(r.start().is_some());
        assert_eq!(r.poll(t(0)), None); // the first poll starts the clock
        assert_eq!(r.poll(t(4)), None);
        assert_eq!(
            r.poll(t(5)),
            Some(Message::UpdateRequest { id: 0, creator: 0 })
        );
        assert_eq!(r.poll(t(6)), None);
        r.on_bulk_end();
        assert_eq!(r.poll(t(20)), None);
        assert_eq!(r.stats().bulk_requests, 2);
        // without an answer it gives up after BULK_TRIES
        let mut r = Refresher::new(RefreshConfig::default());
        r.start();
        let sent = (0..100).filter(|i| r.poll(t(i * 5)).is_some()).count();
        assert_eq!(sent as u32, BULK_TRIES - 1);
    }

    #[test]
    fn the_overall_rate_is_bounded() {
        let mut r = Refresher::new(RefreshConfig {
            max_age_us: 1_000_000,
            max_per_sec: 5,
            bulk_at_start: false,
        });
        assert_eq!(r.start(), None);
        let sent = (0..50)
            .filter(|&i| {
                r.on_activity(StateId { creator: 1, id: i }, t(0), t(10))
                    .is_some()
            })
            .count();
        assert_eq!(sent, 5);
        assert_eq!(r.stats().rate_limited, 45);
        // one second later five more tokens
        let sent = (100..150)
            .filter(|&i| {
                r.on_activity(StateId { creator: 1, id: i }, t(0), t(11))
                    .is_some()
            })
            .count();
        assert_eq!(sent, 5);
    }
}
