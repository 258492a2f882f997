//! `StateTable`: pf states as pfsync told us about them.
//!
//! Keyed by (creator id, state id) — never the id alone, which is only unique
//! per creating firewall. Time is always passed in (the capture timestamp, or
//! the wall clock read by the caller), never read here.
//!
//! What each message does:
//! - INS: starts tracking (a known key is replaced, as pf does).
//!   First = arrival − the state's `creation` age.
//! - UPD (full): refreshes counters and keys; an unknown key starts tracking
//!   (states learnt from a bulk transfer or a reply to our request).
//! - UPD_C: marks activity (Last = arrival); no counters travel in it.
//! - DEL_C: ends the state; unknown keys are counted (states created before
//!   we started listening), not an error.
//! - DEL (full, legacy pfsync0): ends the state with the final counters it
//!   carries.
//! - CLR: ends every state of that creator (and interface, when named).
//!
//! Last activity is the arrival of the last INS/UPD/UPD_C, not the deletion:
//! pf deletes an idle state a timeout after its last packet, while an active
//! state produces an update within about a second of its activity.
//!
//! The table is bounded: when full, the state idle the longest is ended early
//! (exported with what we have) and counted as evicted.

use crate::flow::EndReason;
use crate::pfsync::{Family, IfName, Message, PfDirection, PfState, SK_STACK, SK_WIRE, StateKey};
use crate::time::Timestamp;
use std::collections::HashMap;

/// A state's identity on the pfsync network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId {
    pub creator: u32,
    pub id: u64,
}

/// What the table remembers of one pf state: the part a flow record needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// The key flows are reported from: the wire key for inbound states, the
    /// stack key (pre-NAT) otherwise, as pflow(4) chooses.
    pub key: StateKey,
    pub ifname: IfName,
    pub family: Family,
    pub proto: u8,
    pub direction: PfDirection,
    pub rule: u32,
    pub state_flags: u16,
    pub flags_known: bool,
    /// When the state was created (arrival of its first full state − age).
    pub first: Timestamp,
    /// Arrival of the last INS/UPD/UPD_C for it.
    pub last: Timestamp,
    /// [initiator→responder, reverse], from the last full state seen.
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    /// When those counters were seen.
    pub counters_at: Timestamp,
}

impl Tracked {
    fn from_state(s: &PfState, now: Timestamp) -> Self {
        let key = if s.direction == PfDirection::In {
            s.keys[SK_WIRE]
        } else {
            s.keys[SK_STACK]
        };
        Tracked {
            key,
            ifname: s.ifname,
            family: s.family,
            proto: s.proto,
            direction: s.direction,
            rule: s.rule,
            state_flags: s.state_flags,
            flags_known: s.flags_known,
            first: now.saturating_sub_secs(u64::from(s.creation)),
            last: now,
            packets: s.packets,
            bytes: s.bytes,
            counters_at: now,
        }
    }

    /// Takes a newer full snapshot of the same state.
    fn refresh(&mut self, s: &PfState, now: Timestamp) {
        let first = self.first;
        *self = Tracked::from_state(s, now);
        // The first sighting fixes First; later ages only confirm it (and
        // would drift with the sender's one-second age granularity).
        self.first = first.min(self.first);
    }
}

/// A state that ended (or was forced out), ready to become flow records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    pub id: StateId,
    pub state: Tracked,
    /// When we learnt it ended.
    pub ended: Timestamp,
    pub reason: EndReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableConfig {
    /// Most states tracked at once.
    pub max_states: usize,
}

impl Default for TableConfig {
    fn default() -> Self {
        // pf's own default limit is 100,000 states; large firewalls raise it
        // to a million. Sized for the latter.
        TableConfig {
            max_states: 1_000_000,
        }
    }
}

/// Counters of what the table did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub inserts: u64,
    /// INS for a key we already held (replaced).
    pub replaced: u64,
    pub updates: u64,
    /// Full updates that introduced a state we had not seen.
    pub learned: u64,
    pub compressed_updates: u64,
    /// UPD_C for a state we do not know.
    pub unknown_updates: u64,
    pub deletes: u64,
    /// DEL/DEL_C for a state we do not know (created before we listened).
    pub unknown_deletes: u64,
    pub clears: u64,
    pub cleared_states: u64,
    pub evicted: u64,
}

pub struct StateTable {
    cfg: TableConfig,
    map: HashMap<StateId, Tracked>,
    stats: TableStats,
}

