//! Writes the seed corpus of every fuzz target from our own generators:
//! pfsync frames of every dialect, packets on every carrier, a state file,
//! NetFlow v5/v9/IPFIX datagrams from our encoders, capture-mode frames on
//! every link type, control requests and command lines.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_corpus [DIR]`
//! (from the repository root; scripts/fuzz runs it). With DIR, the real
//! third-party NetFlow v5 datagrams of `../shared/testdata/netflow/` are
//! also written, to `DIR/netflow_*/`: they are not ours to commit, so they
//! seed a run without entering `fuzz/corpus/`.

use stateflowd::export::{EncoderConfig, Format, new_encoder};
use stateflowd::netflow::decode::{ROUNDTRIP_NOW, flows_from_bytes};
use stateflowd::packet::build::{self, L4, Spec};
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::source::pcap_file::PcapSlice;
use stateflowd::state::{StateTable, TableConfig, persist};
use stateflowd::testgen::{self, GenConfig};
use std::fs;
use std::net::IpAddr;
use std::path::Path;

const TARGETS: [&str; 12] = [
    "pfsync_frame",
    "carrier",
    "state_table",
    "state_file",
    "netflow_v5",
    "netflow_v9",
    "netflow_ipfix",
    "packet_parse",
    "packet_cache",
    "control_request",
    "cli_args",
    "pcap_file",
];

fn main() {
    let root = Path::new("fuzz/corpus");
    for t in TARGETS {
        fs::create_dir_all(root.join(t)).unwrap();
    }
    pfsync(root);
    netflow(root);
    packets(root);
    control(root);
    cli(root);
    pcaps(root);
    if let Some(dir) = std::env::args().nth(1) {
        shared_netflow(Path::new(&dir));
    }
    eprintln!("corpus written under {}", root.display());
}

fn pfsync(root: &Path) {
    let links = [0u32, 1, 18, 101, 108, 113, 121, 228, 246, 276];
    let mut tab = StateTable::new(TableConfig::default());
    let mut done = Vec::new();
    for (k, (name, _)) in testgen::DIALECTS.iter().enumerate().take(8) {
        for full_delete in [false, true] {
            let cap = testgen::generate(&GenConfig {
                seed: 100 + k as u64,
                states: 12,
                encoding: testgen::encoding_by_name(name).unwrap(),
                full_delete,
                ..Default::default()
            });
            // a handful of frames per dialect: first, middle, last
            let n = cap.frames.len();
            for (j, i) in [0, n / 2, n.saturating_sub(1)].into_iter().enumerate() {
                let Some((t, f)) = cap.frames.get(i) else {
                    continue;
                };
                let tag = format!("{name}-{}-{j}", u8::from(full_delete));
                fs::write(root.join("pfsync_frame").join(&tag), f).unwrap();
                let li = (k + j) % links.len();
                let mut pkt = vec![li as u8];
                pkt.extend_from_slice(&testgen::wrap(LinkType(links[li]), f, [192, 0, 2, 1]));
                fs::write(root.join("carrier").join(&tag), pkt).unwrap();
                if let Ok(fr) = stateflowd::pfsync::parse_frame(f) {
                    let msgs: Vec<_> = fr.messages().flatten().collect();
                    tab.apply_all(&msgs, *t, &mut done);
                }
            }
        }
    }
    let p = root.join("state_file").join("generated");
    persist::save(&tab, &p).unwrap();
    // state_table: (max, then op/id pairs)
    fs::write(
        root.join("state_table").join("lifecycle"),
        [
            4u8, 0, 1, 0, 2, 2, 1, 0, 3, 5, 1, 1, 1, 5, 129, 3, 1, 4, 2, 6, 0, 0, 5,
        ],
    )
    .unwrap();
}

