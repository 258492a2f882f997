use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// Ethernet II, IPv4 (IHL 5, ToS 0x10, total 40, id 0x1234, DF), TCP
// 10.0.0.1:49152 -> 192.168.1.2:443, flags SYN|ACK (0x12 at TCP offset 13).
const ETH_TCP: &str = "020000000001 020000000002 0800
    45 10 0028 1234 4000 40 06 0000 0a000001 c0a80102
    c000 01bb 00000001 00000000 50 12 ffff 0000 0000";

#[test]
fn ethernet_ipv4_tcp_fields_at_hand_computed_offsets() {
    let f = hex(ETH_TCP);
    let p = parse(linktype::ETHERNET, &f).unwrap();
    assert_eq!(p.version, 4);
    assert_eq!(&p.src[..4], &[10, 0, 0, 1]);
    assert_eq!(&p.dst[..4], &[192, 168, 1, 2]);
    assert_eq!((p.protocol, p.src_port, p.dst_port), (6, 49152, 443));
    assert_eq!(p.tcp_flags, 0x12);
    assert_eq!(p.tos, 0x10);
    assert_eq!(p.octets, 40);
    assert_eq!(p.vlan, 0);
    assert_eq!(p.frag, Frag::None);
    // Every shorter prefix that cuts the IP or TCP header is Truncated.
    for n in 0..f.len() - 6 {
        assert!(parse(linktype::ETHERNET, &f[..n]).is_err(), "{n}");
    }
    assert_eq!(
        parse(linktype::ETHERNET, &f[..14 + 20 + 10]),
        Err(ParseError::Truncated)
    );
}

#[test]
fn vlan_and_qinq_take_the_outer_id() {
    let f = hex(ETH_TCP);
    let mut q = f[..12].to_vec();
    q.extend_from_slice(&hex("88a8 0064 8100 0065")); // outer 100, inner 101
    q.extend_from_slice(&f[12..]);
    let p = parse(linktype::ETHERNET, &q).unwrap();
    assert_eq!(p.vlan, 100);
    assert_eq!(p.dst_port, 443);
    // ARP is not IP.
    let mut arp = f.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(parse(linktype::ETHERNET, &arp), Err(ParseError::NotIp));
}

#[test]
fn cooked_null_loop_raw_and_pflog_reach_the_same_packet() {
    let f = hex(ETH_TCP);
    let ipb = &f[14..];
    let want = parse(linktype::ETHERNET, &f).unwrap();
    let mut sll = hex("0000 0001 0006 020000000001 0000 0800");
    sll.extend_from_slice(ipb);
    let mut sll2 = hex("0800 0000 00000002 0001 00 06 020000000001 0000");
    sll2.extend_from_slice(ipb);
    let mut null = vec![2, 0, 0, 0]; // AF_INET, little-endian host order
    null.extend_from_slice(ipb);
    let mut lo = vec![0, 0, 0, 2]; // AF_INET, network order
    lo.extend_from_slice(ipb);
    // pflog: length 61 -> padded to 64, af 2.
    let mut pflog = vec![0u8; 64];
    pflog[0] = 61;
    pflog[1] = 2;
    pflog.extend_from_slice(ipb);
    for (lt, fr) in [
        (linktype::LINUX_SLL, &sll),
        (linktype::LINUX_SLL2, &sll2),
        (linktype::NULL, &null),
        (linktype::LOOP, &lo),
        (linktype::PFLOG, &pflog),
        (linktype::RAW, &ipb.to_vec()),
    ] {
        assert_eq!(parse(lt, fr), Ok(ParsedPacket { vlan: 0, ..want }), "{lt}");
    }
    assert_eq!(parse(9999, ipb), Err(ParseError::UnsupportedLink(9999)));
}

