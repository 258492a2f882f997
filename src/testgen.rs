//! A deterministic generator of pfsync captures with known answers.
//!
//! No public pfsync capture exists, so the project makes its own: a seeded
//! simulation of a firewall's states (creation, activity, expiry, clears,
//! noise), written as the pfsync frames the kernel would send, together
//! with the flow records those states must produce. The expected flows are
//! computed here from the simulation, independently of [`crate::state`],
//! so a test comparing a collector's view with them checks the whole path.
//!
//! Used by `examples/pfsync_gen.rs` (which wrote the captures in
//! `testdata/`), by the tests and by the benchmarks.

use crate::flow::{Direction, Flow};
use crate::pfsync::carrier::{IPPROTO_PFSYNC, LinkType};
use crate::pfsync::encode::{Encoding, FrameBuilder, Refused};
use crate::pfsync::legacy::Legacy;
use crate::pfsync::{
    Action, BulkStatus, Family, IfName, Message, PfDirection, PfState, SK_STACK, SK_WIRE, StateKey,
};
use crate::source::pcap_file::PcapWriter;
use crate::time::Timestamp;
use std::io::{self, Write};
use std::net::IpAddr;

/// SplitMix64: small, seedable, good enough for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }
}

#[derive(Clone, Debug)]
pub struct GenConfig {
    pub seed: u64,
    /// States created during the capture.
    pub states: usize,
    pub start: Timestamp,
    /// Seconds over which states are created.
    pub span_secs: u64,
    pub ipv6_percent: u64,
    /// Host ids of the firewalls whose states appear.
    pub creators: Vec<u32>,
    /// DEL_C for states created before the capture began.
    pub unknown_deletes: usize,
    /// End with a CLR of the first creator's remaining states.
    pub clear_at_end: bool,
    /// Give some states byte counters above 2^32 (v5 must split them).
    pub big_counters: bool,
    /// Largest frame, as the pfsync interface MTU bounds it.
    pub mtu: usize,
    /// The dialect the frames are written in.
    pub encoding: Encoding,
    /// Deletions as full DEL with final counters (legacy v2–v4 on pfsync0)
    /// instead of DEL_C (everything else, and legacy on the wire).
    pub full_delete: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            states: 40,
            start: Timestamp::from_secs(1_764_000_000), // 2025-11-24
            span_secs: 120,
            ipv6_percent: 20,
            creators: vec![0x0a0b_0c0d, 0x1122_3344],
            unknown_deletes: 3,
            clear_at_end: true,
            big_counters: true,
            mtu: 1500,
            encoding: Encoding::V6,
            full_delete: false,
        }
    }
}

/// A generated capture: pfsync frames with their arrival times, and the
/// flows they must produce, sorted.
#[derive(Clone, Debug)]
pub struct Capture {
    pub frames: Vec<(Timestamp, Vec<u8>)>,
    pub expected: Vec<Flow>,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Ins(usize),
    Upd(usize),
    UpdC(usize),
    DelC(usize),
    /// Full DEL with final counters (legacy pfsync0).
    Del(usize),
    /// Resent during a bulk transfer, with the counters of the last full
    /// state (the UPD's when `true`): not activity.
    BulkUpd(usize, bool),
    Clr(u32),
    Noise(Message),
}

struct Sim {
    st: PfState,
    created: Timestamp,
    /// Counters as of each full message (INS, UPD).
    counters_ins: ([u64; 2], [u64; 2]),
    counters_upd: Option<([u64; 2], [u64; 2])>,
    /// Counters a full DEL carries (legacy pfsync0).
    counters_final: ([u64; 2], [u64; 2]),
    t_ins: Timestamp,
    t_upd: Option<Timestamp>,
    t_end: Option<Timestamp>,
}

fn addr4(a: u8, b: u8, c: u8, d: u8) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&[a, b, c, d]);
    x
}

