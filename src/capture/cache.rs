//! The capture-mode flow cache (pure; time is a parameter).
//!
//! Storage is a slab of 112-byte conversations in chunks of 65,536 (a
//! chunk can be made on another thread: [`ConvChunk`]), found through an
//! open-addressing index on the canonical key (lower endpoint first).
//! Expiry deadlines wait in a wheel of one-second buckets (a heap holds
//! the rare one further out than the wheel) with lazy re-scheduling: a
//! conversation gets an entry when created or when its deadline moves
//! earlier, and one whose popped deadline turns out to have moved later
//! is pushed again, so a packet costs a lookup and a few stores, not a
//! timer operation. The least-recently-active order for `max_flows`
//! eviction is a heap built the first time the bound is reached, lazily
//! re-pushed in the same way. Stale entries in either are swept once they
//! pass twice the table's size.
//!
//! Later fragments join the flow of their first fragment through a bounded
//! table keyed by (addresses, protocol, IP id); a later fragment whose first
//! was not seen is accounted to a port-less flow (as softflowd does for all
//! later fragments).

use crate::flow::{EndReason, Flow};
use crate::packet::{Frag, ParsedPacket, proto};
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Timeouts in seconds, named as softflowd's `-t name=value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: u64,
    pub tcp_rst: u64,
    pub tcp_fin: u64,
    pub udp: u64,
    pub icmp: u64,
    pub general: u64,
    /// Active timeout: longest a conversation lives before it is cut (0 = off).
    pub maxlife: u64,
    /// Granularity deadlines are rounded up to (0 = exact).
    pub expint: u64,
}

impl Default for Timeouts {
    /// softflowd 1.1's defaults (softflowd.h; `softflowd -h`).
    fn default() -> Self {
        Timeouts {
            tcp: 3600,
            tcp_rst: 120,
            tcp_fin: 300,
            udp: 300,
            icmp: 300,
            general: 3600,
            maxlife: 604_800,
            expint: 60,
        }
    }
}

impl Timeouts {
    /// Sets one timeout from `name=time` (time: `90`, `10m`, `1h30m`, s/m/h/d/w).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, val) = spec
            .split_once('=')
            .ok_or_else(|| format!("timeout '{spec}' is not NAME=TIME"))?;
        let secs = parse_duration(val).ok_or_else(|| format!("timeout '{spec}': bad time"))?;
        let slot = match name {
            "tcp" => &mut self.tcp,
            "tcp.rst" => &mut self.tcp_rst,
            "tcp.fin" => &mut self.tcp_fin,
            "udp" => &mut self.udp,
            "icmp" => &mut self.icmp,
            "general" => &mut self.general,
            "maxlife" => &mut self.maxlife,
            "expint" => &mut self.expint,
            _ => return Err(format!("unknown timeout name '{name}'")),
        };
        *slot = secs;
        Ok(())
    }
}

/// `1h30m`, `10m`, `45`, with units s, m, h, d, w (as softflowd's convtime).
pub fn parse_duration(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut cur: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            cur = Some(
                cur.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let mult = match c {
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86_400,
            'w' | 'W' => 604_800,
            _ => return None,
        };
        total = total.checked_add(cur.take()?.checked_mul(mult)?)?;
    }
    if let Some(c) = cur {
        total = total.checked_add(c)?;
    }
    Some(total)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    pub timeouts: Timeouts,
    /// Most conversations tracked; beyond it the least recently active one
    /// is exported early. softflowd's default is 8192.
    pub max_flows: usize,
    /// Keep VLANs apart (same 5-tuple on two VLANs = two flows).
    pub key_vlan: bool,
    /// ifIndex written as input and output interface of every record.
    pub ifindex: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            timeouts: Timeouts::default(),
            max_flows: 8192,
            key_vlan: false,
            ifindex: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub packets: u64,
    pub created: u64,
    pub expired_idle: u64,
    pub expired_tcp_end: u64,
    pub expired_active: u64,
    pub expired_overbytes: u64,
    pub evicted: u64,
    pub flushed: u64,
    pub fragments: u64,
    /// Later fragments whose first fragment was not seen.
    pub orphan_fragments: u64,
    pub records: u64,
    /// Sweeps of stale expiry entries.
    pub compactions: u64,
}

