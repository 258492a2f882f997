//! NetFlow v5, v9 and IPFIX checked by real peers: nfcapd/nfdump 1.7 must
//! store what we send with the values we meant, for IPv4 and IPv6 flows;
//! tshark must decode a capture of our export traffic without errors and
//! agree with our own decoder, field by field.

use super::harness::*;
use stateflowd::export::udp::UdpSink;
use stateflowd::export::{CollectorSpec, EncoderConfig, Exporter, Format, Outgoing};
use stateflowd::flow::{Direction, EndReason, Flow};
use stateflowd::netflow::decode;
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::testgen;
use stateflowd::time::Timestamp;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;

const FORMATS: [Format; 3] = [Format::V5, Format::V9, Format::Ipfix];

/// Known flows, IPv4 and IPv6, with every field set to something a
/// collector could get wrong. Times are around `now` (nfcapd files flows
/// by time; the week before it is within what v5/v9 clocks carry).
fn known_flows(now: Timestamp) -> Vec<Flow> {
    let mut flows = vec![];
    let addrs: [(&str, &str); 4] = [
        ("192.0.2.10", "198.51.100.20"),
        ("10.1.2.3", "172.16.5.4"),
        ("2001:db8::10", "2001:db8:ffff::20"),
        ("fe80::1", "2001:db8:1:2:3:4:5:6"),
    ];
    for (i, (s, d)) in addrs.iter().enumerate() {
        for (j, proto) in [6u8, 17].into_iter().enumerate() {
            let k = (i * 2 + j) as u64;
            let mut f = Flow::new(s.parse().unwrap(), d.parse().unwrap(), proto);
            f.src_port = 1000 + k as u16;
            f.dst_port = 443 - k as u16;
            f.tos = (k as u8) << 2;
            f.tcp_flags = if proto == 6 { 0x1b ^ k as u8 } else { 0 };
            f.packets = 10 + k * 7;
            f.octets = 1500 * (10 + k * 7) + k;
            f.first = now.saturating_sub_micros(60_000_000 + k * 1_234_000);
            f.last = now.saturating_sub_micros(k * 1_000_000 + 7_000);
            f.input_if = 1 + k as u32;
            f.output_if = 100 + k as u32;
            f.direction = if k % 2 == 0 {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            f.end_reason = EndReason::EndOfFlow;
            f.rule = Some(k as u32);
            flows.push(f);
        }
    }
    // 64-bit counters: v9/IPFIX carry them whole, v5 splits.
    let mut big = flows[0];
    big.src_port = 9999;
    big.packets = 6_000_000_000;
    big.octets = 10_000_000_000;
    flows.push(big);
    flows
}

/// Time rounded to whole milliseconds (what every format carries).
fn now_ms() -> Timestamp {
    Timestamp::from_millis(Timestamp::now().as_millis())
}

fn encode(format: Format, flows: &[Flow], now: Timestamp) -> Vec<Vec<u8>> {
    let spec = CollectorSpec {
        addr: "127.0.0.1:9".parse().unwrap(),
        format,
    };
    let mut ex = Exporter::new(&[spec], EncoderConfig::default());
    let mut out = vec![];
    for f in flows {
        ex.push(f, now, &mut out);
    }
    ex.flush(now, &mut out);
    out.into_iter().map(|o| o.bytes).collect()
}

type Key = (IpAddr, IpAddr, u16, u16, u8);

fn key(f: &Flow) -> Key {
    (f.src, f.dst, f.src_port, f.dst_port, f.protocol)
}

/// nfdump 1.7's flag string: C E U A P R S F, '.' when clear.
fn nf_flags(x: u8) -> String {
    "CEUAPRSF"
        .chars()
        .enumerate()
        .map(|(i, c)| if x & (0x80 >> i) != 0 { c } else { '.' })
        .collect()
}

#[test]
fn nfcapd_stores_every_format_and_family_with_our_values() {
    for format in FORMATS {
        let now = now_ms();
        let flows = known_flows(now);
        let nf = Nfcapd::start();
        let addr: SocketAddr = nf.addr().parse().unwrap();
        let spec = CollectorSpec { addr, format };
        let mut ex = Exporter::new(std::slice::from_ref(&spec), EncoderConfig::default());
        let mut sink = UdpSink::open(&[addr], None).unwrap();
        let mut out: Vec<Outgoing> = vec![];
        for f in &flows {
            ex.push(f, now, &mut out);
        }
        ex.flush(now, &mut out);
        sink.send_all(&mut out, |c, e| panic!("send to {c} failed: {e:?}"));
        let got = nf.stop_and_read();

        let want: Vec<&Flow> = flows
            .iter()
            .filter(|f| format != Format::V5 || f.is_ipv4())
            .collect();
        if format == Format::V5 {
            assert_eq!(ex.stats(0).unexportable, 4, "IPv6 flows counted in v5");
        }
        // Sum records per key (v5 splits the 64-bit flow).
        let mut by_key: BTreeMap<Key, Vec<&NfFlow>> = BTreeMap::new();
        for g in &got {
            by_key
                .entry((g.src, g.dst, g.src_port, g.dst_port, g.proto))
                .or_default()
                .push(g);
        }
        assert_eq!(by_key.len(), want.len(), "{format}: flows at nfcapd");
        for f in want {
            let recs = by_key
                .get(&key(f))
                .unwrap_or_else(|| panic!("{format}: nfcapd lacks {f}"));
            let p: u64 = recs.iter().map(|r| r.packets).sum();
            let b: u64 = recs.iter().map(|r| r.bytes).sum();
            assert_eq!((p, b), (f.packets, f.octets), "{format}: counters of {f}");
            if format != Format::V5 {
                assert_eq!(recs.len(), 1, "{format}: 64-bit counters are not split");
            }
            for r in recs {
                assert_eq!(r.first_ms, f.first.as_millis(), "{format}: first of {f}");
                assert_eq!(r.last_ms, f.last.as_millis(), "{format}: last of {f}");
                assert_eq!((r.input, r.output), (f.input_if, f.output_if), "{format}");
                assert_eq!(r.field("src_tos"), Some(f.tos.to_string().as_str()));
                assert_eq!(
                    r.field("tcp_flags"),
                    Some(nf_flags(f.tcp_flags).as_str()),
                    "{format}: flags of {f}"
                );
                if format != Format::V5 {
                    let dir = if f.direction == Direction::Egress {
                        "1"
                    } else {
                        "0"
                    };
                    assert_eq!(
                        r.field("direction"),
                        Some(dir),
                        "{format}: direction of {f}"
                    );
                }
            }
        }
    }
}

/// A pcap (raw IP link type) of `datagrams` sent from 127.0.0.1:40000 to
/// `port`, as they would be captured on the wire.
fn export_pcap(datagrams: &[Vec<u8>], port: u16, ts: Timestamp) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), 101).unwrap();
    for d in datagrams {
        let total = 20 + 8 + d.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        p.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = {
            let mut s: u32 = p
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .sum();
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            !(s as u16)
        };
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&port.to_be_bytes());
        p.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
        p.extend_from_slice(d);
        w.write_packet(ts, &p).unwrap();
    }
    w.into_inner()
}