#[test]
fn ipv4_options_and_fragments() {
    // IHL 6 (4 bytes of options), UDP 1024 -> 53, first fragment (MF).
    let p = hex("46 00 0024 abcd 2000 40 11 0000 01020304 05060708 01010101
        0400 0035 0010 0000");
    let pk = parse(linktype::RAW, &p).unwrap();
    assert_eq!((pk.src_port, pk.dst_port), (1024, 53));
    assert_eq!(pk.frag, Frag::First(0xabcd));
    assert_eq!(pk.octets, 36);
    // Later fragment (offset 3): no ports, same id.
    let p = hex("45 00 0020 abcd 0003 40 11 0000 01020304 05060708 0400003500100000");
    let pk = parse(linktype::RAW, &p).unwrap();
    assert_eq!((pk.src_port, pk.dst_port), (0, 0));
    assert_eq!(pk.frag, Frag::Later(0xabcd));
    // IHL 4 is malformed; total length below IHL too.
    let mut bad = p.clone();
    bad[0] = 0x44;
    assert_eq!(parse(linktype::RAW, &bad), Err(ParseError::BadIp));
    let mut bad = p.clone();
    bad[2..4].copy_from_slice(&[0, 10]);
    assert_eq!(parse(linktype::RAW, &bad), Err(ParseError::BadIp));
}

#[test]
fn ipv6_extension_headers_fragment_and_icmpv6() {
    // IPv6, traffic class 0xb8 (vtc 0x6b800000), payload 24, next 0 (hop-by-hop)
    // HBH(next 44, len 0) + Frag(next 58, offset 0, M=1, id 0x01020304)
    // + ICMPv6 echo request (128, 0).
    let src = "20010db8000000000000000000000001";
    let dst = "20010db8000000000000000000000002";
    let p = hex(&format!(
        "6b800000 0018 00 40 {src} {dst} 2c00000000000000 3a000001 01020304 8000 0000 00010001"
    ));
    let pk = parse(linktype::RAW, &p).unwrap();
    assert_eq!(pk.version, 6);
    assert_eq!(pk.tos, 0xb8);
    assert_eq!(pk.octets, 64);
    assert_eq!(pk.protocol, 58);
    assert_eq!((pk.src_port, pk.dst_port), (0, 128 << 8));
    assert_eq!(pk.frag, Frag::First(0x01020304));
    assert_eq!(pk.src[15], 1);
    // Later fragment: offset 8 bytes (value 1 << 3).
    let p = hex(&format!(
        "60000000 0010 2c 40 {src} {dst} 11000008 01020304 0000000000000000"
    ));
    let pk = parse(linktype::RAW, &p).unwrap();
    assert_eq!((pk.protocol, pk.frag), (17, Frag::Later(0x01020304)));
}

#[test]
fn icmp_type_code_in_destination_port() {
    let p = hex("45 00 001c 0001 0000 40 01 0000 0a000001 0a000002 0303 0000 00000000");
    let pk = parse(linktype::RAW, &p).unwrap();
    // Destination unreachable (3), port unreachable (3): 3 * 256 + 3.
    assert_eq!((pk.src_port, pk.dst_port), (0, 771));
}

#[test]
fn property_holds_on_every_prefix_and_byte_flip() {
    let f = hex(ETH_TCP);
    for lt in [0, 1, 101, 108, 113, 117, 276, 5] {
        for n in 0..=f.len() {
            check_property(lt, &f[..n]);
        }
        for i in 0..f.len() {
            for v in [0u8, 0x0f, 0x44, 0x60, 0xff] {
                let mut g = f.clone();
                g[i] = v;
                check_property(lt, &g);
            }
        }
    }
}

#[test]
fn builder_output_parses_back() {
    use build::{L4, Spec};
    let s = Spec {
        src: "10.1.1.1".parse().unwrap(),
        dst: "10.2.2.2".parse().unwrap(),
        l4: L4::Udp {
            sport: 5000,
            dport: 53,
        },
        payload: 12,
        tos: 4,
        vlan: 7,
    };
    let mut v = Vec::new();
    assert!(build::ethernet(&s, &mut v));
    assert_eq!(v.len(), 18 + 20 + 8 + 12);
    let p = parse(linktype::ETHERNET, &v).unwrap();
    assert_eq!((p.octets, p.vlan, p.tos, p.dst_port), (40, 7, 4, 53));
}

#[test]
fn the_link_layer_and_the_ip_version_must_agree() {
    // ETH_TCP's IPv4 packet behind an IPv6 ethertype, and the same packet
    // behind ethertype IPv4 with its version nibble made 6.
    let mut f = hex(ETH_TCP);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(parse(linktype::ETHERNET, &f), Err(ParseError::BadIp));
    let mut f = hex(ETH_TCP);
    f[14] = 0x65;
    assert_eq!(parse(linktype::ETHERNET, &f), Err(ParseError::BadIp));
    // Loopback: AF_INET (2) with an IPv6 header.
    let mut lo = vec![2, 0, 0, 0];
    lo.extend_from_slice(&hex(ETH_TCP)[14..]);
    lo[4] = 0x65;
    assert_eq!(parse(linktype::NULL, &lo), Err(ParseError::BadIp));
    lo[4] = 0x45;
    assert!(parse(linktype::NULL, &lo).is_ok());
    // Raw IP carries no such claim: either version is read.
    assert_eq!(parse(linktype::RAW, &lo[4..]).map(|p| p.version), Ok(4));
}

#[test]
fn more_than_eight_ipv6_extension_headers_are_refused() {
    // IPv6 with N destination-options headers (8 bytes each), then UDP.
    let packet = |n: usize| {
        let mut p = vec![0x60, 0, 0, 0];
        let payload = n * 8 + 8;
        p.extend_from_slice(&(payload as u16).to_be_bytes());
        p.push(if n == 0 { 17 } else { 60 });
        p.push(64);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        for k in 0..n {
            p.extend_from_slice(&[if k + 1 == n { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
        }
        p.extend_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
        p
    };
    let eight = parse(linktype::RAW, &packet(8)).unwrap();
    assert_eq!(
        (eight.protocol, eight.src_port, eight.dst_port),
        (17, 5000, 53)
    );
    assert_eq!(parse(linktype::RAW, &packet(9)), Err(ParseError::BadIp));
}