impl CacheConfig {
    /// Readies a packet for [`FlowCache::account`]: its conversation key
    /// (lower endpoint first) and hash. Depends on the packet and this
    /// configuration only, so a reader thread can do it while the table's
    /// thread accounts earlier packets.
    #[inline]
    pub fn prepare(&self, p: &ParsedPacket) -> Prepared {
        let vlan = if self.key_vlan { p.vlan } else { 0 };
        let (frag_kind, frag_id) = match p.frag {
            Frag::None => (FRAG_NONE, 0),
            Frag::First(id) => (FRAG_FIRST, id),
            Frag::Later(id) => (FRAG_LATER, id),
        };
        let (key, ndx) = canonical(
            &p.src, &p.dst, p.src_port, p.dst_port, p.protocol, p.version, vlan,
        );
        Prepared {
            tag: tag_of(&key),
            key,
            ndx: ndx as u8,
            tcp_flags: p.tcp_flags,
            tos: p.tos,
            octets: p.octets,
            frag_kind,
            frag_id,
        }
    }

    /// The fragment identity of a prepared packet.
    fn frag_of(p: &Prepared) -> Frag {
        match p.frag_kind {
            FRAG_FIRST => Frag::First(p.frag_id),
            FRAG_LATER => Frag::Later(p.frag_id),
            _ => Frag::None,
        }
    }
}

const FRAG_NONE: u8 = 0;
const FRAG_FIRST: u8 = 1;
const FRAG_LATER: u8 = 2;

/// A packet readied for the table by [`CacheConfig::prepare`]: 56 bytes,
/// so that with its timestamp it fills one cache line of a batch.
#[derive(Clone, Copy)]
pub struct Prepared {
    key: Key,
    tag: u32,
    octets: u32,
    /// The IP id of a fragment (see `frag_kind`).
    frag_id: u32,
    /// 0 when the packet goes from the key's lower endpoint to its higher.
    ndx: u8,
    tcp_flags: u8,
    tos: u8,
    /// `FRAG_NONE`, `FRAG_FIRST` or `FRAG_LATER`: [`Frag`] unpacked, so
    /// the struct has no padding.
    frag_kind: u8,
}

/// The conversation key of a packet and the side it counts on (0: from
/// the lower endpoint, by address then port, to the higher).
#[inline]
fn canonical(
    src: &[u8; 16],
    dst: &[u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    version: u8,
    vlan: u16,
) -> (Key, usize) {
    // Big-endian numbers compare as the bytes do.
    let fwd = (u128::from_be_bytes(*src), sport) <= (u128::from_be_bytes(*dst), dport);
    let (a, b, pa, pb) = if fwd {
        (*src, *dst, sport, dport)
    } else {
        (*dst, *src, dport, sport)
    };
    let key = Key {
        a,
        b,
        pa,
        pb,
        proto,
        v6: version == 6,
        vlan,
    };
    (key, usize::from(!fwd))
}

/// The fragment-table key of a packet (its own direction) and its ports.
fn frag_key(key: &Key, ndx: usize, id: u32) -> (FragKey, (u16, u16)) {
    let (src, dst, sport, dport) = if ndx == 0 {
        (key.a, key.b, key.pa, key.pb)
    } else {
        (key.b, key.a, key.pb, key.pa)
    };
    let fk = FragKey {
        src,
        dst,
        id,
        proto: key.proto,
    };
    (fk, (sport, dport))
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    /// Lower endpoint (address, port) first.
    a: [u8; 16],
    b: [u8; 16],
    pa: u16,
    pb: u16,
    proto: u8,
    v6: bool,
    vlan: u16,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(u64::from_ne_bytes(self.a[..8].try_into().unwrap_or([0; 8])));
        h.write_u64(u64::from_ne_bytes(self.a[8..].try_into().unwrap_or([0; 8])));
        h.write_u64(u64::from_ne_bytes(self.b[..8].try_into().unwrap_or([0; 8])));
        h.write_u64(u64::from_ne_bytes(self.b[8..].try_into().unwrap_or([0; 8])));
        h.write_u64(
            u64::from(self.pa)
                | u64::from(self.pb) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.v6) << 40
                | u64::from(self.vlan) << 48,
        );
    }
}

/// A small multiply-rotate hasher (keys are not attacker-chosen in a way
/// that matters more than for the kernel's own flow tables; the map is
/// bounded by `max_flows`).
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // Final avalanche so the low bits hashbrown uses are mixed.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[derive(Clone, Copy, Default)]
struct Side {
    first: u64,
    last: u64,
    /// 32 bits suffice: a conversation is cut once either side passes
    /// 2^31 octets (softflowd's over-bytes rule), long before these wrap.
    packets: u32,
    octets: u32,
}

/// One conversation, 112 bytes.
#[derive(Clone, Copy)]
struct Conv {
    key: Key,
    side: [Side; 2],
    expires: u64,
    generation: u32,
    /// The key's hash, kept so expiry finds the index slot without
    /// rehashing (and can prefetch it).
    tag: u32,
    /// Per side: cumulative TCP flags, last ToS.
    flags: [u8; 2],
    tos: [u8; 2],
    fin: u8,
    rst: bool,
    reason: EndReason,
    live: bool,
}

