//! Choosing which states are exported, end to end through the binary: the
//! `pflow` state option (the default, as pflow(4)), `-A`, `--rule`,
//! `--on-interface`, `-S` and `--family`, alone and combined. The capture
//! is built here with five states whose attributes are chosen so that each
//! filter selects a different set; each state is known in the output by
//! its port (1001…1005), and every case asserts the exact set.

use super::harness::*;
use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey};
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::time::Timestamp;
use std::collections::BTreeSet;

/// (port, direction, interface, rule, IPv6, pflow)
const STATES: [(u16, PfDirection, &str, u32, bool, bool); 5] = [
    (1001, PfDirection::In, "em0", 1, false, true),
    (1002, PfDirection::Out, "em1", 2, false, true),
    (1003, PfDirection::In, "em1", 2, true, true),
    (1004, PfDirection::Out, "em0", 3, false, false),
    (1005, PfDirection::In, "em0", 1, true, false),
];

fn state(i: usize) -> PfState {
    let (port, direction, ifname, rule, v6, pflow) = STATES[i];
    let mut key = StateKey::default();
    if v6 {
        key.addr[0] = [
            0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, i as u8,
        ];
        key.addr[1] = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    } else {
        key.addr[0][..4].copy_from_slice(&[198, 51, 100, i as u8]);
        key.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
    }
    key.port = [port, 443];
    PfState {
        id: 0x5e1e_c700 + i as u64,
        creator: 0x0102_0304,
        ifname: IfName::new(ifname),
        keys: [key, key],
        family: if v6 { Family::Inet6 } else { Family::Inet },
        proto: 6,
        direction,
        rule,
        anchor: u32::MAX,
        packets: [3, 2],
        bytes: [180, 120],
        state_flags: if pflow { PFSTATE_PFLOW } else { 0 },
        flags_known: true,
        ..Default::default()
    }
}

/// A pfsync0 capture (link type 246): the five INS, then their DEL_C.
fn capture(dir: &TempDir) -> String {
    let t0 = Timestamp::from_secs(1_764_000_000);
    let mut w = PcapWriter::new(Vec::new(), 246).unwrap();
    let mut ins = V6FrameBuilder::new();
    for i in 0..STATES.len() {
        ins.push(&Message::Insert(state(i)));
    }
    w.write_packet(t0, &ins.finish()).unwrap();
    let mut del = V6FrameBuilder::new();
    for i in 0..STATES.len() {
        let s = state(i);
        del.push(&Message::DeleteCompressed {
            id: s.id,
            creator: s.creator,
        });
    }
    w.write_packet(t0.saturating_add_micros(30_000_000), &del.finish())
        .unwrap();
    let path = dir.0.join("select.pcap");
    std::fs::write(&path, w.into_inner()).unwrap();
    path.to_string_lossy().into_owned()
}

/// The states whose records `-D` prints with these options, by port; each
/// must give exactly its two records.
fn selected(pcap: &str, opts: &[&str]) -> BTreeSet<u16> {
    let mut args = vec!["-r", pcap, "-D"];
    args.extend_from_slice(opts);
    let out = run(&args);
    assert!(
        out.status.success(),
        "{opts:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut records: Vec<u16> = Vec::new();
    for line in text.lines() {
        let port = STATES
            .iter()
            .map(|s| s.0)
            .find(|p| line.contains(&format!(":{p} ")))
            .unwrap_or_else(|| panic!("{opts:?}: a record of no known state: {line}"));
        records.push(port);
    }
    let set: BTreeSet<u16> = records.iter().copied().collect();
    for p in &set {
        assert_eq!(
            records.iter().filter(|r| *r == p).count(),
            2,
            "{opts:?}: state {p} must give one record per direction:\n{text}"
        );
    }
    set
}

fn set(ports: &[u16]) -> BTreeSet<u16> {
    ports.iter().copied().collect()
}

#[test]
fn each_filter_exports_exactly_the_states_it_names() {
    let dir = TempDir::new("select");
    let pcap = capture(&dir);
    let cases: &[(&[&str], &[u16])] = &[
        // pflow(4)'s rule: only states with the pflow option.
        (&[], &[1001, 1002, 1003]),
        (&["-A"], &[1001, 1002, 1003, 1004, 1005]),
        (&["-A", "--rule", "2"], &[1002, 1003]),
        (&["-A", "--rule", "1,3"], &[1001, 1004, 1005]),
        (&["-A", "--on-interface", "em0"], &[1001, 1004, 1005]),
        (&["-A", "-S", "in"], &[1001, 1003, 1005]),
        (&["-A", "-S", "out"], &[1002, 1004]),
        (&["-A", "-S", "any"], &[1001, 1002, 1003, 1004, 1005]),
        (&["-A", "--family", "inet6"], &[1003, 1005]),
        (&["-A", "--family", "inet"], &[1001, 1002, 1004]),
        // Filters narrow together, and narrow the pflow selection too.
        (&["-S", "in", "--family", "inet"], &[1001]),
        (&["-A", "--on-interface", "em0", "-S", "in"], &[1001, 1005]),
        (&["--rule", "3"], &[]),
    ];
    for (opts, want) in cases {
        assert_eq!(selected(&pcap, opts), set(want), "options {opts:?}");
    }
}
