//! Packet parsing for capture mode: link layer → IP → transport, pure.
//!
//! [`parse`] takes a pcap link type and one captured frame and returns the
//! few fields a flow cache needs ([`ParsedPacket`]): addresses, protocol,
//! ports, TCP flags, ToS / traffic class, the IP length (the octets NetFlow
//! counts), the outermost VLAN id and the fragment identity.
//!
//! Contract: never panics, never allocates, on any input; a frame too short
//! for a header it claims gives [`ParseError::Truncated`] (the caller counts
//! it). ICMP and ICMPv6 type/code go in the destination port as
//! `type << 8 | code` with source port 0, as NetFlow v5 and softflowd do.
//! Later IPv4/IPv6 fragments have no ports here: [`Frag::Later`] carries the
//! id the flow cache uses to put them in their first fragment's flow.
//!
//! Not done here: tunnels (GRE, IP-in-IP are port-less flows of their own
//! protocol), MPLS, checksums (a capture is accounted as seen).

use crate::wire::{be16, be32};

/// pcap link types ([tcpdump.org/linktypes.html]) capture mode reads.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW_OPENBSD: u32 = 12;
    pub const RAW_BSDOS: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const PFLOG: u32 = 117;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;

    /// Whether [`super::parse`] understands this link type.
    pub fn is_supported(lt: u32) -> bool {
        matches!(
            lt,
            NULL | ETHERNET
                | RAW_OPENBSD
                | RAW_BSDOS
                | RAW
                | LOOP
                | LINUX_SLL
                | PFLOG
                | IPV4
                | IPV6
                | LINUX_SLL2
        )
    }
}

/// IP protocol numbers capture mode treats specially.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// Fragment identity of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Frag {
    /// Not a fragment.
    #[default]
    None,
    /// First fragment (offset 0, more fragments): has the transport header.
    First(u32),
    /// A later fragment: no transport header.
    Later(u32),
}

/// What the flow cache needs from one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedPacket {
    /// 4 or 6.
    pub version: u8,
    /// IPv4 addresses use the first 4 bytes, the rest zero.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    /// IPv4 ToS byte or IPv6 traffic class.
    pub tos: u8,
    /// IP length: IPv4 total length, IPv6 payload length + 40.
    pub octets: u32,
    /// Outermost 802.1Q id (0 when untagged).
    pub vlan: u16,
    pub frag: Frag,
}

/// Why a frame gave no packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// Shorter than a header it needs.
    Truncated,
    /// A link-layer payload that is not IPv4/IPv6 (ARP, LLDP, ...).
    NotIp,
    /// A link type we do not read.
    UnsupportedLink(u32),
    /// An IP header that contradicts itself or its link layer (bad
    /// version, a version other than the ethertype or address family
    /// says, IHL < 5, total length shorter than the header, more than 8
    /// IPv6 extension headers).
    BadIp,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("truncated packet"),
            ParseError::NotIp => f.write_str("not IP"),
            ParseError::UnsupportedLink(l) => write!(f, "unsupported link type {l}"),
            ParseError::BadIp => f.write_str("malformed IP header"),
        }
    }
}