impl Conv {
    const EMPTY: Conv = Conv {
        key: Key {
            a: [0; 16],
            b: [0; 16],
            pa: 0,
            pb: 0,
            proto: 0,
            v6: false,
            vlan: 0,
        },
        side: [Side {
            first: 0,
            last: 0,
            packets: 0,
            octets: 0,
        }; 2],
        expires: u64::MAX,
        generation: 0,
        tag: 0,
        flags: [0; 2],
        tos: [0; 2],
        fin: 0,
        rst: false,
        reason: EndReason::IdleTimeout,
        live: false,
    };

    fn start(&self) -> u64 {
        match (self.side[0].packets, self.side[1].packets) {
            (0, _) => self.side[1].first,
            (_, 0) => self.side[0].first,
            _ => self.side[0].first.min(self.side[1].first),
        }
    }

    fn last(&self) -> u64 {
        self.side[0].last.max(self.side[1].last)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    proto: u8,
}

/// Fragment-table bound; beyond it the table is cleared (later fragments of
/// the forgotten datagrams then go to port-less flows and are counted).
const MAX_FRAGS: usize = 65_536;

const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Conversations in fixed-size chunks: indices stay valid, and growing
/// never copies (or doubles) what is already stored.
struct Slab {
    chunks: Vec<Box<[Conv]>>,
    used: u32,
    free: Vec<u32>,
    /// A chunk made ready by another thread (see [`ConvChunk`]), taken
    /// the next time the slab grows.
    spare: Option<Box<[Conv]>>,
    /// Chunks received through [`FlowCache::give_chunk`].
    given: u64,
}

/// Room for 65,536 conversations, allocated and written (so its pages are
/// faulted in) wherever [`ConvChunk::new`] runs. A table of a million
/// conversations grows by a dozen of these, a few milliseconds each: a
/// driver with a thread to spare makes them there and hands them over
/// with [`FlowCache::give_chunk`], and the table's own thread, the one a
/// replay waits for, does not pay for them. A table given none makes its
/// own; the flows are the same either way.
pub struct ConvChunk(Box<[Conv]>);

impl ConvChunk {
    pub fn new() -> ConvChunk {
        ConvChunk(vec![Conv::EMPTY; CHUNK].into_boxed_slice())
    }
}

impl Default for ConvChunk {
    fn default() -> Self {
        ConvChunk::new()
    }
}

impl Slab {
    #[inline]
    fn get(&self, i: u32) -> &Conv {
        &self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut Conv {
        &mut self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    fn alloc(&mut self) -> u32 {
        if let Some(i) = self.free.pop() {
            // The next one to hand out was ended a while ago and is
            // likely cold: fetch it now, before it is needed.
            if let Some(&next) = self.free.last() {
                prefetch_conv_lines(self.get(next));
            }
            return i;
        }
        if self.used as usize == self.chunks.len() * CHUNK {
            let chunk = self.spare.take().unwrap_or_else(|| ConvChunk::new().0);
            self.chunks.push(chunk);
        }
        self.used += 1;
        self.used - 1
    }
}

/// Open-addressing index from key hash to slab index: 8-byte slots
/// (`tag << 32 | index + 1`, 0 = empty), linear probing, load ≤ 1/2,
/// backward-shift deletion. Keys live only in the slab.
struct Index {
    slots: Vec<u64>,
    len: usize,
}

impl Index {
    fn with_capacity(n: usize) -> Self {
        Index {
            slots: vec![0; (n * 2).next_power_of_two().max(64)],
            len: 0,
        }
    }
    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }
    #[inline]
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }
    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn find(&self, tag: u32, key: &Key, slab: &Slab) -> Result<usize, usize> {
        let mask = self.mask();
        let mut pos = self.home(tag);
        loop {
            let s = self.slots[pos];
            if s == 0 {
                return Err(pos);
            }
            if (s >> 32) as u32 == tag && slab.get((s as u32).wrapping_sub(1)).key == *key {
                return Ok(pos);
            }
            pos = (pos + 1) & mask;
        }
    }
    fn insert_at(&mut self, pos: usize, tag: u32, idx: u32) {
        self.slots[pos] = u64::from(tag) << 32 | u64::from(idx + 1);
        self.len += 1;
    }
    fn grow_if_needed(&mut self) {
        if self.len * 2 < self.slots.len() {
            return;
        }
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![0; n]);
        let mask = self.mask();
        for s in old.into_iter().filter(|&s| s != 0) {
            let mut pos = (s >> 32) as usize & mask;
            while self.slots[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = s;
        }
    }
    fn clear(&mut self) {
        self.slots.fill(0);
        self.len = 0;
    }

