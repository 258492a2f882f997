//! One decoder for NetFlow v5, v9 and IPFIX, for tests, fuzzing and
//! operators checking what was sent (`stateflowd --decode FILE`).
//!
//! [`Decoder::decode`] takes one datagram (any of the three versions) and
//! returns its header facts and its records as [`Flow`]s. v9 and IPFIX
//! templates are remembered per exporter address, version and source id /
//! observation domain, bounded in number; data sets whose template is
//! unknown are counted, not guessed.
//!
//! [`udp_payload`] unwraps a captured packet (Ethernet, raw IP, BSD
//! loopback, Linux cooked v1/v2; IPv4 or IPv6; UDP) to its payload, and
//! [`decode_file`] walks a pcap of export traffic or a file of raw
//! datagrams back to back, printing one line per record.
//!
//! [`roundtrip_check`] and [`decoder_check`] are the properties the fuzz
//! targets and the property tests assert.
//!
//! Pure and panic-free on any input; allocations are bounded by the input.

use super::template::{
    self, TemplateCache, TimeBase, parse_templates, record_to_flow, walk_records,
};
use super::{ipfix, v5, v9};
use crate::export::{EncoderConfig, Format, new_encoder};
use crate::flow::{Direction, EndReason, Flow};
use crate::time::Timestamp;
use crate::wire::{be16, u8_at};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a datagram could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than the 2 bytes of a version number.
    NoVersion {
        len: usize,
    },
    V5(v5::Error),
    Templated(template::Error),
    UnknownVersion(u16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NoVersion { len } => {
                write!(f, "{len} bytes: too short to hold a version")
            }
            DecodeError::V5(e) => write!(f, "v5: {e}"),
            DecodeError::Templated(e) => write!(f, "{e}"),
            DecodeError::UnknownVersion(v) => write!(f, "not NetFlow v5/v9/IPFIX (version {v})"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// What one datagram held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// 5, 9 or 10.
    pub version: u16,
    /// The header's sequence number (v5 flows, v9 packets, IPFIX records).
    pub sequence: u32,
    /// v9 source ID or IPFIX observation domain; v5: engine type << 8 | id.
    pub domain: u32,
    pub export_time: Timestamp,
    /// v5/v9: the header's count field; IPFIX: records found.
    pub count: u16,
    pub flows: Vec<Flow>,
    /// Template records read in this datagram.
    pub templates: usize,
    /// Data sets skipped because their template is not known (yet).
    pub unknown_sets: usize,
}

/// A stateful decoder: remembers templates between datagrams.
#[derive(Debug, Default)]
pub struct Decoder {
    caches: HashMap<(Option<IpAddr>, u16), TemplateCache>,
}

impl Decoder {
    /// Most exporters whose templates are kept.
    pub const MAX_EXPORTERS: usize = 256;

    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes a datagram of unknown origin.
    pub fn decode(&mut self, b: &[u8]) -> Result<Decoded, DecodeError> {
        self.decode_from(None, b)
    }

    /// Decodes a datagram sent by `exporter` (templates are per exporter).
    pub fn decode_from(
        &mut self,
        exporter: Option<IpAddr>,
        b: &[u8],
    ) -> Result<Decoded, DecodeError> {
        if b.len() < 2 {
            return Err(DecodeError::NoVersion { len: b.len() });
        }
        match be16(b, 0) {
            5 => decode_v5(b),
            9 => self.decode_v9(exporter, b),
            10 => self.decode_ipfix(exporter, b),
            v => Err(DecodeError::UnknownVersion(v)),
        }
    }

    fn cache(&mut self, exporter: Option<IpAddr>, version: u16) -> &mut TemplateCache {
        let key = (exporter, version);
        if !self.caches.contains_key(&key) && self.caches.len() >= Self::MAX_EXPORTERS {
            // Forget everyone rather than grow without bound.
            self.caches.clear();
        }
        self.caches.entry(key).or_default()
    }

    fn decode_v9(&mut self, exporter: Option<IpAddr>, b: &[u8]) -> Result<Decoded, DecodeError> {
        let (h, sets) = v9::parse(b).map_err(DecodeError::Templated)?;
        let tb = TimeBase {
            export_ms: u64::from(h.unix_secs) * 1000,
            sys_uptime: Some(h.sys_uptime),
        };
        let mut d = Decoded {
            version: 9,
            sequence: h.sequence,
            domain: h.source_id,
            export_time: Timestamp::from_secs(u64::from(h.unix_secs)),
            count: h.count,
            flows: Vec::new(),
            templates: 0,
            unknown_sets: 0,
        };
        let cache = self.cache(exporter, 9);
        for s in sets {
            fill(cache, &mut d, s, v9::TEMPLATE_SET_ID, false, tb)?;
        }
        Ok(d)
    }

    fn decode_ipfix(&mut self, exporter: Option<IpAddr>, b: &[u8]) -> Result<Decoded, DecodeError> {
        let (h, sets) = ipfix::parse(b).map_err(DecodeError::Templated)?;
        let tb = TimeBase {
            export_ms: u64::from(h.export_time) * 1000,
            sys_uptime: None,
        };
        let mut d = Decoded {
            version: 10,
            sequence: h.sequence,
            domain: h.domain,
            export_time: Timestamp::from_secs(u64::from(h.export_time)),
            count: 0,
            flows: Vec::new(),
            templates: 0,
            unknown_sets: 0,
        };
        let cache = self.cache(exporter, 10);
        for s in sets {
            fill(cache, &mut d, s, ipfix::TEMPLATE_SET_ID, true, tb)?;
        }
        d.count = d.flows.len().min(usize::from(u16::MAX)) as u16;
        Ok(d)
    }
}

fn fill(
    cache: &mut TemplateCache,
    d: &mut Decoded,
    s: v9::Set<'_>,
    template_set: u16,
    ipfix: bool,
    tb: TimeBase,
) -> Result<(), DecodeError> {
    if s.id == template_set {
        let ts = parse_templates(s.body, ipfix).map_err(DecodeError::Templated)?;
        d.templates += ts.len();
        for t in ts {
            cache.insert(d.domain, t);
        }
    } else if s.id >= 256 {
        match cache.get(d.domain, s.id) {
            Some(t) => {
                walk_records(t, s.body, |fields| {
                    if let Some(f) = record_to_flow(fields, tb) {
                        d.flows.push(f);
                    }
                });
            }
            None => d.unknown_sets += 1,
        }
    }
    // Options templates (1, 3) and reserved ids are skipped.
    Ok(())
}

fn decode_v5(b: &[u8]) -> Result<Decoded, DecodeError> {
    let (h, recs) = v5::parse(b).map_err(DecodeError::V5)?;
    let export_ms = u64::from(h.unix_secs) * 1000 + u64::from(h.unix_nsecs / 1_000_000);
    let at = |v: u32| {
        Timestamp::from_millis(export_ms.saturating_sub(u64::from(h.sys_uptime.wrapping_sub(v))))
    };
    let flows = recs
        .map(|r| {
            let mut f = Flow::new(IpAddr::V4(r.src), IpAddr::V4(r.dst), r.protocol);
            f.src_port = r.src_port;
            f.dst_port = r.dst_port;
            f.tos = r.tos;
            f.tcp_flags = r.tcp_flags;
            f.packets = u64::from(r.packets);
            f.octets = u64::from(r.octets);
            f.first = at(r.first);
            f.last = at(r.last);
            f.input_if = u32::from(r.input);
            f.output_if = u32::from(r.output);
            f
        })
        .collect();
    Ok(Decoded {
        version: 5,
        sequence: h.flow_sequence,
        domain: u32::from(h.engine_type) << 8 | u32::from(h.engine_id),
        export_time: Timestamp::from_secs_micros(
            u64::from(h.unix_secs),
            (h.unix_nsecs / 1000).min(999_999),
        ),
        count: h.count,
        flows,
        templates: 0,
        unknown_sets: 0,
    })
}

/// A UDP datagram found in a captured packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Unwraps a packet of pcap link type `link` down to its UDP payload.
/// `None` for anything else (other protocols, fragments, truncation).
pub fn udp_payload(link: u32, pkt: &[u8]) -> Option<UdpPacket<'_>> {
    let ip = match link {
        // Ethernet, with up to two VLAN tags.
        1 => {
            let mut off = 12;
            let mut et = be16(pkt, off);
            for _ in 0..2 {
                if et == 0x8100 || et == 0x88a8 {
                    off += 4;
                    et = be16(pkt, off);
                }
            }
            pkt.get(off + 2..)?
        }
        // Raw IP (LINKTYPE_RAW and the DLT_RAW values seen in the wild).
        101 | 12 | 14 => pkt,
        // BSD loopback: 4-byte address family (host or network order).
        0 | 108 => pkt.get(4..)?,
        // Linux cooked v1 / v2.
        113 => pkt.get(16..)?,
        276 => pkt.get(20..)?,
        _ => return None,
    };
    let (src, dst, l4) = match u8_at(ip, 0) >> 4 {
        4 => {
            let ihl = usize::from(u8_at(ip, 0) & 0x0f) * 4;
            let total = usize::from(be16(ip, 2));
            let frag = be16(ip, 6);
            if ihl < 20 || u8_at(ip, 9) != 17 || frag & 0x3fff != 0 || total < ihl {
                return None;
            }
            let ip = ip.get(..total)?;
            (
                IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])),
                IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])),
                ip.get(ihl..)?,
            )
        }
        6 => {
            let plen = usize::from(be16(ip, 4));
            let ip = ip.get(..40 + plen)?;
            let mut next = ip[6];
            let mut off = 40;
            // Hop-by-hop, routing and destination options may precede UDP.
            for _ in 0..4 {
                if matches!(next, 0 | 43 | 60) {
                    next = u8_at(ip, off);
                    off += (usize::from(u8_at(ip, off + 1)) + 1) * 8;
                }
            }
            if next != 17 {
                return None;
            }
            let a = |o: usize| IpAddr::V6(Ipv6Addr::from(crate::wire::array_at::<16>(ip, o)));
            (a(8), a(24), ip.get(off..)?)
        }
        _ => return None,
    };
    let ulen = usize::from(be16(l4, 4));
    Some(UdpPacket {
        src,
        dst,
        src_port: be16(l4, 0),
        dst_port: be16(l4, 2),
        payload: l4.get(8..ulen.max(8))?,
    })
}