const TSHARK_FIELDS: [&str; 13] = [
    "cflow.srcaddr",
    "cflow.srcaddrv6",
    "cflow.dstaddr",
    "cflow.dstaddrv6",
    "cflow.srcport",
    "cflow.dstport",
    "cflow.protocol",
    "cflow.packets",
    "cflow.octets",
    "cflow.inputint",
    "cflow.outputint",
    "cflow.tos",
    "cflow.tcpflags",
];

/// Runs tshark on `pcap`, decoding UDP `port` as NetFlow/IPFIX. Returns
/// the verbose text and, per field of [`TSHARK_FIELDS`], every value seen
/// in record order.
fn tshark(pcap: &std::path::Path, port: u16) -> (String, Vec<Vec<String>>) {
    let decode_as = format!("udp.port=={port},cflow");
    let verbose = Command::new("tshark")
        .args(["-n", "-V", "-d", &decode_as, "-r"])
        .arg(pcap)
        .output()
        .expect("tshark is not installed: apt-get install tshark");
    assert!(
        verbose.status.success(),
        "{}",
        String::from_utf8_lossy(&verbose.stderr)
    );
    let mut args = vec![
        "-n",
        "-d",
        &decode_as,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
    ];
    for f in TSHARK_FIELDS {
        args.extend(["-e", f]);
    }
    let fields = Command::new("tshark")
        .args(&args)
        .arg("-r")
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        fields.status.success(),
        "{}",
        String::from_utf8_lossy(&fields.stderr)
    );
    let mut cols = vec![Vec::new(); TSHARK_FIELDS.len()];
    for line in String::from_utf8_lossy(&fields.stdout).lines() {
        for (i, c) in line.split('\t').enumerate() {
            if let Some(col) = cols.get_mut(i) {
                col.extend(c.split(';').filter(|v| !v.is_empty()).map(String::from));
            }
        }
    }
    (String::from_utf8_lossy(&verbose.stdout).into_owned(), cols)
}

