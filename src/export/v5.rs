//! NetFlow v5 export stream: batching, counter splitting, clocks, sequence.
//!
//! - Only IPv4 flows fit; others are counted as unexportable.
//! - v5 counters are 32-bit: a flow with more packets or octets is written
//!   as several records whose counters add up exactly to the flow's.
//! - `flow_sequence` counts records sent before the datagram.
//! - Clock: v5 times are milliseconds of "uptime". Our uptime origin is set
//!   [`UPTIME_HISTORY_MS`] before the first flow's export time, so states
//!   created up to that long before stateflowd started keep an exact First;
//!   an older First is clamped to the origin and counted. The header's
//!   `unix_secs`/`unix_nsecs` and `sys_uptime` are the same instant (the
//!   export time), so a collector computes First/Last as
//!   `unix time − (sys_uptime − First)`.

use super::{EncoderConfig, EncoderStats, FlowEncoder};
use crate::flow::Flow;
use crate::netflow::v5::{self, Header, Record};
use crate::time::Timestamp;
use std::net::IpAddr;

/// How far back before its first export the stream's uptime clock reaches.
pub const UPTIME_HISTORY_MS: u64 = 7 * 24 * 3600 * 1000;

pub struct V5Encoder {
    cfg: EncoderConfig,
    /// Instant of sys_uptime 0, fixed at the first flow.
    origin: Option<Timestamp>,
    sequence: u32,
    /// The datagram being filled: header space, then records.
    buf: Vec<u8>,
    count: usize,
    max_records: usize,
    pending_since: Option<Timestamp>,
    stats: EncoderStats,
}

impl V5Encoder {
    /// An encoder for a collector reached over IPv4 at the configured MTU.
    pub fn new(cfg: EncoderConfig) -> Self {
        Self::with_payload(cfg, cfg.max_payload(false))
    }

    /// An encoder whose datagrams stay within `max_payload` bytes (and 30
    /// records, v5's limit).
    pub fn with_payload(cfg: EncoderConfig, max_payload: usize) -> Self {
        let max_records =
            (max_payload.saturating_sub(v5::HEADER_LEN) / v5::RECORD_LEN).clamp(1, v5::MAX_RECORDS);
        V5Encoder {
            cfg,
            origin: None,
            sequence: 0,
            buf: Vec::new(),
            count: 0,
            max_records,
            pending_since: None,
            stats: EncoderStats::default(),
        }
    }

    fn uptime(&mut self, t: Timestamp, count_clamp: bool) -> u32 {
        let origin = self.origin.unwrap_or(Timestamp::ZERO);
        if t < origin && count_clamp {
            self.stats.clamped_first += 1;
        }
        // v5 uptime wraps at 2^32 ms, as a router's does.
        t.as_millis().saturating_sub(origin.as_millis()) as u32
    }

    fn emit(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        if self.count == 0 {
            return;
        }
        let h = Header {
            count: self.count as u16,
            sys_uptime: self.uptime(now, false),
            unix_secs: now.secs() as u32,
            unix_nsecs: now.subsec_nanos(),
            flow_sequence: self.sequence,
            engine_type: self.cfg.engine_type,
            engine_id: self.cfg.engine_id,
            sampling_interval: 0,
        };
        h.emit(&mut self.buf);
        out.push(std::mem::take(&mut self.buf));
        self.sequence = self.sequence.wrapping_add(self.count as u32);
        self.stats.datagrams += 1;
        self.count = 0;
        self.pending_since = None;
    }
}

/// Splits 64-bit counters into 32-bit chunks that add up exactly; the
/// number of chunks is what the larger counter needs.
pub fn split_counters(packets: u64, octets: u64) -> impl Iterator<Item = (u32, u32)> {
    const MAX: u64 = u32::MAX as u64;
    let chunks = packets.div_ceil(MAX).max(octets.div_ceil(MAX)).max(1);
    let (mut p, mut o) = (packets, octets);
    (0..chunks).map(move |_| {
        let cp = p.min(MAX);
        let co = o.min(MAX);
        p -= cp;
        o -= co;
        (cp as u32, co as u32)
    })
}

