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
//!   (states learnt from a bulk transfer or a reply to our request). Last
//!   moves only when the counters did (a bulk resend is not activity).
//! - UPD_C: marks activity (Last = arrival); no counters travel in it.
//! - DEL_C: ends the state; unknown keys are counted (states created before
//!   we started listening), not an error.
//! - DEL (full, legacy pfsync0): ends the state with the final counters it
//!   carries.
//! - CLR: ends every state of that creator (and interface, when named).
//! - BUS start/end, per sender: a bulk transfer resends every state the
//!   sender holds, so when one completes, the states whose last full
//!   snapshot is older than its start were not resent: they are marked
//!   stale (counted) and, unless something refreshes them first, ended
//!   after a grace period (60 s by default) by [`StateTable::poll`]. This is
//!   also how states restored from a state file whose deletion we missed
//!   while down are eventually found out.
//!
//! Last activity is the arrival of the last INS/UPD/UPD_C, not the deletion:
//! pf deletes an idle state a timeout after its last packet, while an active
//! state produces an update within about a second of its activity.
//!
//! Counters: modern dialects never carry final counters in a deletion, so
//! the table keeps per state the last full snapshot (often the INS, with
//! counters near zero) and when it was seen (`counters_at`); that is the
//! best value the wire offers.
//!
//! Layout, for memory (≈ 150 bytes per state at a million states, see
//! `benches/state_table.rs`): entries live in a slab (`Vec<Entry>`, 128
//! bytes each, grown 65,536 at a time rather than doubled), found through
//! an open-addressing index of 8-byte buckets (`u32` slot number + 32 bits
//! of hash; linear probing, backward-shift deletion, load ≤ 3/4), and
//! chained in an intrusive doubly linked LRU list with `u32` links, so the
//! state idle the longest is found in O(1) when the bound forces one out.
//! Interface names are interned (`u16`). The index hash is a fixed mixer:
//! pfsync peers are trusted firewalls (TTL 255, own link), not an
//! adversary choosing ids.
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

/// How long a state a completed bulk transfer did not resend is kept
/// (marked stale) before it is ended, unless set with
/// [`StateTable::set_stale_grace_secs`].
pub const DEFAULT_STALE_GRACE_SECS: u64 = 60;

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
    pub bulk_starts: u64,
    pub bulk_ends: u64,
    /// BUS end from a sender whose start we did not see (no sweep).
    pub bulk_ends_unmatched: u64,
    /// States a completed bulk transfer did not resend.
    pub marked_stale: u64,
    /// Stale states refreshed before their grace ran out.
    pub stale_revived: u64,
    /// Stale states ended when their grace ran out.
    pub stale_ended: u64,
    /// States put back from a state file.
    pub restored: u64,
}

const NIL: u32 = u32::MAX;
/// Bulk transfers in progress we remember (one per sending firewall).
const MAX_BULK_SENDERS: usize = 64;
/// Pending stale sweeps we keep apart before folding them together.
const MAX_SWEEPS: usize = 16;
const F_STALE: u8 = 1;
const F_FLAGS_KNOWN: u8 = 2;
const F_USED: u8 = 4;

/// One slab slot (128 bytes). Field order packs it without padding.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    first: Timestamp,
    last: Timestamp,
    counters_at: Timestamp,
    packets: [u64; 2],
    bytes: [u64; 2],
    addr: [[u8; 16]; 2],
    creator: u32,
    rule: u32,
    prev: u32,
    /// LRU successor; for a free slot, the next free slot.
    next: u32,
    port: [u16; 2],
    rdomain: u16,
    state_flags: u16,
    ifname: u16,
    family: Family,
    direction: PfDirection,
    proto: u8,
    flags: u8,
}

impl Entry {
    fn sid(&self) -> StateId {
        StateId {
            creator: self.creator,
            id: self.id,
        }
    }
}

/// A pending end of stale states: those still stale whose snapshot is
/// older than `start` are ended at `deadline`.
#[derive(Clone, Copy, Debug)]
struct Sweep {
    deadline: Timestamp,
    start: Timestamp,
}

/// The state a message names, if it names one.
pub fn message_id(m: &Message) -> Option<StateId> {
    match *m {
        Message::Insert(ref s) | Message::Update(ref s) | Message::Delete(ref s) => Some(StateId {
            creator: s.creator,
            id: s.id,
        }),
        Message::UpdateCompressed { id, creator, .. }
        | Message::DeleteCompressed { id, creator } => Some(StateId { creator, id }),
        _ => None,
    }
}