impl StateTable {
    pub fn new(cfg: TableConfig) -> Self {
        StateTable {
            cfg,
            map: HashMap::new(),
            stats: TableStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    pub fn get(&self, id: &StateId) -> Option<&Tracked> {
        self.map.get(id)
    }

    /// Every tracked state, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&StateId, &Tracked)> {
        self.map.iter()
    }

    /// Applies one message that arrived at `now`; states it ends are
    /// appended to `out`.
    pub fn apply(&mut self, msg: &Message, now: Timestamp, out: &mut Vec<Completed>) {
        match msg {
            Message::Insert(s) => {
                self.stats.inserts += 1;
                let id = StateId {
                    creator: s.creator,
                    id: s.id,
                };
                if self.map.insert(id, Tracked::from_state(s, now)).is_some() {
                    self.stats.replaced += 1;
                } else {
                    self.enforce_bound(id, now, out);
                }
            }
            Message::Update(s) => {
                self.stats.updates += 1;
                let id = StateId {
                    creator: s.creator,
                    id: s.id,
                };
                match self.map.get_mut(&id) {
                    Some(t) => t.refresh(s, now),
                    None => {
                        self.stats.learned += 1;
                        self.map.insert(id, Tracked::from_state(s, now));
                        self.enforce_bound(id, now, out);
                    }
                }
            }
            Message::UpdateCompressed { id, creator, .. } => {
                self.stats.compressed_updates += 1;
                match self.map.get_mut(&StateId {
                    creator: *creator,
                    id: *id,
                }) {
                    Some(t) => t.last = t.last.max(now),
                    None => self.stats.unknown_updates += 1,
                }
            }
            Message::DeleteCompressed { id, creator } => {
                self.stats.deletes += 1;
                let id = StateId {
                    creator: *creator,
                    id: *id,
                };
                match self.map.remove(&id) {
                    Some(state) => out.push(Completed {
                        id,
                        state,
                        ended: now,
                        reason: EndReason::IdleTimeout,
                    }),
                    None => self.stats.unknown_deletes += 1,
                }
            }
            Message::Delete(s) => {
                self.stats.deletes += 1;
                let id = StateId {
                    creator: s.creator,
                    id: s.id,
                };
                let mut state = Tracked::from_state(s, now);
                match self.map.remove(&id) {
                    Some(prev) => {
                        state.first = prev.first.min(state.first);
                        // Counters that did not move since the last snapshot
                        // mean no activity since then.
                        if prev.packets == s.packets && prev.bytes == s.bytes {
                            state.last = prev.last;
                        }
                    }
                    None => self.stats.unknown_deletes += 1,
                }
                out.push(Completed {
                    id,
                    state,
                    ended: now,
                    reason: EndReason::IdleTimeout,
                });
            }
            Message::Clear { creator, ifname } => {
                self.stats.clears += 1;
                let before = out.len();
                self.map.retain(|id, t| {
                    let gone = id.creator == *creator && (ifname.is_empty() || t.ifname == *ifname);
                    if gone {
                        out.push(Completed {
                            id: *id,
                            state: *t,
                            ended: now,
                            reason: EndReason::ForcedEnd,
                        });
                    }
                    !gone
                });
                // Deterministic order for callers and tests.
                out[before..].sort_by_key(|c| c.id);
                self.stats.cleared_states += (out.len() - before) as u64;
            }
            Message::InsertAck { .. }
            | Message::UpdateRequest { .. }
            | Message::BulkStatus { .. }
            | Message::Tdb
            | Message::Eof
            | Message::Unknown { .. } => {}
        }
    }

    /// Keeps the table within its bound by ending the longest-idle state
    /// other than the one just added.
    fn enforce_bound(&mut self, added: StateId, now: Timestamp, out: &mut Vec<Completed>) {
        while self.map.len() > self.cfg.max_states.max(1) {
            let victim = self
                .map
                .iter()
                .filter(|(id, _)| **id != added)
                .min_by_key(|(id, t)| (t.last, **id))
                .map(|(id, _)| *id);
            let Some(victim) = victim else { break };
            if let Some(state) = self.map.remove(&victim) {
                self.stats.evicted += 1;
                out.push(Completed {
                    id: victim,
                    state,
                    ended: now,
                    reason: EndReason::LackOfResources,
                });
            }
        }
    }

    /// Ends every tracked state (shutdown flush), in id order.
    pub fn drain(&mut self, now: Timestamp, out: &mut Vec<Completed>) {
        let before = out.len();
        out.extend(self.map.drain().map(|(id, state)| Completed {
            id,
            state,
            ended: now,
            reason: EndReason::ForcedEnd,
        }));
        out[before..].sort_by_key(|c| c.id);
    }
}
