//! IPFIX export stream (RFC 7011/7012).
//!
//! Templates 256 (IPv4) and 257 (IPv6), sent together in one template set
//! (set id 2) at the front of a message (see [`super::templated`] for when).
//! Fields, in order (IANA element id/length):
//!
//! | IPv4 (256) | IPv6 (257) |
//! | --- | --- |
//! | sourceIPv4Address 8/4, destinationIPv4Address 12/4 | sourceIPv6Address 27/16, destinationIPv6Address 28/16 |
//!
//! then, for both: sourceTransportPort 7/2, destinationTransportPort 11/2,
//! protocolIdentifier 4/1, ipClassOfService 5/1, tcpControlBits 6/2
//! (RFC 7125 length), flowDirection 61/1, flowEndReason 136/1,
//! packetDeltaCount 2/8, octetDeltaCount 1/8, flowStartMilliseconds 152/8,
//! flowEndMilliseconds 153/8, ingressInterface 10/4, egressInterface 14/4,
//! icmpTypeCodeIPv4 32/2 or icmpTypeCodeIPv6 139/2 (type × 256 + code, 0
//! unless ICMP). Records are 60 and 84 bytes; sets are not padded.
//!
//! Times are absolute (ms since the epoch), so a replayed capture's flows
//! keep their own dates; the header's export time is `now`. The sequence
//! number counts data records sent before the message (templates do not
//! count); the observation domain is `observation_domain`. The pf rule
//! number is not sent (see [`super::v9`] for why).

use super::EncoderConfig;
use super::templated::{
    Clock, Dialect, MAX_RECORD, TemplatedEncoder, direction_value, family_templates,
    icmp_type_code, template_set_body, write_addrs,
};
use crate::flow::Flow;
use crate::netflow::ipfix::{HEADER_LEN, Header, TEMPLATE_SET_ID};
use crate::netflow::template::{FieldSpec, Ie, Template};
use crate::time::Timestamp;
use crate::wire::put;

pub use super::templated::{TEMPLATE_V4, TEMPLATE_V6};
pub const RECORD_V4_LEN: usize = 60;
pub const RECORD_V6_LEN: usize = 84;

/// The two templates this stream announces.
pub fn templates() -> [Template; 2] {
    let middle = [
        FieldSpec::new(Ie::SOURCE_TRANSPORT_PORT, 2),
        FieldSpec::new(Ie::DESTINATION_TRANSPORT_PORT, 2),
        FieldSpec::new(Ie::PROTOCOL_IDENTIFIER, 1),
        FieldSpec::new(Ie::IP_CLASS_OF_SERVICE, 1),
        FieldSpec::new(Ie::TCP_CONTROL_BITS, 2),
        FieldSpec::new(Ie::FLOW_DIRECTION, 1),
        FieldSpec::new(Ie::FLOW_END_REASON, 1),
        FieldSpec::new(Ie::PACKET_DELTA_COUNT, 8),
        FieldSpec::new(Ie::OCTET_DELTA_COUNT, 8),
        FieldSpec::new(Ie::FLOW_START_MILLISECONDS, 8),
        FieldSpec::new(Ie::FLOW_END_MILLISECONDS, 8),
        FieldSpec::new(Ie::INGRESS_INTERFACE, 4),
        FieldSpec::new(Ie::EGRESS_INTERFACE, 4),
    ];
    family_templates(&middle)
}

pub struct Ipfix;

impl Dialect for Ipfix {
    const HEADER_LEN: usize = HEADER_LEN;
    const TEMPLATE_SET_ID: u16 = TEMPLATE_SET_ID;
    const PAD_SETS: bool = false;
    const SEQUENCE_COUNTS_RECORDS: bool = true;

    fn template_body() -> Vec<u8> {
        template_set_body(&templates())
    }

    fn record(
        flow: &Flow,
        _clock: &Clock,
        rec: &mut [u8; MAX_RECORD],
        _clamped: &mut bool,
    ) -> Option<(u16, usize)> {
        let (id, o) = write_addrs(flow, rec)?;
        put(rec, o, &flow.src_port.to_be_bytes());
        put(rec, o + 2, &flow.dst_port.to_be_bytes());
        put(
            rec,
            o + 4,
            &[
                flow.protocol,
                flow.tos,
                0,
                flow.tcp_flags,
                direction_value(flow.direction),
                flow.end_reason as u8,
            ],
        );
        put(rec, o + 10, &flow.packets.to_be_bytes());
        put(rec, o + 18, &flow.octets.to_be_bytes());
        put(rec, o + 26, &flow.first.as_millis().to_be_bytes());
        put(
            rec,
            o + 34,
            &flow.last.max(flow.first).as_millis().to_be_bytes(),
        );
        put(rec, o + 42, &flow.input_if.to_be_bytes());
        put(rec, o + 46, &flow.output_if.to_be_bytes());
        put(rec, o + 50, &icmp_type_code(flow).to_be_bytes());
        Some((id, o + 52))
    }

