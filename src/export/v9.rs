//! NetFlow v9 export stream (RFC 3954).
//!
//! Templates: 256 for IPv4 and 257 for IPv6 flows, both sent in one
//! template FlowSet at the front of a packet (see [`super::templated`] for
//! when). Fields, in order (id/length):
//!
//! | IPv4 (256) | IPv6 (257) |
//! | --- | --- |
//! | IPV4_SRC_ADDR 8/4, IPV4_DST_ADDR 12/4 | IPV6_SRC_ADDR 27/16, IPV6_DST_ADDR 28/16 |
//!
//! then, for both: L4_SRC_PORT 7/2, L4_DST_PORT 11/2, PROTOCOL 4/1,
//! SRC_TOS 5/1, TCP_FLAGS 6/1, DIRECTION 61/1, IN_PKTS 2/8, IN_BYTES 1/8
//! (64-bit, so no counter splitting), FIRST_SWITCHED 22/4,
//! LAST_SWITCHED 21/4, INPUT_SNMP 10/4, OUTPUT_SNMP 14/4, and ICMP type ×
//! 256 + code (ICMP_TYPE 32/2 for IPv4, icmpTypeCodeIPv6 139/2 for IPv6;
//! 0 unless ICMP). Records are 50 and 74 bytes.
//!
//! Times are sysUpTime milliseconds, anchored as in v5: uptime 0 is
//! [`super::v5::UPTIME_HISTORY_MS`] before the first export, so a state up
//! to that old keeps an exact First (older ones are clamped and counted).
//! The header's UNIX seconds are the export time rounded up to a whole
//! second (the header has no sub-second field) and its sysUpTime is that
//! same instant's, so a collector's `secs − (sysUpTime − First)` gives
//! First to the millisecond. The sequence number counts export packets;
//! source ID is `observation_domain`.
//!
//! The pf rule number is not sent: no IANA element means "packet filter
//! rule number", an enterprise-specific element would need a Private
//! Enterprise Number of our own, and putting it into an element with
//! another meaning would mislead collectors. It stays visible in `--dump`.

use super::EncoderConfig;
use super::templated::{
    Clock, Dialect, MAX_RECORD, TemplatedEncoder, direction_value, family_templates,
    icmp_type_code, template_set_body, write_addrs,
};
use crate::flow::Flow;
use crate::netflow::template::{FieldSpec, Ie, Template};
use crate::netflow::v9::{HEADER_LEN, Header, TEMPLATE_SET_ID};
use crate::time::Timestamp;
use crate::wire::put;

pub use super::templated::{TEMPLATE_V4, TEMPLATE_V6};
pub const RECORD_V4_LEN: usize = 50;
pub const RECORD_V6_LEN: usize = 74;

/// The two templates this stream announces.
pub fn templates() -> [Template; 2] {
    let middle = [
        FieldSpec::new(Ie::SOURCE_TRANSPORT_PORT, 2),
        FieldSpec::new(Ie::DESTINATION_TRANSPORT_PORT, 2),
        FieldSpec::new(Ie::PROTOCOL_IDENTIFIER, 1),
        FieldSpec::new(Ie::IP_CLASS_OF_SERVICE, 1),
        FieldSpec::new(Ie::TCP_CONTROL_BITS, 1),
        FieldSpec::new(Ie::FLOW_DIRECTION, 1),
        FieldSpec::new(Ie::PACKET_DELTA_COUNT, 8),
        FieldSpec::new(Ie::OCTET_DELTA_COUNT, 8),
        FieldSpec::new(Ie::FLOW_START_SYS_UP_TIME, 4),
        FieldSpec::new(Ie::FLOW_END_SYS_UP_TIME, 4),
        FieldSpec::new(Ie::INGRESS_INTERFACE, 4),
        FieldSpec::new(Ie::EGRESS_INTERFACE, 4),
    ];
    family_templates(&middle)
}

pub struct V9;

impl Dialect for V9 {
    const HEADER_LEN: usize = HEADER_LEN;
    const TEMPLATE_SET_ID: u16 = TEMPLATE_SET_ID;
    const PAD_SETS: bool = true;
    const SEQUENCE_COUNTS_RECORDS: bool = false;

    fn template_body() -> Vec<u8> {
        template_set_body(&templates())
    }