fn addr6(net: u16, host: u32) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    x[4..6].copy_from_slice(&net.to_be_bytes());
    x[12..].copy_from_slice(&host.to_be_bytes());
    x
}

/// Ifname → ifIndex used by the generated expectations (pass the same map
/// with `--ifindex em0=1,em1=2`).
pub const IFINDEX_MAP: &str = "em0=1,em1=2";

fn ifindex(name: &IfName) -> u32 {
    match name.as_str().as_ref() {
        "em0" => 1,
        "em1" => 2,
        _ => 0,
    }
}

pub fn generate(cfg: &GenConfig) -> Capture {
    let mut rng = Rng::new(cfg.seed);
    let mut sims = Vec::with_capacity(cfg.states);
    let mut events: Vec<(Timestamp, Ev)> = Vec::new();
    let end_of_span = cfg.start.saturating_add_micros(cfg.span_secs * 1_000_000);
    // v2 counters are 32 bits wide
    let big_counters = cfg.big_counters && !matches!(cfg.encoding, Encoding::Legacy(Legacy::V2));
    for i in 0..cfg.states {
        let creator = cfg.creators[i % cfg.creators.len().max(1)];
        let v6 = rng.chance(cfg.ipv6_percent);
        let proto = match [6u8, 6, 6, 17, 17, 1][rng.range(0, 6) as usize] {
            // ICMP over IPv6 is ICMPv6
            1 if v6 => 58,
            p => p,
        };
        let inbound = rng.chance(50);
        let n = i as u32;
        let (ext, int, nat) = if v6 {
            (
                addr6(1, 0x100 + n),
                addr6(2, 0x200 + n),
                addr6(3, 0x300 + n),
            )
        } else {
            (
                addr4(198, 51, 100, (n % 250) as u8 + 1),
                addr4(192, 0, 2, (n % 250) as u8 + 1),
                addr4(203, 0, 113, (n % 250) as u8 + 1),
            )
        };
        let (cport, sport) = if proto == 1 || proto == 58 {
            // ICMP: pf keeps the echo id in both ports
            let id = rng.range(1, 65535) as u16;
            (id, id)
        } else {
            (
                rng.range(1024, 65535) as u16,
                [22u16, 53, 80, 443, 123][rng.range(0, 5) as usize],
            )
        };
        let nat_it = rng.chance(40);
        let mut keys = [StateKey::default(); 2];
        if inbound {
            // In: the initiator is addr[0]; an rdr changes the stack side.
            keys[SK_WIRE].addr = [ext, if nat_it { nat } else { int }];
            keys[SK_WIRE].port = [cport, sport];
            keys[SK_STACK].addr = [ext, int];
            keys[SK_STACK].port = [cport, sport];
        } else {
            // Out: the initiator is addr[1]; NAT rewrites it on the wire.
            keys[SK_STACK].addr = [ext, int];
            keys[SK_STACK].port = [sport, cport];
            keys[SK_WIRE].addr = [ext, if nat_it { nat } else { int }];
            keys[SK_WIRE].port = [sport, if nat_it { cport ^ 0x5555 } else { cport }];
        }
        let created = cfg
            .start
            .saturating_add_micros(rng.range(0, cfg.span_secs * 1_000_000));
        let p0 = rng.range(1, 4);
        let p1 = rng.range(0, 3);
        let counters_ins = ([p0, p1], [p0 * 60, p1 * 52]);
        let st = PfState {
            id: (u64::from(creator) << 24) ^ (0x5000_0000_0000 + i as u64),
            creator,
            ifname: IfName::new(if inbound { "em0" } else { "em1" }),
            keys,
            family: if v6 { Family::Inet6 } else { Family::Inet },
            proto,
            direction: if inbound {
                PfDirection::In
            } else {
                PfDirection::Out
            },
            rule: rng.range(0, 40) as u32,
            anchor: u32::MAX,
            creation: 0,
            expire: 0,
            packets: counters_ins.0,
            bytes: counters_ins.1,
            state_flags: if rng.chance(80) {
                crate::pfsync::PFSTATE_PFLOW
            } else {
                0
            },
            flags_known: true,
            timeout: 0,
            sync_flags: 0,
            peer_state: [0, 0],
        };
        // pfsync queues the INS and sends it within a second.
        let t_ins = created.saturating_add_micros(rng.range(0, 900_000));
        events.push((t_ins, Ev::Ins(i)));
        let mut t = t_ins;
        for _ in 0..rng.range(0, 4) {
            t = t.saturating_add_micros(rng.range(1_000_000, 20_000_000));
            events.push((t, Ev::UpdC(i)));
        }
        let mut counters_upd = None;
        let mut t_upd = None;
        if rng.chance(40) {
            t = t.saturating_add_micros(rng.range(500_000, 5_000_000));
            let mut pk = [p0 + rng.range(5, 5000), p1 + rng.range(0, 5000)];
            let mut by = [pk[0] * rng.range(40, 1400), pk[1] * rng.range(40, 1400)];
            if big_counters && rng.chance(25) {
                pk[0] += 3_000_000;
                by[0] += 5 * (1u64 << 32) + 12_345;
                by[1] += 1 << 32;
            }
            counters_upd = Some((pk, by));
            t_upd = Some(t);
            events.push((t, Ev::Upd(i)));
        }
        let (pk, by) = counters_upd.unwrap_or(counters_ins);
        let extra = rng.range(1, 50);
        let counters_final = (
            [pk[0] + extra, pk[1] + extra / 2],
            [by[0] + extra * 100, by[1] + extra * 40],
        );
        let mut t_end = None;
        if rng.chance(85) {
            // pf removes the state an idle timeout after its last activity.
            let idle = rng.range(10, 60) * 1_000_000;
            let at = t.saturating_add_micros(idle);
            t_end = Some(at);
            events.push((
                at,
                if cfg.full_delete {
                    Ev::Del(i)
                } else {
                    Ev::DelC(i)
                },
            ));
        }
        sims.push(Sim {
            st,
            created,
            counters_ins,
            counters_upd,
            counters_final,
            t_ins,
            t_upd,
            t_end,
        });
    }
    for k in 0..cfg.unknown_deletes {
        let at = cfg
            .start
            .saturating_add_micros(rng.range(0, cfg.span_secs * 1_000_000));
        events.push((
            at,
            Ev::Noise(Message::DeleteCompressed {
                id: 0xdead_0000 + k as u64,
                creator: cfg.creators.first().copied().unwrap_or(1),
            }),
        ));
    }
    // Traffic a receiver must step over without harm.
    let c0 = cfg.creators.first().copied().unwrap_or(1);
    for (k, m) in [
        Message::InsertAck { id: 1, creator: c0 },
        Message::UpdateRequest { id: 0, creator: 0 },
        Message::BulkStatus {
            creator: c0,
            endtime: 0,
            status: BulkStatus::Start,
        },
        Message::BulkStatus {
            creator: c0,
            endtime: 0,
            status: BulkStatus::End,
        },
        Message::Unknown {
            action: Action(99),
            size: 8,
        },
        Message::Tdb,
    ]
    .into_iter()
    .enumerate()
    {
        let at = cfg
            .start
            .saturating_add_micros(k as u64 * 7_000_000 + 300_000);
        events.push((at, Ev::Noise(m)));
    }
    // The bulk transfer the BUS pair brackets resends every live state.
    let bulk_start = cfg.start.saturating_add_micros(2 * 7_000_000 + 300_000);
    let bulk_at = bulk_start.saturating_add_micros(500_000);
    for (i, sim) in sims.iter().enumerate() {
        let live = sim.t_ins < bulk_start && sim.t_end.is_none_or(|e| e > bulk_at);
        if live {
            let upd_done = sim.t_upd.is_some_and(|u| u < bulk_at);
            events.push((bulk_at, Ev::BulkUpd(i, upd_done)));
        }
    }
    let last_event = events.iter().map(|e| e.0).max().unwrap_or(cfg.start);
    if cfg.clear_at_end {
        let at = last_event.max(end_of_span).saturating_add_micros(5_000_000);
        events.push((at, Ev::Clr(c0)));
    }
    events.sort_by_key(|e| e.0);

    let msg_of = |ev: &Ev, t: Timestamp| -> Message {
        match *ev {
            Ev::Ins(i) | Ev::Upd(i) => {
                let s = &sims[i];
                let mut st = s.st;
                // Age in whole seconds at export, as the kernel computes it.
                st.creation = (t.micros_since(s.created) / 1_000_000) as u32;
                if let (Ev::Upd(_), Some((p, b))) = (ev, s.counters_upd) {
                    st.packets = p;
                    st.bytes = b;
                    Message::Update(st)
                } else {
                    Message::Insert(st)
                }
            }
            Ev::UpdC(i) => Message::UpdateCompressed {
                id: sims[i].st.id,
                creator: sims[i].st.creator,
                peer_state: [4, 4],
                timeout: 2,
            },
            Ev::DelC(i) => Message::DeleteCompressed {
                id: sims[i].st.id,
                creator: sims[i].st.creator,
            },
            Ev::Del(i) | Ev::BulkUpd(i, _) => {
                let s = &sims[i];
                let mut st = s.st;
                st.creation = (t.micros_since(s.created) / 1_000_000) as u32;
                (st.packets, st.bytes) = match *ev {
                    Ev::Del(_) => s.counters_final,
                    Ev::BulkUpd(_, true) => s.counters_upd.unwrap_or(s.counters_ins),
                    _ => s.counters_ins,
                };
                if let Ev::Del(_) = ev {
                    Message::Delete(st)
                } else {
                    Message::Update(st)
                }
            }
            Ev::Clr(c) => Message::Clear {
                creator: c,
                ifname: IfName::default(),
            },
            Ev::Noise(m) => m,
        }
    };
    let probe = FrameBuilder::new(cfg.encoding.clone());
    let msg_size = |ev: &Ev| -> usize { probe.cost(&msg_of(ev, cfg.start)).unwrap_or(0) + 4 };
    // Batch into frames: a frame leaves at most a second after its first
    // message, or earlier when the next message would not fit the MTU. Every
    // message of a frame arrives at the frame's send time (its last event).
    let mut frames: Vec<(Timestamp, Vec<u8>)> = Vec::new();
    let mut arrival: Vec<Timestamp> = Vec::with_capacity(events.len());
    let mut open: std::ops::Range<usize> = 0..0;
    let mut size = 20usize;
    let close = |r: std::ops::Range<usize>,
                 frames: &mut Vec<(Timestamp, Vec<u8>)>,
                 arrival: &mut Vec<Timestamp>| {
        let Some(&(send_at, _)) = events[r.clone()].last() else {
            return;
        };
        let mut b = FrameBuilder::new(cfg.encoding.clone());
        for (_, e) in &events[r.clone()] {
            let m = msg_of(e, send_at);
            if let Err(Refused::NeedsNewFrame) = b.push(&m) {
                let full = std::mem::replace(&mut b, FrameBuilder::new(cfg.encoding.clone()));
                frames.push((send_at, full.finish()));
                let _ = b.push(&m);
            }
        }
        if !b.is_empty() {
            frames.push((send_at, b.finish()));
        }
        arrival.extend(std::iter::repeat_n(send_at, r.len()));
    };
    for (k, (t, ev)) in events.iter().enumerate() {
        let too_late = !open.is_empty() && t.micros_since(events[open.start].0) >= 1_000_000;
        let too_big = size + msg_size(ev) > cfg.mtu - 20;
        if !open.is_empty() && (too_late || too_big) {
            close(open.clone(), &mut frames, &mut arrival);
            open = k..k;
            size = 20;
        }
        size += msg_size(ev);
        open.end = k + 1;
    }
    close(open, &mut frames, &mut arrival);

    // The expected flows, from the simulation and the arrival times.
    struct Seen {
        first: Option<Timestamp>,
        last: Timestamp,
        counters: ([u64; 2], [u64; 2]),
        ended: bool,
    }
    let mut seen: Vec<Seen> = (0..sims.len())
        .map(|_| Seen {
            first: None,
            last: Timestamp::ZERO,
            counters: ([0; 2], [0; 2]),
            ended: false,
        })
        .collect();
    let mut expected = Vec::new();
    let end = |i: usize, seen: &mut Vec<Seen>, expected: &mut Vec<Flow>| {
        let s = &mut seen[i];
        if s.ended || s.first.is_none() {
            return;
        }
        s.ended = true;
        expected.extend(expected_flows(
            &sims[i].st,
            s.first.unwrap_or_default(),
            s.last,
            s.counters,
        ));
    };
    for (k, &(_, ev)) in events.iter().enumerate() {
        let at = arrival[k];
        match ev {
            Ev::Ins(i) | Ev::Upd(i) => {
                let age = at.micros_since(sims[i].created) / 1_000_000;
                let first = at.saturating_sub_secs(age);
                let s = &mut seen[i];
                if s.ended {
                    continue;
                }
                s.first = Some(s.first.map_or(first, |f| f.min(first)));
                s.last = at;
                s.counters = match (ev, sims[i].counters_upd) {
                    (Ev::Upd(_), Some(c)) => c,
                    _ => sims[i].counters_ins,
                };
            }
            Ev::UpdC(i) => {
                if !seen[i].ended {
                    seen[i].last = at;
                }
            }
            Ev::DelC(i) => end(i, &mut seen, &mut expected),
            Ev::Del(i) => {
                // final counters that moved: activity up to the deletion
                let age = at.micros_since(sims[i].created) / 1_000_000;
                let s = &mut seen[i];
                if !s.ended && s.first.is_some() {
                    s.counters = sims[i].counters_final;
                    s.last = at;
                    s.first = s.first.map(|f| f.min(at.saturating_sub_secs(age)));
                }
                end(i, &mut seen, &mut expected);
            }
            Ev::BulkUpd(i, _) => {
                // same counters: not activity, but the age confirms First
                let age = at.micros_since(sims[i].created) / 1_000_000;
                let s = &mut seen[i];
                if !s.ended {
                    s.first = s.first.map(|f| f.min(at.saturating_sub_secs(age)));
                }
            }
            Ev::Clr(c) => {
                for (i, sim) in sims.iter().enumerate() {
                    if sim.st.creator == c {
                        end(i, &mut seen, &mut expected);
                    }
                }
            }
            Ev::Noise(_) => {}
        }
    }
    sort_flows(&mut expected);
    Capture { frames, expected }
}