/// Datagrams our encoders write for flows of several shapes: the first
/// of a stream (v9/IPFIX: templates and data together) and a later one.
fn netflow(root: &Path) {
    for (format, dir) in [
        (Format::V5, "netflow_v5"),
        (Format::V9, "netflow_v9"),
        (Format::Ipfix, "netflow_ipfix"),
    ] {
        let mut k = 0;
        for seed in [
            &b"seed"[..],
            &[3, 1, 2, 3],
            &[40; 64],
            &[63, 0xff, 0x7f, 9, 1],
        ] {
            let mut e = new_encoder(format, EncoderConfig::default(), false);
            let mut out = Vec::new();
            for f in flows_from_bytes(format, seed) {
                e.push(&f, ROUNDTRIP_NOW, &mut out);
            }
            e.flush(ROUNDTRIP_NOW, &mut out);
            // the stream decodes (a later datagram may need the first's templates)
            let mut dec = stateflowd::netflow::decode::Decoder::new();
            let decoded: usize = out.iter().map(|d| dec.decode(d).unwrap().flows.len()).sum();
            assert_eq!(decoded, flows_from_bytes(format, seed).len(), "{format}");
            let n = out.len();
            for i in [0, n.saturating_sub(1)] {
                if let Some(d) = out.get(i) {
                    fs::write(root.join(dir).join(format!("encoded-{k}")), d).unwrap();
                    k += 1;
                }
            }
        }
    }
}

/// The real NetFlow v5 datagrams of ../shared/testdata/netflow/ (skipped,
/// with a note, when that directory is not there).
fn shared_netflow(out: &Path) {
    let src = Path::new("../shared/testdata/netflow");
    let Ok(entries) = fs::read_dir(src) else {
        eprintln!("make_corpus: no {}, no third-party seeds", src.display());
        return;
    };
    let mut datagrams = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(bytes) = fs::read(&p) else { continue };
        if name.ends_with(".dat") {
            // concatenated raw datagrams: 24-byte header, count × 48 bytes
            let mut rest = &bytes[..];
            while rest.len() >= 24 {
                let count = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
                let len = (24 + 48 * count).min(rest.len());
                datagrams.push((name.clone(), rest[..len].to_vec()));
                rest = &rest[len..];
            }
        } else if name.ends_with(".pcap") {
            // Ethernet, IPv4, UDP: the payload after the UDP header
            let Ok(mut r) = PcapSlice::new(&bytes) else {
                continue;
            };
            while let Ok(Some((_, pkt))) = r.next_packet() {
                if pkt.len() > 14 + 20 + 8 {
                    let ihl = usize::from(pkt[14] & 15) * 4;
                    if let Some(udp) = pkt.get(14 + ihl + 8..) {
                        datagrams.push((name.clone(), udp.to_vec()));
                    }
                }
            }
        }
    }
    for t in ["netflow_v5", "netflow_v9", "netflow_ipfix"] {
        fs::create_dir_all(out.join(t)).unwrap();
        for (i, (name, d)) in datagrams.iter().enumerate() {
            fs::write(out.join(t).join(format!("{name}-{i}")), d).unwrap();
        }
    }
    eprintln!(
        "make_corpus: {} third-party NetFlow v5 datagrams under {}",
        datagrams.len(),
        out.display()
    );
}

fn ip4(a: [u8; 4]) -> IpAddr {
    IpAddr::from(a)
}

fn ip6(last: u8) -> IpAddr {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&[0x20, 0x01]);
    a[2..4].copy_from_slice(&[0x0d, 0xb8]);
    a[15] = last;
    IpAddr::from(a)
}

/// A mix of packets capture mode sees.
fn specs() -> Vec<Spec> {
    let (c4, s4) = (ip4([198, 51, 100, 7]), ip4([192, 0, 2, 1]));
    let spec = |src, dst, l4, payload, vlan| Spec {
        src,
        dst,
        l4,
        payload,
        tos: 0,
        vlan,
    };
    let tcp = |sport, dport, flags| L4::Tcp {
        sport,
        dport,
        flags,
    };
    vec![
        spec(c4, s4, tcp(40000, 80, 0x02), 0, 0),
        spec(s4, c4, tcp(80, 40000, 0x12), 0, 0),
        spec(c4, s4, tcp(40000, 80, 0x18), 100, 0),
        spec(c4, s4, tcp(40000, 80, 0x11), 0, 0),
        spec(s4, c4, tcp(80, 40000, 0x04), 0, 0),
        spec(
            c4,
            s4,
            L4::Udp {
                sport: 53000,
                dport: 53,
            },
            30,
            0,
        ),
        spec(c4, s4, L4::Icmp { typ: 8, code: 0 }, 56, 0),
        spec(ip6(1), ip6(2), tcp(40001, 443, 0x02), 0, 0),
        spec(
            ip6(2),
            ip6(1),
            L4::Udp {
                sport: 123,
                dport: 123,
            },
            48,
            0,
        ),
        spec(ip6(1), ip6(2), L4::Icmp { typ: 128, code: 0 }, 8, 0),
        spec(c4, s4, L4::Other(47), 24, 0),
        spec(c4, s4, tcp(40002, 22, 0x10), 40, 100),
    ]
}