/// The line printed for one record: the version, then the flow as `--dump`
/// prints it, so the two can be compared with `diff`.
pub fn format_line(version: u16, f: &Flow) -> String {
    match version {
        10 => format!("ipfix {f}"),
        v => format!("v{v} {f}"),
    }
}

/// What [`decode_file`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub datagrams: u64,
    pub records: u64,
    /// Datagrams that did not decode.
    pub errors: u64,
    /// Packets of the capture that were not UDP.
    pub skipped: u64,
    pub unknown_sets: u64,
    /// The pcap file ended inside a record, or a record was impossible:
    /// what came after could not be read.
    pub cut: bool,
}

/// Decodes a pcap file of export traffic (every UDP payload that decodes
/// counts; others are errors), or, when `bytes` is not a pcap file, raw
/// datagrams back to back (v5 sized by count, IPFIX by length, v9 taking
/// the rest of the file; an IPFIX length below its header cannot be
/// walked, so it too takes the rest). Calls `line` for every record and
/// every error, and once for a pcap file that is cut short (counted as an
/// error, [`FileSummary::cut`]).
pub fn decode_file(bytes: &[u8], mut line: impl FnMut(&str)) -> FileSummary {
    let mut dec = Decoder::new();
    let mut sum = FileSummary::default();
    let mut handle = |sum: &mut FileSummary, exporter, b: &[u8], line: &mut dyn FnMut(&str)| {
        sum.datagrams += 1;
        match dec.decode_from(exporter, b) {
            Ok(d) => {
                sum.unknown_sets += d.unknown_sets as u64;
                for f in &d.flows {
                    sum.records += 1;
                    line(&format_line(d.version, f));
                }
            }
            Err(e) => {
                sum.errors += 1;
                line(&format!("# datagram {}: {e}", sum.datagrams));
            }
        }
    };
    if let Ok(mut r) = crate::source::pcap_file::PcapReader::new(bytes) {
        let mut buf = Vec::new();
        loop {
            match r.next_packet(&mut buf) {
                Ok(Some(_)) => match udp_payload(r.link_type, &buf) {
                    Some(u) => handle(&mut sum, Some(u.src), u.payload, &mut line),
                    None => sum.skipped += 1,
                },
                Ok(None) => break,
                Err(e) => {
                    sum.errors += 1;
                    sum.cut = true;
                    line(&format!(
                        "# after packet {}: {e}; stopped there",
                        sum.datagrams + sum.skipped
                    ));
                    break;
                }
            }
        }
        return sum;
    }
    let mut off = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let len = match be16(rest, 0) {
            5 => v5::HEADER_LEN + usize::from(be16(rest, 2)) * v5::RECORD_LEN,
            10 if usize::from(be16(rest, 2)) >= ipfix::HEADER_LEN => usize::from(be16(rest, 2)),
            _ => rest.len(),
        }
        .clamp(1, rest.len());
        handle(&mut sum, None, &rest[..len], &mut line);
        off += len;
    }
    sum
}