/// The records a state must give (the conversion rules of pflow(4), stated
/// again here on purpose, from the reference rather than from our code).
fn expected_flows(
    st: &PfState,
    first: Timestamp,
    last: Timestamp,
    (packets, bytes): ([u64; 2], [u64; 2]),
) -> Vec<Flow> {
    let inbound = st.direction == PfDirection::In;
    let key = if inbound {
        st.keys[SK_WIRE]
    } else {
        st.keys[SK_STACK]
    };
    let (a, b) = if inbound { (0, 1) } else { (1, 0) };
    let idx = ifindex(&st.ifname);
    let mut f = Flow::new(key.ip(a, st.family), key.ip(b, st.family), st.proto);
    f.src_port = key.port[a];
    f.dst_port = key.port[b];
    f.packets = packets[0];
    f.octets = bytes[0];
    f.first = first;
    f.last = last;
    (f.input_if, f.output_if) = if inbound { (idx, 0) } else { (0, idx) };
    f.direction = if inbound {
        Direction::Ingress
    } else {
        Direction::Egress
    };
    f.rule = Some(st.rule);
    let mut v = vec![f];
    if packets[1] != 0 || bytes[1] != 0 {
        let mut r = f;
        (r.src, r.dst, r.src_port, r.dst_port) = (f.dst, f.src, f.dst_port, f.src_port);
        r.packets = packets[1];
        r.octets = bytes[1];
        (r.input_if, r.output_if) = (f.output_if, f.input_if);
        r.direction = f.direction.reverse();
        v.push(r);
    }
    v
}