/// tshark's absolute time, `Nov 13, 2023 18:10:08.508000000 UTC`, in ms.
fn parse_tshark_abs(s: &str) -> u64 {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let w: Vec<&str> = s.split_whitespace().collect();
    let m = months.iter().position(|x| *x == w[0]).expect("month") + 1;
    let d: u32 = w[1].trim_end_matches(',').parse().unwrap();
    let (hms, frac) = w[3].split_once('.').unwrap();
    parse_nf_time(&format!("{}-{m:02}-{d:02}T{hms}.{}", w[2], &frac[..3]))
}

/// First/Last of every record as tshark shows them: IPFIX absolute
/// times as they are; v5/v9 uptimes turned into UTC the way collectors
/// do, `export time − (sysUpTime − value)`.
fn tshark_times(pcap: &std::path::Path, port: u16) -> Vec<(u64, u64)> {
    let decode_as = format!("udp.port=={port},cflow");
    let mut args = vec![
        "-n",
        "-d",
        &decode_as,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
    ];
    for f in [
        "cflow.abstimestart",
        "cflow.abstimeend",
        "cflow.timestart",
        "cflow.timeend",
        "cflow.sysuptime",
        "cflow.unix_secs",
        "cflow.unix_nsecs",
    ] {
        args.extend(["-e", f]);
    }
    let out = Command::new("tshark")
        .args(&args)
        .arg("-r")
        .arg(pcap)
        .output()
        .unwrap();
    let secs_ms = |v: &str| (v.parse::<f64>().unwrap() * 1000.0).round() as u64;
    let mut times = vec![];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let c: Vec<Vec<&str>> = line
            .split('\t')
            .map(|x| x.split(';').filter(|v| !v.is_empty()).collect())
            .collect();
        if !c[0].is_empty() {
            times.extend(
                c[0].iter()
                    .zip(&c[1])
                    .map(|(a, b)| (parse_tshark_abs(a), parse_tshark_abs(b))),
            );
        } else {
            let up = secs_ms(c[4][0]);
            let nsecs: u64 = c
                .get(6)
                .and_then(|v| v.first())
                .map_or(0, |v| v.parse().unwrap());
            let export = c[5][0].parse::<u64>().unwrap() * 1000 + nsecs / 1_000_000;
            times.extend(
                c[2].iter()
                    .zip(&c[3])
                    .map(|(a, b)| (export - (up - secs_ms(a)), export - (up - secs_ms(b)))),
            );
        }
    }
    times
}

