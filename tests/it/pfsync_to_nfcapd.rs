//! The foundation's promise, end to end: a pfsync capture in, NetFlow v5 at
//! a real collector (nfcapd) out, checked field by field against the flows
//! the capture generator says the states must produce.

use super::harness::*;
use stateflowd::flow::Flow;
use stateflowd::testgen;
use std::collections::BTreeMap;
use std::net::IpAddr;

type Key = (IpAddr, IpAddr, u16, u16, u8);

/// ICMP flows: nfdump shows no source port (the NetFlow convention puts
/// type/code in the destination port), so it is left out of the key.
fn key(src: IpAddr, dst: IpAddr, sp: u16, dp: u16, proto: u8) -> Key {
    let sp = if proto == 1 || proto == 58 { 0 } else { sp };
    (src, dst, sp, dp, proto)
}

fn key_of(f: &Flow) -> Key {
    key(f.src, f.dst, f.src_port, f.dst_port, f.protocol)
}

/// Runs the binary on `pcap` against a fresh nfcapd and compares with the
/// expected-flows file (IPv4 flows only: v5 cannot carry IPv6).
fn check_capture(pcap: &str, expected_csv: &str) {
    let expected =
        testgen::parse_expected_csv(&std::fs::read_to_string(testdata(expected_csv)).unwrap())
            .unwrap();
    let expected: Vec<_> = expected.into_iter().filter(|f| f.is_ipv4()).collect();
    assert!(expected.len() > 20, "test capture too small");

    let nf = Nfcapd::start();
    let out = run(&[
        "-r",
        testdata(pcap).to_str().unwrap(),
        "-n",
        &nf.addr(),
        "--ifindex",
        testgen::IFINDEX_MAP,
        // every state: the pflow-flag selection is checked on its own below
        "--all-states",
    ]);
    assert!(
        out.status.success(),
        "stateflowd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = nf.stop_and_read();

    // v5 splits counters over 2^32 into several records: add them up per flow.
    let mut sums: BTreeMap<Key, (u64, u64, Vec<&NfFlow>)> = BTreeMap::new();
    for g in &got {
        let e = sums
            .entry(key(g.src, g.dst, g.src_port, g.dst_port, g.proto))
            .or_default();
        e.0 += g.packets;
        e.1 += g.bytes;
        e.2.push(g);
    }
    assert_eq!(
        sums.len(),
        expected.len(),
        "distinct flows at the collector"
    );
    for f in &expected {
        let (p, b, recs) = sums
            .get(&key_of(f))
            .unwrap_or_else(|| panic!("collector lacks flow {f}"));
        assert_eq!((*p, *b), (f.packets, f.octets), "counters of {f}");
        for r in recs {
            let first_err = r.first_ms.abs_diff(f.first.as_millis());
            let last_err = r.last_ms.abs_diff(f.last.as_millis());
            assert!(
                first_err < 1000,
                "First of {f}: collector {} ms",
                r.first_ms
            );
            assert!(last_err < 1000, "Last of {f}: collector {} ms", r.last_ms);
            assert_eq!(
                (r.input, r.output),
                (f.input_if, f.output_if),
                "ifindex of {f}"
            );
        }
    }
}

#[test]
fn shipped_example_reaches_nfcapd_exactly() {
    check_capture("openbsd-v6.pcap", "openbsd-v6.expected.csv");
}

#[test]
fn sync_link_ethernet_capture_reaches_nfcapd() {
    check_capture("openbsd-v6-ether.pcap", "openbsd-v6-ether.expected.csv");
}

#[test]
fn openbsd_dlt18_capture_reaches_nfcapd() {
    check_capture("openbsd-v6-dlt18.pcap", "openbsd-v6-dlt18.expected.csv");
}

#[test]
fn committed_captures_are_what_the_generator_makes() {
    // The files in testdata/ were written by examples/pfsync_gen.rs; if the
    // generator changes, they must be regenerated (see testdata/README.md).
    for (name, seed, link) in [
        ("openbsd-v6", 1, 246u32),
        ("openbsd-v6-ether", 2, 1),
        ("openbsd-v6-dlt18", 3, 18),
    ] {
        let cap = testgen::generate(&testgen::GenConfig {
            seed,
            ..Default::default()
        });
        let bytes = testgen::write_pcap(
            &cap,
            stateflowd::pfsync::carrier::LinkType(link),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(
            bytes,
            std::fs::read(testdata(&format!("{name}.pcap"))).unwrap(),
            "{name}.pcap"
        );
        assert_eq!(
            testgen::expected_csv(&cap.expected),
            std::fs::read_to_string(testdata(&format!("{name}.expected.csv"))).unwrap(),
            "{name}.expected.csv"
        );
    }
}
