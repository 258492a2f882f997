//! An ended pf state → up to two NetFlow records, as pflow(4) shapes them.
//!
//! - Key: the wire key (`key[PF_SK_WIRE]`) for inbound states, the stack key
//!   (`key[PF_SK_STACK]`, pre-NAT) for all others.
//! - Initiator: `addr[0]`/`port[0]` for inbound, `addr[1]`/`port[1]` for
//!   outbound states (pf stores a packet's source at index 0 for `in`, 1 for
//!   `out`).
//! - Record 1, initiator → responder, carries `packets[0]`/`bytes[0]`;
//!   record 2, the reverse, `packets[1]`/`bytes[1]`.
//! - Record 1 is always sent, even when the last snapshot we hold has zero
//!   counters (modern pfsync sends no final counters: a state we only saw
//!   inserted still existed and is reported); record 2 only when its
//!   counters are non-zero (no reply traffic was ever seen otherwise).
//! - First = the state's creation instant; Last = the last INS/UPD/UPD_C
//!   arrival (never before First).
//! - Interfaces: the state's interface is the input of record 1 for an
//!   inbound state and its output for an outbound one; record 2 swaps them.
//!   Flow direction follows (ingress/egress on that interface).
//! - tos and TCP flags are 0: pfsync does not carry them.

use super::table::Completed;
use crate::flow::{Direction, Flow};
use crate::ifindex::IfIndexMap;
use crate::pfsync::PfDirection;

/// Choices the conversion leaves to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConvertOptions {
    /// Report the reverse record even when its counters are zero.
    pub always_reverse: bool,
}

/// The flow records of an ended state: record 1 and, when it has traffic
/// (or `always_reverse`), record 2.
pub fn flows_of(
    c: &Completed,
    ifmap: &mut IfIndexMap,
    opts: ConvertOptions,
) -> impl Iterator<Item = Flow> + use<> {
    let t = &c.state;
    let (i, r) = if t.direction == PfDirection::Out {
        (1, 0)
    } else {
        (0, 1)
    };
    let ifindex = ifmap.resolve(&t.ifname);
    let (in_if, out_if, dir) = match t.direction {
        PfDirection::In => (ifindex, 0, Direction::Ingress),
        PfDirection::Out => (0, ifindex, Direction::Egress),
        _ => (0, 0, Direction::Unknown),
    };
    let rule = (t.rule != u32::MAX).then_some(t.rule);
    let mut fwd = Flow::new(t.key.ip(i, t.family), t.key.ip(r, t.family), t.proto);
    fwd.src_port = t.key.port[i];
    fwd.dst_port = t.key.port[r];
    fwd.packets = t.packets[0];
    fwd.octets = t.bytes[0];
    fwd.first = t.first;
    fwd.last = t.last.max(t.first);
    fwd.input_if = in_if;
    fwd.output_if = out_if;
    fwd.direction = dir;
    fwd.rule = rule;
    fwd.end_reason = c.reason;

    let mut rev = fwd;
    rev.src = fwd.dst;
    rev.dst = fwd.src;
    rev.src_port = fwd.dst_port;
    rev.dst_port = fwd.src_port;
    rev.packets = t.packets[1];
    rev.octets = t.bytes[1];
    rev.input_if = out_if;
    rev.output_if = in_if;
    rev.direction = dir.reverse();
    let want_rev = opts.always_reverse || rev.packets != 0 || rev.octets != 0;
    std::iter::once(fwd).chain(want_rev.then_some(rev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::EndReason;
    use crate::pfsync::{Family, IfName, StateKey};
    use crate::state::{StateId, Tracked};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    fn completed(dir: PfDirection, p: [u64; 2]) -> Completed {
        let mut key = StateKey::default();
        key.addr[0][..4].copy_from_slice(&[198, 51, 100, 1]);
        key.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
        key.port = [443, 50000];
        Completed {
            id: StateId { creator: 1, id: 1 },
            state: Tracked {
                key,
                ifname: IfName::new("em0"),
                family: Family::Inet,
                proto: 6,
                direction: dir,
                rule: 7,
                state_flags: 0,
                flags_known: true,
                first: Timestamp::from_secs(100),
                last: Timestamp::from_secs(160),
                packets: p,
                bytes: [p[0] * 10, p[1] * 10],
                counters_at: Timestamp::from_secs(150),
            },
            ended: Timestamp::from_secs(200),
            reason: EndReason::IdleTimeout,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn outbound_initiator_is_addr1_and_interface_is_output() {
        let mut m = IfIndexMap::explicit_only();
        m.insert("em0", 4);
        let v: Vec<_> = flows_of(
            &completed(PfDirection::Out, [5, 3]),
            &mut m,
            ConvertOptions::default(),
        )
        .collect();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].src, v[0].src_port), (ip("192.0.2.1"), 50000));
        assert_eq!((v[0].dst, v[0].dst_port), (ip("198.51.100.1"), 443));
        assert_eq!((v[0].packets, v[0].octets), (5, 50));
        assert_eq!((v[0].input_if, v[0].output_if), (0, 4));
        assert_eq!(v[0].direction, Direction::Egress);
        assert_eq!(
            (v[1].src, v[1].packets, v[1].input_if),
            (ip("198.51.100.1"), 3, 4)
        );
        assert_eq!(v[1].direction, Direction::Ingress);
        assert_eq!(v[0].first, Timestamp::from_secs(100));
        assert_eq!(v[0].last, Timestamp::from_secs(160));
        assert_eq!(v[0].rule, Some(7));
    }

    #[test]
    fn inbound_initiator_is_addr0_and_silent_reverse_is_omitted() {
        let mut m = IfIndexMap::explicit_only();
        m.insert("em0", 4);
        let v: Vec<_> = flows_of(
            &completed(PfDirection::In, [1, 0]),
            &mut m,
            ConvertOptions::default(),
        )
        .collect();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].src, v[0].src_port), (ip("198.51.100.1"), 443));
        assert_eq!((v[0].input_if, v[0].output_if), (4, 0));
        let v: Vec<_> = flows_of(
            &completed(PfDirection::In, [1, 0]),
            &mut m,
            ConvertOptions {
                always_reverse: true,
            },
        )
        .collect();
        assert_eq!(v.len(), 2);
    }
}