    fn remove_at(&mut self, pos: usize) {
        let mask = self.mask();
        let mut i = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let k = self.home((s >> 32) as u32);
            // Leave the entry if its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if stays {
                continue;
            }
            self.slots[i] = s;
            i = j;
        }
        self.slots[i] = 0;
        self.len -= 1;
    }
}

/// Hints the CPU to fetch every cache line of the conversation at `c`:
/// at 112 bytes, half of them straddle three lines, and a prefetch of the
/// first alone leaves the others to miss when the packet is accounted.
#[inline]
fn prefetch_conv_lines(c: &Conv) {
    let p = (c as *const Conv).cast::<u8>();
    prefetch(p);
    prefetch(p.wrapping_add(64));
    prefetch(p.wrapping_add(std::mem::size_of::<Conv>() - 1));
}

/// Hints the CPU to fetch the cache line at `p` (a no-op elsewhere).
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[inline]
fn tag_of(key: &Key) -> u32 {
    let mut h = FastHasher::default();
    key.hash(&mut h);
    (h.finish() >> 32) as u32
}

/// Stale entries the expiry wheel and the eviction order may hold beyond
/// twice the conversations tracked, before they are swept.
const STALE_SLACK: usize = 65_536;

/// How far ahead expiry loops prefetch the conversations they will end.
const AHEAD: usize = 16;

/// Seconds a timer wheel turn spans; deadlines further out wait in a heap.
const WHEEL: u64 = 4096;

/// Expiry deadlines: a wheel of one-second buckets (pushes are appends,
/// due entries are whole buckets), with a heap for the rare deadline more
/// than [`WHEEL`] seconds ahead. Entries are `(at µs, slab index,
/// generation)` and may be stale; the cache checks them when they fall due.
struct Wheel {
    buckets: Vec<Vec<(u64, u32, u32)>>,
    far: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// Second of the first bucket not yet emptied.
    cursor: u64,
    near: usize,
    /// Lower bound of the earliest entry (µs); `u64::MAX` when empty.
    min: u64,
}

impl Wheel {
    fn new() -> Self {
        Wheel {
            buckets: (0..WHEEL).map(|_| Vec::new()).collect(),
            far: BinaryHeap::new(),
            cursor: 0,
            near: 0,
            min: u64::MAX,
        }
    }

    fn is_empty(&self) -> bool {
        self.near == 0 && self.far.is_empty()
    }

    /// Adds an entry due at `at`, pushed at time `now` (the wheel's cursor
    /// never passes `now`, so an earlier entry still lands in time).
    fn push(&mut self, at: u64, idx: u32, generation: u32, now: u64) {
        let sec = at / 1_000_000;
        if self.is_empty() {
            self.cursor = now / 1_000_000;
        }
        let sec = sec.max(self.cursor);
        if sec >= self.cursor + WHEEL {
            self.far.push(Reverse((at, idx, generation)));
        } else {
            self.buckets[(sec % WHEEL) as usize].push((at, idx, generation));
            self.near += 1;
        }
        self.min = self.min.min(at);
    }

    /// Entries held, stale ones included.
    fn len(&self) -> usize {
        self.near + self.far.len()
    }

    /// Keeps the entries `keep` accepts, and only those.
    fn retain(&mut self, mut keep: impl FnMut(u64, u32, u32) -> bool) {
        let mut min = u64::MAX;
        self.near = 0;
        for b in &mut self.buckets {
            b.retain(|&(at, i, g)| keep(at, i, g));
            self.near += b.len();
            min = b.iter().fold(min, |m, e| m.min(e.0));
            if b.capacity() > 4 * b.len().max(64) {
                b.shrink_to(2 * b.len());
            }
        }
        let mut far = std::mem::take(&mut self.far).into_vec();
        far.retain(|&Reverse((at, i, g))| keep(at, i, g));
        min = far.iter().fold(min, |m, e| m.min(e.0.0));
        self.far = BinaryHeap::from(far);
        self.min = min;
    }

    fn refill(&mut self) {
        while let Some(&Reverse((at, i, g))) = self.far.peek() {
            let sec = (at / 1_000_000).max(self.cursor);
            if sec >= self.cursor + WHEEL {
                break;
            }
            self.far.pop();
            self.buckets[(sec % WHEEL) as usize].push((at, i, g));
            self.near += 1;
        }
    }

