//! From [`Flow`]s to datagrams for collectors.
//!
//! The sans-I/O part: [`Exporter`] holds one [`FlowEncoder`] per collector
//! (so each collector sees its own consistent sequence numbers and
//! templates), batches flows into datagrams no larger than the configured
//! MTU allows, and hands back `(collector index, datagram)` pairs. Time is
//! passed in; a short flush interval makes a quiet firewall still export
//! within a second or two. [`udp`] is the thin adapter that sends.
//!
//! Collectors either all receive every flow ([`CollectorMode::Mirror`], the
//! default) or share them ([`CollectorMode::Balance`]): a flow goes to the
//! collector chosen by a stable hash of its key, the same for both
//! directions of a conversation, so a collector cluster sees whole
//! conversations and a restart sends them to the same member again.
//!
//! Formats: [`v5`] (IPv4 only), [`v9`] and [`ipfix`] (IPv4 and IPv6, with
//! templates refreshed every N packets and every T seconds, and re-sent at
//! once after the sink reports an error through
//! [`Exporter::on_send_error`]).

pub mod ipfix;
pub mod templated;
pub mod udp;
pub mod v5;
pub mod v9;

use crate::flow::Flow;
use crate::time::Timestamp;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Export format of one collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    V5,
    V9,
    Ipfix,
}

impl Format {
    /// `5`, `v5`, `9`, `v9`, `10`, `v10`, `ipfix` (any case).
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "5" | "v5" => Some(Format::V5),
            "9" | "v9" => Some(Format::V9),
            "10" | "v10" | "ipfix" => Some(Format::Ipfix),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::V5 => "v5",
            Format::V9 => "v9",
            Format::Ipfix => "ipfix",
        })
    }
}

/// How flows are spread over several collectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CollectorMode {
    /// Every collector receives every flow.
    #[default]
    Mirror,
    /// Each flow goes to one collector, by a stable hash of its key.
    Balance,
}

/// Default MTU: datagrams fit a 1500-byte Ethernet link unfragmented.
pub const DEFAULT_MTU: usize = 1500;
/// Default template refresh: every 16 export packets (softflowd's
/// `NF9_DEFAULT_TEMPLATE_INTERVAL`) ...
pub const DEFAULT_TEMPLATE_REFRESH_PACKETS: u32 = 16;
/// ... and every 30 seconds (pflow(4)'s `PFLOW_TMPL_TIMEOUT`).
pub const DEFAULT_TEMPLATE_REFRESH_SECS: u32 = 30;

/// Settings shared by the encoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    pub engine_type: u8,
    pub engine_id: u8,
    /// Longest a flow waits in a partly filled datagram, in microseconds.
    pub flush_interval_us: u64,
    /// Largest IP packet to send: datagrams are filled up to this less the
    /// IP and UDP headers of the collector's address family.
    pub mtu: usize,
    /// v9/IPFIX: templates ride along every this many packets (0: never by count).
    pub template_refresh_packets: u32,
    /// v9/IPFIX: and at least this often (0: never by time).
    pub template_refresh_secs: u32,
    /// v9 source ID / IPFIX observation domain id.
    pub observation_domain: u32,
    pub mode: CollectorMode,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            engine_type: 0,
            engine_id: 0,
            flush_interval_us: 1_000_000,
            mtu: DEFAULT_MTU,
            template_refresh_packets: DEFAULT_TEMPLATE_REFRESH_PACKETS,
            template_refresh_secs: DEFAULT_TEMPLATE_REFRESH_SECS,
            observation_domain: 0,
            mode: CollectorMode::Mirror,
        }
    }
}

impl EncoderConfig {
    /// Largest UDP payload for a collector reached over IPv4 or IPv6.
    pub fn max_payload(&self, ipv6_transport: bool) -> usize {
        let overhead = if ipv6_transport { 40 + 8 } else { 20 + 8 };
        self.mtu.saturating_sub(overhead).clamp(MIN_PAYLOAD, 65_507)
    }
}

/// Smallest payload an encoder is given: header, both templates and one
/// IPv6 record always fit.
pub const MIN_PAYLOAD: usize = 512;

/// Counters an encoder keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncoderStats {
    /// Flows taken.
    pub flows: u64,
    /// Records written (a flow may need several, e.g. v5 counter splits).
    pub records: u64,
    pub datagrams: u64,
    /// Flows this format cannot carry (IPv6 in v5).
    pub unexportable: u64,
    /// Flows whose First predates what the format's clock can express.
    pub clamped_first: u64,
    /// Datagrams that carried the templates (v9/IPFIX).
    pub template_datagrams: u64,
}

