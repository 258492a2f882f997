//! Finding the pfsync frame inside a captured packet (reference §2).
//!
//! pfsync reaches us in three wrappings: on the pfsync0 interface (link types
//! 246 `LINKTYPE_PFSYNC`, 18 as OpenBSD writes files, 121 as old FreeBSD
//! did), where the frame starts at the pfsync header, or — on current
//! OpenBSD — possibly at an IPv4 header; and on the sync link, as IPv4
//! protocol 240 inside Ethernet (optionally VLAN tagged), Linux cooked
//! capture, BSD loopback or raw IP.

use crate::wire::{be16, be32, u8_at};

/// IP protocol number of pfsync.
pub const IPPROTO_PFSYNC: u8 = 240;

/// Link-layer types (pcap LINKTYPE_ values) we know how to unwrap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PFSYNC_OPENBSD: LinkType = LinkType(18);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const PFSYNC_FREEBSD_OLD: LinkType = LinkType(121);
    pub const IPV4: LinkType = LinkType(228);
    pub const PFSYNC: LinkType = LinkType(246);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// True for link types whose packets we can look into for pfsync.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            LinkType::NULL
                | LinkType::ETHERNET
                | LinkType::PFSYNC_OPENBSD
                | LinkType::RAW
                | LinkType::LOOP
                | LinkType::LINUX_SLL
                | LinkType::PFSYNC_FREEBSD_OLD
                | LinkType::IPV4
                | LinkType::PFSYNC
                | LinkType::LINUX_SLL2
        )
    }
}

/// Why a packet carries no pfsync frame for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotPfsync {
    /// Link layer or IP header cut short.
    Truncated,
    /// A well-formed packet that is not IPv4 protocol 240.
    OtherTraffic,
    /// A link type we do not unwrap.
    UnsupportedLink,
    /// IPv4 fragment: pfsync frames are sent with DF, a fragment is not ours.
    Fragment,
}

/// What we found: the pfsync bytes and, when it came over IP, the sender
/// and TTL (the kernel accepts only TTL 255).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carried<'a> {
    pub frame: &'a [u8],
    pub ip: Option<IpInfo>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
}

/// Unwraps `pkt` of link type `link` down to the pfsync frame.
pub fn extract(link: LinkType, pkt: &[u8]) -> Result<Carried<'_>, NotPfsync> {
    match link {
        LinkType::PFSYNC | LinkType::PFSYNC_OPENBSD | LinkType::PFSYNC_FREEBSD_OLD => {
            // A pfsync header starts with its version (1..=6); current
            // OpenBSD may tap the frame with its IPv4 header (0x45.., proto 240).
            if u8_at(pkt, 0) >> 4 == 4 && u8_at(pkt, 9) == IPPROTO_PFSYNC {
                ipv4(pkt)
            } else {
                Ok(Carried {
                    frame: pkt,
                    ip: None,
                })
            }
        }
        LinkType::ETHERNET => ethernet(pkt),
        LinkType::RAW | LinkType::IPV4 => ipv4(pkt),
        LinkType::NULL | LinkType::LOOP => {
            // 4-byte address family in host order of the writer: 2 is AF_INET
            // everywhere; accept either byte order.
            let af = be32(pkt, 0);
            if pkt.len() < 4 {
                return Err(NotPfsync::Truncated);
            }
            if af == 2 || af == 0x0200_0000 {
                ipv4(&pkt[4..])
            } else {
                Err(NotPfsync::OtherTraffic)
            }
        }
        LinkType::LINUX_SLL => {
            if pkt.len() < 16 {
                return Err(NotPfsync::Truncated);
            }
            ether_payload(be16(pkt, 14), &pkt[16..])
        }
        LinkType::LINUX_SLL2 => {
            if pkt.len() < 20 {
                return Err(NotPfsync::Truncated);
            }
            ether_payload(be16(pkt, 0), &pkt[20..])
        }
        _ => Err(NotPfsync::UnsupportedLink),
    }
}

fn ethernet(pkt: &[u8]) -> Result<Carried<'_>, NotPfsync> {
    if pkt.len() < 14 {
        return Err(NotPfsync::Truncated);
    }
    ether_payload(be16(pkt, 12), &pkt[14..])
}

