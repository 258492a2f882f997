//! Every pfsync dialect end to end: the committed captures in testdata/
//! (one per dialect, each on a different carrier) replayed through the
//! binary into a real collector (nfcapd), compared field by field with the
//! flows the generator says the states must give; and a check that the
//! committed files are exactly what the generator makes.

use super::harness::*;
use stateflowd::flow::Flow;
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::testgen::{self, GenConfig};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// (file stem, seed, dialect, full DEL on pfsync0, link type)
const CAPTURES: [(&str, u64, &str, bool, u32); 7] = [
    ("legacy-v2-pfsync0", 21, "v2", true, 18),
    ("legacy-v3-pfsync0", 22, "v3", true, 121),
    ("legacy-v4-ether", 23, "v4", false, 1),
    ("openbsd45", 24, "openbsd45", false, 18),
    ("freebsd1301-raw", 25, "freebsd1301", false, 101),
    ("freebsd1400", 26, "freebsd1400", false, 246),
    ("freebsd1500-sll2", 27, "freebsd1500", false, 276),
];

type Key = (IpAddr, IpAddr, u16, u16, u8);

fn key(src: IpAddr, dst: IpAddr, sp: u16, dp: u16, proto: u8) -> Key {
    // nfdump shows no source port for ICMP
    let sp = if proto == 1 || proto == 58 { 0 } else { sp };
    (src, dst, sp, dp, proto)
}

fn check(stem: &str) {
    let csv = std::fs::read_to_string(testdata(&format!("{stem}.expected.csv"))).unwrap();
    let expected: Vec<Flow> = testgen::parse_expected_csv(&csv)
        .unwrap()
        .into_iter()
        .filter(|f| f.is_ipv4())
        .collect();
    assert!(expected.len() > 20, "{stem}: capture too small");
    let nf = Nfcapd::start();
    let pcap = testdata(&format!("{stem}.pcap"));
    let out = run(&[
        "-r",
        pcap.to_str().unwrap(),
        "-n",
        &nf.addr(),
        "--ifindex",
        testgen::IFINDEX_MAP,
    ]);
    assert!(
        out.status.success(),
        "{stem}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = nf.stop_and_read();
    // v5 splits counters over 2^32: add the records of one flow up
    let mut sums: BTreeMap<Key, (u64, u64, Vec<&NfFlow>)> = BTreeMap::new();
    for g in &got {
        let e = sums
            .entry(key(g.src, g.dst, g.src_port, g.dst_port, g.proto))
            .or_default();
        e.0 += g.packets;
        e.1 += g.bytes;
        e.2.push(g);
    }
    assert_eq!(sums.len(), expected.len(), "{stem}: distinct flows");
    for f in &expected {
        let (p, b, recs) = sums
            .get(&key(f.src, f.dst, f.src_port, f.dst_port, f.protocol))
            .unwrap_or_else(|| panic!("{stem}: collector lacks {f}"));
        assert_eq!((*p, *b), (f.packets, f.octets), "{stem}: counters of {f}");
        for r in recs {
            assert!(
                r.first_ms.abs_diff(f.first.as_millis()) < 1000,
                "{stem}: First of {f}"
            );
            assert!(
                r.last_ms.abs_diff(f.last.as_millis()) < 1000,
                "{stem}: Last of {f}"
            );
            assert_eq!(
                (r.input, r.output),
                (f.input_if, f.output_if),
                "{stem}: {f}"
            );
        }
    }
}

#[test]
fn legacy_v2_pfsync0_full_deletes_reach_nfcapd() {
    check("legacy-v2-pfsync0");
}

#[test]
fn legacy_v3_pfsync0_on_old_freebsd_link_type_reaches_nfcapd() {
    check("legacy-v3-pfsync0");
}

#[test]
fn legacy_v4_sync_link_reaches_nfcapd() {
    check("legacy-v4-ether");
}

#[test]
fn openbsd45_reaches_nfcapd() {
    check("openbsd45");
}

#[test]
fn freebsd_1301_raw_ip_reaches_nfcapd() {
    check("freebsd1301-raw");
}

#[test]
fn freebsd_1400_reaches_nfcapd() {
    check("freebsd1400");
}

#[test]
fn freebsd_1500_linux_cooked_v2_reaches_nfcapd() {
    check("freebsd1500-sll2");
}

#[test]
fn committed_dialect_captures_are_what_the_generator_makes() {
    for (stem, seed, dialect, full_delete, link) in CAPTURES {
        let cap = testgen::generate(&GenConfig {
            seed,
            encoding: testgen::encoding_by_name(dialect).unwrap(),
            full_delete,
            ..Default::default()
        });
        let bytes = testgen::write_pcap(&cap, LinkType(link), Vec::new()).unwrap();
        assert_eq!(
            bytes,
            std::fs::read(testdata(&format!("{stem}.pcap"))).unwrap(),
            "{stem}.pcap"
        );
        assert_eq!(
            testgen::expected_csv(&cap.expected),
            std::fs::read_to_string(testdata(&format!("{stem}.expected.csv"))).unwrap(),
            "{stem}.expected.csv"
        );
    }
}
