//! Frame builders for tests, the agreement test and the benchmark generator.
//!
//! Writes Ethernet (optionally 802.1Q-tagged) IPv4/IPv6 frames carrying TCP,
//! UDP, ICMP/ICMPv6 or raw payload, with correct lengths (checksums are left
//! zero: nothing in capture mode or softflowd checks them). Frames are not
//! padded to Ethernet's 60-byte minimum unless asked.

use std::net::IpAddr;

/// Transport header to put in a frame.
#[derive(Clone, Copy, Debug)]
pub enum L4 {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMP for IPv4, ICMPv6 for IPv6.
    Icmp {
        typ: u8,
        code: u8,
    },
    /// Another protocol, no header.
    Other(u8),
}

impl L4 {
    fn proto(&self, v6: bool) -> u8 {
        match self {
            L4::Tcp { .. } => 6,
            L4::Udp { .. } => 17,
            L4::Icmp { .. } => {
                if v6 {
                    58
                } else {
                    1
                }
            }
            L4::Other(p) => *p,
        }
    }
    fn header(&self, out: &mut Vec<u8>, payload: usize) {
        match *self {
            L4::Tcp {
                sport,
                dport,
                flags,
            } => {
                out.extend_from_slice(&sport.to_be_bytes());
                out.extend_from_slice(&dport.to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff]);
                out.extend_from_slice(&[0, 0, 0, 0]);
            }
            L4::Udp { sport, dport } => {
                out.extend_from_slice(&sport.to_be_bytes());
                out.extend_from_slice(&dport.to_be_bytes());
                out.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            L4::Icmp { typ, code } => out.extend_from_slice(&[typ, code, 0, 0, 0, 1, 0, 1]),
            L4::Other(_) => {}
        }
    }
    fn header_len(&self) -> usize {
        match self {
            L4::Tcp { .. } => 20,
            L4::Udp { .. } | L4::Icmp { .. } => 8,
            L4::Other(_) => 0,
        }
    }
}

/// One frame's description.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: L4,
    /// Payload bytes after the transport header.
    pub payload: usize,
    pub tos: u8,
    /// 802.1Q id, 0 for untagged.
    pub vlan: u16,
}

impl Spec {
    /// An untagged frame with ToS 0, as most generated traffic is.
    pub fn new(src: IpAddr, dst: IpAddr, l4: L4, payload: usize) -> Spec {
        Spec {
            src,
            dst,
            l4,
            payload,
            tos: 0,
            vlan: 0,
        }
    }
}

/// Appends an Ethernet frame for `s` to `out` (mixed address families are
/// refused with `false`).
pub fn ethernet(s: &Spec, out: &mut Vec<u8>) -> bool {
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2]);
    if s.vlan != 0 {
        out.extend_from_slice(&[0x81, 0x00]);
        out.extend_from_slice(&(s.vlan & 0x0fff).to_be_bytes());
    }
    match (s.src, s.dst) {
        (IpAddr::V4(..), IpAddr::V4(..)) => out.extend_from_slice(&[0x08, 0x00]),
        (IpAddr::V6(..), IpAddr::V6(..)) => out.extend_from_slice(&[0x86, 0xdd]),
        _ => return false,
    }
    ip(s, out)
}

/// Appends the IP packet (no link layer) for `s` to `out`.
pub fn ip(s: &Spec, out: &mut Vec<u8>) -> bool {
    let l4len = s.l4.header_len() + s.payload;
    match (s.src, s.dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let total = (20 + l4len) as u16;
            out.extend_from_slice(&[0x45, s.tos]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&[0, 1, 0, 0, 64, s.l4.proto(false), 0, 0]);
            out.extend_from_slice(&a.octets());
            out.extend_from_slice(&b.octets());
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let vtc = 0x6000_0000u32 | u32::from(s.tos) << 20;
            out.extend_from_slice(&vtc.to_be_bytes());
            out.extend_from_slice(&(l4len as u16).to_be_bytes());
            out.extend_from_slice(&[s.l4.proto(true), 64]);
            out.extend_from_slice(&a.octets());
            out.extend_from_slice(&b.octets());
        }
        _ => return false,
    }
    s.l4.header(out, s.payload);
    out.resize(out.len() + s.payload, 0xab);
    true
}

/// An IPv4 fragment inside Ethernet: `frag_off` in 8-byte units, `more`
/// the MF bit, `body` the bytes this fragment carries (for the first
/// fragment, starting with the transport header).
#[allow(clippy::too_many_arguments)]
pub fn ipv4_fragment(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    frag_off: u16,
    more: bool,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00]);
    let total = (20 + body.len()) as u16;
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    let fo = (frag_off & 0x1fff) | if more { 0x2000 } else { 0 };
    out.extend_from_slice(&fo.to_be_bytes());
    out.extend_from_slice(&[64, proto, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    out.extend_from_slice(body);
}