/// A stateful encoder of one export stream.
pub trait FlowEncoder: Send {
    /// Adds a flow; full datagrams are appended to `out`.
    fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Vec<u8>>);
    /// Emits whatever is pending.
    fn flush(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>);
    /// When the oldest pending flow arrived, if any.
    fn pending_since(&self) -> Option<Timestamp>;
    fn stats(&self) -> EncoderStats;
    /// A datagram of this stream could not be sent: the collector may have
    /// lost our templates (restart, refused port), so the next datagram
    /// carries them. Formats without templates ignore it.
    fn on_send_error(&mut self) {}
    /// Sends the templates now, in a datagram of their own (v9/IPFIX; a
    /// no-op for formats without templates, or when data is pending, whose
    /// datagram will carry them anyway if due).
    fn announce(&mut self, _now: Timestamp, _out: &mut Vec<Vec<u8>>) {}
}

/// An encoder for `format`, filling datagrams for a collector reached over
/// IPv6 (`ipv6_transport`) or IPv4.
pub fn new_encoder(
    format: Format,
    cfg: EncoderConfig,
    ipv6_transport: bool,
) -> Box<dyn FlowEncoder> {
    let max = cfg.max_payload(ipv6_transport);
    match format {
        Format::V5 => Box::new(v5::V5Encoder::with_payload(cfg, max)),
        Format::V9 => Box::new(v9::V9Encoder::with_payload(cfg, max)),
        Format::Ipfix => Box::new(ipfix::IpfixEncoder::with_payload(cfg, max)),
    }
}

/// Where to send, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectorSpec {
    pub addr: SocketAddr,
    pub format: Format,
}

/// One datagram for one collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub collector: usize,
    pub bytes: Vec<u8>,
}

/// A stable 64-bit hash of a flow's conversation: FNV-1a over the two
/// endpoints in a fixed order and the protocol, so `a→b` and `b→a` agree
/// and the value never changes between runs or builds.
pub fn conversation_hash(f: &Flow) -> u64 {
    fn ep(a: &IpAddr, p: u16) -> ([u8; 16], u16) {
        let b = match a {
            IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
            IpAddr::V6(v) => v.octets(),
        };
        (b, p)
    }
    let (a, b) = (ep(&f.src, f.src_port), ep(&f.dst, f.dst_port));
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &x in bytes {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&lo.0);
    eat(&lo.1.to_be_bytes());
    eat(&hi.0);
    eat(&hi.1.to_be_bytes());
    eat(&[f.protocol]);
    h
}

/// Batches flows for every collector.
pub struct Exporter {
    cfg: EncoderConfig,
    encoders: Vec<Box<dyn FlowEncoder>>,
    scratch: Vec<Vec<u8>>,
}

impl Exporter {
    pub fn new(collectors: &[CollectorSpec], cfg: EncoderConfig) -> Self {
        Exporter {
            cfg,
            encoders: collectors
                .iter()
                .map(|c| new_encoder(c.format, cfg, c.addr.is_ipv6()))
                .collect(),
            scratch: Vec::new(),
        }
    }

    pub fn collectors(&self) -> usize {
        self.encoders.len()
    }

    pub fn stats(&self, collector: usize) -> EncoderStats {
        self.encoders
            .get(collector)
            .map(|e| e.stats())
            .unwrap_or_default()
    }

    /// The collector a flow goes to in balance mode.
    pub fn balance_target(&self, flow: &Flow) -> usize {
        match self.encoders.len() {
            0 => 0,
            n => (conversation_hash(flow) % n as u64) as usize,
        }
    }

    pub fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Outgoing>) {
        match self.cfg.mode {
            CollectorMode::Mirror => {
                for (i, e) in self.encoders.iter_mut().enumerate() {
                    e.push(flow, now, &mut self.scratch);
                    drain_into(&mut self.scratch, i, out);
                }
            }
            CollectorMode::Balance => {
                let i = self.balance_target(flow);
                if let Some(e) = self.encoders.get_mut(i) {
                    e.push(flow, now, &mut self.scratch);
                    drain_into(&mut self.scratch, i, out);
                }
            }
        }
    }

    /// Sends every collector's templates at once (at start, so collectors
    /// know them before the first data arrives).
    pub fn announce(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            e.announce(now, &mut self.scratch);
            drain_into(&mut self.scratch, i, out);
        }
    }

    /// The sink could not deliver a datagram of `collector`.
    pub fn on_send_error(&mut self, collector: usize) {
        if let Some(e) = self.encoders.get_mut(collector) {
            e.on_send_error();
        }
    }

    /// Flushes encoders whose oldest pending flow has waited the flush
    /// interval.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            if let Some(since) = e.pending_since() {
                if now.micros_since(since) >= self.cfg.flush_interval_us {
                    e.flush(now, &mut self.scratch);
                    drain_into(&mut self.scratch, i, out);
                }
            }
        }
    }

    /// The next instant [`Exporter::poll`] has work, if any.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.encoders
            .iter()
            .filter_map(|e| e.pending_since())
            .min()
            .map(|t| t.saturating_add_micros(self.cfg.flush_interval_us))
    }

    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            e.flush(now, &mut self.scratch);
            drain_into(&mut self.scratch, i, out);
        }
    }
}

