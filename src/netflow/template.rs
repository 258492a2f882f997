//! What NetFlow v9 and IPFIX share: information element ids, templates,
//! template caches and turning a data record back into a [`Flow`].
//!
//! Both formats describe data records by templates (lists of
//! `(element id, length)`); a collector learns them from template sets and
//! must keep them per exporter and observation domain. This module holds
//! the element ids stateflowd writes or reads ([`Ie`], values from the IANA
//! IPFIX registry, 0–127 being NetFlow-v9-compatible), the decoded form of a
//! template, a bounded [`TemplateCache`] and [`record_to_flow`].
//!
//! Decoding never panics and never sizes an allocation from a count it has
//! not checked against the bytes that hold it. Elements it does not know are
//! skipped by length (enterprise-specific ones too), not refused.

use crate::flow::{Direction, EndReason, Flow};
use crate::time::Timestamp;
use crate::wire::array_at;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An information element id (IANA IPFIX registry; v9 field type).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ie(pub u16);

impl Ie {
    pub const OCTET_DELTA_COUNT: Ie = Ie(1);
    pub const PACKET_DELTA_COUNT: Ie = Ie(2);
    pub const PROTOCOL_IDENTIFIER: Ie = Ie(4);
    pub const IP_CLASS_OF_SERVICE: Ie = Ie(5);
    pub const TCP_CONTROL_BITS: Ie = Ie(6);
    pub const SOURCE_TRANSPORT_PORT: Ie = Ie(7);
    pub const SOURCE_IPV4_ADDRESS: Ie = Ie(8);
    pub const INGRESS_INTERFACE: Ie = Ie(10);
    pub const DESTINATION_TRANSPORT_PORT: Ie = Ie(11);
    pub const DESTINATION_IPV4_ADDRESS: Ie = Ie(12);
    pub const EGRESS_INTERFACE: Ie = Ie(14);
    /// v9 LAST_SWITCHED: sysUpTime (ms) of the last packet.
    pub const FLOW_END_SYS_UP_TIME: Ie = Ie(21);
    /// v9 FIRST_SWITCHED: sysUpTime (ms) of the first packet.
    pub const FLOW_START_SYS_UP_TIME: Ie = Ie(22);
    /// v9 ICMP_TYPE: ICMP type × 256 + code.
    pub const ICMP_TYPE_CODE_IPV4: Ie = Ie(32);
    pub const SOURCE_IPV6_ADDRESS: Ie = Ie(27);
    pub const DESTINATION_IPV6_ADDRESS: Ie = Ie(28);
    pub const IP_VERSION: Ie = Ie(60);
    pub const FLOW_DIRECTION: Ie = Ie(61);
    pub const FLOW_END_REASON: Ie = Ie(136);
    pub const ICMP_TYPE_CODE_IPV6: Ie = Ie(139);
    pub const FLOW_START_SECONDS: Ie = Ie(150);
    pub const FLOW_END_SECONDS: Ie = Ie(151);
    pub const FLOW_START_MILLISECONDS: Ie = Ie(152);
    pub const FLOW_END_MILLISECONDS: Ie = Ie(153);
    pub const FLOW_START_MICROSECONDS: Ie = Ie(154);
    pub const FLOW_END_MICROSECONDS: Ie = Ie(155);
}

impl fmt::Debug for Ie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ie({})", self.0)
    }
}

/// IPFIX "variable length" marker in a field specifier.
pub const VARIABLE_LENGTH: u16 = 65_535;

/// One field specifier of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub id: Ie,
    /// Length in bytes; [`VARIABLE_LENGTH`] in IPFIX means "prefixed".
    pub len: u16,
    /// Private Enterprise Number for enterprise-specific elements (IPFIX).
    pub enterprise: Option<u32>,
}

impl FieldSpec {
    pub const fn new(id: Ie, len: u16) -> Self {
        FieldSpec {
            id,
            len,
            enterprise: None,
        }
    }
}

/// A decoded (data) template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub fields: Vec<FieldSpec>,
}