/// packet_parse's link types, in its order.
const PARSE_LINKS: [u32; 12] = [0, 1, 12, 14, 101, 108, 113, 117, 228, 229, 276, 147];

/// Each packet on each link type `packet_parse` picks (its first byte is
/// an index into the target's list), and flow sequences for the cache.
fn packets(root: &Path) {
    // index into packet_parse's LINKS, and the link header before IP
    let af4_le = [2u8, 0, 0, 0];
    let mut pflog = vec![61u8, 2];
    pflog.resize(64, 0);
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    let mut sll2 = vec![0x08, 0x00];
    sll2.resize(20, 0);
    let links: [(u8, &[u8]); 10] = [
        (0, &af4_le),
        (2, &[]),
        (3, &[]),
        (4, &[]),
        (5, &[0, 0, 0, 2]),
        (6, &sll),
        (7, &pflog),
        (8, &[]),
        (9, &[]),
        (10, &sll2),
    ];
    let dir = root.join("packet_parse");
    for (i, s) in specs().iter().enumerate() {
        let mut eth = vec![1u8];
        build::ethernet(s, &mut eth);
        fs::write(dir.join(format!("ether-{i}")), &eth).unwrap();
        let mut raw = Vec::new();
        build::ip(s, &mut raw);
        let v6 = matches!(s.src, IpAddr::V6(_));
        for (sel, hdr) in links {
            // LINKTYPE_IPV4 (228) and _IPV6 (229) carry only their version.
            if (sel == 8 && v6) || (sel == 9 && !v6) {
                continue;
            }
            let mut f = vec![sel];
            f.extend_from_slice(hdr);
            if v6 {
                // the link headers above say IPv4; say IPv6 instead
                match sel {
                    0 => f[1] = 24,
                    5 => f[4] = 24,
                    6 => f[15..17].copy_from_slice(&[0x86, 0xdd]),
                    7 => f[2] = 24,
                    10 => f[1..3].copy_from_slice(&[0x86, 0xdd]),
                    _ => {}
                }
            }
            f.extend_from_slice(&raw);
            let link = PARSE_LINKS[usize::from(sel)];
            assert!(
                stateflowd::packet::parse(link, &f[1..]).is_ok(),
                "seed {sel}-{i}"
            );
            fs::write(dir.join(format!("link{sel}-{i}")), &f).unwrap();
        }
    }
    let mut frag = vec![1u8];
    build::ipv4_fragment(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        7,
        0,
        true,
        &[0; 16],
        &mut frag,
    );
    fs::write(dir.join("ether-fragment-first"), &frag).unwrap();
    let mut frag = vec![1u8];
    build::ipv4_fragment(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        7,
        2,
        false,
        &[0; 8],
        &mut frag,
    );
    fs::write(dir.join("ether-fragment-later"), &frag).unwrap();
    fs::write(dir.join("unsupported-link"), [11u8, 0x45, 0, 0, 20]).unwrap();

    // packet_cache: records [len][seconds since the last][Ethernet frame]
    let dir = root.join("packet_cache");
    let frames: Vec<Vec<u8>> = specs()
        .iter()
        .map(|s| {
            let mut f = Vec::new();
            build::ethernet(s, &mut f);
            f
        })
        .collect();
    let record = |out: &mut Vec<u8>, f: &[u8], dt: u8| {
        out.push(f.len().min(255) as u8);
        out.push(dt);
        out.extend_from_slice(&f[..f.len().min(255)]);
    };
    // one TCP conversation, open to close
    let mut tcp = Vec::new();
    for (i, dt) in [(0, 0), (1, 0), (2, 1), (2, 1), (3, 2), (4, 0)] {
        record(&mut tcp, &frames[i], dt);
    }
    fs::write(dir.join("tcp-conversation"), &tcp).unwrap();
    // every kind of packet, more flows than the cache holds, long gaps
    let mut mix = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        record(&mut mix, f, (i * 37 % 256) as u8);
    }
    fs::write(dir.join("mix"), &mix).unwrap();
}

