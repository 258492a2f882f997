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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pfsync::{Family, PFSTATE_PFLOW};

    fn st(creator: u32, id: u64, dir: PfDirection, creation: u32, p: [u64; 2]) -> PfState {
        let mut keys = [StateKey::default(); 2];
        keys[SK_WIRE].addr[0][..4].copy_from_slice(&[198, 51, 100, 1]);
        keys[SK_WIRE].addr[1][..4].copy_from_slice(&[203, 0, 113, 1]);
        keys[SK_STACK].addr[0][..4].copy_from_slice(&[198, 51, 100, 1]);
        keys[SK_STACK].addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
        PfState {
            id,
            creator,
            ifname: IfName::new("em0"),
            keys,
            family: Family::Inet,
            proto: 6,
            direction: dir,
            rule: 3,
            creation,
            packets: p,
            bytes: [p[0] * 100, p[1] * 100],
            state_flags: PFSTATE_PFLOW,
            flags_known: true,
            ..Default::default()
        }
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(1_000_000 + s)
    }

    #[test]
    fn insert_update_delete_with_an_explicit_clock() {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        tab.apply(
            &Message::Insert(st(1, 10, PfDirection::In, 2, [1, 0])),
            t(5),
            &mut out,
        );
        let id = StateId { creator: 1, id: 10 };
        let tr = *tab.get(&id).unwrap();
        assert_eq!(tr.first, t(3)); // arrival − age
        assert_eq!(tr.last, t(5));
        // wire key for inbound states
        assert_eq!(tr.key.addr[1][..4], [203, 0, 113, 1]);
        tab.apply(
            &Message::UpdateCompressed {
                id: 10,
                creator: 1,
                peer_state: [4, 4],
                timeout: 2,
            },
            t(9),
            &mut out,
        );
        assert_eq!(tab.get(&id).unwrap().last, t(9));
        tab.apply(
            &Message::Update(st(1, 10, PfDirection::In, 9, [7, 5])),
            t(12),
            &mut out,
        );
        let tr = *tab.get(&id).unwrap();
        assert_eq!(
            (tr.packets, tr.counters_at, tr.first),
            ([7, 5], t(12), t(3))
        );
        // same id from another creator is another state
        tab.apply(
            &Message::DeleteCompressed { id: 10, creator: 2 },
            t(20),
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(tab.stats().unknown_deletes, 1);
        tab.apply(
            &Message::DeleteCompressed { id: 10, creator: 1 },
            t(40),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ended, t(40));
        assert_eq!(out[0].state.last, t(12));
        assert!(tab.is_empty());
    }

    #[test]
    fn outbound_states_keep_the_stack_key_and_insert_replaces() {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        tab.apply(
            &Message::Insert(st(1, 1, PfDirection::Out, 0, [1, 0])),
            t(0),
            &mut out,
        );
        let id = StateId { creator: 1, id: 1 };
        assert_eq!(tab.get(&id).unwrap().key.addr[1][..4], [192, 0, 2, 1]);
        tab.apply(
            &Message::Insert(st(1, 1, PfDirection::In, 0, [2, 0])),
            t(1),
            &mut out,
        );
        assert_eq!(tab.stats().replaced, 1);
        assert_eq!(tab.get(&id).unwrap().direction, PfDirection::In);
        assert_eq!(tab.len(), 1);
    }

    #[test]
    fn clear_ends_one_creators_states_on_the_named_interface() {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        for i in 0..4 {
            let mut s = st(1, i, PfDirection::In, 0, [1, 0]);
            if i == 3 {
                s.ifname = IfName::new("em1");
            }
            tab.apply(&Message::Insert(s), t(0), &mut out);
            tab.apply(
                &Message::Insert(st(2, i, PfDirection::In, 0, [1, 0])),
                t(0),
                &mut out,
            );
        }
        tab.apply(
            &Message::Clear {
                creator: 1,
                ifname: IfName::new("em0"),
            },
            t(5),
            &mut out,
        );
        assert_eq!(out.iter().map(|c| c.id.id).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(
            out.iter()
                .all(|c| c.id.creator == 1 && c.reason == EndReason::ForcedEnd)
        );
        out.clear();
        tab.apply(
            &Message::Clear {
                creator: 2,
                ifname: IfName::default(),
            },
            t(6),
            &mut out,
        );
        assert_eq!(out.len(), 4);
        assert_eq!(tab.len(), 1);
        assert_eq!(tab.stats().cleared_states, 7);
    }

    #[test]
    fn the_bound_evicts_the_longest_idle_and_counts_it() {
        let mut tab = StateTable::new(TableConfig { max_states: 3 });
        let mut out = vec![];
        for i in 0..3 {
            tab.apply(
                &Message::Insert(st(1, i, PfDirection::In, 0, [1, 0])),
                t(i),
                &mut out,
            );
        }
        // state 0 shows activity, so state 1 is now the longest idle
        tab.apply(
            &Message::UpdateCompressed {
                id: 0,
                creator: 1,
                peer_state: [0, 0],
                timeout: 0,
            },
            t(10),
            &mut out,
        );
        tab.apply(
            &Message::Insert(st(1, 9, PfDirection::In, 0, [1, 0])),
            t(11),
            &mut out,
        );
        assert_eq!(tab.len(), 3);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, StateId { creator: 1, id: 1 });
        assert_eq!(out[0].reason, EndReason::LackOfResources);
        assert_eq!(tab.stats().evicted, 1);
    }

    #[test]
    fn full_delete_carries_final_counters() {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        tab.apply(
            &Message::Insert(st(1, 1, PfDirection::In, 0, [1, 0])),
            t(0),
            &mut out,
        );
        tab.apply(
            &Message::Delete(st(1, 1, PfDirection::In, 30, [50, 40])),
            t(30),
            &mut out,
        );
        assert_eq!(out[0].state.packets, [50, 40]);
        assert_eq!(out[0].state.first, t(0));
        // counters moved: activity up to the delete
        assert_eq!(out[0].state.last, t(30));
        // an unchanged full delete keeps the earlier Last
        tab.apply(
            &Message::Insert(st(1, 2, PfDirection::In, 0, [3, 0])),
            t(40),
            &mut out,
        );
        tab.apply(
            &Message::Delete(st(1, 2, PfDirection::In, 60, [3, 0])),
            t(100),
            &mut out,
        );
        assert_eq!(out[1].state.last, t(40));
    }
}