/// Sorts flows by (src, dst, ports, protocol, first).
pub fn sort_flows(v: &mut [Flow]) {
    v.sort_by_key(|f| (f.src, f.dst, f.src_port, f.dst_port, f.protocol, f.first));
}

/// The expected-flows file: one CSV line per flow, header first.
pub fn expected_csv(flows: &[Flow]) -> String {
    let mut s =
        String::from("src,dst,sport,dport,proto,packets,bytes,first_ms,last_ms,in_if,out_if\n");
    for f in flows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            f.src,
            f.dst,
            f.src_port,
            f.dst_port,
            f.protocol,
            f.packets,
            f.octets,
            f.first.as_millis(),
            f.last.as_millis(),
            f.input_if,
            f.output_if
        ));
    }
    s
}

/// Parses [`expected_csv`] output back (fields other than the columns are
/// left at their defaults).
pub fn parse_expected_csv(s: &str) -> Result<Vec<Flow>, String> {
    let mut out = Vec::new();
    for (n, line) in s.lines().enumerate().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        if c.len() != 11 {
            return Err(format!("line {}: {} columns", n + 1, c.len()));
        }
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .map_err(|e| format!("line {}: {e}", n + 1))
        };
        let num = |s: &str| s.parse::<u64>().map_err(|e| format!("line {}: {e}", n + 1));
        let mut f = Flow::new(ip(c[0])?, ip(c[1])?, num(c[4])? as u8);
        f.src_port = num(c[2])? as u16;
        f.dst_port = num(c[3])? as u16;
        f.packets = num(c[5])?;
        f.octets = num(c[6])?;
        f.first = Timestamp::from_millis(num(c[7])?);
        f.last = Timestamp::from_millis(num(c[8])?);
        f.input_if = num(c[9])? as u32;
        f.output_if = num(c[10])? as u32;
        out.push(f);
    }
    Ok(out)
}