    /// Moves every entry due at `now` into `due`.
    fn pop_due(&mut self, now: u64, due: &mut Vec<(u64, u32, u32)>) {
        if now < self.min {
            return;
        }
        let now_sec = now / 1_000_000;
        loop {
            if self.near == 0 {
                match self.far.peek() {
                    None => {
                        self.min = u64::MAX;
                        return;
                    }
                    Some(&Reverse((at, _, _))) => {
                        if at > now {
                            self.cursor = self.cursor.max(now_sec);
                            self.refill();
                            self.min = at;
                            if self.near == 0 {
                                return;
                            }
                            continue;
                        }
                        self.cursor = self.cursor.max(at / 1_000_000);
                        self.refill();
                        continue;
                    }
                }
            }
            if self.cursor > now_sec {
                self.min = self.cursor * 1_000_000;
                return;
            }
            if now_sec >= self.cursor + WHEEL {
                // A jump past the whole wheel: everything in it is due.
                for b in &mut self.buckets {
                    due.append(b);
                }
                self.near = 0;
                self.cursor = now_sec;
                self.refill();
                continue;
            }
            let b = (self.cursor % WHEEL) as usize;
            let bucket = std::mem::take(&mut self.buckets[b]);
            self.near -= bucket.len();
            if self.cursor < now_sec {
                // Every entry of an earlier second is due.
                due.extend_from_slice(&bucket);
                self.cursor += 1;
                self.refill();
                continue;
            }
            // The current second: some entries may still be ahead.
            let mut keep = Vec::new();
            let mut min = u64::MAX;
            for e in bucket {
                if e.0 <= now {
                    due.push(e);
                } else {
                    min = min.min(e.0);
                    keep.push(e);
                }
            }
            self.near += keep.len();
            self.buckets[b] = keep;
            self.min = min.min(self.cursor.saturating_add(1).saturating_mul(1_000_000));
            return;
        }
    }

    fn clear(&mut self) {
        for b in &mut self.buckets {
            b.clear();
        }
        self.far.clear();
        self.near = 0;
        self.min = u64::MAX;
    }
}

pub struct FlowCache {
    cfg: CacheConfig,
    index: Index,
    slab: Slab,
    /// Expiry deadlines, lazily rescheduled.
    wheel: Wheel,
    /// Scratch for due entries (kept to reuse its allocation).
    due: Vec<(u64, u32, u32)>,
    /// Last-activity order for `max_flows` eviction, built the first time
    /// the bound is reached and lazily rescheduled (so tracking costs
    /// nothing per packet while the table has room).
    lru: Option<BinaryHeap<Reverse<(u64, u32, u32)>>>,
    frags: FastMap<FragKey, (u16, u16)>,
    rounding: Rounding,
    stats: CacheStats,
}

fn addr(v6: bool, a: &[u8; 16]) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*a))
    } else {
        IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
    }
}

impl FlowCache {
    pub fn new(cfg: CacheConfig) -> Self {
        // Grow with use: a large --max-flows is a bound, not a reservation.
        let cap = cfg.max_flows.min(4096);
        FlowCache {
            cfg,
            index: Index::with_capacity(cap),
            slab: Slab {
                chunks: Vec::new(),
                used: 0,
                free: Vec::new(),
                spare: None,
                given: 0,
            },
            wheel: Wheel::new(),
            due: Vec::new(),
            lru: None,
            frags: FastMap::default(),
            rounding: Rounding::default(),
            stats: CacheStats::default(),
        }
    }

    /// Whether the table would take a [`ConvChunk`] now: it holds no
    /// spare, is within half a chunk of needing one, and one more stays
    /// within what `max_flows` can use.
    pub fn wants_chunk(&self) -> bool {
        let room = self.slab.chunks.len() * CHUNK;
        self.slab.spare.is_none()
            && self.slab.used as usize + CHUNK / 2 >= room
            && room <= self.cfg.max_flows
    }

    /// Keeps `c` for the table's next growth (dropped if it has a spare
    /// already, or could never use it).
    pub fn give_chunk(&mut self, c: ConvChunk) {
        self.slab.given += 1;
        if self.wants_chunk() {
            self.slab.spare = Some(c.0);
        }
    }