    fn record(
        flow: &Flow,
        clock: &Clock,
        rec: &mut [u8; MAX_RECORD],
        clamped: &mut bool,
    ) -> Option<(u16, usize)> {
        let (id, o) = write_addrs(flow, rec)?;
        let first = clock.uptime(flow.first).unwrap_or_else(|| {
            *clamped = true;
            0
        });
        let last = clock.uptime(flow.last.max(flow.first)).unwrap_or(0);
        put(rec, o, &flow.src_port.to_be_bytes());
        put(rec, o + 2, &flow.dst_port.to_be_bytes());
        put(
            rec,
            o + 4,
            &[
                flow.protocol,
                flow.tos,
                flow.tcp_flags,
                direction_value(flow.direction),
            ],
        );
        put(rec, o + 8, &flow.packets.to_be_bytes());
        put(rec, o + 16, &flow.octets.to_be_bytes());
        put(rec, o + 24, &first.to_be_bytes());
        put(rec, o + 28, &last.to_be_bytes());
        put(rec, o + 32, &flow.input_if.to_be_bytes());
        put(rec, o + 36, &flow.output_if.to_be_bytes());
        put(rec, o + 40, &icmp_type_code(flow).to_be_bytes());
        Some((id, o + 42))
    }

    fn header(
        dgram: &mut [u8],
        now: Timestamp,
        clock: &Clock,
        count: u16,
        sequence: u32,
        cfg: &EncoderConfig,
    ) {
        // The header's UNIX time has whole seconds only: round `now` up to
        // the next second and give the uptime of that same instant, so
        // `secs − (uptime − First)` is exact and First ≤ sysUpTime.
        let secs = now.as_micros().div_ceil(1_000_000);
        Header {
            count,
            sys_uptime: clock.uptime(Timestamp::from_secs(secs)).unwrap_or(0),
            unix_secs: secs as u32,
            sequence,
            source_id: cfg.observation_domain,
        }
        .emit(dgram);
    }
}