impl FlowEncoder for V5Encoder {
    fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        self.stats.flows += 1;
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (flow.src, flow.dst) else {
            self.stats.unexportable += 1;
            return;
        };
        if self.origin.is_none() {
            self.origin = Some(Timestamp::from_millis(
                now.as_millis().saturating_sub(UPTIME_HISTORY_MS),
            ));
        }
        let first = self.uptime(flow.first, true);
        let last = self.uptime(flow.last.max(flow.first), false);
        for (packets, octets) in split_counters(flow.packets, flow.octets) {
            if self.buf.is_empty() {
                self.buf
                    .reserve_exact(v5::HEADER_LEN + self.max_records * v5::RECORD_LEN);
                self.buf.resize(v5::HEADER_LEN, 0);
            }
            let at = self.buf.len();
            self.buf.resize(at + v5::RECORD_LEN, 0);
            Record {
                src,
                dst,
                input: flow.input_if.min(u32::from(u16::MAX)) as u16,
                output: flow.output_if.min(u32::from(u16::MAX)) as u16,
                packets,
                octets,
                first,
                last,
                src_port: flow.src_port,
                dst_port: flow.dst_port,
                tcp_flags: flow.tcp_flags,
                protocol: flow.protocol,
                tos: flow.tos,
                ..Record::default()
            }
            .emit(&mut self.buf[at..]);
            self.count += 1;
            self.stats.records += 1;
            self.pending_since.get_or_insert(now);
            if self.count == self.max_records {
                self.emit(now, out);
            }
        }
    }

    fn flush(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        self.emit(now, out);
    }

    fn pending_since(&self) -> Option<Timestamp> {
        self.pending_since
    }

    fn stats(&self) -> EncoderStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn flow(p: u64, o: u64) -> Flow {
        let mut f = Flow::new(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            17,
        );
        f.src_port = 53;
        f.dst_port = 40000;
        f.packets = p;
        f.octets = o;
        f.first = Timestamp::from_secs(1_000_000);
        f.last = Timestamp::from_secs(1_000_010);
        f
    }

    #[test]
    fn split_adds_up_exactly() {
        let m = u64::from(u32::MAX);
        let v: Vec<_> = split_counters(3, 10 * m + 5).collect();
        assert_eq!(v.len(), 11);
        assert_eq!(v.iter().map(|c| u64::from(c.0)).sum::<u64>(), 3);
        assert_eq!(v.iter().map(|c| u64::from(c.1)).sum::<u64>(), 10 * m + 5);
        assert_eq!(split_counters(0, 0).collect::<Vec<_>>(), [(0, 0)]);
        assert_eq!(split_counters(m, m).count(), 1);
        assert_eq!(split_counters(m + 1, 1).count(), 2);
    }

    #[test]
    fn datagrams_hold_thirty_and_sequence_counts_records() {
        let mut e = V5Encoder::new(EncoderConfig {
            engine_type: 42,
            engine_id: 7,
            ..Default::default()
        });
        let now = Timestamp::from_secs_micros(1_000_020, 250_000);
        let mut out = vec![];
        for _ in 0..65 {
            e.push(&flow(2, 100), now, &mut out);
        }
        assert_eq!(out.len(), 2);
        e.flush(now, &mut out);
        assert_eq!(out.len(), 3);
        let seqs: Vec<_> = out
            .iter()
            .map(|d| {
                let (h, r) = v5::parse(d).unwrap();
                assert_eq!((h.engine_type, h.engine_id), (42, 7));
                assert_eq!(h.unix_secs, 1_000_020);
                assert_eq!(h.unix_nsecs, 250_000_000);
                for rec in r {
                    // collector arithmetic: unix time - (uptime - First)
                    let first_ms =
                        u64::from(h.unix_secs) * 1000 + 250 - u64::from(h.sys_uptime - rec.first);
                    let last_ms =
                        u64::from(h.unix_secs) * 1000 + 250 - u64::from(h.sys_uptime - rec.last);
                    assert_eq!(first_ms, 1_000_000_000);
                    assert_eq!(last_ms, 1_000_010_000);
                }
                (h.count, h.flow_sequence)
            })
            .collect();
        assert_eq!(seqs, [(30, 0), (30, 30), (5, 60)]);
        assert_eq!(e.stats().records, 65);
        assert_eq!(e.stats().datagrams, 3);
        assert!(e.pending_since().is_none());
    }

    #[test]
    fn mtu_bounds_records_per_datagram() {
        let cfg = EncoderConfig {
            mtu: 576,
            ..Default::default()
        };
        // (576 - 28 - 24) / 48 = 10 records.
        let mut e = V5Encoder::new(cfg);
        let now = Timestamp::from_secs(1_000_020);
        let mut out = vec![];
        for _ in 0..25 {
            e.push(&flow(1, 1), now, &mut out);
        }
        e.flush(now, &mut out);
        let counts: Vec<u16> = out.iter().map(|d| v5::parse(d).unwrap().0.count).collect();
        assert_eq!(counts, [10, 10, 5]);
        assert!(out.iter().all(|d| d.len() + 28 <= 576));
        // A jumbo MTU still stops at v5's 30.
        let mut e = V5Encoder::new(EncoderConfig {
            mtu: 9000,
            ..Default::default()
        });
        let mut out = vec![];
        for _ in 0..31 {
            e.push(&flow(1, 1), now, &mut out);
        }
        assert_eq!(v5::parse(&out[0]).unwrap().0.count, 30);
    }

    #[test]
    fn ipv6_is_counted_not_sent_and_big_counters_split() {
        let mut e = V5Encoder::new(EncoderConfig::default());
        let mut out = vec![];
        let mut f6 = flow(1, 1);
        f6.src = "2001:db8::1".parse().unwrap();
        let now = Timestamp::from_secs(1_000_020);
        e.push(&f6, now, &mut out);
        e.push(&flow(5, 3 * u64::from(u32::MAX)), now, &mut out);
        e.flush(now, &mut out);
        assert_eq!(e.stats().unexportable, 1);
        let (h, recs) = v5::parse(&out[0]).unwrap();
        assert_eq!(h.count, 3);
        let r: Vec<_> = recs.collect();
        assert_eq!(
            r.iter().map(|r| u64::from(r.octets)).sum::<u64>(),
            3 * u64::from(u32::MAX)
        );
        assert_eq!(r.iter().map(|r| u64::from(r.packets)).sum::<u64>(), 5);
    }

    #[test]
    fn first_before_the_clock_origin_is_clamped_and_counted() {
        let mut e = V5Encoder::new(EncoderConfig::default());
        let mut out = vec![];
        let now = Timestamp::from_secs(100 * 86_400);
        let mut f = flow(1, 1);
        f.first = Timestamp::from_secs(10 * 86_400); // 90 days before
        f.last = now;
        e.push(&f, now, &mut out);
        e.flush(now, &mut out);
        assert_eq!(e.stats().clamped_first, 1);
        let (_, mut r) = v5::parse(&out[0]).unwrap();
        assert_eq!(r.next().unwrap().first, 0);
    }
}