    /// Chunks received through [`Self::give_chunk`], used or not.
    pub fn chunks_given(&self) -> u64 {
        self.slab.given
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Conversations tracked now.
    pub fn len(&self) -> usize {
        self.index.len
    }

    pub fn is_empty(&self) -> bool {
        self.index.len == 0
    }

    /// Hints the CPU to fetch the index slot `p` will probe. Pure
    /// performance: a driver that prepares a batch of packets and calls
    /// this, then [`Self::prefetch_entry`], a few packets ahead of
    /// [`Self::account`] overlaps the cache misses of a large table instead
    /// of paying them one after another. Results are the same without it.
    #[inline]
    pub fn prefetch_slot(&self, p: &Prepared) {
        prefetch(
            self.index
                .slots
                .as_ptr()
                .wrapping_add(self.index.home(p.tag)),
        );
    }

    /// Second prefetch stage: the entry the slot (now cached) points to.
    #[inline]
    pub fn prefetch_entry(&self, p: &Prepared) {
        // The first few slots of the probe sequence (one cache line,
        // mostly): an entry displaced by a collision is found too.
        let mask = self.index.mask();
        let mut pos = self.index.home(p.tag);
        for _ in 0..4 {
            let s = self.index.slots[pos];
            if s == 0 {
                return;
            }
            if (s >> 32) as u32 == p.tag {
                let i = (s as u32).wrapping_sub(1);
                if i < self.slab.used {
                    prefetch_conv_lines(self.slab.get(i));
                }
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Accounts one packet seen at `now`; flows that end because of it (or
    /// are evicted to make room) are appended to `out`. Call [`Self::poll`]
    /// with the same clock to expire idle ones. The same as
    /// [`Self::account`] of [`CacheConfig::prepare`].
    pub fn packet(&mut self, p: &ParsedPacket, now: Timestamp, out: &mut Vec<Flow>) {
        let p = self.cfg.prepare(p);
        self.account(&p, now, out);
    }

    /// Accounts one prepared packet seen at `now` (see [`Self::packet`]).
    pub fn account(&mut self, p: &Prepared, now: Timestamp, out: &mut Vec<Flow>) {
        self.stats.packets += 1;
        let now = now.as_micros();
        let (mut key, mut ndx, mut tag) = (p.key, usize::from(p.ndx), p.tag);
        match CacheConfig::frag_of(p) {
            Frag::None => {}
            Frag::First(id) => {
                self.stats.fragments += 1;
                if self.frags.len() >= MAX_FRAGS {
                    self.frags.clear();
                }
                let (fk, ports) = frag_key(&key, ndx, id);
                self.frags.insert(fk, ports);
            }
            Frag::Later(id) => {
                self.stats.fragments += 1;
                let (fk, _) = frag_key(&key, ndx, id);
                match self.frags.get(&fk) {
                    Some(&(sport, dport)) => {
                        // The first fragment's ports: key it again.
                        let v = if key.v6 { 6 } else { 4 };
                        (key, ndx) =
                            canonical(&fk.src, &fk.dst, sport, dport, fk.proto, v, key.vlan);
                        tag = tag_of(&key);
                    }
                    None => self.stats.orphan_fragments += 1,
                }
            }
        }
        let idx = match self.index.find(tag, &key, &self.slab) {
            Ok(pos) => (self.index.slots[pos] as u32).wrapping_sub(1),
            Err(pos) => {
                let i = self.slab.alloc();
                let g = self.slab.get(i).generation.wrapping_add(1);
                *self.slab.get_mut(i) = Conv {
                    key,
                    generation: g,
                    tag,
                    live: true,
                    ..Conv::EMPTY
                };
                self.index.insert_at(pos, tag, i);
                self.index.grow_if_needed();
                self.stats.created += 1;
                let stale_limit = self.stale_limit();
                if let Some(lru) = &mut self.lru {
                    lru.push(Reverse((now, i, g)));
                    // Entries of conversations that ended otherwise wait
                    // for an eviction to pop them: past a bound, rebuild
                    // the order from the table when next needed instead.
                    if lru.len() > stale_limit {
                        self.lru = None;
                    }
                }
                i
            }
        };
        let t = self.cfg.timeouts;
        let c = self.slab.get_mut(idx);
        let s = &mut c.side[ndx];
        // Captures can hold slightly out-of-order timestamps: times only widen.
        if s.packets == 0 || now < s.first {
            s.first = now;
        }
        s.packets = s.packets.saturating_add(1);
        s.octets = s.octets.saturating_add(p.octets);
        s.last = s.last.max(now);
        c.flags[ndx] |= p.tcp_flags;
        c.tos[ndx] = p.tos;
        if key.proto == proto::TCP {
            if p.tcp_flags & 0x04 != 0 {
                c.rst = true;
            }
            if p.tcp_flags & 0x01 != 0 {
                c.fin |= 1 << ndx;
            }
        }
        let (exp, reason) = deadline(c, &t, &mut self.rounding);
        // Deadlines usually move later (rescheduled lazily by poll); when
        // one moves earlier (RST, FIN both ways, a new conversation) it
        // needs its own entry.
        let earlier = exp < c.expires;
        c.expires = exp;
        c.reason = reason;
        let g = c.generation;
        if earlier {
            self.schedule(exp, idx, g, now);
        }
        if exp <= now {
            self.expire(idx, out);
        } else if self.index.len > self.cfg.max_flows {
            self.evict_one(out);
        }
    }

    /// Adds a deadline to the wheel. A deadline that moves earlier leaves
    /// its old entry behind (stale, skipped when it falls due), and those
    /// of ended conversations wait out their time: past a bound (twice the
    /// conversations, plus some), the wheel keeps only the entries that
    /// still matter, so it never holds more than that for long. Every live
    /// conversation keeps an entry at or before its deadline.
    fn schedule(&mut self, at: u64, idx: u32, generation: u32, now: u64) {
        self.wheel.push(at, idx, generation, now);
        if self.wheel.len() > self.stale_limit() {
            let slab = &self.slab;
            self.wheel.retain(|at, i, g| {
                let c = slab.get(i);
                c.live && c.generation == g && at <= c.expires
            });
            self.stats.compactions += 1;
        }
    }

    /// Most entries, stale ones included, the expiry wheel and the
    /// eviction order may hold before they are swept.
    fn stale_limit(&self) -> usize {
        2 * self.index.len + STALE_SLACK
    }

    /// Exports the least recently active conversation.
    fn evict_one(&mut self, out: &mut Vec<Flow>) {
        let slab = &self.slab;
        let lru = self.lru.get_or_insert_with(|| {
            let mut v = Vec::with_capacity(slab.used as usize);
            for i in 0..slab.used {
                let c = slab.get(i);
                if c.live {
                    v.push(Reverse((c.last(), i, c.generation)));
                }
            }
            BinaryHeap::from(v)
        });
        while let Some(Reverse((last, i, g))) = lru.pop() {
            let c = self.slab.get(i);
            if !c.live || c.generation != g {
                continue;
            }
            if c.last() > last {
                lru.push(Reverse((c.last(), i, g)));
                continue;
            }
            self.slab.get_mut(i).reason = EndReason::LackOfResources;
            self.stats.evicted += 1;
            self.expire(i, out);
            return;
        }
    }

    /// Expires every conversation whose deadline is at or before `now`.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Flow>) {
        self.poll_with(now, out, usize::MAX, |_| {});
    }

    /// [`Self::poll`], calling `full` to empty `out` whenever it holds
    /// `chunk` flows or more: many conversations can fall due at once (all
    /// those of an `expint` interval), and their records need not all be
    /// held at the same time.
    pub fn poll_with(
        &mut self,
        now: Timestamp,
        out: &mut Vec<Flow>,
        chunk: usize,
        mut full: impl FnMut(&mut Vec<Flow>),
    ) {
        let now = now.as_micros();
        if now < self.wheel.min {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        self.wheel.pop_due(now, &mut due);
        for &(_, idx, _) in due.iter().take(AHEAD) {
            self.prefetch_conv(idx);
        }
        for k in 0..due.len() {
            self.prefetch_ahead(&due, k, |e| e.1);
            let (_, idx, generation) = due[k];
            let c = self.slab.get(idx);
            if !c.live || c.generation != generation {
                continue;
            }
            if c.expires > now {
                let e = c.expires;
                self.schedule(e, idx, generation, now);
                continue;
            }
            self.expire(idx, out);
            if out.len() >= chunk {
                full(out);
            }
        }
        due.clear();
        self.due = due;
    }

    #[inline]
    fn prefetch_conv(&self, i: u32) {
        prefetch_conv_lines(self.slab.get(i));
    }

    /// While expiring `list[k]`: fetches the entry [`AHEAD`] places on,
    /// and the index slot of the one half as far (its entry is cached by
    /// now), so expiring a list of cold conversations overlaps its misses.
    #[inline]
    fn prefetch_ahead<T>(&self, list: &[T], k: usize, idx: impl Fn(&T) -> u32) {
        if let Some(e) = list.get(k + AHEAD) {
            self.prefetch_conv(idx(e));
        }
        if let Some(e) = list.get(k + AHEAD / 2) {
            let tag = self.slab.get(idx(e)).tag;
            prefetch(self.index.slots.as_ptr().wrapping_add(self.index.home(tag)));
        }
    }

    /// The earliest instant [`Self::poll`] may have work (a lower bound).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        (!self.wheel.is_empty()).then_some(Timestamp(self.wheel.min))
    }

    /// Exports everything (shutdown, end of file).
    pub fn drain(&mut self, out: &mut Vec<Flow>) {
        self.drain_with(out, usize::MAX, |_| {});
    }

    /// [`Self::drain`], calling `full` to empty `out` whenever it holds
    /// `chunk` flows or more, so ending a large table does not hold all its
    /// records at once. Conversations go in table order (a sequential
    /// walk), and the index is emptied at once instead of entry by entry.
    pub fn drain_with(
        &mut self,
        out: &mut Vec<Flow>,
        chunk: usize,
        mut full: impl FnMut(&mut Vec<Flow>),
    ) {
        for i in 0..self.slab.used {
            let c = self.slab.get_mut(i);
            if !c.live {
                continue;
            }
            c.live = false;
            c.reason = EndReason::ForcedEnd;
            let c = *c;
            self.emit(&c, out);
            if out.len() >= chunk {
                full(out);
            }
        }
        self.index.clear();
        self.slab.free = (0..self.slab.used).rev().collect();
        self.wheel.clear();
        self.lru = None;
        self.frags.clear();
    }

    fn expire(&mut self, i: u32, out: &mut Vec<Flow>) {
        let c = *self.slab.get(i);
        if let Ok(pos) = self.index.find(c.tag, &c.key, &self.slab) {
            self.index.remove_at(pos);
        }
        self.slab.get_mut(i).live = false;
        self.slab.free.push(i);
        self.emit(&c, out);
    }

    /// Counts a conversation's end and appends its records.
    fn emit(&mut self, c: &Conv, out: &mut Vec<Flow>) {
        match c.reason {
            EndReason::IdleTimeout => self.stats.expired_idle += 1,
            EndReason::EndOfFlow => self.stats.expired_tcp_end += 1,
            EndReason::ActiveTimeout => self.stats.expired_active += 1,
            EndReason::LackOfResources => {
                // Over-bytes is immediate and shares the reason with evictions.
                if u64::from(c.side[0].octets) > OVER_BYTES
                    || u64::from(c.side[1].octets) > OVER_BYTES
                {
                    self.stats.expired_overbytes += 1;
                }
            }
            EndReason::ForcedEnd => self.stats.flushed += 1,
        }
        let k = c.key;
        for (ndx, s) in c.side.iter().enumerate() {
            if s.packets == 0 {
                continue;
            }
            let (src, dst, sp, dp) = if ndx == 0 {
                (&k.a, &k.b, k.pa, k.pb)
            } else {
                (&k.b, &k.a, k.pb, k.pa)
            };
            let mut f = Flow::new(addr(k.v6, src), addr(k.v6, dst), k.proto);
            f.src_port = sp;
            f.dst_port = dp;
            f.tos = c.tos[ndx];
            f.tcp_flags = c.flags[ndx];
            f.packets = u64::from(s.packets);
            f.octets = u64::from(s.octets);
            f.first = Timestamp(s.first);
            f.last = Timestamp(s.last);
            f.input_if = self.cfg.ifindex;
            f.output_if = self.cfg.ifindex;
            f.end_reason = c.reason;
            self.stats.records += 1;
            out.push(f);
        }
    }
}

const OVER_BYTES: u64 = 1 << 31;

/// Rounding up to `expint`, remembering the last interval: packets of a
/// busy capture mostly fall in the one before, which then costs two
/// comparisons instead of a division.
#[derive(Default)]
struct Rounding {
    /// Instants in `(hi - step, hi]` round up to `hi`; `step` 0 = unset.
    hi: u64,
    step: u64,
}

impl Rounding {
    #[inline]
    fn up(&mut self, at: u64, step: u64) -> u64 {
        if step == self.step && at <= self.hi && at > self.hi - step {
            return self.hi;
        }
        match at.div_ceil(step).checked_mul(step) {
            Some(hi) if hi >= step => {
                (self.hi, self.step) = (hi, step);
                hi
            }
            Some(hi) => hi,
            None => u64::MAX,
        }
    }
}

/// softflowd's flow_update_expiry, in µs.
fn deadline(c: &Conv, t: &Timeouts, rounding: &mut Rounding) -> (u64, EndReason) {
    const S: u64 = 1_000_000;
    let (start, last) = (c.start(), c.last());
    if u64::from(c.side[0].octets) > OVER_BYTES || u64::from(c.side[1].octets) > OVER_BYTES {
        return (last, EndReason::LackOfResources);
    }
    if t.maxlife != 0 && last.saturating_sub(start) > t.maxlife * S {
        return (last, EndReason::ActiveTimeout);
    }
    let after = |s: u64| last.saturating_add(s.saturating_mul(S));
    let (mut at, mut reason) = match c.key.proto {
        proto::TCP if c.rst && t.tcp_rst != 0 => (after(t.tcp_rst), EndReason::EndOfFlow),
        proto::TCP if c.fin == 3 && t.tcp_fin != 0 => (after(t.tcp_fin), EndReason::EndOfFlow),
        proto::TCP => (after(t.tcp), EndReason::IdleTimeout),
        proto::UDP => (after(t.udp), EndReason::IdleTimeout),
        proto::ICMP | proto::ICMPV6 => (after(t.icmp), EndReason::IdleTimeout),
        _ => (after(t.general), EndReason::IdleTimeout),
    };
    if t.maxlife != 0 {
        let cap = start.saturating_add(t.maxlife.saturating_mul(S));
        if cap < at {
            at = cap;
            reason = EndReason::ActiveTimeout;
        }
    }
    if t.expint != 0 {
        at = rounding.up(at, t.expint.saturating_mul(S));
    }
    (at, reason)
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