/// Follows up to two VLAN tags (802.1Q, 802.1ad) to an IPv4 payload.
fn ether_payload(mut ethertype: u16, mut rest: &[u8]) -> Result<Carried<'_>, NotPfsync> {
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            if rest.len() < 4 {
                return Err(NotPfsync::Truncated);
            }
            ethertype = be16(rest, 2);
            rest = &rest[4..];
        }
    }
    if ethertype == 0x0800 {
        ipv4(rest)
    } else {
        Err(NotPfsync::OtherTraffic)
    }
}

fn ipv4(p: &[u8]) -> Result<Carried<'_>, NotPfsync> {
    if p.len() < 20 {
        return Err(NotPfsync::Truncated);
    }
    if p[0] >> 4 != 4 {
        return Err(NotPfsync::OtherTraffic);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    if ihl < 20 || total < ihl || p.len() < ihl {
        return Err(NotPfsync::Truncated);
    }
    if p[9] != IPPROTO_PFSYNC {
        return Err(NotPfsync::OtherTraffic);
    }
    let frag = be16(p, 6);
    if frag & 0x3fff != 0 {
        return Err(NotPfsync::Fragment);
    }
    // Ethernet may pad; the IP total length says where the datagram ends.
    let end = total.min(p.len());
    Ok(Carried {
        frame: &p[ihl..end],
        ip: Some(IpInfo {
            src: [p[12], p[13], p[14], p[15]],
            dst: [p[16], p[17], p[18], p[19]],
            ttl: p[8],
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Dialect, Message, parse_frame};
    use super::*;

    fn ip_hdr(proto: u8, payload: &[u8]) -> Vec<u8> {
        ip_hdr_opts(proto, &[], payload)
    }

    /// An IPv4 header with `opts` (a multiple of 4 bytes) after its fixed
    /// 20 bytes: IHL = 5 + opts/4, total length = header + payload.
    fn ip_hdr_opts(proto: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
        assert_eq!(opts.len() % 4, 0);
        let ihl = 5 + opts.len() / 4;
        let total = (ihl * 4 + payload.len()) as u16;
        // version/IHL, TOS, total length, id, DF, TTL 255, proto, checksum
        // (not checked), source 10.0.0.1, destination 224.0.0.240
        let mut v = vec![
            0x45, 0x10, 0, 0, 0x12, 0x34, 0x40, 0x00, 255, proto, 0, 0, 10, 0, 0, 1, 224, 0, 0, 240,
        ];
        v[0] = 0x40 | ihl as u8;
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(opts);
        v.extend_from_slice(payload);
        v
    }

    /// A whole v6 frame by hand (§4.1, §4.2, §4.7): header version 6, len
    /// 36, zero checksum; one subheader DEL_C (7), 3 words, count 1; one
    /// DEL_C with id 0x0102030405060708 and creatorid 0xa1a2a3a4.
    const V6_FRAME: [u8; 36] = [
        6, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // header
        7, 3, 0, 1, // subheader
        1, 2, 3, 4, 5, 6, 7, 8, 0xa1, 0xa2, 0xa3, 0xa4, // DEL_C
    ];

    /// What a carrier must hand over: exactly [`V6_FRAME`], whose header
    /// and message decode to the hand-built values.
    fn check_v6_frame(c: &Carried<'_>) {
        assert_eq!(c.frame, &V6_FRAME[..]);
        assert_eq!(c.frame[0], 6); // version
        assert_eq!(be16(c.frame, 2), 36); // len
        let f = parse_frame(c.frame).unwrap();
        assert_eq!(f.dialect, Dialect::OpenBsdV6);
        let m: Vec<_> = f.messages().collect();
        assert_eq!(
            m,
            [Ok(Message::DeleteCompressed {
                id: 0x0102_0304_0506_0708,
                creator: 0xa1a2_a3a4
            })]
        );
    }

    fn check_ip(c: &Carried<'_>) {
        assert_eq!(
            c.ip,
            Some(IpInfo {
                src: [10, 0, 0, 1],
                dst: [224, 0, 0, 240],
                ttl: 255
            })
        );
    }

    #[test]
    fn ipv4_options_are_skipped_by_ihl() {
        // IHL 6: router alert (0x94, len 4); IHL 7: NOP, NOP, router alert,
        // then EOL padding. The pfsync header starts after them.
        for opts in [
            &[0x94, 0x04, 0x00, 0x00][..],
            &[0x01, 0x01, 0x94, 0x04, 0x00, 0x00, 0x00, 0x00][..],
        ] {
            let pkt = ip_hdr_opts(IPPROTO_PFSYNC, opts, &V6_FRAME);
            assert_eq!(usize::from(pkt[0] & 0x0f) * 4, 20 + opts.len());
            for lt in [LinkType::RAW, LinkType::IPV4] {
                let c = extract(lt, &pkt).unwrap();
                check_v6_frame(&c);
                check_ip(&c);
            }
            // the same behind Ethernet, with trailer padding the IP total
            // length excludes
            let mut eth = vec![
                0x01, 0x00, 0x5e, 0, 0, 0xf0, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
            ];
            eth.extend_from_slice(&pkt);
            eth.extend_from_slice(&[0xee; 6]);
            let c = extract(LinkType::ETHERNET, &eth).unwrap();
            check_v6_frame(&c);
            check_ip(&c);
        }
        // IHL 7 captured with only 24 header bytes: cut short
        let pkt = ip_hdr_opts(IPPROTO_PFSYNC, &[1, 1, 1, 1, 1, 1, 1, 1], &V6_FRAME);
        assert_eq!(
            extract(LinkType::RAW, &pkt[..24]),
            Err(NotPfsync::Truncated)
        );
    }

    #[test]
    fn raw_ipv4_link_types_101_and_228() {
        let pkt = ip_hdr(IPPROTO_PFSYNC, &V6_FRAME);
        for lt in [LinkType::RAW, LinkType::IPV4] {
            assert!(lt.is_supported());
            let c = extract(lt, &pkt).unwrap();
            check_v6_frame(&c);
            check_ip(&c);
        }
        assert_eq!(LinkType::IPV4, LinkType(228));
        assert_eq!(LinkType::RAW, LinkType(101));
        // 228 is IPv4 only: an IPv6 packet is other traffic
        let mut v6 = pkt.clone();
        v6[0] = 0x60;
        assert_eq!(extract(LinkType::IPV4, &v6), Err(NotPfsync::OtherTraffic));
    }

    #[test]
    fn bsd_loopback_null_host_order_and_loop_network_order() {
        // LINKTYPE_NULL (0): AF_INET = 2 as a 4-byte word in the capturing
        // host's byte order, so either; LINKTYPE_LOOP (108): network order.
        // Both are accepted in both orders (a writer's order is not known).
        let ip = ip_hdr(IPPROTO_PFSYNC, &V6_FRAME);
        for (lt, af) in [
            (LinkType::NULL, [2u8, 0, 0, 0]),
            (LinkType::NULL, [0, 0, 0, 2]),
            (LinkType::LOOP, [0, 0, 0, 2]),
            (LinkType::LOOP, [2, 0, 0, 0]),
        ] {
            assert_eq!(lt.0, if lt == LinkType::NULL { 0 } else { 108 });
            let pkt = [&af[..], &ip].concat();
            let c = extract(lt, &pkt).unwrap();
            check_v6_frame(&c);
            check_ip(&c);
            // AF_INET6 (OpenBSD 24) in the same position: not pfsync
            let mut not_v4 = pkt.clone();
            not_v4[..4].copy_from_slice(&[0, 0, 0, 24]);
            assert_eq!(extract(lt, &not_v4), Err(NotPfsync::OtherTraffic));
            // shorter than the family word
            assert_eq!(extract(lt, &pkt[..3]), Err(NotPfsync::Truncated));
        }
    }

    #[test]
    fn pfsync0_frame_with_or_without_its_ipv4_header() {
        // Current OpenBSD may tap pfsync0 with the IPv4 header in front
        // (§2.2): told apart from a pfsync header by 0x4_ and proto 240.
        for lt in [
            LinkType::PFSYNC,
            LinkType::PFSYNC_OPENBSD,
            LinkType::PFSYNC_FREEBSD_OLD,
        ] {
            let pkt = ip_hdr(IPPROTO_PFSYNC, &V6_FRAME);
            let c = extract(lt, &pkt).unwrap();
            check_v6_frame(&c);
            check_ip(&c);
            // with IP options (IHL 6)
            let pkt = ip_hdr_opts(IPPROTO_PFSYNC, &[0x94, 0x04, 0, 0], &V6_FRAME);
            let c = extract(lt, &pkt).unwrap();
            check_v6_frame(&c);
            check_ip(&c);
            // the bare frame passes through, no IP information
            let c = extract(lt, &V6_FRAME).unwrap();
            check_v6_frame(&c);
            assert_eq!(c.ip, None);
        }
        // a legacy v4 frame starts with version byte 4 (0x04, not 0x4_):
        // it is a pfsync header, not IPv4
        let legacy = [4u8, 0, 5, 0];
        assert_eq!(extract(LinkType::PFSYNC, &legacy).unwrap().frame, &legacy);
    }

    #[test]
    fn pfsync_link_types_pass_the_frame_through() {
        let f = [6u8, 0, 0, 20];
        for lt in [LinkType::PFSYNC, LinkType::PFSYNC_OPENBSD, LinkType(121)] {
            let c = extract(lt, &f).unwrap();
            assert_eq!(c.frame, &f);
            assert_eq!(c.ip, None);
        }
    }

    #[test]
    fn ethernet_vlan_and_padding() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        eth.extend_from_slice(&ip_hdr(240, &[6, 1, 2, 3]));
        eth.extend_from_slice(&[0, 0, 0, 0]); // trailer padding
        let c = extract(LinkType::ETHERNET, &eth).unwrap();
        assert_eq!(c.frame, &[6, 1, 2, 3]);
    }

    #[test]
    fn other_traffic_and_short_packets_are_told_apart() {
        let udp = ip_hdr(17, &[0; 8]);
        assert_eq!(
            extract(LinkType::RAW, &udp).unwrap_err(),
            NotPfsync::OtherTraffic
        );
        assert_eq!(
            extract(LinkType::RAW, &udp[..10]).unwrap_err(),
            NotPfsync::Truncated
        );
        assert_eq!(
            extract(LinkType::ETHERNET, &[0; 5]).unwrap_err(),
            NotPfsync::Truncated
        );
        assert_eq!(
            extract(LinkType(999), &udp).unwrap_err(),
            NotPfsync::UnsupportedLink
        );
        let mut frag = ip_hdr(240, &[6, 0, 0, 20]);
        frag[6] = 0x20; // more fragments
        assert_eq!(
            extract(LinkType::RAW, &frag).unwrap_err(),
            NotPfsync::Fragment
        );
    }

    #[test]
    fn loopback_and_cooked() {
        let mut lo = 2u32.to_le_bytes().to_vec();
        lo.extend_from_slice(&ip_hdr(240, &[6, 0, 0, 20]));
        assert_eq!(extract(LinkType::NULL, &lo).unwrap().frame, &[6, 0, 0, 20]);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip_hdr(240, &[6, 0, 0, 20]));
        assert_eq!(
            extract(LinkType::LINUX_SLL, &sll).unwrap().frame,
            &[6, 0, 0, 20]
        );
    }

    #[test]
    fn linux_cooked_v2_and_qinq_reach_the_frame() {
        let frame = [
            6u8, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let ip = ip_hdr(IPPROTO_PFSYNC, &frame);
        // SLL2: protocol @0, reserved @2, ifindex @4, hatype @8, pkttype
        // @10, halen @11, address @12..20
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 2, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        let c = extract(LinkType::LINUX_SLL2, &sll2).unwrap();
        assert_eq!(c.frame, &frame[..]);
        assert_eq!(c.ip.unwrap().ttl, 255);
        // SLL2 carrying IPv6 is other traffic; cut short is truncated
        sll2[0..2].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(
            extract(LinkType::LINUX_SLL2, &sll2),
            Err(NotPfsync::OtherTraffic)
        );
        assert_eq!(
            extract(LinkType::LINUX_SLL2, &sll2[..19]),
            Err(NotPfsync::Truncated)
        );
        // QinQ: 802.1ad S-tag then 802.1Q C-tag, then IPv4
        let mut q = vec![0u8; 12];
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        q.extend_from_slice(&ip);
        assert_eq!(extract(LinkType::ETHERNET, &q).unwrap().frame, &frame[..]);
        // a third tag is not followed
        let mut q3 = vec![0u8; 12];
        q3.extend_from_slice(&[
            0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00,
        ]);
        q3.extend_from_slice(&ip);
        assert_eq!(
            extract(LinkType::ETHERNET, &q3),
            Err(NotPfsync::OtherTraffic)
        );
        // a pfsync0 frame of old FreeBSD (121) that starts with IPv4
        assert_eq!(
            extract(LinkType::PFSYNC_FREEBSD_OLD, &ip).unwrap().frame,
            &frame[..]
        );
    }
}
