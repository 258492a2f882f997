//! The capture-mode flow cache (pure; time is a parameter).
//!
//! Storage is a slab of conversations indexed by a hash map on the
//! canonical key (lower endpoint first), a doubly linked LRU list by last
//! activity (for `max_flows` eviction), and a min-heap of expiry deadlines
//! with lazy re-scheduling: a conversation is pushed when created and
//! re-pushed only when its popped deadline turns out to have moved later,
//! so a packet costs a hash lookup and a few stores, not a heap operation.
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
    packets: u64,
    octets: u64,
    first: u64,
    last: u64,
    flags: u8,
    tos: u8,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Conv {
    key: Key,
    side: [Side; 2],
    start: u64,
    last: u64,
    fin: u8,
    rst: bool,
    expires: u64,
    reason: EndReason,
    generation: u32,
    prev: u32,
    next: u32,
    live: bool,
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

pub struct FlowCache {
    cfg: CacheConfig,
    map: FastMap<Key, u32>,
    slab: Vec<Conv>,
    free: Vec<u32>,
    /// LRU list: head = most recent.
    head: u32,
    tail: u32,
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
    frags: FastMap<FragKey, (u16, u16)>,
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
            map: FastMap::with_capacity_and_hasher(cap, Default::default()),
            slab: Vec::with_capacity(cap),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            heap: BinaryHeap::with_capacity(cap),
            frags: FastMap::default(),
            stats: CacheStats::default(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Conversations tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Accounts one packet seen at `now`; flows that end because of it (or
    /// are evicted to make room) are appended to `out`. Call [`Self::poll`]
    /// with the same clock to expire idle ones.
    pub fn packet(&mut self, p: &ParsedPacket, now: Timestamp, out: &mut Vec<Flow>) {
        self.stats.packets += 1;
        let now = now.as_micros();
        let (mut sport, mut dport) = (p.src_port, p.dst_port);
        match p.frag {
            Frag::None => {}
            Frag::First(id) => {
                self.stats.fragments += 1;
                if self.frags.len() >= MAX_FRAGS {
                    self.frags.clear();
                }
                self.frags.insert(
                    FragKey {
                        src: p.src,
                        dst: p.dst,
                        id,
                        proto: p.protocol,
                    },
                    (sport, dport),
                );
            }
            Frag::Later(id) => {
                self.stats.fragments += 1;
                let fk = FragKey {
                    src: p.src,
                    dst: p.dst,
                    id,
                    proto: p.protocol,
                };
                match self.frags.get(&fk) {
                    Some(&(s, d)) => (sport, dport) = (s, d),
                    None => self.stats.orphan_fragments += 1,
                }
            }
        }
        let fwd = (p.src, sport) <= (p.dst, dport);
        let key = if fwd {
            Key {
                a: p.src,
                b: p.dst,
                pa: sport,
                pb: dport,
                proto: p.protocol,
                v6: p.version == 6,
                vlan: if self.cfg.key_vlan { p.vlan } else { 0 },
            }
        } else {
            Key {
                a: p.dst,
                b: p.src,
                pa: dport,
                pb: sport,
                proto: p.protocol,
                v6: p.version == 6,
                vlan: if self.cfg.key_vlan { p.vlan } else { 0 },
            }
        };
        let ndx = usize::from(!fwd);
        let idx = match self.map.get(&key) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => {
                let i = self.alloc(key, now);
                self.map.insert(key, i);
                self.stats.created += 1;
                i
            }
        };
        self.push_front(idx);
        let t = self.cfg.timeouts;
        let c = &mut self.slab[idx as usize];
        let s = &mut c.side[ndx];
        // Captures can hold slightly out-of-order timestamps: times only widen.
        if s.packets == 0 || now < s.first {
            s.first = now;
        }
        s.packets += 1;
        s.octets += u64::from(p.octets);
        s.last = s.last.max(now);
        s.flags |= p.tcp_flags;
        s.tos = p.tos;
        c.start = c.start.min(now);
        c.last = c.last.max(now);
        if p.protocol == proto::TCP {
            if p.tcp_flags & 0x04 != 0 {
                c.rst = true;
            }
            if p.tcp_flags & 0x01 != 0 {
                c.fin |= 1 << ndx;
            }
        }
        let (exp, reason) = deadline(c, &t);
        // Deadlines usually move later (rescheduled lazily by poll); when
        // one moves earlier (RST, FIN both ways) it needs its own entry.
        let earlier = exp < c.expires;
        c.expires = exp;
        c.reason = reason;
        if earlier {
            let g = c.generation;
            self.heap.push(Reverse((exp, idx, g)));
        }
        if exp <= now {
            self.expire(idx, out);
        } else if self.map.len() > self.cfg.max_flows {
            let victim = self.tail;
            self.slab[victim as usize].reason = EndReason::LackOfResources;
            self.stats.evicted += 1;
            self.expire(victim, out);
        }
    }

    /// Expires every conversation whose deadline is at or before `now`.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Flow>) {
        let now = now.as_micros();
        while let Some(&Reverse((at, idx, generation))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let c = &self.slab[idx as usize];
            if !c.live || c.generation != generation {
                continue;
            }
            if c.expires > now {
                let e = c.expires;
                self.heap.push(Reverse((e, idx, generation)));
                continue;
            }
            self.expire(idx, out);
        }
    }

    /// The earliest instant [`Self::poll`] may have work (a lower bound).
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse((t, _, _))| Timestamp(*t))
    }

    /// Exports everything (shutdown, end of file).
    pub fn drain(&mut self, out: &mut Vec<Flow>) {
        while self.tail != NIL {
            let i = self.tail;
            self.slab[i as usize].reason = EndReason::ForcedEnd;
            self.expire(i, out);
        }
        self.heap.clear();
        self.frags.clear();
    }

    fn alloc(&mut self, key: Key, now: u64) -> u32 {
        let conv = Conv {
            key,
            side: [Side::default(); 2],
            start: now,
            last: now,
            fin: 0,
            rst: false,
            expires: u64::MAX,
            reason: EndReason::IdleTimeout,
            generation: 0,
            prev: NIL,
            next: NIL,
            live: true,
        };
        match self.free.pop() {
            Some(i) => {
                let g = self.slab[i as usize].generation.wrapping_add(1);
                self.slab[i as usize] = Conv {
                    generation: g,
                    ..conv
                };
                i
            }
            None => {
                self.slab.push(conv);
                (self.slab.len() - 1) as u32
            }
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = {
            let c = &self.slab[i as usize];
            (c.prev, c.next)
        };
        if p != NIL {
            self.slab[p as usize].next = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.slab[n as usize].prev = p;
        } else {
            self.tail = p;
        }
    }

    fn push_front(&mut self, i: u32) {
        let h = self.head;
        {
            let c = &mut self.slab[i as usize];
            c.prev = NIL;
            c.next = h;
        }
        if h != NIL {
            self.slab[h as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn expire(&mut self, i: u32, out: &mut Vec<Flow>) {
        self.unlink(i);
        let c = self.slab[i as usize];
        self.slab[i as usize].live = false;
        self.map.remove(&c.key);
        self.free.push(i);
        match c.reason {
            EndReason::IdleTimeout => self.stats.expired_idle += 1,
            EndReason::EndOfFlow => self.stats.expired_tcp_end += 1,
            EndReason::ActiveTimeout => self.stats.expired_active += 1,
            EndReason::LackOfResources => {
                // Over-bytes is immediate and shares the reason with evictions.
                if c.side[0].octets > OVER_BYTES || c.side[1].octets > OVER_BYTES {
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
            f.tos = s.tos;
            f.tcp_flags = s.flags;
            f.packets = s.packets;
            f.octets = s.octets;
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

/// softflowd's flow_update_expiry, in µs.
fn deadline(c: &Conv, t: &Timeouts) -> (u64, EndReason) {
    const S: u64 = 1_000_000;
    if c.side[0].octets > OVER_BYTES || c.side[1].octets > OVER_BYTES {
        return (c.last, EndReason::LackOfResources);
    }
    if t.maxlife != 0 && c.last.saturating_sub(c.start) > t.maxlife * S {
        return (c.last, EndReason::ActiveTimeout);
    }
    let after = |s: u64| c.last.saturating_add(s.saturating_mul(S));
    let (mut at, mut reason) = match c.key.proto {
        proto::TCP if c.rst && t.tcp_rst != 0 => (after(t.tcp_rst), EndReason::EndOfFlow),
        proto::TCP if c.fin == 3 && t.tcp_fin != 0 => (after(t.tcp_fin), EndReason::EndOfFlow),
        proto::TCP => (after(t.tcp), EndReason::IdleTimeout),
        proto::UDP => (after(t.udp), EndReason::IdleTimeout),
        proto::ICMP | proto::ICMPV6 => (after(t.icmp), EndReason::IdleTimeout),
        _ => (after(t.general), EndReason::IdleTimeout),
    };
    if t.maxlife != 0 {
        let cap = c.start.saturating_add(t.maxlife.saturating_mul(S));
        if cap < at {
            at = cap;
            reason = EndReason::ActiveTimeout;
        }
    }
    if t.expint != 0 {
        let g = t.expint.saturating_mul(S);
        at = at.div_ceil(g).saturating_mul(g);
    }
    (at, reason)
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