/// A deterministic byte reader for building test flows from fuzz input.
struct Bytes<'a> {
    b: &'a [u8],
    i: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let v = if self.b.is_empty() {
            0
        } else {
            self.b[self.i % self.b.len()] ^ (self.i / self.b.len().max(1)) as u8
        };
        self.i += 1;
        v
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }
}

/// The export time [`flows_from_bytes`] flows are built around.
pub const ROUNDTRIP_NOW: Timestamp = Timestamp::from_millis(1_700_000_000_517);

/// Builds 1–64 flows from arbitrary bytes, within what `format` carries
/// exactly: IPv4 and 32-bit counters and interfaces for v5, times in
/// milliseconds within the week before [`ROUNDTRIP_NOW`].
pub fn flows_from_bytes(format: Format, data: &[u8]) -> Vec<Flow> {
    let mut r = Bytes { b: data, i: 0 };
    let n = usize::from(r.u8() % 64) + 1;
    (0..n)
        .map(|_| {
            let v6 = format != Format::V5 && r.u8() & 1 == 1;
            let (src, dst) = if v6 {
                let mut a = [0u8; 16];
                let mut b = [0u8; 16];
                a.iter_mut().for_each(|x| *x = r.u8());
                b.iter_mut().for_each(|x| *x = r.u8());
                (IpAddr::V6(a.into()), IpAddr::V6(b.into()))
            } else {
                (IpAddr::V4(r.u32().into()), IpAddr::V4(r.u32().into()))
            };
            let mut f = Flow::new(src, dst, r.u8());
            f.src_port = r.u32() as u16;
            f.dst_port = r.u32() as u16;
            f.tos = r.u8();
            f.tcp_flags = r.u8();
            let week = crate::export::v5::UPTIME_HISTORY_MS;
            let first = ROUNDTRIP_NOW.as_millis() - u64::from(r.u32()) % week;
            let last = first + u64::from(r.u32()) % (ROUNDTRIP_NOW.as_millis() - first + 1);
            f.first = Timestamp::from_millis(first);
            f.last = Timestamp::from_millis(last);
            if format == Format::V5 {
                f.packets = u64::from(r.u32());
                f.octets = u64::from(r.u32());
                f.input_if = u32::from(r.u32() as u16);
                f.output_if = u32::from(r.u32() as u16);
            } else {
                f.packets = r.u64();
                f.octets = r.u64();
                f.input_if = r.u32();
                f.output_if = r.u32();
                f.direction = [Direction::Ingress, Direction::Egress, Direction::Unknown]
                    [usize::from(r.u8() % 3)];
            }
            if format == Format::Ipfix {
                f.end_reason = [
                    EndReason::IdleTimeout,
                    EndReason::ActiveTimeout,
                    EndReason::EndOfFlow,
                    EndReason::ForcedEnd,
                    EndReason::LackOfResources,
                ][usize::from(r.u8() % 5)];
            }
            f.rule = (r.u8() & 1 == 1).then(|| r.u32());
            f
        })
        .collect()
}

