//! Writes the hostile-input corpus in `testdata/malformed/`: pfsync frames
//! of every dialect (legacy v2–v4, v5 as OpenBSD 4.5 and FreeBSD speak it,
//! OpenBSD v6) that are wrong in one way each, and the statistics counter
//! each must raise (listed in `testdata/malformed/MANIFEST`); damaged
//! state files in `testdata/malformed/state/`, each with the error the
//! loader must give (its `MANIFEST`); captures in `testdata/malformed/packet/`
//! with frames capture mode must refuse, each with the counter it raises;
//! and NetFlow datagrams in `testdata/malformed/netflow/`, each with what
//! the decoder must answer. Deterministic: the same bytes every run.
//!
//! ```text
//! cargo run --example malformed_gen -- testdata/malformed
//! ```

use stateflowd::packet::build::{self, L4, Spec};
use stateflowd::packet::linktype;
use stateflowd::pfsync::{Family, IfName, Message, PfDirection, PfState, StateKey};
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::state::{StateTable, TableConfig, persist};
use stateflowd::time::Timestamp;
use std::fmt::Write as _;

/// A legacy frame: `version`, then (v3/v4) the 16-byte ruleset checksum,
/// `action`, `count` and `body` (the records actually present).
fn legacy(version: u8, action: u8, count: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![version, 2, action, count];
    if version != 2 {
        f.resize(20, 0);
    }
    f.extend_from_slice(body);
    f
}