    fn header(
        dgram: &mut [u8],
        now: Timestamp,
        _clock: &Clock,
        _count: u16,
        sequence: u32,
        cfg: &EncoderConfig,
    ) {
        Header {
            length: dgram.len() as u16,
            export_time: now.secs() as u32,
            sequence,
            domain: cfg.observation_domain,
        }
        .emit(dgram);
    }
}

/// The IPFIX stream encoder.
pub type IpfixEncoder = TemplatedEncoder<Ipfix>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::FlowEncoder;
    use crate::flow::{Direction, EndReason};
    use crate::netflow::ipfix;

    fn flow4() -> Flow {
        let mut f = Flow::new(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
            17,
        );
        f.src_port = 53;
        f.dst_port = 0x9c40;
        f.tos = 0xb8;
        f.direction = Direction::Ingress;
        f.end_reason = EndReason::EndOfFlow;
        f.packets = 5_000_000_000;
        f.octets = 0x0102_0304_0506_0708;
        f.first = Timestamp::from_millis(1_700_000_000_123);
        f.last = Timestamp::from_millis(1_700_000_001_456);
        f.input_if = 1;
        f.output_if = 2;
        f
    }

    #[test]
    fn message_layout_at_rfc7011_offsets() {
        let mut e = IpfixEncoder::with_payload(
            EncoderConfig {
                observation_domain: 42,
                ..Default::default()
            },
            1472,
        );
        let now = Timestamp::from_millis(1_700_000_009_999);
        let mut out = vec![];
        e.push(&flow4(), now, &mut out);
        e.push(&flow4(), now, &mut out);
        e.flush(now, &mut out);
        e.push(&flow4(), now, &mut out);
        e.flush(now, &mut out);
        let d = &out[0];
        // Template set: 4 + (4 + 16×4) × 2 = 140.
        let len = 16 + 140 + 4 + 2 * RECORD_V4_LEN;
        assert_eq!(d.len(), len);
        assert_eq!(d[0..2], [0, 10]);
        assert_eq!(d[2..4], (len as u16).to_be_bytes());
        assert_eq!(
            u32::from_be_bytes(d[4..8].try_into().unwrap()),
            1_700_000_009
        );
        assert_eq!(d[8..12], [0, 0, 0, 0]);
        assert_eq!(d[12..16], [0, 0, 0, 42]);
        assert_eq!(d[16..20], [0, 2, 0, 140]);
        assert_eq!(d[20..24], [1, 0, 0, 16]);
        // tcpControlBits 6/2, flowEndReason 136/1 in the v4 template.
        assert_eq!(d[24 + 6 * 4..24 + 7 * 4], [0, 6, 0, 2]);
        assert_eq!(d[24 + 8 * 4..24 + 9 * 4], [0, 136, 0, 1]);
        assert_eq!(d[24 + 15 * 4..24 + 16 * 4], [0, 32, 0, 2]);
        let s = 16 + 140;
        assert_eq!(d[s..s + 4], [1, 0, 0, 4 + 2 * RECORD_V4_LEN as u8]);
        let r = &d[s + 4..];
        assert_eq!(r[0..8], [192, 0, 2, 1, 198, 51, 100, 2]);
        assert_eq!(r[8..12], [0, 53, 0x9c, 0x40]);
        assert_eq!(r[12..18], [17, 0xb8, 0, 0, 0, 3]);
        assert_eq!(
            u64::from_be_bytes(r[18..26].try_into().unwrap()),
            5_000_000_000
        );
        assert_eq!(r[26..34], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            u64::from_be_bytes(r[34..42].try_into().unwrap()),
            1_700_000_000_123
        );
        assert_eq!(
            u64::from_be_bytes(r[42..50].try_into().unwrap()),
            1_700_000_001_456
        );
        assert_eq!(r[50..60], [0, 0, 0, 1, 0, 0, 0, 2, 0, 0]);
        // The second message: no templates, sequence = 2 records before it.
        let (h, sets) = ipfix::parse(&out[1]).unwrap();
        assert_eq!(h.sequence, 2);
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].id, TEMPLATE_V4);
    }
}