/// Wraps a pfsync frame for a capture of link type `link` (pfsync0 types
/// pass it through; Ethernet and raw IP get an IPv4 header as the sync link
/// carries it: protocol 240, TTL 255, to 224.0.0.240).
pub fn wrap(link: LinkType, frame: &[u8], src: [u8; 4]) -> Vec<u8> {
    match link {
        LinkType::ETHERNET => {
            let mut p = vec![
                0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0, 0x02, 0, 0, 0, 0, src[3], 0x08, 0x00,
            ];
            p.extend_from_slice(&ipv4_header(frame.len(), src, [224, 0, 0, 240]));
            p.extend_from_slice(frame);
            p
        }
        LinkType::RAW | LinkType::IPV4 => {
            let mut p = ipv4_header(frame.len(), src, [224, 0, 0, 240]).to_vec();
            p.extend_from_slice(frame);
            p
        }
        LinkType::NULL | LinkType::LOOP => {
            // AF_INET as a 4-byte word: NULL in the writer's byte order
            // (little-endian here), LOOP (OpenBSD) in network order.
            let mut p = if link == LinkType::LOOP {
                vec![0, 0, 0, 2]
            } else {
                vec![2, 0, 0, 0]
            };
            p.extend_from_slice(&ipv4_header(frame.len(), src, [224, 0, 0, 240]));
            p.extend_from_slice(frame);
            p
        }
        LinkType::LINUX_SLL => {
            // packet type 2 (multicast), ARPHRD_ETHER, 6-byte address, IPv4
            let mut p = vec![0, 2, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, src[3], 0, 0, 0x08, 0x00];
            p.extend_from_slice(&ipv4_header(frame.len(), src, [224, 0, 0, 240]));
            p.extend_from_slice(frame);
            p
        }
        LinkType::LINUX_SLL2 => {
            // protocol, reserved, ifindex 3, ARPHRD_ETHER, multicast, 6-byte addr
            let mut p = vec![
                0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 2, 6, 0x02, 0, 0, 0, 0, src[3], 0, 0,
            ];
            p.extend_from_slice(&ipv4_header(frame.len(), src, [224, 0, 0, 240]));
            p.extend_from_slice(frame);
            p
        }
        _ => frame.to_vec(),
    }
}