fn control(root: &Path) {
    let dir = root.join("control_request");
    for (i, req) in [
        &b"statistics\n"[..],
        b"stats\r\n",
        b"dump-states\n",
        b"flush",
        b" expire-all \n",
        b"shutdown\n",
        b"help\n",
        b"frobnicate\n",
        b"\xff\xfeflush\n",
    ]
    .iter()
    .enumerate()
    {
        fs::write(dir.join(format!("req-{i}")), req).unwrap();
    }
    let mut long = b"flush".to_vec();
    long.resize(300, b' ');
    fs::write(dir.join("overlong"), long).unwrap();
}

/// Command lines, arguments separated by NUL. Collectors are IP literals:
/// the target never resolves a name.
fn cli(root: &Path) {
    let dir = root.join("cli_args");
    let lines: [&[&str]; 12] = [
        &["-r", "x.pcap", "-D"],
        &["-r", "x.pcap", "-n", "127.0.0.1:2055", "-v", "9"],
        &[
            "-i",
            "pfsync0",
            "-n",
            "[::1]:4739/ipfix",
            "-n",
            "127.0.0.1:9995/5",
            "--balance",
        ],
        &[
            "--syncdev",
            "em1",
            "--syncpeer",
            "10.0.0.2",
            "--accept-peer",
            "10.0.0.3",
            "-D",
        ],
        &["--decode", "export.pcap"],
        &[
            "-r",
            "x",
            "-D",
            "--mode",
            "capture",
            "-t",
            "tcp=1h30m",
            "-t",
            "udp=45",
            "tcp",
            "port",
            "80",
        ],
        &[
            "-r",
            "x",
            "-D",
            "--rule",
            "1,2, 3",
            "--on-interface",
            "em0",
            "-S",
            "in",
            "--family",
            "inet6",
        ],
        &["-i", "em0", "-n", "192.0.2.9:2055", "--source", "::1"],
        &[
            "-r",
            "x",
            "-D",
            "--ifindex",
            "em0=1,em1=2",
            "--mtu",
            "576",
            "--max-flows",
            "0",
        ],
        &[
            "-i",
            "em0",
            "-D",
            "--refresh-counters",
            "30",
            "--refresh-rate",
            "10",
            "--state-file",
            "/var/db/s",
        ],
        &[
            "-r",
            "x",
            "-D",
            "--syslog-facility",
            "local7",
            "-c",
            "none",
            "-p",
            "none",
            "-u",
            "nobody",
        ],
        &["--help"],
    ];
    for (i, args) in lines.iter().enumerate() {
        fs::write(dir.join(format!("argv-{i}")), args.join("\0")).unwrap();
    }
}

/// The start of our own test captures, whole, cut inside a record, and
/// rewritten big-endian.
fn pcaps(root: &Path) {
    let dir = root.join("pcap_file");
    for name in [
        "openbsd-v6.pcap",
        "legacy-v2-pfsync0.pcap",
        "freebsd1500-sll2.pcap",
    ] {
        let bytes = fs::read(Path::new("testdata").join(name)).unwrap();
        let mut r = PcapSlice::new(&bytes).unwrap();
        // whole records up to about 2 KB, then the same cut mid-record
        while r.position() < 2048 && r.next_packet().unwrap().is_some() {}
        let end = r.position();
        fs::write(dir.join(name), &bytes[..end]).unwrap();
        fs::write(dir.join(format!("cut-{name}")), &bytes[..end - 7]).unwrap();
        let be = big_endian(&bytes[..end]);
        let (mut a, mut b) = (
            PcapSlice::new(&bytes[..end]).unwrap(),
            PcapSlice::new(&be).unwrap(),
        );
        while let Some(p) = a.next_packet().unwrap() {
            assert_eq!(Some(p), b.next_packet().unwrap(), "{name} big-endian");
        }
        fs::write(dir.join(format!("be-{name}")), be).unwrap();
    }
}

/// A little-endian pcap file of whole records, its header and record
/// headers byte-swapped (as a big-endian machine writes it).
fn big_endian(le: &[u8]) -> Vec<u8> {
    let mut b = le.to_vec();
    let swap = |b: &mut [u8], at: usize, n: usize| b[at..at + n].reverse();
    swap(&mut b, 0, 4);
    swap(&mut b, 4, 2);
    swap(&mut b, 6, 2);
    for at in [8, 12, 16, 20] {
        swap(&mut b, at, 4);
    }
    let mut at = 24;
    while at + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        for f in 0..4 {
            swap(&mut b, at + 4 * f, 4);
        }
        at += 16 + incl;
    }
    b
}