fn drain_into(scratch: &mut Vec<Vec<u8>>, collector: usize, out: &mut Vec<Outgoing>) {
    out.extend(scratch.drain(..).map(|bytes| Outgoing { collector, bytes }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn flow(i: u32) -> Flow {
        let mut f = Flow::new(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            6,
        );
        f.src_port = 1024 + i as u16;
        f.dst_port = 443;
        f.packets = 1;
        f.octets = 40;
        f.first = Timestamp::from_secs(1_000_000);
        f.last = Timestamp::from_secs(1_000_001);
        f
    }

    fn specs(n: usize) -> Vec<CollectorSpec> {
        (0..n)
            .map(|i| CollectorSpec {
                addr: SocketAddr::from(([127, 0, 0, 1], 2055 + i as u16)),
                format: Format::V5,
            })
            .collect()
    }

    #[test]
    fn quiet_streams_flush_on_the_timer_and_errors_bring_templates_back() {
        let specs: Vec<CollectorSpec> = (0..2)
            .map(|i| CollectorSpec {
                addr: SocketAddr::from(([127, 0, 0, 1], 4739 + i)),
                format: Format::Ipfix,
            })
            .collect();
        let mut ex = Exporter::new(&specs, EncoderConfig::default());
        let t0 = Timestamp::from_secs(1_000_002);
        let mut out = vec![];
        ex.push(&flow(1), t0, &mut out);
        assert!(out.is_empty());
        assert_eq!(
            ex.next_deadline(),
            Some(t0.saturating_add_micros(1_000_000))
        );
        ex.poll(t0.saturating_add_micros(999_999), &mut out);
        assert!(out.is_empty());
        ex.poll(t0.saturating_add_micros(1_000_000), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(ex.next_deadline(), None);
        let has_templates =
            |d: &Outgoing| crate::netflow::ipfix::parse(&d.bytes).unwrap().1[0].id == 2;
        assert!(out.iter().all(has_templates));
        out.clear();
        ex.on_send_error(1);
        ex.push(&flow(2), t0, &mut out);
        ex.flush(t0, &mut out);
        let with: Vec<(usize, bool)> = out
            .iter()
            .map(|d| (d.collector, has_templates(d)))
            .collect();
        assert_eq!(with, [(0, false), (1, true)]);
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("IPFIX"), Some(Format::Ipfix));
        assert_eq!(Format::parse("10"), Some(Format::Ipfix));
        assert_eq!(Format::parse("v9"), Some(Format::V9));
        assert_eq!(Format::parse("5"), Some(Format::V5));
        assert_eq!(Format::parse("7"), None);
    }

    #[test]
    fn hash_is_symmetric_and_stable() {
        let f = flow(7);
        let mut r = f;
        std::mem::swap(&mut r.src, &mut r.dst);
        std::mem::swap(&mut r.src_port, &mut r.dst_port);
        assert_eq!(conversation_hash(&f), conversation_hash(&r));
        // Pinned: the hash must not change between releases (a collector
        // cluster would see conversations move).
        assert_eq!(conversation_hash(&f), 4_718_654_303_156_564_900);
        let mut other = f;
        other.protocol = 17;
        assert_ne!(conversation_hash(&f), conversation_hash(&other));
    }

    #[test]
    fn mirror_sends_all_everywhere_balance_splits_stably() {
        let now = Timestamp::from_secs(1_000_002);
        let mut mirror = Exporter::new(&specs(3), EncoderConfig::default());
        let mut out = vec![];
        for i in 0..300 {
            mirror.push(&flow(i), now, &mut out);
        }
        mirror.flush(now, &mut out);
        for c in 0..3 {
            assert_eq!(mirror.stats(c).flows, 300);
        }
        let cfg = EncoderConfig {
            mode: CollectorMode::Balance,
            ..Default::default()
        };
        let mut bal = Exporter::new(&specs(3), cfg);
        let mut out = vec![];
        for i in 0..300 {
            bal.push(&flow(i), now, &mut out);
        }
        bal.flush(now, &mut out);
        let per: Vec<u64> = (0..3).map(|c| bal.stats(c).flows).collect();
        assert_eq!(per.iter().sum::<u64>(), 300);
        for p in &per {
            assert!(*p > 60, "unbalanced: {per:?}");
        }
        // Each datagram went to the collector the hash names.
        let mut seen = 0;
        for d in &out {
            let (_, recs) = crate::netflow::v5::parse(&d.bytes).unwrap();
            for r in recs {
                let i = u32::from(r.src) - 0x0a00_0000;
                assert_eq!(bal.balance_target(&flow(i)), d.collector);
                seen += 1;
            }
        }
        assert_eq!(seen, 300);
    }
}