/// An Ethernet frame with an 802.1ad outer tag and an 802.1Q inner tag
/// (QinQ) around the sync-link IPv4 packet; `wrap_qinq(.., false)` gives a
/// single 802.1Q tag.
pub fn wrap_vlan(frame: &[u8], src: [u8; 4], qinq: bool) -> Vec<u8> {
    let mut p = vec![0x01, 0x00, 0x5e, 0x00, 0x00, 0xf0, 0x02, 0, 0, 0, 0, src[3]];
    if qinq {
        p.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64]); // S-tag, VLAN 100
    }
    p.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]); // C-tag, VLAN 10
    p.extend_from_slice(&ipv4_header(frame.len(), src, [224, 0, 0, 240]));
    p.extend_from_slice(frame);
    p
}

/// Dialect names the generator accepts, with what each stands for.
pub const DIALECTS: [(&str, &str); 9] = [
    ("v2", "legacy v2 (OpenBSD 3.5-3.9, FreeBSD 5.3-6)"),
    ("v3", "legacy v3 (OpenBSD 4.0-4.3, FreeBSD 7-8)"),
    ("v4", "legacy v4 (OpenBSD 4.4)"),
    (
        "openbsd45",
        "v5 as OpenBSD 4.5 sent it (1301 layout, AF_INET6 24)",
    ),
    (
        "freebsd1301",
        "v5, FreeBSD 13 (1301 layout, EOF, AF_INET6 28)",
    ),
    ("freebsd1400", "v5, FreeBSD 14 (1400 layout on codes 13/14)"),
    ("freebsd1500", "v5, FreeBSD 15 (1500 layout on codes 15/16)"),
    ("v6", "OpenBSD current"),
    ("openbsd-v6", "same as v6"),
];