/// The NetFlow v9 stream encoder.
pub type V9Encoder = TemplatedEncoder<V9>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::FlowEncoder;
    use crate::flow::Direction;
    use crate::netflow::v9;

    fn flow6() -> Flow {
        let mut f = Flow::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            6,
        );
        f.src_port = 0x1234;
        f.dst_port = 0x0050;
        f.tos = 0x28;
        f.tcp_flags = 0x1b;
        f.direction = Direction::Egress;
        f.packets = 0x0102_0304_0506_0708;
        f.octets = 0x1112_1314_1516_1718;
        f.first = Timestamp::from_millis(1_700_000_000_000);
        f.last = Timestamp::from_millis(1_700_000_001_500);
        f.input_if = 0x2122_2324;
        f.output_if = 0x3132_3334;
        f
    }

    #[test]
    fn first_packet_carries_both_templates_then_data_at_rfc_offsets() {
        let mut e = V9Encoder::with_payload(
            EncoderConfig {
                observation_domain: 0xabcd,
                ..Default::default()
            },
            1472,
        );
        let now = Timestamp::from_millis(1_700_000_002_000);
        let mut out = vec![];
        e.push(&flow6(), now, &mut out);
        e.flush(now, &mut out);
        let d = &out[0];
        // Header: version 9, count 3 (2 templates + 1 record), uptime
        // 7 days in ms, secs, sequence 0, source id.
        assert_eq!(d[0..2], [0, 9]);
        assert_eq!(d[2..4], [0, 3]);
        assert_eq!(u32::from_be_bytes(d[4..8].try_into().unwrap()), 604_800_000);
        assert_eq!(
            u32::from_be_bytes(d[8..12].try_into().unwrap()),
            1_700_000_002
        );
        assert_eq!(d[12..16], [0, 0, 0, 0]);
        assert_eq!(d[16..20], [0, 0, 0xab, 0xcd]);
        // Template FlowSet: id 0, length 4 + 2 × (4 + 15 × 4) = 132.
        assert_eq!(d[20..24], [0, 0, 0, 132]);
        assert_eq!(d[24..28], [1, 0, 0, 15]); // template 256, 15 fields
        assert_eq!(d[28..32], [0, 8, 0, 4]); // IPV4_SRC_ADDR/4
        assert_eq!(d[24 + 60..24 + 64], [0, 32, 0, 2]); // ICMP_TYPE/2
        let t6 = 24 + 64;
        assert_eq!(d[t6..t6 + 8], [1, 1, 0, 15, 0, 27, 0, 16]);
        assert_eq!(d[t6 + 60..t6 + 64], [0, 139, 0, 2]);
        // Data FlowSet 257: 4 + 74 = 78, padded to 80.
        let s = 20 + 132;
        assert_eq!(d[s..s + 4], [1, 1, 0, 80]);
        let r = &d[s + 4..];
        assert_eq!(r[0..2], [0x20, 0x01]);
        assert_eq!(r[15], 1);
        assert_eq!(r[32..34], [0x12, 0x34]);
        assert_eq!(r[34..36], [0, 0x50]);
        assert_eq!(r[36..40], [6, 0x28, 0x1b, 1]);
        assert_eq!(r[40..48], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(r[48..56], [0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        // First 2000 ms before export: uptime 604_800_000 − 2000.
        assert_eq!(
            u32::from_be_bytes(r[56..60].try_into().unwrap()),
            604_798_000
        );
        assert_eq!(
            u32::from_be_bytes(r[60..64].try_into().unwrap()),
            604_799_500
        );
        assert_eq!(r[64..72], [0x21, 0x22, 0x23, 0x24, 0x31, 0x32, 0x33, 0x34]);
        assert_eq!(r[72..76], [0, 0, 0, 0]); // not ICMP; then padding
        assert_eq!(d.len(), s + 80);
        let (h, sets) = v9::parse(d).unwrap();
        assert_eq!(h.count, 3);
        assert_eq!(sets.len(), 2);
    }

    #[test]
    fn sequence_counts_packets_and_templates_refresh_by_count_time_and_error() {
        let cfg = EncoderConfig {
            template_refresh_packets: 3,
            template_refresh_secs: 60,
            ..Default::default()
        };
        let mut e = V9Encoder::with_payload(cfg, 1472);
        let mut out = vec![];
        let mut t = Timestamp::from_secs(1_700_000_000);
        let send = |e: &mut V9Encoder, t: Timestamp, out: &mut Vec<Vec<u8>>| {
            let mut f = flow6();
            f.src = "192.0.2.1".parse().unwrap();
            f.dst = "192.0.2.2".parse().unwrap();
            f.first = t;
            f.last = t;
            e.push(&f, t, out);
            e.flush(t, out);
        };
        for _ in 0..7 {
            send(&mut e, t, &mut out);
        }
        t = t.saturating_add_micros(61_000_000);
        send(&mut e, t, &mut out); // time refresh
        send(&mut e, t, &mut out);
        e.on_send_error();
        send(&mut e, t, &mut out); // error refresh
        let got: Vec<(u32, bool)> = out
            .iter()
            .map(|d| {
                let (h, sets) = v9::parse(d).unwrap();
                (h.sequence, sets[0].id == 0)
            })
            .collect();
        let want: Vec<(u32, bool)> = [true, false, false, true, false, false, true]
            .into_iter()
            .chain([true, false, true])
            .enumerate()
            .map(|(i, t)| (i as u32, t))
            .collect();
        assert_eq!(got, want);
        assert_eq!(e.stats().template_datagrams, 5);
    }

    #[test]
    fn announcement_is_a_template_only_packet() {
        let mut e = V9Encoder::with_payload(EncoderConfig::default(), 1472);
        let now = Timestamp::from_secs(1_700_000_000);
        let mut out = vec![];
        e.announce(now, &mut out);
        let (h, sets) = v9::parse(&out[0]).unwrap();
        assert_eq!((h.count, h.sequence), (2, 0));
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].id, 0);
        // The next packet does not repeat them, and is packet number 1.
        e.push(&flow6(), now, &mut out);
        e.flush(now, &mut out);
        let (h, sets) = v9::parse(&out[1]).unwrap();
        assert_eq!((h.count, h.sequence, sets[0].id), (1, 1, TEMPLATE_V6));
    }

    #[test]
    fn datagrams_fill_to_the_payload_and_mix_families_in_separate_sets() {
        let mut e = V9Encoder::with_payload(EncoderConfig::default(), 1472);
        let now = Timestamp::from_millis(1_700_000_002_000);
        let mut out = vec![];
        let mut f4 = flow6();
        f4.src = "192.0.2.1".parse().unwrap();
        f4.dst = "192.0.2.2".parse().unwrap();
        for i in 0..100 {
            let f = if i % 10 < 5 { f4 } else { flow6() };
            e.push(&f, now, &mut out);
        }
        e.flush(now, &mut out);
        let mut records = 0;
        for d in &out {
            assert!(d.len() <= 1472, "{}", d.len());
            let (h, sets) = v9::parse(d).unwrap();
            let mut n = 0;
            for s in &sets {
                assert_eq!((s.body.len() + 4) % 4, 0);
                match s.id {
                    0 => n += 2,
                    // Padding is shorter than a record.
                    TEMPLATE_V4 => n += s.body.len() / RECORD_V4_LEN,
                    TEMPLATE_V6 => n += s.body.len() / RECORD_V6_LEN,
                    x => panic!("set {x}"),
                }
            }
            assert_eq!(usize::from(h.count), n);
            records += n - if sets[0].id == 0 { 2 } else { 0 };
        }
        assert_eq!(records, 100);
        // Full datagrams are nearly full: within one record of the limit.
        assert!(out[0].len() > 1472 - RECORD_V6_LEN - 8, "{}", out[0].len());
    }
}