/// A v6 frame with the given subheaders and `len` set to what was built
/// (or to `len_override`).
fn frame(parts: &[(u8, u8, u16, Vec<u8>)], len_override: Option<u16>) -> Vec<u8> {
    let mut f = vec![0u8; 20];
    f[0] = 6;
    for (act, words, count, body) in parts {
        f.extend_from_slice(&[*act, *words]);
        f.extend_from_slice(&count.to_be_bytes());
        f.extend_from_slice(body);
    }
    let len = len_override.unwrap_or(f.len() as u16);
    f[2..4].copy_from_slice(&len.to_be_bytes());
    f
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/malformed".into());
    std::fs::create_dir_all(&dir).expect("create dir");
    let del_c = vec![0u8; 12];
    let cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("empty.bin", "runt", "zero bytes", vec![]),
        ("runt-header.bin", "runt", "version 6 but only 10 bytes", {
            let mut v = vec![0u8; 10];
            v[0] = 6;
            v
        }),
        (
            "unknown-version.bin",
            "unsupported_version",
            "version byte 9",
            {
                let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                v[0] = 9;
                v
            },
        ),
        (
            "len-past-capture.bin",
            "short_frame",
            "len 65535, 36 bytes captured",
            frame(&[(7, 3, 1, del_c.clone())], Some(65535)),
        ),
        (
            "len-below-header.bin",
            "bad_length",
            "len 8 < 20-byte header",
            frame(&[(7, 3, 1, del_c.clone())], Some(8)),
        ),
        ("len-zero.bin", "bad_length", "len 0", frame(&[], Some(0))),
        (
            "subheader-zero-len.bin",
            "bad_subheader",
            "DEL_C x5 announced with a length of 0 words",
            frame(&[(7, 0, 5, del_c.clone())], None),
        ),
        (
            "count-past-frame.bin",
            "truncated",
            "65535 DEL_C announced, one present",
            frame(&[(7, 3, 65535, del_c.clone())], None),
        ),
        (
            "count-times-len-overflow.bin",
            "truncated",
            "255 words x 65535 messages (16.7 MB) in a 40-byte frame",
            frame(&[(13, 255, 65535, vec![0u8; 16])], None),
        ),
        (
            "del-c-too-small.bin",
            "message_too_small",
            "DEL_C of 2 words (8 bytes < 12)",
            frame(&[(7, 2, 1, vec![0u8; 8])], None),
        ),
        (
            "upd-c-too-small.bin",
            "message_too_small",
            "UPD_C of 10 words (40 bytes < 84)",
            frame(&[(4, 10, 1, vec![0u8; 40])], None),
        ),
        (
            "clr-too-small.bin",
            "message_too_small",
            "CLR of 4 words (16 bytes < 20)",
            frame(&[(0, 4, 1, vec![0u8; 16])], None),
        ),
        (
            "ins-unknown-layout.bin",
            "unknown_state_layout",
            "INS of 60 words (240 bytes): no such v6 layout",
            frame(&[(13, 60, 1, vec![0u8; 240])], None),
        ),
        (
            "ins-longer-than-known.bin",
            "state_longer_than_known",
            "INS of 68 words (272 bytes): a newer peer's state, not read by its prefix",
            frame(&[(13, 68, 1, vec![0u8; 272])], None),
        ),
    ];
    // The same framing checks, in the other dialects.
    let cases: Vec<_> = cases
        .into_iter()
        .chain(vec![
            (
                "unknown-version-1.bin",
                "unsupported_version",
                "version 1 (OpenBSD up to 3.4; not decoded)",
                {
                    let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                    v[0] = 1;
                    v
                },
            ),
            (
                "unknown-version-7.bin",
                "unsupported_version",
                "version 7 (none yet)",
                {
                    let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                    v[0] = 7;
                    v
                },
            ),
            (
                "legacy-v2-runt.bin",
                "runt",
                "v2, 3 bytes < 4-byte header",
                vec![2, 2, 1],
            ),
            (
                "legacy-v3-runt-header.bin",
                "runt",
                "v3, 12 bytes < 20-byte header",
                {
                    let mut v = legacy(3, 5, 1, &[]);
                    v.truncate(12);
                    v
                },
            ),
            (
                "legacy-v2-count-past-capture.bin",
                "short_frame",
                "v2 INS x255 (57124 bytes) with one 224-byte state present",
                legacy(2, 1, 255, &[0u8; 224]),
            ),
            (
                "legacy-v4-count-past-capture.bin",
                "short_frame",
                "v4 DEL_C x200 with two 16-byte records present",
                legacy(4, 5, 200, &[0u8; 32]),
            ),
            (
                "legacy-v3-zero-length-capture.bin",
                "short_frame",
                "v3 UPD x1 with a bare header: zero bytes of the 240-byte state",
                legacy(3, 2, 1, &[]),
            ),
            (
                "legacy-v3-unknown-action.bin",
                "unwalkable_action",
                "v3 action 11: no record size, the frame cannot be walked",
                legacy(3, 11, 1, &[0u8; 16]),
            ),
            (
                "legacy-v2-tdb-action.bin",
                "unwalkable_action",
                "v2 action 10 (TDB_UPD came with v3)",
                legacy(2, 10, 1, &[0u8; 48]),
            ),
            (
                "v5-runt-header.bin",
                "runt",
                "v5, 12 bytes < 20-byte header",
                {
                    let mut v = frame(&[], None);
                    v[0] = 5;
                    v.truncate(12);
                    v
                },
            ),
            ("v5-len-zero.bin", "bad_length", "v5 len 0", {
                let mut v = frame(&[(12, 0, 1, vec![])], Some(0));
                v[0] = 5;
                v
            }),
            (
                "v5-len-past-capture.bin",
                "short_frame",
                "v5 len 4000, 36 bytes captured",
                {
                    let mut v = frame(&[(7, 0, 1, del_c.clone())], Some(4000));
                    v[0] = 5;
                    v
                },
            ),
            (
                "v5-unknown-action.bin",
                "unwalkable_action",
                "v5 action 99 x1: no size known, the frame cannot be walked",
                {
                    let mut v = frame(&[(99, 0, 1, vec![0u8; 12])], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "v5-count-past-frame.bin",
                "truncated",
                "v5 DEL_C x65535 announced, one present",
                {
                    let mut v = frame(&[(7, 0, 65535, del_c.clone())], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "freebsd-count-times-size-overflow.bin",
                "truncated",
                "FreeBSD 1500 INS x65535 (23.6 MB) in a 48-byte frame, EOF after",
                {
                    let mut v = frame(&[(15, 0, 65535, vec![0u8; 24]), (12, 0, 1, vec![])], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "freebsd-1400-state-cut.bin",
                "truncated",
                "FreeBSD 1400 UPD x1 with 200 of its 277 bytes",
                {
                    let mut v = frame(&[(14, 0, 1, vec![0u8; 200])], None);
                    v[0] = 5;
                    v
                },
            ),
        ])
        .collect();
    let mut manifest = String::from(
        "# file counter description\n# Each frame must raise the named decode-error counter by one and nothing else.\n",
    );
    for (name, counter, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {counter} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), &manifest).expect("write manifest");
    let n = manifest.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!("wrote {n} frames to {dir}");
    state_files(&format!("{dir}/state"));
    packet_files(&format!("{dir}/packet"));
    netflow_files(&format!("{dir}/netflow"));
}

/// A state table of three states, as the daemon would save it.
fn table() -> StateTable {
    let mut tab = StateTable::new(TableConfig::default());
    let mut out = Vec::new();
    for id in 1..=3u64 {
        let mut k = StateKey::default();
        k.addr[0][..4].copy_from_slice(&[198, 51, 100, id as u8]);
        k.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
        k.port = [40000 + id as u16, 443];
        let s = PfState {
            id,
            creator: 0x0a0b_0c0d,
            ifname: IfName::new("em0"),
            keys: [k, k],
            family: Family::Inet,
            proto: 6,
            direction: PfDirection::Out,
            packets: [10 * id, 9 * id],
            bytes: [1000 * id, 900 * id],
            ..Default::default()
        };
        let t = Timestamp::from_secs(1_700_000_000 + id);
        tab.apply(&Message::Insert(s), t, &mut out);
    }
    tab
}

/// State files: a good one and the ways a file goes wrong (a crash
/// mid-copy, another version, bit rot, a count that would need exabytes).
fn state_files(dir: &str) {
    std::fs::create_dir_all(dir).expect("create dir");
    let good_path = format!("{dir}/good.state");
    persist::save(&table(), std::path::Path::new(&good_path)).expect("save");
    let good = std::fs::read(&good_path).expect("read back");
    let n = good.len();
    let with = |off: usize, bytes: &[u8]| {
        let mut v = good.clone();
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    let cases: Vec<(&str, String, &str, Vec<u8>)> = vec![
        (
            "cut-in-half.state",
            format!("bad_length {} {n}", n / 2),
            "the first half of good.state",
            good[..n / 2].to_vec(),
        ),
        (
            "cut-in-header.state",
            "bad_length 20 -".into(),
            "20 bytes: the header itself is cut",
            good[..20].to_vec(),
        ),
        (
            "count-overflow.state",
            format!("bad_length {n} -"),
            "record count 2^64-1: count x 133 overflows",
            with(16, &u64::MAX.to_be_bytes()),
        ),
        (
            "count-huge.state",
            format!("bad_length {n} {}", (1u64 << 40) * 133 + 32),
            "record count 2^40 (146 TB) in a small file",
            with(16, &(1u64 << 40).to_be_bytes()),
        ),
        (
            "count-zero.state",
            format!("bad_length {n} 32"),
            "record count 0 with three records present",
            with(16, &0u64.to_be_bytes()),
        ),
        (
            "record-size.state",
            format!("bad_length {n} {n}"),
            "record size 134 in the header",
            with(12, &134u32.to_be_bytes()),
        ),
        (
            "wrong-version.state",
            "wrong_version 2".into(),
            "format version 2",
            with(8, &2u32.to_be_bytes()),
        ),
        (
            "bit-flip.state",
            "bad_checksum".into(),
            "one bit flipped in the second record",
            {
                let mut v = good.clone();
                v[24 + 133 + 40] ^= 0x10;
                v
            },
        ),
        (
            "bad-magic.state",
            "bad_magic".into(),
            "a pcap file's first bytes",
            with(0, &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]),
        ),
        ("empty.state", "bad_magic".into(), "zero bytes", vec![]),
    ];
    let mut manifest = String::from(
        "# file error [file-length expected-length|-] description\n\
         # What persist::parse must answer for each file; good.state holds 3 states.\n\
         good.state ok 3 three states, as save writes them\n",
    );
    for (name, error, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {error} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), manifest).expect("write manifest");
    eprintln!("wrote {} state files to {dir}", cases.len() + 1);
}

// ---------------------------------------------------------------------------
// Capture mode: packets the parser must refuse, each counted.

/// 2024-03-01 00:00:00 UTC: the corpus captures' clock.
const CAPTURE_T0: u64 = 1_709_251_200;

fn v4(a: u8, b: u8, c: u8, d: u8) -> std::net::IpAddr {
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
}

fn v6(last: u16) -> std::net::IpAddr {
    std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

/// An IP packet as `packet::build` writes it (lengths right, checksums 0).
fn ip_packet(src: std::net::IpAddr, dst: std::net::IpAddr, l4: L4, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    assert!(build::ip(&Spec::new(src, dst, l4, payload), &mut v));
    v
}

fn tcp(flags: u8, payload: usize) -> Vec<u8> {
    ip_packet(
        v4(10, 0, 0, 1),
        v4(10, 0, 0, 2),
        L4::Tcp {
            sport: 40000,
            dport: 80,
            flags,
        },
        payload,
    )
}

const MACS: [u8; 12] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];

/// `ip` in Ethernet, the ethertype from its version nibble (IPv4 when
/// there is none).
fn eth(ip: &[u8]) -> Vec<u8> {
    eth_type(
        if ip.first().is_some_and(|b| b >> 4 == 6) {
            0x86dd
        } else {
            0x0800
        },
        ip,
    )
}

fn eth_type(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = MACS.to_vec();
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// `ip` under link type `link`.
fn link_frame(link: u32, ip: &[u8]) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    match link {
        linktype::RAW => ip.to_vec(),
        linktype::LINUX_SLL => sll(if v6 { 0x86dd } else { 0x0800 }, ip),
        // AF_INET 2, AF_INET6 24 (OpenBSD), in host (little-endian) order.
        linktype::NULL => {
            let mut f = vec![if v6 { 24 } else { 2 }, 0, 0, 0];
            f.extend_from_slice(ip);
            f
        }
        _ => eth(ip),
    }
}

/// Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, the
/// address padded to 8, protocol.
fn sll(proto: u16, body: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(body);
    f
}

struct PacketCase {
    name: &'static str,
    link: u32,
    counter: &'static str,
    /// Flows the bad frames make themselves (an orphan fragment is one).
    extra: usize,
    what: &'static str,
    bad: Vec<Vec<u8>>,
}

fn pc(
    name: &'static str,
    link: u32,
    counter: &'static str,
    what: &'static str,
    bad: Vec<Vec<u8>>,
) -> PacketCase {
    PacketCase {
        name,
        link,
        counter,
        extra: 0,
        what,
        bad,
    }
}

fn packet_cases() -> Vec<PacketCase> {
    use linktype::{ETHERNET, LINUX_SLL, NULL, RAW};
    let syn = tcp(0x02, 0);
    let syn_eth = eth(&syn);
    let with = |p: &[u8], off: usize, bytes: &[u8]| {
        let mut v = p.to_vec();
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    let udp = ip_packet(
        v4(10, 0, 0, 1),
        v4(10, 0, 0, 2),
        L4::Udp {
            sport: 5000,
            dport: 53,
        },
        12,
    );
    let icmp = ip_packet(
        v4(10, 0, 0, 1),
        v4(10, 0, 0, 2),
        L4::Icmp { typ: 8, code: 0 },
        8,
    );
    let v6tcp = ip_packet(
        v6(1),
        v6(2),
        L4::Tcp {
            sport: 40000,
            dport: 80,
            flags: 0x02,
        },
        0,
    );
    // An IPv6 header of `next` and payload length `plen`, then `rest`.
    let v6hdr = |next: u8, plen: u16, rest: &[u8]| {
        let mut v = v6tcp[..40].to_vec();
        v[4..6].copy_from_slice(&plen.to_be_bytes());
        v[6] = next;
        v.extend_from_slice(rest);
        v
    };
    let tag = |tpid: u16, id: u16| {
        let mut t = tpid.to_be_bytes().to_vec();
        t.extend_from_slice(&id.to_be_bytes());
        t
    };
    let tagged = |tags: &[Vec<u8>], ethertype: u16, body: &[u8]| {
        let mut f = MACS.to_vec();
        for t in tags {
            f.extend_from_slice(t);
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let arp = {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend_from_slice(&MACS[6..]);
        a.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        a
    };
    vec![
        pc(
            "eth-header-cut.pcap",
            ETHERNET,
            "truncated",
            "every cut of the 14-byte Ethernet header (0 to 13 bytes)",
            (0..14).map(|n| syn_eth[..n].to_vec()).collect(),
        ),
        pc(
            "vlan-tag-cut.pcap",
            ETHERNET,
            "truncated",
            "ethertype 802.1Q, then 0 to 3 bytes of its 4-byte tag",
            (0..4)
                .map(|n| {
                    let mut f = tagged(&[], 0x8100, &[]);
                    f.extend_from_slice(&tag(100, 0x0800)[..n]);
                    f
                })
                .collect(),
        ),
        pc(
            "qinq-inner-tag-cut.pcap",
            ETHERNET,
            "truncated",
            "802.1ad outer tag whole, inner 802.1Q tag 0 to 3 of 4 bytes",
            (0..4)
                .map(|n| {
                    let mut f = tagged(&[tag(0x88a8, 100)], 0x8100, &[]);
                    f.extend_from_slice(&tag(101, 0x0800)[..n]);
                    f
                })
                .collect(),
        ),
        pc(
            "vlan-ipv4-cut.pcap",
            ETHERNET,
            "truncated",
            "802.1Q tag 100 whole, then 10 bytes of the IPv4 header",
            vec![tagged(&[tag(0x8100, 100)], 0x0800, &syn[..10])],
        ),
        pc(
            "three-vlan-tags.pcap",
            ETHERNET,
            "not_ip",
            "802.1ad, 802.1Q, 802.1Q: a third stacked tag is not read",
            vec![tagged(
                &[tag(0x88a8, 100), tag(0x8100, 101)],
                0x8100,
                &[&tag(102, 0x0800)[..], &syn[..]].concat(),
            )],
        ),
        pc(
            "non-ip-ethertypes.pcap",
            ETHERNET,
            "not_ip",
            "ARP, LLDP, an 802.3 length (0x002e) instead of a type, ARP on VLAN 100",
            vec![
                eth_type(0x0806, &arp),
                eth_type(0x88cc, &[0x02, 0x07, 0x04, 0, 0, 0, 0, 0, 1, 0, 0]),
                eth_type(0x002e, &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]),
                tagged(&[tag(0x8100, 100)], 0x0806, &arp),
            ],
        ),
        pc(
            "ipv4-ihl-below-5.pcap",
            ETHERNET,
            "malformed_ip",
            "IPv4 header lengths 0 to 4 words (a header is at least 5)",
            (0..5u8)
                .map(|ihl| eth(&with(&syn, 0, &[0x40 | ihl])))
                .collect(),
        ),
        pc(
            "ipv4-total-below-header.pcap",
            ETHERNET,
            "malformed_ip",
            "IPv4 total length 0; 19 with a 20-byte header; 20 with a 24-byte header",
            vec![
                eth(&with(&syn, 2, &[0, 0])),
                eth(&with(&syn, 2, &[0, 19])),
                eth(&[
                    &with(&syn[..20], 0, &[0x46, 0, 0, 20])[..],
                    &[1, 1, 1, 0],
                    &syn[20..],
                ]
                .concat()),
            ],
        ),
        pc(
            "ipv4-bad-version.pcap",
            ETHERNET,
            "malformed_ip",
            "ethertype IPv4 over version nibbles 0, 5 and 15",
            [0x05u8, 0x55, 0xf5]
                .iter()
                .map(|b| eth_type(0x0800, &with(&syn, 0, &[*b])))
                .collect(),
        ),
        pc(
            "ipv4-header-cut.pcap",
            ETHERNET,
            "truncated",
            "every cut of the 20-byte IPv4 header (0 to 19 bytes)",
            (0..20).map(|n| eth_type(0x0800, &syn[..n])).collect(),
        ),
        pc(
            "ipv4-options-cut.pcap",
            ETHERNET,
            "truncated",
            "IPv4 header length 15 words (60 bytes), total 80, 30 bytes captured",
            vec![eth(&{
                let mut v = with(&syn, 0, &[0x4f, 0, 0, 80]);
                v.resize(30, 1);
                v
            })],
        ),
        pc(
            "tcp-header-cut.pcap",
            ETHERNET,
            "truncated",
            "IPv4 total 40, TCP header cut at 0 to 13 bytes (its flags are byte 13)",
            (0..14).map(|n| eth(&syn[..20 + n])).collect(),
        ),
        pc(
            "tcp-past-ip-length.pcap",
            ETHERNET,
            "truncated",
            "all 40 bytes captured, IPv4 total length 30: TCP runs past the IP packet",
            vec![eth(&with(&syn, 2, &[0, 30]))],
        ),
        pc(
            "udp-header-cut.pcap",
            ETHERNET,
            "truncated",
            "UDP header cut at 0 to 3 bytes (the ports are bytes 0-3)",
            (0..4).map(|n| eth(&udp[..20 + n])).collect(),
        ),
        pc(
            "icmp-header-cut.pcap",
            ETHERNET,
            "truncated",
            "ICMP cut at 0 and 1 bytes (type and code are bytes 0-1)",
            (0..2).map(|n| eth(&icmp[..20 + n])).collect(),
        ),
        pc(
            "ipv6-header-cut.pcap",
            ETHERNET,
            "truncated",
            "every cut of the 40-byte IPv6 header (0 to 39 bytes)",
            (0..40).map(|n| eth_type(0x86dd, &v6tcp[..n])).collect(),
        ),
        pc(
            "ipv6-ext-chain-past-packet.pcap",
            ETHERNET,
            "truncated",
            "IPv6 extension headers past the packet: hop-by-hop of 2048 bytes in 16; \
             hop-by-hop cut at 4 of 8; destination options of 16 with 8 left; \
             fragment header cut at 4 of 8; AH of 48 bytes in 8",
            vec![
                eth(&v6hdr(0, 16, &[&[6, 255][..], &[0; 14]].concat())),
                eth(&v6hdr(0, 8, &[6, 0, 0, 0])),
                eth(&v6hdr(
                    0,
                    16,
                    &[&[60, 0][..], &[0; 6], &[6, 1], &[0; 6]].concat(),
                )),
                eth(&v6hdr(44, 4, &[6, 0, 0, 1])),
                eth(&v6hdr(51, 8, &[6, 10, 0, 0, 0, 0, 0, 1])),
            ],
        ),
        pc(
            "ipv6-tcp-header-cut.pcap",
            ETHERNET,
            "truncated",
            "IPv6 payload length 20, 10 bytes of TCP captured",
            vec![eth(&v6tcp[..50])],
        ),
        PacketCase {
            extra: 1,
            ..pc(
                "ipv4-later-fragment-alone.pcap",
                ETHERNET,
                "orphan_fragments",
                "IPv4 TCP fragment at offset 1480, id 0x4242, its first never seen: \
                 a port-less flow of its own",
                vec![{
                    let mut f = Vec::new();
                    build::ipv4_fragment(
                        [10, 0, 0, 1],
                        [10, 0, 0, 2],
                        6,
                        0x4242,
                        185,
                        false,
                        &[0xab; 20],
                        &mut f,
                    );
                    f
                }],
            )
        },
        PacketCase {
            extra: 1,
            ..pc(
                "ipv6-later-fragment-alone.pcap",
                ETHERNET,
                "orphan_fragments",
                "IPv6 UDP fragment at offset 1480, id 0x01020304, its first never seen: \
                 a port-less flow of its own",
                vec![eth(&v6hdr(
                    44,
                    24,
                    &[&[17, 0, 0x05, 0xc8, 1, 2, 3, 4][..], &[0xab; 16]].concat(),
                ))],
            )
        },
        pc(
            "raw-ip-cut.pcap",
            RAW,
            "truncated",
            "raw IP: an empty frame, one byte (0x45), 19 bytes of an IPv4 header",
            vec![vec![], vec![0x45], syn[..19].to_vec()],
        ),
        pc(
            "raw-ip-bad-header.pcap",
            RAW,
            "malformed_ip",
            "raw IP: 40 zero bytes (version 0), version 5, IPv4 header length 3 words",
            vec![vec![0; 40], with(&syn, 0, &[0x55]), with(&syn, 0, &[0x43])],
        ),
        pc(
            "sll-header-cut.pcap",
            LINUX_SLL,
            "truncated",
            "Linux cooked header cut at 0 to 15 of its 16 bytes",
            (0..16).map(|n| sll(0x0800, &syn)[..n].to_vec()).collect(),
        ),
        pc(
            "sll-not-ip.pcap",
            LINUX_SLL,
            "not_ip",
            "Linux cooked, protocol ARP",
            vec![sll(0x0806, &arp)],
        ),
        pc(
            "null-header-cut.pcap",
            NULL,
            "truncated",
            "BSD loopback family cut at 0 to 3 of its 4 bytes",
            (0..4).map(|n| vec![2, 0, 0, 0][..n].to_vec()).collect(),
        ),
        pc(
            "null-unknown-family.pcap",
            NULL,
            "not_ip",
            "BSD loopback family 17 (not AF_INET or AF_INET6)",
            vec![[&[17, 0, 0, 0][..], &syn[..]].concat()],
        ),
        pc(
            "unknown-link-type.pcap",
            147,
            "refused",
            "link type 147 (USER0): the file is refused before any packet",
            vec![],
        ),
    ]
}

/// The capture of one case: two packets of a TCP flow, the bad frames, a
/// third packet of that flow, one IPv6 UDP packet; a second apart each.
fn capture_of(c: &PacketCase) -> Vec<u8> {
    let b = ip_packet(
        v6(1),
        v6(2),
        L4::Udp {
            sport: 5353,
            dport: 53,
        },
        20,
    );
    let mut frames: Vec<Vec<u8>> = vec![link_frame(c.link, &tcp(0x02, 0))];
    frames.push(link_frame(c.link, &tcp(0x18, 100)));
    frames.extend(c.bad.iter().cloned());
    frames.push(link_frame(c.link, &tcp(0x10, 0)));
    frames.push(link_frame(c.link, &b));
    let mut w = PcapWriter::new(Vec::new(), c.link).expect("pcap header");
    for (i, f) in frames.iter().enumerate() {
        let t = Timestamp::from_secs(CAPTURE_T0 + i as u64);
        w.write_packet(t, f).expect("pcap record");
    }
    w.into_inner()
}

fn packet_files(dir: &str) {
    std::fs::create_dir_all(dir).expect("create dir");
    let cases = packet_cases();
    let mut manifest = String::from(
        "# file link counter raised extra description\n\
         # Each capture holds, a second apart: two packets of TCP 10.0.0.1:40000 -> 10.0.0.2:80\n\
         # (SYN, 40 octets; PSH|ACK, 140), the bad frames, that flow's ACK (40), and UDP\n\
         # [2001:db8::1]:5353 -> [2001:db8::2]:53 (68 octets). `stateflowd --capture -r FILE -D`\n\
         # must raise the named count of its summary by `raised` (one per bad frame) and no other,\n\
         # and export both flows whole (3 packets, 220 octets, flags 0x1a; 1 packet, 68 octets)\n\
         # plus `extra` flows the bad frames make themselves. Counters: truncated, not_ip,\n\
         # malformed_ip (\"N truncated, N not IP, N malformed IP\"), orphan_fragments (\"N fragments\n\
         # (N without a first)\"); refused: the link type is not read, the run fails, nothing out.\n",
    );
    for c in &cases {
        std::fs::write(format!("{dir}/{}", c.name), capture_of(c)).expect("write");
        let raised = if c.counter == "refused" {
            "-".to_string()
        } else {
            c.bad.len().to_string()
        };
        let _ = writeln!(
            manifest,
            "{} {} {} {raised} {} {}",
            c.name, c.link, c.counter, c.extra, c.what
        );
    }
    std::fs::write(format!("{dir}/MANIFEST"), manifest).expect("write manifest");
    eprintln!("wrote {} captures to {dir}", cases.len());
}

// ---------------------------------------------------------------------------
// NetFlow: datagrams the decoder must refuse or read in part.

/// The one record every corpus datagram carries (when it carries one):
/// 192.0.2.1:1234 -> 198.51.100.2:80, TCP, 3 packets, 300 octets.
const SRC: [u8; 4] = [192, 0, 2, 1];
const DST: [u8; 4] = [198, 51, 100, 2];

/// Source id / observation domain of the good datagrams, and of the rest.
const GOOD_DOMAIN: u32 = 1;
const DOMAIN: u32 = 7;

fn v5_datagram(count: u16, records: usize) -> Vec<u8> {
    use stateflowd::netflow::v5;
    let r = v5::Record {
        src: SRC.into(),
        dst: DST.into(),
        src_port: 1234,
        dst_port: 80,
        protocol: 6,
        packets: 3,
        octets: 300,
        first: 998_000,
        last: 999_000,
        ..Default::default()
    };
    let h = v5::Header {
        sys_uptime: 1_000_000,
        unix_secs: 1_700_000_000,
        ..Default::default()
    };
    let mut b = v5::emit(&h, &vec![r; records.min(v5::MAX_RECORDS)]);
    for _ in v5::MAX_RECORDS..records {
        b.extend_from_within(24..72);
    }
    b[2..4].copy_from_slice(&count.to_be_bytes());
    b
}

/// A set: id, length (of the set, header included) and body.
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

fn v9_datagram(source_id: u32, records: u16, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0, 9];
    b.extend_from_slice(&records.to_be_bytes());
    b.extend_from_slice(&1_000_000u32.to_be_bytes()); // sysUpTime
    b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes()); // sequence
    b.extend_from_slice(&source_id.to_be_bytes());
    sets.iter().for_each(|s| b.extend_from_slice(s));
    b
}

fn ipfix_message(domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0, 10, 0, 0];
    b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&domain.to_be_bytes());
    sets.iter().for_each(|s| b.extend_from_slice(s));
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

/// A field specifier: (id, length, enterprise number).
type Spec9 = (u16, u16, Option<u32>);

/// A template record: id, field count, specifiers.
fn template(id: u16, fields: &[Spec9]) -> Vec<u8> {
    let mut t = id.to_be_bytes().to_vec();
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (fid, len, pen) in fields {
        let raw = if pen.is_some() { fid | 0x8000 } else { *fid };
        t.extend_from_slice(&raw.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
        if let Some(p) = pen {
            t.extend_from_slice(&p.to_be_bytes());
        }
    }
    t
}

/// The standard template: sourceIPv4Address, destinationIPv4Address,
/// sourceTransportPort, destinationTransportPort, protocolIdentifier,
/// packetDeltaCount (4), octetDeltaCount (4): 21-byte records.
const STD: [Spec9; 7] = [
    (8, 4, None),
    (12, 4, None),
    (7, 2, None),
    (11, 2, None),
    (4, 1, None),
    (2, 4, None),
    (1, 4, None),
];

/// The standard record's values, field by field.
fn std_values() -> Vec<Vec<u8>> {
    vec![
        SRC.to_vec(),
        DST.to_vec(),
        1234u16.to_be_bytes().to_vec(),
        80u16.to_be_bytes().to_vec(),
        vec![6],
        3u32.to_be_bytes().to_vec(),
        300u32.to_be_bytes().to_vec(),
    ]
}

fn std_record() -> Vec<u8> {
    std_values().concat()
}

/// Pads a set body to a 4-byte boundary.
fn pad4(mut b: Vec<u8>) -> Vec<u8> {
    b.resize(b.len().div_ceil(4) * 4, 0);
    b
}

fn netflow_cases() -> Vec<(&'static str, String, &'static str, Vec<u8>)> {
    let std_t = |id| template(id, &STD);
    let data = |id, recs: &[Vec<u8>]| set(id, &pad4(recs.concat()));
    let v9 = |sets: &[Vec<u8>]| v9_datagram(DOMAIN, sets.len() as u16, sets);
    let ipfix = |sets: &[Vec<u8>]| ipfix_message(DOMAIN, sets);
    let with = |mut v: Vec<u8>, off: usize, bytes: &[u8]| {
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    let good_ipfix = ipfix_message(
        GOOD_DOMAIN,
        &[set(2, &std_t(400)), data(400, &[std_record()])],
    );
    // Interface names, variable length: "eth0" with a 1-byte length,
    // "wlan0" with the 3-byte form (255, then 16 bits).
    let var_t = template(
        400,
        &[
            (8, 4, None),
            (82, 65535, None),
            (12, 4, None),
            (7, 2, None),
            (11, 2, None),
            (4, 1, None),
            (2, 4, None),
            (1, 4, None),
        ],
    );
    let var_rec = |name: &[u8]| {
        let v = std_values();
        [&v[0][..], name, &v[1..].concat()].concat()
    };
    let o = |s: &str| s.to_string();
    vec![
        (
            "good-v5.bin",
            o("ok 1 0 0"),
            "v5, one record",
            v5_datagram(1, 1),
        ),
        (
            "good-v9.bin",
            o("ok 1 0 1"),
            "v9 source 1: template 300 and one record of it",
            v9_datagram(
                GOOD_DOMAIN,
                2,
                &[set(0, &std_t(300)), data(300, &[std_record()])],
            ),
        ),
        (
            "good-v9-data.bin",
            o("ok 0 1 0"),
            "v9 source 1: one record of template 300 alone (decodes after good-v9.bin)",
            v9_datagram(GOOD_DOMAIN, 1, &[data(300, &[std_record()])]),
        ),
        (
            "good-ipfix.bin",
            o("ok 1 0 1"),
            "IPFIX domain 1: template 400 and one record of it",
            good_ipfix.clone(),
        ),
        (
            "good-ipfix-data.bin",
            o("ok 0 1 0"),
            "IPFIX domain 1: one record of template 400 alone (decodes after good-ipfix.bin)",
            ipfix_message(GOOD_DOMAIN, &[data(400, &[std_record()])]),
        ),
        ("empty.bin", o("no_version 0"), "zero bytes", vec![]),
        ("one-byte.bin", o("no_version 1"), "one byte (9)", vec![9]),
        (
            "unknown-version-1.bin",
            o("unknown_version 1"),
            "NetFlow v1 header and record (not decoded)",
            with(vec![0; 16 + 48], 0, &[0, 1, 0, 1]),
        ),
        (
            "unknown-version-7.bin",
            o("unknown_version 7"),
            "NetFlow v7 (Catalyst) header and record (not decoded)",
            with(vec![0; 24 + 52], 0, &[0, 7, 0, 1]),
        ),
        (
            "unknown-version-ipfix-swapped.bin",
            o("unknown_version 2560"),
            "an IPFIX message with its version bytes swapped (0x0a00)",
            with(good_ipfix.clone(), 0, &[10, 0]),
        ),
        (
            "v5-runt.bin",
            o("v5_too_short 20"),
            "v5, 20 bytes < 24-byte header",
            v5_datagram(0, 0)[..20].to_vec(),
        ),
        (
            "v5-count-past-datagram.bin",
            o("v5_count_mismatch 255 72"),
            "v5 count 255 (12264 bytes), one record present",
            v5_datagram(255, 1),
        ),
        (
            "v5-count-one-past.bin",
            o("v5_count_mismatch 3 120"),
            "v5 count 3, two records present",
            v5_datagram(3, 2),
        ),
        (
            "v5-count-65535.bin",
            o("v5_count_mismatch 65535 1464"),
            "v5 count 65535 (3.1 MB) in a full 30-record datagram",
            v5_datagram(65535, 30),
        ),
        (
            "v5-count-31.bin",
            o("v5_too_many_records 31"),
            "v5 count 31 with 31 records present: v5 carries at most 30",
            v5_datagram(31, 31),
        ),
        (
            "v5-count-zero.bin",
            o("ok 0 0 0"),
            "v5 count 0 with two records after the header: they are not announced, not read",
            v5_datagram(0, 2),
        ),
        (
            "v9-runt.bin",
            o("too_short 16"),
            "v9, 16 bytes < 20-byte header",
            v9(&[])[..16].to_vec(),
        ),
        (
            "v9-set-length-zero.bin",
            o("bad_set_length 20 0"),
            "v9 data set of length 0 (a set header is 4)",
            v9(&[with(data(300, &[std_record()]), 2, &[0, 0])]),
        ),
        (
            "v9-set-length-three.bin",
            o("bad_set_length 20 3"),
            "v9 data set of length 3",
            v9(&[with(data(300, &[std_record()]), 2, &[0, 3])]),
        ),
        (
            "v9-set-length-past-datagram.bin",
            o("bad_set_length 56 1000"),
            "v9 template set, then a data set of length 1000 in an 84-byte datagram: \
             the whole datagram is refused, its template not learnt",
            v9(&[
                set(0, &std_t(300)),
                with(data(300, &[std_record()]), 2, &[0x03, 0xe8]),
            ]),
        ),
        (
            "v9-template-count-overflow.bin",
            o("bad_template 300"),
            "v9 template 300 announcing 65535 fields (262 KB), 2 present",
            v9(&[set(0, &with(template(300, &STD[..2]), 2, &[0xff, 0xff]))]),
        ),
        (
            "v9-template-id-below-256.bin",
            o("bad_template 5"),
            "v9 template record with id 5 (data ids start at 256)",
            v9(&[set(0, &std_t(5))]),
        ),
        (
            "v9-template-fields-all-zero-length.bin",
            o("bad_template 300"),
            "v9 template 300 whose two fields have length 0: records of nothing",
            v9(&[set(0, &template(300, &[(8, 0, None), (12, 0, None)]))]),
        ),
        (
            "v9-template-field-length-zero.bin",
            o("ok 1 0 1"),
            "v9 template with a 0-length paddingOctets between the addresses, and a record: \
             the field takes no bytes",
            v9(&[
                set(
                    0,
                    &template(300, &[&STD[..1], &[(210, 0, None)], &STD[1..]].concat()),
                ),
                data(300, &[std_record()]),
            ]),
        ),
        (
            "v9-template-field-length-65535.bin",
            o("bad_template 300"),
            "v9 template with a 65535-byte field (v9 has no variable length): no record fits",
            v9(&[
                set(
                    0,
                    &template(300, &[(8, 4, None), (82, 65535, None), (12, 4, None)]),
                ),
                data(300, &[[&SRC[..], &[4], b"eth0", &DST[..]].concat()]),
            ]),
        ),
        (
            "v9-address-length-zero.bin",
            o("ok 0 0 1"),
            "v9 template whose source address has length 0, and a record: \
             a record without an address pair is skipped",
            v9(&[
                set(0, &template(300, &[&[(8, 0, None)], &STD[1..]].concat())),
                data(300, &[std_values()[1..].concat()]),
            ]),
        ),
        (
            "v9-data-unknown-template.bin",
            o("ok 0 1 0"),
            "v9 data set 301, never described",
            v9(&[data(301, &[std_record()])]),
        ),
        (
            "v9-data-shorter-than-record.bin",
            o("ok 0 0 1"),
            "v9 template 300 (21-byte records) and a data set of 20 bytes: padding, no record",
            v9(&[set(0, &std_t(300)), set(300, &std_record()[..20])]),
        ),
        (
            "ipfix-runt.bin",
            o("too_short 12"),
            "IPFIX, 12 bytes < 16-byte header",
            good_ipfix[..12].to_vec(),
        ),
        (
            "ipfix-length-below-header.bin",
            o("bad_message_length 8 80"),
            "IPFIX message length 8 (< 16-byte header) in an 80-byte datagram",
            with(good_ipfix.clone(), 2, &[0, 8]),
        ),
        (
            "ipfix-length-zero.bin",
            o("bad_message_length 0 80"),
            "IPFIX message length 0",
            with(good_ipfix.clone(), 2, &[0, 0]),
        ),
        (
            "ipfix-length-past-datagram.bin",
            o("bad_message_length 1000 80"),
            "IPFIX message length 1000 in an 80-byte datagram",
            with(good_ipfix.clone(), 2, &[0x03, 0xe8]),
        ),
        (
            "ipfix-set-length-zero.bin",
            o("bad_set_length 16 0"),
            "IPFIX template set of length 0",
            with(ipfix(&[set(2, &std_t(400))]), 18, &[0, 0]),
        ),
        (
            "ipfix-set-length-past-message.bin",
            o("bad_set_length 16 200"),
            "IPFIX template set of length 200 in a 52-byte message",
            with(ipfix(&[set(2, &std_t(400))]), 18, &[0, 200]),
        ),
        (
            "ipfix-template-count-overflow.bin",
            o("bad_template 400"),
            "IPFIX template 400 announcing 65535 fields, 7 present",
            ipfix(&[set(2, &with(std_t(400), 2, &[0xff, 0xff]))]),
        ),
        (
            "ipfix-enterprise-specifier-cut.bin",
            o("bad_template 400"),
            "IPFIX template 400 announcing 9 fields, 8 present: 9 x 4 bytes fit the set, \
             but the enterprise number of the eighth takes the ninth's room",
            ipfix(&[set(
                2,
                &with(
                    template(400, &[&STD[..], &[(1, 4, Some(29305))]].concat()),
                    2,
                    &[0, 9],
                ),
            )]),
        ),
        (
            "ipfix-enterprise-number-cut.bin",
            o("bad_template 400"),
            "IPFIX template 400 whose last field has the enterprise bit but 2 of its 4 PEN bytes",
            ipfix(&[set(2, &{
                let mut t = template(400, &[&STD[..], &[(1, 4, Some(29305))]].concat());
                t.truncate(t.len() - 2);
                t
            })]),
        ),
        (
            "ipfix-enterprise-fields.bin",
            o("ok 1 0 1"),
            "IPFIX template with enterprise fields 8 (PEN 9, 4 bytes), 1 (PEN 29305, 4) and \
             200 (PEN 9, variable) among the standard ones, and a record: the enterprise \
             values are skipped, not read as sourceIPv4Address / octetDeltaCount",
            {
                let t = template(
                    400,
                    &[
                        STD[0],
                        (8, 4, Some(9)),
                        STD[1],
                        (200, 65535, Some(9)),
                        STD[2],
                        STD[3],
                        STD[4],
                        STD[5],
                        STD[6],
                        (1, 4, Some(29305)),
                    ],
                );
                let v = std_values();
                let rec = [
                    &v[0][..],
                    &[10, 10, 10, 10],
                    &v[1],
                    &[3, b'a', b'b', b'c'],
                    &v[2..].concat(),
                    &[0xde, 0xad, 0xbe, 0xef],
                ]
                .concat();
                ipfix(&[set(2, &t), data(400, &[rec])])
            },
        ),
        (
            "ipfix-variable-length.bin",
            o("ok 2 0 1"),
            "IPFIX interfaceName (variable) between the addresses: \"eth0\" with a 1-byte \
             length, \"wlan0\" with the 3-byte form",
            ipfix(&[
                set(2, &var_t),
                data(400, &[var_rec(b"\x04eth0"), var_rec(b"\xff\x00\x05wlan0")]),
            ]),
        ),
        (
            "ipfix-variable-length-past-set.bin",
            o("ok 1 0 1"),
            "IPFIX: a good record, then one whose variable-length value announces 65535 \
             bytes with 23 left: the second is not read",
            ipfix(&[
                set(2, &var_t),
                data(400, &[var_rec(b"\x04eth0"), var_rec(b"\xff\xff\xffwlan0")]),
            ]),
        ),
        (
            "ipfix-record-longer-than-a-message.bin",
            o("bad_template 400"),
            "IPFIX template of two 40000-byte fields: no message can hold a record",
            ipfix(&[set(
                2,
                &template(400, &[(8, 40000, None), (12, 40000, None)]),
            )]),
        ),
        (
            "ipfix-data-unknown-template.bin",
            o("ok 0 1 0"),
            "IPFIX data set 401, never described",
            ipfix(&[data(401, &[std_record()])]),
        ),
        (
            "ipfix-template-withdrawn.bin",
            o("ok 0 1 2"),
            "IPFIX template 400, its withdrawal (field count 0), then a data set of 400: unknown",
            ipfix(&[
                set(2, &[std_t(400), template(400, &[])].concat()),
                data(400, &[std_record()]),
            ]),
        ),
    ]
}

fn netflow_files(dir: &str) {
    std::fs::create_dir_all(dir).expect("create dir");
    let cases = netflow_cases();
    let mut manifest = String::from(
        "# file outcome [values] description\n\
         # What netflow::decode::Decoder answers for each datagram, decoded alone:\n\
         #   ok FLOWS UNKNOWN_SETS TEMPLATES  (every flow is 192.0.2.1:1234 -> 198.51.100.2:80,\n\
         #                                     TCP, 3 packets, 300 octets)\n\
         #   no_version LEN | unknown_version V | v5_too_short LEN | v5_count_mismatch COUNT LEN\n\
         #   v5_too_many_records COUNT | too_short LEN | bad_set_length OFFSET LEN\n\
         #   bad_template ID | bad_message_length ANNOUNCED LEN\n\
         # good-*.bin use source id / domain 1, the others 7.\n",
    );
    for (name, outcome, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {outcome} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), manifest).expect("write manifest");
    eprintln!("wrote {} datagrams to {dir}", cases.len());
}