/// The encoding a dialect name from [`DIALECTS`] stands for.
pub fn encoding_by_name(name: &str) -> Option<Encoding> {
    use crate::pfsync::encode::V5Options;
    Some(match name {
        "v2" => Encoding::Legacy(Legacy::V2),
        "v3" => Encoding::Legacy(Legacy::V3),
        "v4" => Encoding::Legacy(Legacy::V4),
        "openbsd45" => Encoding::V5(V5Options::OPENBSD_45),
        "freebsd1301" => Encoding::V5(V5Options::FREEBSD_1301),
        "freebsd1400" => Encoding::V5(V5Options::FREEBSD_1400),
        "freebsd1500" => Encoding::V5(V5Options::FREEBSD_1500),
        "v6" | "openbsd-v6" => Encoding::V6,
        _ => return None,
    })
}

/// An IPv4 header as pfsync sends it: TOS 0x10, DF, TTL 255, protocol 240.
pub fn ipv4_header(payload: usize, src: [u8; 4], dst: [u8; 4]) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x45;
    h[1] = 0x10;
    h[2..4].copy_from_slice(&((20 + payload).min(65535) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6] = 0x40;
    h[8] = 255;
    h[9] = IPPROTO_PFSYNC;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let mut sum: u32 = h
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    h
}