impl Template {
    /// Bytes of one record when every field is fixed-length; the minimum
    /// otherwise (a variable-length field takes at least its 1-byte prefix).
    pub fn min_record_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| {
                if f.len == VARIABLE_LENGTH {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum()
    }

    /// Writes the template record (id, count, specifiers) as v9 and IPFIX
    /// both lay it out (without enterprise numbers: ours has none).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&(self.fields.len() as u16).to_be_bytes());
        for f in &self.fields {
            let id = match f.enterprise {
                Some(_) => f.id.0 | 0x8000,
                None => f.id.0,
            };
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&f.len.to_be_bytes());
            if let Some(pen) = f.enterprise {
                out.extend_from_slice(&pen.to_be_bytes());
            }
        }
    }
}

/// Decoding failures shared by v9 and IPFIX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    TooShort {
        len: usize,
    },
    BadVersion(u16),
    /// A set header announces a length below 4 or past the datagram.
    BadSetLength {
        offset: usize,
        len: u16,
    },
    /// A template record runs past its set, or has no fields / zero length.
    BadTemplate {
        id: u16,
    },
    /// IPFIX: the message length field disagrees with the datagram.
    BadMessageLength {
        announced: u16,
        len: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort { len } => write!(f, "{len} bytes is shorter than a header"),
            Error::BadVersion(v) => write!(f, "unexpected version {v}"),
            Error::BadSetLength { offset, len } => {
                write!(
                    f,
                    "set at offset {offset} announces impossible length {len}"
                )
            }
            Error::BadTemplate { id } => write!(f, "malformed template {id}"),
            Error::BadMessageLength { announced, len } => write!(
                f,
                "message length {announced} disagrees with the {len}-byte datagram"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Parses the template records of a template set body (v9 set 0, IPFIX
/// set 2). `enterprise_bit`: IPFIX field specifiers may carry a PEN.
/// A withdrawal (IPFIX field count 0) is returned with no fields.
pub fn parse_templates(body: &[u8], enterprise_bit: bool) -> Result<Vec<Template>, Error> {
    let mut out = Vec::new();
    let mut off = 0;
    // A template record needs at least 4 bytes; a shorter rest is padding.
    while body.len().saturating_sub(off) >= 4 {
        let id = crate::wire::be16(body, off);
        let count = usize::from(crate::wire::be16(body, off + 2));
        off += 4;
        if id < 256 {
            // v9 padding may look like this; nothing more can follow.
            if id == 0 && count == 0 {
                break;
            }
            return Err(Error::BadTemplate { id });
        }
        // Each specifier takes at least 4 bytes: check before allocating.
        if count * 4 > body.len() - off {
            return Err(Error::BadTemplate { id });
        }
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            // Enterprise numbers take room the count check did not see:
            // each specifier must still be inside the set.
            if body.len() < off + 4 {
                return Err(Error::BadTemplate { id });
            }
            let raw = crate::wire::be16(body, off);
            let len = crate::wire::be16(body, off + 2);
            off += 4;
            let enterprise = if enterprise_bit && raw & 0x8000 != 0 {
                if body.len() < off + 4 {
                    return Err(Error::BadTemplate { id });
                }
                let pen = crate::wire::be32(body, off);
                off += 4;
                Some(pen)
            } else {
                None
            };
            let id = if enterprise_bit { raw & 0x7fff } else { raw };
            fields.push(FieldSpec {
                id: Ie(id),
                len,
                enterprise,
            });
        }
        let t = Template { id, fields };
        if count > 0 && !fits_a_datagram(&t, enterprise_bit) {
            return Err(Error::BadTemplate { id });
        }
        out.push(t);
    }
    Ok(out)
}

/// Whether a record of `t` has a length and fits in one datagram: a
/// template whose fields are all of length 0 describes records of nothing,
/// and one whose records cannot fit under a 16-bit message length (a v9
/// field of 65535 bytes: v9 has no variable-length fields) can never be
/// used. Either would be a template only a broken exporter sends.
fn fits_a_datagram(t: &Template, ipfix: bool) -> bool {
    let (header, var_min) = if ipfix {
        (16, 1)
    } else {
        (20, usize::from(VARIABLE_LENGTH))
    };
    let min: usize = t
        .fields
        .iter()
        .map(|f| match f.len {
            VARIABLE_LENGTH => var_min,
            l => usize::from(l),
        })
        .sum();
    min > 0 && min <= usize::from(u16::MAX) - header - 4
}

/// Templates learnt from one stream, keyed by (observation domain or
/// source id, template id). Bounded: past [`TemplateCache::MAX`] templates
/// or [`TemplateCache::MAX_FIELDS`] field specifiers in all, a new
/// template is not stored and is counted as refused.
#[derive(Clone, Debug, Default)]
pub struct TemplateCache {
    map: HashMap<(u32, u16), Template>,
    fields: usize,
    pub refused: u64,
}

impl TemplateCache {
    pub const MAX: usize = 4096;
    pub const MAX_FIELDS: usize = 1 << 18;

    pub fn insert(&mut self, domain: u32, t: Template) {
        let key = (domain, t.id);
        let old = self.map.remove(&key).map_or(0, |o| o.fields.len());
        self.fields -= old;
        if t.fields.is_empty() {
            return;
        }
        if self.map.len() < Self::MAX && self.fields + t.fields.len() <= Self::MAX_FIELDS {
            self.fields += t.fields.len();
            self.map.insert(key, t);
        } else {
            self.refused += 1;
        }
    }

    pub fn get(&self, domain: u32, id: u16) -> Option<&Template> {
        self.map.get(&(domain, id))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Splits a data set body into records of `t`, calling `each` with the
/// `(field, value bytes)` list of every whole record. Trailing bytes too
/// short for a record are padding. Returns the number of records.
pub fn walk_records(
    t: &Template,
    body: &[u8],
    mut each: impl FnMut(&[(FieldSpec, &[u8])]),
) -> usize {
    let min = t.min_record_len();
    if min == 0 {
        return 0;
    }
    let mut fields: Vec<(FieldSpec, &[u8])> = Vec::with_capacity(t.fields.len());
    let mut off = 0;
    let mut n = 0;
    'records: while body.len().saturating_sub(off) >= min {
        fields.clear();
        let mut o = off;
        for f in &t.fields {
            let len = if f.len == VARIABLE_LENGTH {
                let Some(&l1) = body.get(o) else {
                    break 'records;
                };
                o += 1;
                if l1 == 255 {
                    let l = usize::from(crate::wire::be16(body, o));
                    o += 2;
                    l
                } else {
                    usize::from(l1)
                }
            } else {
                usize::from(f.len)
            };
            let Some(v) = body.get(o..o + len) else {
                break 'records;
            };
            fields.push((*f, v));
            o += len;
        }
        each(&fields);
        n += 1;
        off = o;
    }
    n
}

/// An unsigned value of 1 to 8 bytes (reduced-size encoding); longer
/// values keep their last 8 bytes.
pub fn uint(v: &[u8]) -> u64 {
    let v = if v.len() > 8 { &v[v.len() - 8..] } else { v };
    v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

/// How a record's times are anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBase {
    /// Export time of the message, in ms since the epoch.
    pub export_ms: u64,
    /// v9: the header's sysUpTime (ms) at `export_ms`; `None` for IPFIX.
    pub sys_uptime: Option<u32>,
}

impl TimeBase {
    /// Absolute time of a sysUpTime value: `export − (uptime − value)`.
    fn at_uptime(&self, v: u32) -> Timestamp {
        let up = self.sys_uptime.unwrap_or(0);
        Timestamp::from_millis(self.export_ms.saturating_sub(u64::from(up.wrapping_sub(v))))
    }
}

/// Turns one data record into a [`Flow`]; elements it does not carry stay
/// at [`Flow::new`]'s defaults. Returns `None` when the record has no
/// address pair (e.g. an options record).
pub fn record_to_flow(fields: &[(FieldSpec, &[u8])], tb: TimeBase) -> Option<Flow> {
    let mut icmp: Option<u16> = None;
    let mut src: Option<IpAddr> = None;
    let mut dst: Option<IpAddr> = None;
    let mut f = Flow::new(
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        0,
    );
    for (spec, v) in fields {
        if spec.enterprise.is_some() {
            continue;
        }
        let n = uint(v);
        match spec.id {
            Ie::SOURCE_IPV4_ADDRESS if v.len() == 4 => {
                src = Some(IpAddr::V4(Ipv4Addr::from(array_at::<4>(v, 0))))
            }
            Ie::DESTINATION_IPV4_ADDRESS if v.len() == 4 => {
                dst = Some(IpAddr::V4(Ipv4Addr::from(array_at::<4>(v, 0))))
            }
            Ie::SOURCE_IPV6_ADDRESS if v.len() == 16 => {
                src = Some(IpAddr::V6(Ipv6Addr::from(array_at::<16>(v, 0))))
            }
            Ie::DESTINATION_IPV6_ADDRESS if v.len() == 16 => {
                dst = Some(IpAddr::V6(Ipv6Addr::from(array_at::<16>(v, 0))))
            }
            Ie::SOURCE_TRANSPORT_PORT => f.src_port = n as u16,
            Ie::DESTINATION_TRANSPORT_PORT => f.dst_port = n as u16,
            Ie::PROTOCOL_IDENTIFIER => f.protocol = n as u8,
            Ie::IP_CLASS_OF_SERVICE => f.tos = n as u8,
            // RFC 7125: 2 bytes, the classic flags in the low byte.
            Ie::TCP_CONTROL_BITS => f.tcp_flags = n as u8,
            Ie::PACKET_DELTA_COUNT => f.packets = n,
            Ie::OCTET_DELTA_COUNT => f.octets = n,
            Ie::INGRESS_INTERFACE => f.input_if = n as u32,
            Ie::EGRESS_INTERFACE => f.output_if = n as u32,
            Ie::FLOW_DIRECTION => {
                f.direction = match n {
                    0 => Direction::Ingress,
                    1 => Direction::Egress,
                    _ => Direction::Unknown,
                }
            }
            Ie::FLOW_END_REASON => {
                f.end_reason = match n {
                    2 => EndReason::ActiveTimeout,
                    3 => EndReason::EndOfFlow,
                    4 => EndReason::ForcedEnd,
                    5 => EndReason::LackOfResources,
                    _ => EndReason::IdleTimeout,
                }
            }
            Ie::ICMP_TYPE_CODE_IPV4 | Ie::ICMP_TYPE_CODE_IPV6 => icmp = Some(n as u16),
            Ie::FLOW_START_SYS_UP_TIME => f.first = tb.at_uptime(n as u32),
            Ie::FLOW_END_SYS_UP_TIME => f.last = tb.at_uptime(n as u32),
            Ie::FLOW_START_SECONDS => f.first = Timestamp::from_secs(n),
            Ie::FLOW_END_SECONDS => f.last = Timestamp::from_secs(n),
            Ie::FLOW_START_MILLISECONDS => f.first = Timestamp::from_millis(n),
            Ie::FLOW_END_MILLISECONDS => f.last = Timestamp::from_millis(n),
            Ie::FLOW_START_MICROSECONDS => f.first = Timestamp(n),
            Ie::FLOW_END_MICROSECONDS => f.last = Timestamp(n),
            _ => {}
        }
    }
    // ICMP type/code travel in the destination port by NetFlow custom;
    // an exporter that sent them only in their own element gets them there.
    if let Some(tc) = icmp {
        if f.dst_port == 0 && matches!(f.protocol, 1 | 58) {
            f.dst_port = tc;
        }
    }
    f.src = src?;
    f.dst = dst?;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_with_enterprise_numbers_and_refuse_overlong_counts() {
        // IPFIX template 300: sourceIPv4Address(4), enterprise 0x8001 len 2 PEN 9.
        let body = [
            0x01, 0x2c, 0x00, 0x02, 0x00, 0x08, 0x00, 0x04, 0x80, 0x01, 0x00, 0x02, 0, 0, 0, 9,
        ];
        let t = parse_templates(&body, true).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].id, 300);
        assert_eq!(t[0].fields[0], FieldSpec::new(Ie(8), 4));
        assert_eq!(t[0].fields[1].enterprise, Some(9));
        assert_eq!(t[0].fields[1].id, Ie(1));
        assert_eq!(t[0].min_record_len(), 6);
        let mut again = vec![];
        t[0].emit(&mut again);
        assert_eq!(again, body);
        // 65535 fields announced in 8 bytes: refused before any allocation.
        assert_eq!(
            parse_templates(&[0x01, 0x2c, 0xff, 0xff, 0, 8, 0, 4], true),
            Err(Error::BadTemplate { id: 300 })
        );
        // Zero-length fields only: a record of nothing would loop forever.
        assert!(parse_templates(&[0x01, 0x2c, 0, 1, 0, 8, 0, 0], false).is_err());
    }

    #[test]
    fn enterprise_specifiers_past_the_set_are_refused() {
        // IPFIX template 400 announces 2 specifiers in 12 bytes: 8 bytes
        // for two specifiers pass the count check, but the first carries a
        // PEN (bytes 8..12), so the second would start at byte 12, past
        // the set.
        let body = [0x01, 0x90, 0, 2, 0x80, 0x01, 0, 4, 0, 0, 0, 9];
        assert_eq!(
            parse_templates(&body, true),
            Err(Error::BadTemplate { id: 400 })
        );
        // The same bytes with one more specifier present decode.
        let mut whole = body.to_vec();
        whole.extend_from_slice(&[0, 8, 0, 4]);
        let t = parse_templates(&whole, true).unwrap();
        assert_eq!(t[0].fields[1], FieldSpec::new(Ie(8), 4));
    }

    #[test]
    fn templates_whose_records_cannot_fit_a_datagram_are_refused() {
        let one = |len: u16| {
            let mut b = vec![0x01, 0x2c, 0, 1, 0, 8];
            b.extend_from_slice(&len.to_be_bytes());
            b
        };
        // 65535 is IPFIX's variable length, but a v9 field of 65535 bytes.
        assert_eq!(
            parse_templates(&one(65535), true).unwrap()[0].fields.len(),
            1
        );
        assert_eq!(
            parse_templates(&one(65535), false),
            Err(Error::BadTemplate { id: 300 })
        );
        // The largest record a message can hold: 65535 less the header
        // (IPFIX 16, v9 20) and the set header (4).
        assert!(parse_templates(&one(65515), true).is_ok());
        assert!(parse_templates(&one(65516), true).is_err());
        assert!(parse_templates(&one(65511), false).is_ok());
        assert!(parse_templates(&one(65512), false).is_err());
        // Two fields of 40000 bytes: each fits, the record does not.
        let two = [0x01, 0x2c, 0, 2, 0, 8, 0x9c, 0x40, 0, 12, 0x9c, 0x40];
        assert!(parse_templates(&two, true).is_err());
    }

    #[test]
    fn cache_is_bounded_and_replaces_or_withdraws() {
        let t = |id, n| Template {
            id,
            fields: vec![FieldSpec::new(Ie(8), 4); n],
        };
        let mut c = TemplateCache::default();
        c.insert(0, t(256, 3));
        c.insert(0, t(256, 5));
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(0, 256).unwrap().fields.len(), 5);
        c.insert(0, t(256, 0)); // IPFIX withdrawal
        assert!(c.is_empty());
        c.insert(1, t(300, TemplateCache::MAX_FIELDS));
        c.insert(1, t(301, 1));
        assert_eq!((c.len(), c.refused), (1, 1));
        c.insert(1, t(300, 2)); // replacing frees its room
        c.insert(1, t(301, 1));
        assert_eq!((c.len(), c.refused), (2, 1));
    }

    #[test]
    fn variable_length_fields_and_padding() {
        let t = Template {
            id: 256,
            fields: vec![
                FieldSpec::new(Ie(8), 4),
                FieldSpec::new(Ie(82), VARIABLE_LENGTH),
            ],
        };
        // record 1: 1.2.3.4, "ab"; record 2: 5.6.7.8, 3-byte-prefixed "c"; pad 2.
        let body = [1, 2, 3, 4, 2, b'a', b'b', 5, 6, 7, 8, 255, 0, 1, b'c', 0, 0];
        let mut seen = vec![];
        let n = walk_records(&t, &body, |r| seen.push(r[1].1.to_vec()));
        assert_eq!(n, 2);
        assert_eq!(seen, [b"ab".to_vec(), b"c".to_vec()]);
        assert_eq!(uint(&[1, 2]), 0x102);
        assert_eq!(uint(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), 0x0203_0405_0607_0809);
    }
}