/// What a flow looks like after a trip through `format`: the rule number
/// is not sent; an unknown direction goes out as ingress (v9/IPFIX) or not
/// at all (v5); v5/v9 carry no end reason.
pub fn as_carried(format: Format, f: &Flow) -> Flow {
    let mut g = *f;
    g.rule = None;
    match format {
        Format::V5 => {
            g.direction = Direction::Unknown;
            g.end_reason = EndReason::IdleTimeout;
        }
        Format::V9 | Format::Ipfix => {
            if g.direction == Direction::Unknown {
                g.direction = Direction::Ingress;
            }
            if format == Format::V9 {
                g.end_reason = EndReason::IdleTimeout;
            }
        }
    }
    g
}

/// The round-trip property: flows built from `data` →
/// our encoder (at a small MTU, so several datagrams and template
/// refreshes happen) → [`Decoder`] → the same flows, as carried.
pub fn roundtrip_check(format: Format, data: &[u8]) -> bool {
    let flows = flows_from_bytes(format, data);
    let cfg = EncoderConfig {
        mtu: 576,
        template_refresh_packets: 2,
        ..Default::default()
    };
    let mut e = new_encoder(format, cfg, false);
    let mut out = Vec::new();
    for f in &flows {
        e.push(f, ROUNDTRIP_NOW, &mut out);
    }
    e.flush(ROUNDTRIP_NOW, &mut out);
    let mut dec = Decoder::new();
    let mut got = Vec::new();
    for d in &out {
        if d.len() + 28 > 576 {
            return false;
        }
        match dec.decode(d) {
            Ok(x) if x.unknown_sets == 0 => got.extend(x.flows),
            _ => return false,
        }
    }
    let want: Vec<Flow> = flows.iter().map(|f| as_carried(format, f)).collect();
    got == want
}

