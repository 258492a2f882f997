//! `Flow`: the one record type every source produces and every encoder takes.
//!
//! A `Flow` is unidirectional, as NetFlow v5/v9 and IPFIX records are: one
//! conversation (a pf state, or a capture-mode connection) gives up to two.
//! Counters are 64-bit here; an encoder whose fields are narrower (v5) splits.

use crate::time::Timestamp;
use std::fmt;
use std::net::IpAddr;

/// Where the flow was seen relative to the interface that observed it
/// (IPFIX flowDirection: 0 ingress, 1 egress).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    Unknown,
    Ingress,
    Egress,
}

impl Direction {
    pub fn reverse(self) -> Self {
        match self {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
            Direction::Unknown => Direction::Unknown,
        }
    }
}

/// Why a flow record was produced (IPFIX flowEndReason values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EndReason {
    /// The idle timeout removed it (pf state expiry, capture idle timeout).
    #[default]
    IdleTimeout = 1,
    /// Cut by an active timeout while still alive.
    ActiveTimeout = 2,
    /// TCP end (FIN both ways / RST), or pf state deleted on close.
    EndOfFlow = 3,
    /// Shutdown or an operator's flush.
    ForcedEnd = 4,
    /// A table bound forced it out.
    LackOfResources = 5,
}

/// One unidirectional flow record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub tos: u8,
    /// Cumulative OR of the TCP flags seen (0 when unknown, as for pf states).
    pub tcp_flags: u8,
    pub packets: u64,
    pub octets: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// SNMP ifIndex of the input / output interface, 0 when unknown.
    pub input_if: u32,
    pub output_if: u32,
    pub direction: Direction,
    /// pf rule number that created the state, when known.
    pub rule: Option<u32>,
    pub end_reason: EndReason,
}

impl Flow {
    /// A record with zero counters, for builders and tests.
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8) -> Self {
        Flow {
            src,
            dst,
            src_port: 0,
            dst_port: 0,
            protocol,
            tos: 0,
            tcp_flags: 0,
            packets: 0,
            octets: 0,
            first: Timestamp::ZERO,
            last: Timestamp::ZERO,
            input_if: 0,
            output_if: 0,
            direction: Direction::Unknown,
            rule: None,
            end_reason: EndReason::IdleTimeout,
        }
    }

    pub fn is_ipv4(&self) -> bool {
        self.src.is_ipv4() && self.dst.is_ipv4()
    }
}

impl fmt::Display for Flow {
    /// One line, in the spirit of `nfdump -o line`: times, protocol, endpoints,
    /// counters, interfaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ep = |a: &IpAddr, p: u16| match a {
            IpAddr::V4(v) => format!("{v}:{p}"),
            IpAddr::V6(v) => format!("[{v}]:{p}"),
        };
        write!(
            f,
            "{} {:>9.3} proto {:>3} {} -> {} pkts {} bytes {} flags 0x{:02x} tos {} if {}->{}",
            self.first,
            self.last.micros_since(self.first) as f64 / 1e6,
            self.protocol,
            ep(&self.src, self.src_port),
            ep(&self.dst, self.dst_port),
            self.packets,
            self.octets,
            self.tcp_flags,
            self.tos,
            self.input_if,
            self.output_if,
        )?;
        if let Some(r) = self.rule {
            write!(f, " rule {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn display_is_one_line_with_endpoints_and_counters() {
        let mut fl = Flow::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            6,
        );
        fl.src_port = 1234;
        fl.dst_port = 80;
        fl.packets = 3;
        fl.octets = 180;
        fl.first = Timestamp::from_secs(1_680_626_679);
        fl.last = Timestamp::from_secs(1_680_626_681);
        fl.rule = Some(4);
        let s = fl.to_string();
        assert_eq!(
            s,
            "2023-04-04 16:44:39.000     2.000 proto   6 10.0.0.1:1234 -> 10.0.0.2:80 pkts 3 bytes 180 flags 0x00 tos 0 if 0->0 rule 4"
        );
        assert!(!s.contains('\n'));
        assert_eq!(Direction::Ingress.reverse(), Direction::Egress);
    }
}