/// Parses one captured frame of link type `link`.
#[inline]
pub fn parse(link: u32, frame: &[u8]) -> Result<ParsedPacket, ParseError> {
    use linktype::*;
    match link {
        ETHERNET => ethernet(frame),
        RAW | RAW_OPENBSD | RAW_BSDOS => ip(frame, 0),
        IPV4 => ip_as(frame, 0, 4),
        IPV6 => ip_as(frame, 0, 6),
        NULL | LOOP => {
            // 4-byte address family: host order for NULL, network order for
            // LOOP; we accept either order (values are small, so one of the
            // two readings is always < 256).
            if frame.len() < 4 {
                return Err(ParseError::Truncated);
            }
            let be = be32(frame, 0);
            let af = if be > 0xffff { be.swap_bytes() } else { be };
            match af {
                // AF_INET everywhere; AF_INET6 on Linux, OpenBSD/NetBSD,
                // FreeBSD, macOS.
                2 => ip_as(&frame[4..], 0, 4),
                10 | 24 | 28 | 30 => ip_as(&frame[4..], 0, 6),
                _ => Err(ParseError::NotIp),
            }
        }
        LINUX_SLL => {
            if frame.len() < 16 {
                return Err(ParseError::Truncated);
            }
            ethertype(be16(frame, 14), &frame[16..], 0)
        }
        LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(ParseError::Truncated);
            }
            ethertype(be16(frame, 0), &frame[20..], 0)
        }
        PFLOG => {
            // struct pfloghdr: length@0 (header length before padding to
            // 4), af@1; the packet starts at the 4-aligned length.
            if frame.len() < 2 {
                return Err(ParseError::Truncated);
            }
            let hl = (usize::from(frame[0]) + 3) & !3;
            if hl < 4 || frame.len() < hl {
                return Err(ParseError::Truncated);
            }
            match frame[1] {
                2 => ip_as(&frame[hl..], 0, 4),
                24 | 28 | 30 | 10 => ip_as(&frame[hl..], 0, 6),
                _ => Err(ParseError::NotIp),
            }
        }
        other => Err(ParseError::UnsupportedLink(other)),
    }
}

#[inline]
fn ethernet(f: &[u8]) -> Result<ParsedPacket, ParseError> {
    if f.len() < 14 {
        return Err(ParseError::Truncated);
    }
    let mut et = be16(f, 12);
    let mut off = 14;
    let mut vlan = 0u16;
    // Up to two tags (QinQ); a third stacked tag is rare enough to be
    // treated as non-IP.
    for _ in 0..2 {
        if !matches!(et, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
            break;
        }
        if f.len() < off + 4 {
            return Err(ParseError::Truncated);
        }
        if vlan == 0 {
            vlan = be16(f, off) & 0x0fff;
        }
        et = be16(f, off + 2);
        off += 4;
    }
    ethertype(et, &f[off..], vlan)
}

#[inline]
fn ethertype(et: u16, p: &[u8], vlan: u16) -> Result<ParsedPacket, ParseError> {
    match et {
        ETHERTYPE_IPV4 => ip_as(p, vlan, 4),
        ETHERTYPE_IPV6 => ip_as(p, vlan, 6),
        _ => Err(ParseError::NotIp),
    }
}

/// An IP packet whose link layer said which version it is: a header of
/// the other version contradicts it (malformed, not guessed at).
#[inline]
fn ip_as(p: &[u8], vlan: u16, version: u8) -> Result<ParsedPacket, ParseError> {
    match p.first() {
        None => Err(ParseError::Truncated),
        Some(&b0) if b0 >> 4 != version => Err(ParseError::BadIp),
        Some(_) => ip(p, vlan),
    }
}

#[inline]
fn ip(p: &[u8], vlan: u16) -> Result<ParsedPacket, ParseError> {
    let Some(&b0) = p.first() else {
        return Err(ParseError::Truncated);
    };
    match b0 >> 4 {
        4 => ipv4(p, vlan),
        6 => ipv6(p, vlan),
        _ => Err(ParseError::BadIp),
    }
}