#[test]
fn tshark_decodes_our_export_without_errors_and_agrees_with_our_decoder() {
    let dir = TempDir::new("tshark");
    for format in FORMATS {
        let now = now_ms();
        let flows = known_flows(now);
        let datagrams = encode(format, &flows, now);
        let port = 2055;
        let path = dir.path().join(format!("{format}.pcap"));
        let bytes = export_pcap(&datagrams, port, now);
        std::fs::write(&path, &bytes).unwrap();
        let (text, cols) = tshark(&path, port);
        for bad in ["Malformed", "Expert Info (Error", "Expert Info (Warning"] {
            assert!(!text.contains(bad), "{format}: tshark says {bad}:\n{text}");
        }
        let ours: Vec<Flow> = {
            let mut v = vec![];
            let mut dec = decode::Decoder::new();
            for d in &datagrams {
                v.extend(dec.decode(d).unwrap().flows);
            }
            v
        };
        let n = if format == Format::V5 {
            4 + 1 + 2
        } else {
            flows.len()
        };
        // v5: 4 IPv4 flows + the big one split into 3 records (2^32 packets
        // twice), IPv6 left out.
        assert_eq!(ours.len(), n, "{format}: our decoder");
        let col = |name: &str| &cols[TSHARK_FIELDS.iter().position(|f| *f == name).unwrap()];
        let src: Vec<String> = col("cflow.srcaddr")
            .iter()
            .chain(col("cflow.srcaddrv6"))
            .cloned()
            .collect();
        let mut ours_src: Vec<String> = ours
            .iter()
            .filter(|f| f.src.is_ipv4())
            .map(|f| f.src.to_string())
            .collect();
        ours_src.extend(
            ours.iter()
                .filter(|f| f.src.is_ipv6())
                .map(|f| f.src.to_string()),
        );
        assert_eq!(src, ours_src, "{format}: source addresses");
        let dst: Vec<String> = col("cflow.dstaddr")
            .iter()
            .chain(col("cflow.dstaddrv6"))
            .cloned()
            .collect();
        let mut ours_dst: Vec<String> = ours
            .iter()
            .filter(|f| f.dst.is_ipv4())
            .map(|f| f.dst.to_string())
            .collect();
        ours_dst.extend(
            ours.iter()
                .filter(|f| f.dst.is_ipv6())
                .map(|f| f.dst.to_string()),
        );
        assert_eq!(dst, ours_dst, "{format}: destination addresses");
        let per_record = |name: &str, get: &dyn Fn(&Flow) -> u64| {
            let theirs: Vec<u64> = col(name)
                .iter()
                .map(|v| {
                    let r = match v.strip_prefix("0x") {
                        Some(hex) => u64::from_str_radix(hex, 16),
                        None => v.parse(),
                    };
                    r.unwrap_or_else(|_| panic!("{format}: {name} = {v:?}"))
                })
                .collect();
            let mine: Vec<u64> = ours.iter().map(get).collect();
            assert_eq!(theirs, mine, "{format}: {name}");
        };
        per_record("cflow.srcport", &|f| u64::from(f.src_port));
        per_record("cflow.dstport", &|f| u64::from(f.dst_port));
        per_record("cflow.protocol", &|f| u64::from(f.protocol));
        per_record("cflow.packets", &|f| f.packets);
        per_record("cflow.octets", &|f| f.octets);
        per_record("cflow.inputint", &|f| u64::from(f.input_if));
        per_record("cflow.outputint", &|f| u64::from(f.output_if));
        per_record("cflow.tos", &|f| u64::from(f.tos));
        per_record("cflow.tcpflags", &|f| u64::from(f.tcp_flags));
        let times: Vec<(u64, u64)> = ours
            .iter()
            .map(|f| (f.first.as_millis(), f.last.as_millis()))
            .collect();
        assert_eq!(tshark_times(&path, port), times, "{format}: first/last");
        // And our decoder read back what we meant.
        let mut want: Vec<Flow> = flows
            .iter()
            .filter(|f| format != Format::V5 || f.is_ipv4())
            .map(|f| decode::as_carried(format, f))
            .collect();
        if format == Format::V5 {
            // the big flow arrives as its split records
            let big = want.pop().unwrap();
            let got_big: Vec<&Flow> = ours.iter().filter(|f| f.src_port == 9999).collect();
            assert_eq!(got_big.iter().map(|f| f.packets).sum::<u64>(), big.packets);
            assert_eq!(got_big.iter().map(|f| f.octets).sum::<u64>(), big.octets);
        }
        let ours_main: Vec<Flow> = ours
            .iter()
            .filter(|f| f.src_port != 9999 || format != Format::V5)
            .copied()
            .collect();
        assert_eq!(ours_main, want, "{format}: our decoder");
        // The operator's view of the same capture.
        let out = run(&["--decode", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), n, "{format}: --decode lines");
        assert_eq!(
            text.lines().next().unwrap(),
            decode::format_line(
                match format {
                    Format::V5 => 5,
                    Format::V9 => 9,
                    Format::Ipfix => 10,
                },
                &ours[0]
            )
        );
    }
}