fn hash(id: StateId) -> u64 {
    // splitmix64's finaliser over both halves
    let mut z = id.id ^ (u64::from(id.creator) << 32 | u64::from(id.creator)).rotate_left(17);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Entries the slab grows by at a time (8 MiB).
const SLAB_STEP: usize = 65_536;

pub struct StateTable {
    cfg: TableConfig,
    stale_grace_secs: u64,
    slab: Vec<Entry>,
    free: u32,
    /// Open addressing: `(slot + 1) << 32 | low 32 bits of the hash`, 0 =
    /// empty. The stored hash gives the home bucket and filters probes
    /// without touching the slab. Length a power of two, at most 2^32.
    index: Vec<u64>,
    len: usize,
    head: u32,
    tail: u32,
    ifnames: Vec<IfName>,
    ifname_ids: HashMap<IfName, u16>,
    bulks: HashMap<u32, Timestamp>,
    sweeps: Vec<Sweep>,
    stats: TableStats,
    /// Reused by `apply_all` for a frame's ids.
    scratch: Vec<StateId>,
}

impl StateTable {
    pub fn new(cfg: TableConfig) -> Self {
        StateTable {
            cfg,
            stale_grace_secs: DEFAULT_STALE_GRACE_SECS,
            slab: Vec::new(),
            free: NIL,
            index: vec![0; 16],
            len: 0,
            head: NIL,
            tail: NIL,
            ifnames: Vec::new(),
            ifname_ids: HashMap::new(),
            bulks: HashMap::new(),
            sweeps: Vec::new(),
            stats: TableStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Sets the grace period of stale states (see the module docs).
    pub fn set_stale_grace_secs(&mut self, secs: u64) {
        self.stale_grace_secs = secs;
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    pub fn get(&self, id: &StateId) -> Option<Tracked> {
        self.find(*id).map(|(_, slot)| self.tracked(slot))
    }

    /// True when `id` is tracked and marked stale.
    pub fn is_stale(&self, id: &StateId) -> bool {
        self.find(*id)
            .is_some_and(|(_, s)| self.slab[s as usize].flags & F_STALE != 0)
    }

    /// Every tracked state, from the longest idle to the most recent.
    pub fn iter(&self) -> impl Iterator<Item = (StateId, Tracked)> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let e = self.slab.get(at as usize)?;
            let slot = at;
            at = e.next;
            Some((e.sid(), self.tracked(slot)))
        })
    }

    /// The earliest instant [`StateTable::poll`] has work to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.sweeps.iter().map(|s| s.deadline).min()
    }

    // ---- index -------------------------------------------------------

    /// (bucket, slot) of `id`.
    #[inline]
    fn find(&self, id: StateId) -> Option<(usize, u32)> {
        let h = hash(id) as u32;
        let mask = self.index.len() - 1;
        let mut b = h as usize & mask;
        loop {
            let v = self.index[b];
            if v == 0 {
                return None;
            }
            if v as u32 == h {
                let slot = (v >> 32) as u32 - 1;
                let e = &self.slab[slot as usize];
                if e.id == id.id && e.creator == id.creator {
                    return Some((b, slot));
                }
            }
            b = (b + 1) & mask;
        }
    }

    /// Loads the index buckets (then the slab entries) of `ids` so that
    /// the misses overlap instead of being paid one after another; purely
    /// a speed hint, with ordinary safe loads. Call it with the ids of a
    /// frame's messages ([`message_id`]) before applying them one by one,
    /// or use [`StateTable::apply_all`].
    pub fn prefetch(&self, ids: &[StateId]) {
        let mask = self.index.len() - 1;
        let bucket = |id: &StateId| self.index[hash(*id) as u32 as usize & mask];
        let mut acc = 0u64;
        for id in ids {
            acc ^= bucket(id);
        }
        std::hint::black_box(acc);
        let mut acc = 0u64;
        for id in ids {
            let v = bucket(id);
            if let Some(e) = self.slab.get(((v >> 32) as usize).wrapping_sub(1)) {
                acc ^= e.id ^ u64::from(e.prev);
            }
        }
        std::hint::black_box(acc);
    }

    fn index_insert(&mut self, id: StateId, slot: u32) {
        if (self.len + 1) * 4 > self.index.len() * 3 {
            self.grow_index();
        }
        let h = hash(id) as u32;
        let mask = self.index.len() - 1;
        let mut b = h as usize & mask;
        while self.index[b] != 0 {
            b = (b + 1) & mask;
        }
        self.index[b] = (u64::from(slot) + 1) << 32 | u64::from(h);
    }

    fn grow_index(&mut self) {
        let doubled = vec![0; self.index.len() * 2];
        let old = std::mem::replace(&mut self.index, doubled);
        let mask = self.index.len() - 1;
        for v in old.into_iter().filter(|&v| v != 0) {
            let mut b = v as u32 as usize & mask;
            while self.index[b] != 0 {
                b = (b + 1) & mask;
            }
            self.index[b] = v;
        }
    }

    /// Empties bucket `b`, shifting back the entries that probed past it.
    fn index_remove(&mut self, mut b: usize) {
        let mask = self.index.len() - 1;
        let mut j = b;
        loop {
            self.index[b] = 0;
            loop {
                j = (j + 1) & mask;
                let v = self.index[j];
                if v == 0 {
                    return;
                }
                let home = v as u32 as usize & mask;
                // move v into the hole at b unless its home lies cyclically
                // in (b, j]
                let stays = if b <= j {
                    b < home && home <= j
                } else {
                    b < home || home <= j
                };
                if !stays {
                    self.index[b] = v;
                    b = j;
                    break;
                }
            }
        }
    }

    // ---- LRU ---------------------------------------------------------

    fn unlink(&mut self, slot: u32) {
        let (p, n) = {
            let e = &self.slab[slot as usize];
            (e.prev, e.next)
        };
        match self.slab.get_mut(p as usize) {
            Some(pe) => pe.next = n,
            None => self.head = n,
        }
        match self.slab.get_mut(n as usize) {
            Some(ne) => ne.prev = p,
            None => self.tail = p,
        }
    }

    fn push_back(&mut self, slot: u32) {
        let t = self.tail;
        {
            let e = &mut self.slab[slot as usize];
            e.prev = t;
            e.next = NIL;
        }
        match self.slab.get_mut(t as usize) {
            Some(te) => te.next = slot,
            None => self.head = slot,
        }
        self.tail = slot;
    }

    fn touch(&mut self, slot: u32) {
        if self.tail != slot {
            self.unlink(slot);
            self.push_back(slot);
        }
    }

    // ---- entries -----------------------------------------------------

    fn intern(&mut self, name: IfName) -> u16 {
        // A firewall has a handful of interfaces: a short scan beats hashing.
        if let Some(i) = self.ifnames.iter().take(16).position(|n| *n == name) {
            return i as u16;
        }
        if let Some(&i) = self.ifname_ids.get(&name) {
            return i;
        }
        if self.ifnames.len() >= usize::from(u16::MAX) {
            // More distinct names than any firewall has: share the last.
            return u16::MAX - 1;
        }
        let i = self.ifnames.len() as u16;
        self.ifnames.push(name);
        self.ifname_ids.insert(name, i);
        i
    }

    fn tracked(&self, slot: u32) -> Tracked {
        let e = &self.slab[slot as usize];
        Tracked {
            key: StateKey {
                addr: e.addr,
                port: e.port,
                rdomain: e.rdomain,
            },
            ifname: self
                .ifnames
                .get(usize::from(e.ifname))
                .copied()
                .unwrap_or_default(),
            family: e.family,
            proto: e.proto,
            direction: e.direction,
            rule: e.rule,
            state_flags: e.state_flags,
            flags_known: e.flags & F_FLAGS_KNOWN != 0,
            first: e.first,
            last: e.last,
            packets: e.packets,
            bytes: e.bytes,
            counters_at: e.counters_at,
        }
    }

    fn write(&mut self, slot: u32, id: StateId, t: &Tracked) {
        let ifname = self.intern(t.ifname);
        let e = &mut self.slab[slot as usize];
        e.id = id.id;
        e.creator = id.creator;
        e.addr = t.key.addr;
        e.port = t.key.port;
        e.rdomain = t.key.rdomain;
        e.ifname = ifname;
        e.family = t.family;
        e.proto = t.proto;
        e.direction = t.direction;
        e.rule = t.rule;
        e.state_flags = t.state_flags;
        e.flags = F_USED | if t.flags_known { F_FLAGS_KNOWN } else { 0 };
        e.first = t.first;
        e.last = t.last;
        e.packets = t.packets;
        e.bytes = t.bytes;
        e.counters_at = t.counters_at;
    }

    /// Adds a state not in the table; returns its slot.
    fn add(&mut self, id: StateId, t: &Tracked) -> u32 {
        let slot = if self.free != NIL {
            let s = self.free;
            self.free = self.slab[s as usize].next;
            s
        } else {
            let blank = Entry {
                id: 0,
                first: Timestamp::ZERO,
                last: Timestamp::ZERO,
                counters_at: Timestamp::ZERO,
                packets: [0; 2],
                bytes: [0; 2],
                addr: [[0; 16]; 2],
                creator: 0,
                rule: 0,
                prev: NIL,
                next: NIL,
                port: [0; 2],
                rdomain: 0,
                state_flags: 0,
                ifname: 0,
                family: Family::Inet,
                direction: PfDirection::InOut,
                proto: 0,
                flags: 0,
            };
            if self.slab.len() == self.slab.capacity() {
                // Grow by a fixed step, not by doubling: the memory held
                // stays within a step of what the states need (a large
                // realloc is a remap, not a copy, on Linux).
                self.slab.reserve_exact(SLAB_STEP);
            }
            self.slab.push(blank);
            (self.slab.len() - 1) as u32
        };
        self.write(slot, id, t);
        self.index_insert(id, slot);
        self.push_back(slot);
        self.len += 1;
        slot
    }

    /// Removes the state in bucket `b` / slab `slot`; returns what it held.
    fn remove_at(&mut self, b: usize, slot: u32) -> (StateId, Tracked) {
        let t = self.tracked(slot);
        let id = self.slab[slot as usize].sid();
        self.index_remove(b);
        self.unlink(slot);
        let e = &mut self.slab[slot as usize];
        e.flags = 0;
        e.prev = NIL;
        e.next = self.free;
        self.free = slot;
        self.len -= 1;
        (id, t)
    }

    fn remove(&mut self, id: StateId) -> Option<Tracked> {
        let (b, slot) = self.find(id)?;
        Some(self.remove_at(b, slot).1)
    }

    fn unstale(&mut self, slot: u32) {
        let e = &mut self.slab[slot as usize];
        if e.flags & F_STALE != 0 {
            e.flags &= !F_STALE;
            self.stats.stale_revived += 1;
        }
    }

    /// Puts back a state saved earlier (see [`crate::state::persist`]):
    /// times and counters as they were. A key already present is left
    /// alone (what arrived since start is newer).
    pub fn restore(&mut self, id: StateId, t: &Tracked, out: &mut Vec<Completed>) {
        if self.find(id).is_some() {
            return;
        }
        self.add(id, t);
        self.stats.restored += 1;
        self.enforce_bound(t.last, out);
    }

    /// Applies the messages of one frame in order, as [`StateTable::apply`]
    /// would one by one, after loading the entries they name together (the
    /// misses of a large table then overlap; see [`StateTable::prefetch`]).
    pub fn apply_all(&mut self, msgs: &[Message], now: Timestamp, out: &mut Vec<Completed>) {
        if self.len > 4096 {
            let mut ids = std::mem::take(&mut self.scratch);
            ids.clear();
            ids.extend(msgs.iter().filter_map(message_id));
            self.prefetch(&ids);
            self.scratch = ids;
        }
        for m in msgs {
            self.apply(m, now, out);
        }
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
                let t = Tracked::from_state(s, now);
                match self.find(id) {
                    Some((_, slot)) => {
                        self.stats.replaced += 1;
                        self.unstale(slot);
                        self.write(slot, id, &t);
                        self.touch(slot);
                    }
                    None => {
                        self.add(id, &t);
                        self.enforce_bound(now, out);
                    }
                }
            }
            Message::Update(s) => {
                self.stats.updates += 1;
                let id = StateId {
                    creator: s.creator,
                    id: s.id,
                };
                let mut t = Tracked::from_state(s, now);
                match self.find(id) {
                    Some((_, slot)) => {
                        // The first sighting fixes First; later ages only
                        // confirm it (and drift with the one-second age
                        // granularity).
                        let e = &self.slab[slot as usize];
                        t.first = t.first.min(e.first);
                        // A refresh whose counters did not move (a bulk
                        // transfer, a reply to our request) is not activity.
                        if e.packets == s.packets && e.bytes == s.bytes {
                            t.last = e.last;
                        }
                        self.unstale(slot);
                        self.write(slot, id, &t);
                        self.touch(slot);
                    }
                    None => {
                        self.stats.learned += 1;
                        self.add(id, &t);
                        self.enforce_bound(now, out);
                    }
                }
            }
            Message::UpdateCompressed { id, creator, .. } => {
                self.stats.compressed_updates += 1;
                match self.find(StateId {
                    creator: *creator,
                    id: *id,
                }) {
                    Some((_, slot)) => {
                        let e = &mut self.slab[slot as usize];
                        e.last = e.last.max(now);
                        self.unstale(slot);
                        self.touch(slot);
                    }
                    None => self.stats.unknown_updates += 1,
                }
            }
            Message::DeleteCompressed { id, creator } => {
                self.stats.deletes += 1;
                let id = StateId {
                    creator: *creator,
                    id: *id,
                };
                match self.remove(id) {
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
                match self.remove(id) {
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
                let want = if ifname.is_empty() {
                    None
                } else {
                    // a name never interned matches no state
                    Some(self.ifname_ids.get(ifname).copied())
                };
                let n = self.end_where(now, EndReason::ForcedEnd, out, |e| {
                    e.creator == *creator && want.is_none_or(|w| w == Some(e.ifname))
                });
                self.stats.cleared_states += n;
            }
            Message::BulkStatus {
                creator, status, ..
            } => match status {
                crate::pfsync::BulkStatus::Start => {
                    self.stats.bulk_starts += 1;
                    if self.bulks.len() >= MAX_BULK_SENDERS && !self.bulks.contains_key(creator) {
                        // a sync domain has a few firewalls; forget the
                        // oldest transfer rather than grow without bound
                        if let Some(k) = self.bulks.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k)
                        {
                            self.bulks.remove(&k);
                        }
                    }
                    self.bulks.insert(*creator, now);
                }
                crate::pfsync::BulkStatus::End => {
                    self.stats.bulk_ends += 1;
                    match self.bulks.remove(creator) {
                        Some(start) => self.mark_stale(start, now),
                        None => self.stats.bulk_ends_unmatched += 1,
                    }
                }
                crate::pfsync::BulkStatus::Other(_) => {}
            },
            Message::InsertAck { .. }
            | Message::UpdateRequest { .. }
            | Message::Tdb
            | Message::Eof
            | Message::Unknown { .. } => {}
        }
    }

    /// A bulk transfer that started at `start` completed at `now`: every
    /// state whose last full snapshot predates it was not resent.
    fn mark_stale(&mut self, start: Timestamp, now: Timestamp) {
        let mut n = 0;
        for e in self.slab.iter_mut() {
            if e.flags & F_USED != 0 && e.flags & F_STALE == 0 && e.counters_at < start {
                e.flags |= F_STALE;
                n += 1;
            }
        }
        self.stats.marked_stale += n;
        if n > 0 {
            let deadline =
                now.saturating_add_micros(self.stale_grace_secs.saturating_mul(1_000_000));
            let full = self.sweeps.len() >= MAX_SWEEPS;
            match self.sweeps.last_mut() {
                // bounded: fold into the latest sweep (everything it then
                // ends is stale and was marked at least this long ago)
                Some(last) if full => {
                    last.deadline = last.deadline.max(deadline);
                    last.start = last.start.max(start);
                }
                _ => self.sweeps.push(Sweep { deadline, start }),
            }
        }
    }

    /// Lets time pass: ends the stale states whose grace ran out.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Completed>) {
        while let Some(k) = self.sweeps.iter().position(|s| s.deadline <= now) {
            let sw = self.sweeps.swap_remove(k);
            let n = self.end_where(now, EndReason::ForcedEnd, out, |e| {
                e.flags & F_STALE != 0 && e.counters_at < sw.start
            });
            self.stats.stale_ended += n;
        }
    }

    /// Ends every state matching `pred`, in id order; returns how many.
    fn end_where(
        &mut self,
        now: Timestamp,
        reason: EndReason,
        out: &mut Vec<Completed>,
        pred: impl Fn(&Entry) -> bool,
    ) -> u64 {
        let mut victims: Vec<StateId> = self
            .slab
            .iter()
            .filter(|e| e.flags & F_USED != 0 && pred(e))
            .map(Entry::sid)
            .collect();
        victims.sort_unstable();
        for id in &victims {
            if let Some(state) = self.remove(*id) {
                out.push(Completed {
                    id: *id,
                    state,
                    ended: now,
                    reason,
                });
            }
        }
        victims.len() as u64
    }

    /// Keeps the table within its bound by ending the longest-idle states
    /// (the one just added is at the tail, never first).
    fn enforce_bound(&mut self, now: Timestamp, out: &mut Vec<Completed>) {
        while self.len > self.cfg.max_states.max(1) {
            let slot = self.head;
            let Some(e) = self.slab.get(slot as usize) else {
                break;
            };
            let Some((b, _)) = self.find(e.sid()) else {
                break;
            };
            let (id, state) = self.remove_at(b, slot);
            self.stats.evicted += 1;
            out.push(Completed {
                id,
                state,
                ended: now,
                reason: EndReason::LackOfResources,
            });
        }
    }

    /// Ends every tracked state (shutdown flush), in id order.
    pub fn drain(&mut self, now: Timestamp, out: &mut Vec<Completed>) {
        self.end_where(now, EndReason::ForcedEnd, out, |_| true);
        self.sweeps.clear();
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
        let tr = tab.get(&id).unwrap();
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
        let tr = tab.get(&id).unwrap();
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

    #[test]
    fn bulk_bookkeeping_is_bounded() {
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        let bus = |creator, status| Message::BulkStatus {
            creator,
            endtime: 0,
            status,
        };
        for c in 0..100u32 {
            tab.apply(
                &bus(c, crate::pfsync::BulkStatus::Start),
                t(u64::from(c)),
                &mut out,
            );
        }
        assert_eq!(tab.bulks.len(), MAX_BULK_SENDERS);
        // the oldest starts were forgotten: their end matches nothing
        tab.apply(&bus(0, crate::pfsync::BulkStatus::End), t(200), &mut out);
        tab.apply(&bus(99, crate::pfsync::BulkStatus::End), t(200), &mut out);
        assert_eq!(tab.stats().bulk_ends_unmatched, 1);
        assert_eq!(tab.stats().bulk_ends, 2);
        // many sweeps fold into a bounded list
        for k in 0..40u64 {
            tab.apply(
                &Message::Insert(st(1, k, PfDirection::In, 0, [1, 0])),
                t(300 + 2 * k),
                &mut out,
            );
            tab.apply(
                &bus(7, crate::pfsync::BulkStatus::Start),
                t(301 + 2 * k),
                &mut out,
            );
            tab.apply(
                &bus(7, crate::pfsync::BulkStatus::End),
                t(301 + 2 * k),
                &mut out,
            );
        }
        assert_eq!(tab.stats().marked_stale, 40);
        assert!(tab.sweeps.len() <= MAX_SWEEPS);
        tab.poll(t(10_000), &mut out);
        assert_eq!(tab.stats().stale_ended, 40);
        assert!(tab.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The index, slab and LRU agree with a plain map model under any
        /// sequence of inserts, updates and deletes (small key space, so
        /// probes collide and deletions shift entries back).
        #[test]
        fn table_agrees_with_a_map_model(
            ops in proptest::collection::vec((0u8..3, 0u64..40, 0u32..3), 1..400)
        ) {
            let mut tab = StateTable::new(TableConfig { max_states: 25 });
            let mut model: std::collections::BTreeMap<StateId, u64> = Default::default();
            let mut out = vec![];
            for (k, (op, id, creator)) in ops.into_iter().enumerate() {
                let now = t(k as u64);
                let sid = StateId { creator, id };
                out.clear();
                match op {
                    0 => {
                        tab.apply(&Message::Insert(st(creator, id, PfDirection::In, 0, [1, 0])), now, &mut out);
                        model.insert(sid, k as u64);
                    }
                    1 => {
                        tab.apply(&Message::UpdateCompressed { id, creator, peer_state: [0; 2], timeout: 0 }, now, &mut out);
                        if let Some(v) = model.get_mut(&sid) { *v = k as u64; }
                    }
                    _ => {
                        tab.apply(&Message::DeleteCompressed { id, creator }, now, &mut out);
                        proptest::prop_assert_eq!(out.len(), usize::from(model.remove(&sid).is_some()));
                    }
                }
                if model.len() > 25 {
                    // the model's longest idle is what the table evicted
                    let (&victim, _) = model.iter().min_by_key(|(_, v)| **v).unwrap();
                    model.remove(&victim);
                    proptest::prop_assert_eq!(out.len(), 1);
                    proptest::prop_assert_eq!(out[0].id, victim);
                }
                proptest::prop_assert_eq!(tab.len(), model.len());
            }
            for (sid, last) in &model {
                proptest::prop_assert_eq!(tab.get(sid).map(|x| x.last), Some(t(*last)));
            }
            let order: Vec<_> = tab.iter().map(|(_, x)| x.last).collect();
            proptest::prop_assert!(order.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