#[inline]
fn ipv4(p: &[u8], vlan: u16) -> Result<ParsedPacket, ParseError> {
    if p.len() < 20 {
        return Err(ParseError::Truncated);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    if ihl < 20 || total < ihl {
        return Err(ParseError::BadIp);
    }
    if p.len() < ihl {
        return Err(ParseError::Truncated);
    }
    let mut pk = ParsedPacket {
        version: 4,
        src: [0; 16],
        dst: [0; 16],
        protocol: p[9],
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        tos: p[1],
        octets: total as u32,
        vlan,
        frag: Frag::None,
    };
    pk.src[..4].copy_from_slice(&p[12..16]);
    pk.dst[..4].copy_from_slice(&p[16..20]);
    let fo = be16(p, 6);
    let id = u32::from(be16(p, 4));
    let offset = fo & 0x1fff;
    let more = fo & 0x2000 != 0;
    if offset != 0 {
        pk.frag = Frag::Later(id);
        return Ok(pk);
    }
    if more {
        pk.frag = Frag::First(id);
    }
    // Transport header within what both the capture and the IP length hold.
    let end = total.min(p.len());
    transport(&mut pk, &p[ihl..end])?;
    Ok(pk)
}

fn ipv6(p: &[u8], vlan: u16) -> Result<ParsedPacket, ParseError> {
    if p.len() < 40 {
        return Err(ParseError::Truncated);
    }
    let mut pk = ParsedPacket {
        version: 6,
        src: [0; 16],
        dst: [0; 16],
        protocol: p[6],
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        tos: ((be16(p, 0) >> 4) & 0xff) as u8,
        octets: u32::from(be16(p, 4)) + 40,
        vlan,
        frag: Frag::None,
    };
    pk.src.copy_from_slice(&p[8..24]);
    pk.dst.copy_from_slice(&p[24..40]);
    let end = (40 + usize::from(be16(p, 4))).min(p.len());
    let mut off = 40;
    let mut next = p[6];
    // Extension headers; at most 8 (a longer chain is not a real packet's,
    // and is refused below).
    for _ in 0..8 {
        match next {
            // Hop-by-hop, routing, destination options, mobility.
            0 | 43 | 60 | 135 => {
                if end < off + 8 {
                    return Err(ParseError::Truncated);
                }
                next = p[off];
                off += (usize::from(p[off + 1]) + 1) * 8;
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                if end < off + 8 {
                    return Err(ParseError::Truncated);
                }
                next = p[off];
                off += (usize::from(p[off + 1]) + 2) * 4;
            }
            44 => {
                if end < off + 8 {
                    return Err(ParseError::Truncated);
                }
                next = p[off];
                let fo = be16(p, off + 2);
                let id = be32(p, off + 4);
                off += 8;
                pk.protocol = next;
                if fo & 0xfff8 != 0 {
                    pk.frag = Frag::Later(id);
                    return Ok(pk);
                }
                if fo & 1 != 0 {
                    pk.frag = Frag::First(id);
                }
            }
            _ => break,
        }
    }
    if matches!(next, 0 | 43 | 44 | 51 | 60 | 135) {
        // Still an extension header after 8 of them.
        return Err(ParseError::BadIp);
    }
    pk.protocol = next;
    if off > end {
        return Err(ParseError::Truncated);
    }
    transport(&mut pk, &p[off..end])?;
    Ok(pk)
}

#[inline]
fn transport(pk: &mut ParsedPacket, l4: &[u8]) -> Result<(), ParseError> {
    match pk.protocol {
        proto::TCP => {
            if l4.len() < 14 {
                return Err(ParseError::Truncated);
            }
            pk.src_port = be16(l4, 0);
            pk.dst_port = be16(l4, 2);
            pk.tcp_flags = l4[13];
        }
        proto::UDP => {
            if l4.len() < 4 {
                return Err(ParseError::Truncated);
            }
            pk.src_port = be16(l4, 0);
            pk.dst_port = be16(l4, 2);
        }
        proto::ICMP | proto::ICMPV6 => {
            if l4.len() < 2 {
                return Err(ParseError::Truncated);
            }
            pk.dst_port = u16::from(l4[0]) << 8 | u16::from(l4[1]);
        }
        _ => {}
    }
    Ok(())
}

/// The parser's property, for fuzzing: on any link type and bytes it
/// returns without panicking, and a parsed packet is self-consistent.
pub fn check_property(link: u32, data: &[u8]) {
    if let Ok(p) = parse(link, data) {
        assert!(p.version == 4 || p.version == 6);
        if p.version == 4 {
            assert!(p.src[4..].iter().all(|&b| b == 0));
            assert!(p.octets >= 20);
        } else {
            assert!(p.octets >= 40);
        }
        assert!(p.vlan < 4096);
        if matches!(p.frag, Frag::Later(_)) {
            assert_eq!((p.src_port, p.dst_port, p.tcp_flags), (0, 0, 0));
        }
        if p.protocol != proto::TCP {
            assert_eq!(p.tcp_flags, 0);
        }
    }
}

pub mod build;

#[cfg(test)]
mod tests;