/// The decoder property for arbitrary input: it returns (never panics),
/// finds no more records than the bytes can hold, and a datagram it
/// accepted decodes the same way twice (given the templates it learnt).
pub fn decoder_check(data: &[u8]) -> bool {
    let mut dec = Decoder::new();
    let first = dec.decode(data);
    if let Ok(d) = &first {
        // The smallest record any template can describe is 1 byte.
        if d.flows.len() > data.len() {
            return false;
        }
        // With the templates now known, a second pass sees at least as much.
        match dec.decode(data) {
            Ok(again) => again.flows.len() >= d.flows.len(),
            Err(_) => false,
        }
    } else {
        true
    }
}

/// [`decoder_check`] on `data` read as a datagram of `version` (5, 9 or
/// 10): the version field is overwritten (or prepended when `data` is
/// shorter), so a fuzzer spends its time inside one format's decoder.
pub fn decoder_check_as(version: u16, data: &[u8]) -> bool {
    let mut d = data.to_vec();
    if d.len() < 2 {
        d.splice(0..0, version.to_be_bytes());
    } else {
        d[..2].copy_from_slice(&version.to_be_bytes());
    }
    decoder_check(&d)
}

/// The whole property a fuzz target asserts for `format`: the decoder
/// holds on `data` as a datagram of that version, and flows built from
/// `data` survive the encode → decode round trip.
pub fn fuzz_one(format: Format, data: &[u8]) -> bool {
    let version = match format {
        Format::V5 => 5,
        Format::V9 => 9,
        Format::Ipfix => 10,
    };
    decoder_check_as(version, data) && roundtrip_check(format, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/netflow/");

    /// xorshift64*: deterministic pseudo-random bytes for property tests.
    fn rand_bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn roundtrip_property_holds_for_every_format() {
        for format in [Format::V5, Format::V9, Format::Ipfix] {
            for seed in 0..300u64 {
                let data = rand_bytes(seed * 7919 + 1, (seed as usize * 13) % 400);
                assert!(roundtrip_check(format, &data), "{format} seed {seed}");
            }
        }
    }

    #[test]
    fn decoder_survives_mutated_datagrams() {
        // Valid datagrams of each format with bytes flipped and cut.
        for format in [Format::V5, Format::V9, Format::Ipfix] {
            let mut e = new_encoder(format, EncoderConfig::default(), false);
            let mut out = vec![];
            for f in flows_from_bytes(format, b"seed") {
                e.push(&f, ROUNDTRIP_NOW, &mut out);
            }
            e.flush(ROUNDTRIP_NOW, &mut out);
            let base = out[0].clone();
            for seed in 0..2000u64 {
                let r = rand_bytes(seed + 11, 4);
                let mut m = base.clone();
                let at = usize::from(u16::from_be_bytes([r[0], r[1]])) % m.len();
                m[at] ^= r[2] | 1;
                let cut = m.len() - usize::from(r[3]) % 8;
                assert!(decoder_check(&m[..cut]), "{format} seed {seed}");
            }
        }
        assert!(decoder_check(&[]));
        assert!(decoder_check(&[0, 10, 0, 0]));
        for format in [Format::V5, Format::V9, Format::Ipfix] {
            assert!(fuzz_one(format, &[]));
            assert!(fuzz_one(format, &[1]));
            assert!(fuzz_one(format, &rand_bytes(5, 300)));
        }
    }

    #[test]
    fn template_before_data_across_datagrams_and_unknown_sets_counted() {
        let mut e = new_encoder(
            Format::V9,
            EncoderConfig {
                template_refresh_packets: 0,
                template_refresh_secs: 0,
                ..Default::default()
            },
            false,
        );
        let flows = flows_from_bytes(Format::V9, &[3, 1, 2, 3]);
        let mut out = vec![];
        for f in &flows {
            e.push(f, ROUNDTRIP_NOW, &mut out);
            e.flush(ROUNDTRIP_NOW, &mut out);
        }
        assert_eq!(out.len(), 4);
        // A fresh decoder that missed the first packet knows no template.
        let mut late = Decoder::new();
        let d = late.decode(&out[1]).unwrap();
        assert_eq!((d.flows.len(), d.unknown_sets), (0, 1));
        let mut dec = Decoder::new();
        let got: Vec<Flow> = out
            .iter()
            .flat_map(|d| dec.decode(d).unwrap().flows)
            .collect();
        let want: Vec<Flow> = flows.iter().map(|f| as_carried(Format::V9, f)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn shared_samples_decode_from_pcap_and_raw_files() {
        let pcap = std::fs::read(format!("{SHARED}akvorado-nfv5.pcap")).unwrap();
        let mut lines = vec![];
        let s = decode_file(&pcap, |l| lines.push(l.to_string()));
        assert_eq!((s.datagrams, s.records, s.errors), (1, 29, 0));
        // Record 0 (akvorado's published decode): First 15 s before export.
        assert_eq!(
            lines[0],
            "v5 2023-04-04 16:44:24.000     0.000 proto   6 161.202.212.212:30104 -> 202.152.70.24:11963 pkts 1 bytes 133 flags 0x18 tos 0 if 117->86"
        );
        let raw = std::fs::read(format!("{SHARED}logstash-netflow5.dat")).unwrap();
        let s = decode_file(&raw, |_| {});
        assert_eq!((s.datagrams, s.records, s.errors), (12, 30, 0));
        let bad = std::fs::read(format!("{SHARED}logstash-netflow5_test_invalid01.dat")).unwrap();
        let mut lines = vec![];
        let s = decode_file(&bad, |l| lines.push(l.to_string()));
        assert_eq!(s.errors, 1);
        assert!(lines[0].contains("55582"), "{}", lines[0]);
    }

    /// A v5 datagram of one record (192.0.2.1:1234 -> 198.51.100.2:80).
    fn one_v5() -> Vec<u8> {
        let r = v5::Record {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 2),
            src_port: 1234,
            dst_port: 80,
            protocol: 6,
            packets: 3,
            octets: 300,
            ..Default::default()
        };
        v5::emit(&v5::Header::default(), &[r])
    }

    #[test]
    fn datagrams_too_short_for_a_version_are_not_called_v5() {
        let mut dec = Decoder::new();
        assert_eq!(dec.decode(&[]), Err(DecodeError::NoVersion { len: 0 }));
        assert_eq!(dec.decode(&[9]), Err(DecodeError::NoVersion { len: 1 }));
        assert_eq!(
            dec.decode(&[0, 5]),
            Err(DecodeError::V5(v5::Error::TooShort { len: 2 }))
        );
        assert_eq!(dec.decode(&[0, 7]), Err(DecodeError::UnknownVersion(7)));
    }

    #[test]
    fn a_raw_ipfix_length_below_its_header_is_one_error_not_many() {
        // A good v5 datagram, then an IPFIX message of 40 bytes whose
        // length field says 8: it cannot be framed, so the rest of the
        // file is that one undecodable message.
        let mut raw = one_v5();
        let mut m = vec![0u8; 40];
        m[..4].copy_from_slice(&[0, 10, 0, 8]);
        m[16..20].copy_from_slice(&[1, 0x2c, 0, 24]);
        raw.extend_from_slice(&m);
        let mut lines = vec![];
        let s = decode_file(&raw, |l| lines.push(l.to_string()));
        assert_eq!((s.datagrams, s.records, s.errors), (2, 1, 1), "{lines:?}");
        assert_eq!(
            lines[1],
            "# datagram 2: message length 8 disagrees with the 40-byte datagram"
        );
    }

    #[test]
    fn a_cut_pcap_is_counted_after_what_it_held() {
        use crate::source::pcap_file::PcapWriter;
        let mut w = PcapWriter::new(Vec::new(), 101).unwrap();
        let payload = one_v5();
        let mut pkt = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let total = (20 + 8 + payload.len()) as u16;
        pkt[2..4].copy_from_slice(&total.to_be_bytes());
        pkt.extend_from_slice(&[0x30, 0x39, 0x08, 0x07]);
        pkt.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        pkt.extend_from_slice(&[0, 0]);
        pkt.extend_from_slice(&payload);
        for _ in 0..2 {
            w.write_packet(Timestamp::from_secs(1), &pkt).unwrap();
        }
        let whole = w.into_inner();
        let s = decode_file(&whole, |_| {});
        assert_eq!((s.datagrams, s.records, s.errors, s.cut), (2, 2, 0, false));
        let mut lines = vec![];
        let s = decode_file(&whole[..whole.len() - 10], |l| lines.push(l.to_string()));
        assert_eq!((s.datagrams, s.records, s.errors, s.cut), (1, 1, 1, true));
        assert_eq!(
            lines.last().unwrap(),
            "# after packet 1: file ends in the middle of a packet; stopped there"
        );
    }

    #[test]
    fn udp_is_found_under_each_link_layer() {
        let payload = [0xde, 0xad];
        let mut udp = vec![0x30, 0x39, 0x08, 0x07, 0, 10, 0, 0];
        udp.extend_from_slice(&payload);
        let mut v4 = vec![
            0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        v4.extend_from_slice(&udp);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 10, 17, 64];
        v6.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        v6.extend_from_slice(&[0; 11]);
        v6.push(1);
        v6.extend_from_slice(&[0; 15]);
        v6.push(1);
        v6.extend_from_slice(&udp);
        let mut eth = vec![0; 12];
        eth.extend_from_slice(&[0x81, 0, 0, 5, 0x08, 0]);
        eth.extend_from_slice(&v4);
        let mut sll = vec![0; 14];
        sll.extend_from_slice(&[0x86, 0xdd]);
        sll.extend_from_slice(&v6);
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(&v4);
        for (link, pkt) in [(101, &v4), (101, &v6), (1, &eth), (113, &sll), (0, &null)] {
            let u = udp_payload(link, pkt).unwrap_or_else(|| panic!("link {link}"));
            assert_eq!((u.src_port, u.dst_port), (12345, 2055));
            assert_eq!(u.payload, payload);
        }
        assert_eq!(
            udp_payload(101, &v6).unwrap().src,
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // A fragment is not unwrapped.
        let mut frag = v4.clone();
        frag[6] = 0x20;
        assert!(udp_payload(101, &frag).is_none());
        assert!(udp_payload(101, &v4[..25]).is_none());
    }
}