/// Writes `cap` as a pcap file of link type `link`.
pub fn write_pcap<W: Write>(cap: &Capture, link: LinkType, w: W) -> io::Result<W> {
    let mut pw = PcapWriter::new(w, link.0)?;
    for (t, f) in &cap.frames {
        pw.write_packet(*t, &wrap(link, f, [192, 0, 2, 254]))?;
    }
    Ok(pw.into_inner())
}

#[cfg(test)]
mod tests {
    //! Every dialect through every carrier: generated capture → carrier
    //! unwrapping → decoder → state table → flows, compared with the flows
    //! the simulation says the states must give. No collector needed (the
    //! committed captures also go through nfcapd in tests/it/dialects.rs).

    use super::*;
    use crate::ifindex::IfIndexMap;
    use crate::pfsync::{carrier, parse_frame};
    use crate::state::{ConvertOptions, StateTable, TableConfig, flows_of};

    fn replay(cap: &Capture, link: LinkType, vlan: Option<bool>) -> Vec<Flow> {
        let mut tab = StateTable::new(TableConfig::default());
        let mut ifmap = IfIndexMap::explicit_only();
        ifmap.insert("em0", 1);
        ifmap.insert("em1", 2);
        let mut done = vec![];
        let mut flows = vec![];
        for (t, f) in &cap.frames {
            let pkt = match vlan {
                Some(q) => wrap_vlan(f, [192, 0, 2, 254], q),
                None => wrap(link, f, [192, 0, 2, 254]),
            };
            let c = carrier::extract(link, &pkt).expect("carrier");
            let msgs: Vec<_> = parse_frame(c.frame)
                .expect("frame")
                .messages()
                .map(|m| m.expect("message"))
                .collect();
            tab.apply_all(&msgs, *t, &mut done);
            for d in done.drain(..) {
                flows.extend(flows_of(&d, &mut ifmap, ConvertOptions::default()));
            }
        }
        sort_flows(&mut flows);
        flows
    }

    #[test]
    fn every_dialect_through_every_carrier_gives_the_expected_flows() {
        let links = [
            (LinkType::PFSYNC, None),
            (LinkType::PFSYNC_OPENBSD, None),
            (LinkType::PFSYNC_FREEBSD_OLD, None),
            (LinkType::ETHERNET, None),
            (LinkType::ETHERNET, Some(false)),
            (LinkType::ETHERNET, Some(true)),
            (LinkType::RAW, None),
            (LinkType::IPV4, None),
            (LinkType::NULL, None),
            (LinkType::LOOP, None),
            (LinkType::LINUX_SLL, None),
            (LinkType::LINUX_SLL2, None),
        ];
        for (name, _) in DIALECTS {
            for full_delete in [false, true] {
                let encoding = encoding_by_name(name).unwrap();
                if full_delete && !matches!(encoding, Encoding::Legacy(_)) {
                    continue;
                }
                let cap = generate(&GenConfig {
                    seed: 11,
                    states: 30,
                    encoding,
                    full_delete,
                    ..Default::default()
                });
                assert!(cap.expected.len() > 20, "{name}");
                let want = expected_csv(&cap.expected);
                for (link, vlan) in links {
                    let got = replay(&cap, link, vlan);
                    assert_eq!(
                        expected_csv(&got),
                        want,
                        "{name} full_delete={full_delete} link {link:?} vlan {vlan:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn full_delete_reports_final_counters_and_the_deletion_as_last() {
        let mk = |full_delete| {
            generate(&GenConfig {
                seed: 5,
                encoding: Encoding::Legacy(Legacy::V3),
                full_delete,
                clear_at_end: false,
                ..Default::default()
            })
        };
        let (wire, pfsync0) = (mk(false), mk(true));
        // final counters may add reverse records the snapshots lacked
        assert!(wire.expected.len() <= pfsync0.expected.len());
        let sum = |c: &Capture| c.expected.iter().map(|f| f.packets).sum::<u64>();
        // every ended state carries 1..50 more packets in its final DEL
        assert!(sum(&pfsync0) > sum(&wire));
    }
}