/// The binary, end to end: the shipped pfsync capture (IPv4 and IPv6
/// states) exported as v9 to one nfcapd and IPFIX to another, mirrored.
#[test]
fn binary_mirrors_v9_and_ipfix_with_ipv6_to_nfcapd() {
    let expected = testgen::parse_expected_csv(
        &std::fs::read_to_string(testdata("openbsd-v6.expected.csv")).unwrap(),
    )
    .unwrap();
    assert!(
        expected.iter().any(|f| !f.is_ipv4()),
        "capture has IPv6 states"
    );
    let (a, b) = (Nfcapd::start(), Nfcapd::start());
    let out = run(&[
        // every state: the expectations include those without the pflow flag
        "-A",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-v",
        "9",
        "-n",
        &a.addr(),
        "-n",
        &format!("{}/ipfix", b.addr()),
        "--ifindex",
        testgen::IFINDEX_MAP,
        "--source",
        "127.0.0.1",
        "-D",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -D prints every flow as one line beside exporting.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        expected.len()
    );
    for (name, nf) in [("v9", a), ("ipfix", b)] {
        let got = nf.stop_and_read();
        assert_eq!(got.len(), expected.len(), "{name}: records");
        let by_key: BTreeMap<Key, &NfFlow> = got
            .iter()
            .map(|g| ((g.src, g.dst, g.src_port, g.dst_port, g.proto), g))
            .collect();
        for f in &expected {
            // ICMP: nfdump shows type/code, not a source port.
            let k = if f.protocol == 1 {
                (f.src, f.dst, 0, f.dst_port.rotate_left(8), f.protocol)
            } else if f.protocol == 58 {
                // Seen with nfdump 1.7.1: from IPFIX an ICMPv6 flow shows
                // type/code taken from the destination port, as for ICMP;
                // from v9 it shows neither type nor code (ports 0/0).
                let dport = if name == "v9" {
                    0
                } else {
                    f.dst_port.rotate_left(8)
                };
                (f.src, f.dst, 0, dport, f.protocol)
            } else {
                key(f)
            };
            let g = by_key
                .get(&k)
                .unwrap_or_else(|| panic!("{name}: nfcapd lacks {f}"));
            assert_eq!((g.packets, g.bytes), (f.packets, f.octets), "{name}: {f}");
            assert_eq!(
                (g.first_ms, g.last_ms),
                (f.first.as_millis(), f.last.as_millis()),
                "{name}: {f}"
            );
            assert_eq!(
                (g.input, g.output),
                (f.input_if, f.output_if),
                "{name}: {f}"
            );
        }
    }
}

/// `--balance` over two collectors: every flow arrives exactly once, and
/// both directions of a conversation at the same collector.
#[test]
fn binary_balances_conversations_across_collectors() {
    let expected = testgen::parse_expected_csv(
        &std::fs::read_to_string(testdata("openbsd-v6.expected.csv")).unwrap(),
    )
    .unwrap();
    let (a, b) = (Nfcapd::start(), Nfcapd::start());
    let out = run(&[
        // every state: the expectations include those without the pflow flag
        "-A",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-v",
        "ipfix",
        "-n",
        &a.addr(),
        "-n",
        &b.addr(),
        "--balance",
        "--ifindex",
        testgen::IFINDEX_MAP,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ga, gb) = (a.stop_and_read(), b.stop_and_read());
    assert_eq!(ga.len() + gb.len(), expected.len());
    assert!(
        ga.len() >= 10 && gb.len() >= 10,
        "{} / {}",
        ga.len(),
        gb.len()
    );
    let conv = |g: &NfFlow| {
        let (x, y) = ((g.src, g.src_port), (g.dst, g.dst_port));
        if x <= y {
            (x, y, g.proto)
        } else {
            (y, x, g.proto)
        }
    };
    let at_a: std::collections::BTreeSet<_> = ga.iter().map(conv).collect();
    for g in &gb {
        assert!(!at_a.contains(&conv(g)), "conversation split: {g:?}");
    }
}

/// A collector that refuses (closed port: ICMP port unreachable, seen as
/// ECONNREFUSED on the next send) is counted and reported; the other
/// collector still receives every flow. v5 logs its IPv6 limitation once.
#[test]
fn binary_keeps_exporting_past_a_refusing_collector() {
    let expected = testgen::parse_expected_csv(
        &std::fs::read_to_string(testdata("openbsd-v6.expected.csv")).unwrap(),
    )
    .unwrap();
    let closed = free_udp_port();
    let nf = Nfcapd::start();
    let out = run(&[
        // every state: the expectations include those without the pflow flag
        "-A",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-n",
        &format!("127.0.0.1:{closed}/v9"),
        "-n",
        &nf.addr(),
        "--mtu",
        "576",
        "--ifindex",
        testgen::IFINDEX_MAP,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // The refusal reports an earlier datagram's fate; the retry of the
    // current one goes out, so nothing is dropped on our side.
    assert!(out.status.success(), "{err}");
    let line = err
        .lines()
        .find(|l| l.contains(&format!("collector 127.0.0.1:{closed}:")) && l.contains("refused"))
        .unwrap_or_else(|| panic!("no error count for the closed collector: {err}"));
    let refused: u64 = line
        .split(" refused")
        .next()
        .and_then(|x| x.rsplit('(').next())
        .and_then(|x| x.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(refused >= 1, "{line}");
    assert_eq!(err.matches("cannot carry IPv6").count(), 1, "{err}");
    let got = nf.stop_and_read();
    let v4 = expected.iter().filter(|f| f.is_ipv4()).count();
    // v5 splits counters over 2^32: at least one record per IPv4 flow.
    let keys: std::collections::BTreeSet<_> = got
        .iter()
        .map(|g| (g.src, g.dst, g.src_port, g.dst_port, g.proto))
        .collect();
    assert_eq!(keys.len(), v4, "{err}");
}

/// IPv6 transport: `[::1]:port/ipfix` reaches an nfcapd bound to ::1,
/// with datagrams sized for IPv6's larger header.
#[test]
fn binary_exports_over_ipv6_transport() {
    let nf = Nfcapd::start_on("::1");
    let out = run(&[
        // every state: the expectations include those without the pflow flag
        "-A",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-n",
        &format!("[::1]:{}/ipfix", nf.port),
        "--ifindex",
        testgen::IFINDEX_MAP,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = nf.stop_and_read();
    let expected = testgen::parse_expected_csv(
        &std::fs::read_to_string(testdata("openbsd-v6.expected.csv")).unwrap(),
    )
    .unwrap();
    assert_eq!(got.len(), expected.len());
    assert_eq!(
        got.iter().filter(|g| g.src.is_ipv6()).count(),
        expected.iter().filter(|f| f.src.is_ipv6()).count()
    );
    assert!(
        got.iter().all(|g| g.field("ip6_router") == Some("::1")),
        "{:?}",
        got[0].raw
    );
}

/// `-D` alone prints flows instead of exporting: one line per flow, the
/// same text `--decode` prints after its version tag.
#[test]
fn dump_without_collectors_prints_every_flow() {
    let out = run(&[
        // every state: the expectations include those without the pflow flag
        "-A",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-D",
        "--ifindex",
        testgen::IFINDEX_MAP,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = testgen::parse_expected_csv(
        &std::fs::read_to_string(testdata("openbsd-v6.expected.csv")).unwrap(),
    )
    .unwrap();
    assert_eq!(text.lines().count(), expected.len());
    let v6 = expected.iter().find(|f| !f.is_ipv4()).unwrap();
    let ep = format!(
        "[{}]:{} -> [{}]:{}",
        v6.src, v6.src_port, v6.dst, v6.dst_port
    );
    assert!(text.lines().any(|l| l.contains(&ep)), "{ep} not in\n{text}");
}
