//! Hostile input: every case in `testdata/malformed/` (written by
//! `examples/malformed_gen.rs`, listed in its MANIFEST with the counter it
//! must raise) is fed to the pipeline between good frames; the named
//! counter goes up by exactly one, nothing panics, and the good frames
//! around it still produce their flows. The same corpus goes through the
//! binary inside a capture, and a capture cut mid-packet still exports
//! what came before the cut.

use super::harness::*;
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey};
use stateflowd::pipeline::{PfsyncPipeline, PipelineConfig};
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::time::Timestamp;

fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let dir = testdata("malformed");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            let file = w.next().unwrap().to_string();
            let counter = w.next().unwrap().to_string();
            let bytes = std::fs::read(dir.join(&file)).unwrap();
            (file, counter, bytes)
        })
        .collect()
}

fn state(id: u64) -> PfState {
    let mut k = StateKey::default();
    k.addr[0][..4].copy_from_slice(&[198, 51, 100, 1]);
    k.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
    k.port = [1000 + id as u16, 80];
    PfState {
        id,
        creator: 1,
        ifname: IfName::new("em0"),
        keys: [k, k],
        family: Family::Inet,
        proto: 6,
        direction: PfDirection::In,
        packets: [3, 2],
        bytes: [300, 200],
        state_flags: PFSTATE_PFLOW,
        flags_known: true,
        ..Default::default()
    }
}

fn frame_of(msgs: &[Message]) -> Vec<u8> {
    let mut b = V6FrameBuilder::new();
    for m in msgs {
        b.push(m);
    }
    b.finish()
}

#[test]
fn every_malformed_case_raises_its_counter_and_loses_nothing_else() {
    let cases = corpus();
    assert!(cases.len() >= 12);
    for (file, counter, bytes) in &cases {
        let mut p = PfsyncPipeline::new(PipelineConfig::default(), &[], Default::default());
        let mut out = vec![];
        let t = Timestamp::from_secs(1_000);
        p.on_frame(&frame_of(&[Message::Insert(state(1))]), t, &mut out);
        let err = p.on_frame(bytes, t, &mut out);
        assert_eq!(
            err.map(|e| e.counter_name()),
            Some(counter.as_str()),
            "{file}"
        );
        let s = p.stats();
        assert_eq!(
            s.decode_errors.get(counter.as_str()),
            Some(&1),
            "{file}: {s:?}"
        );
        assert_eq!(s.decode_error_total(), 1, "{file}: {s:?}");
        // the good state is still there and ends into its two flows
        p.on_frame(
            &frame_of(&[Message::DeleteCompressed { id: 1, creator: 1 }]),
            t,
            &mut out,
        );
        assert_eq!(p.stats().flows, 2, "{file}");
    }
}

#[test]
fn a_capture_full_of_garbage_still_exports_every_good_state() {
    let cases = corpus();
    let d = TempDir::new("hostile");
    let path = d.path().join("mixed.pcap");
    let mut w = PcapWriter::new(Vec::new(), LinkType::PFSYNC.0).unwrap();
    let mut t = Timestamp::from_secs(1_700_000_000);
    for (i, (_, _, bad)) in cases.iter().enumerate() {
        let id = i as u64 + 1;
        w.write_packet(t, &frame_of(&[Message::Insert(state(id))]))
            .unwrap();
        w.write_packet(t, bad).unwrap();
        t = t.saturating_add_micros(1_000_000);
        w.write_packet(
            t,
            &frame_of(&[Message::DeleteCompressed { id, creator: 1 }]),
        )
        .unwrap();
    }
    std::fs::write(&path, w.into_inner()).unwrap();
    let out = run(&["-r", path.to_str().unwrap(), "-D"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let flows = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(flows, 2 * cases.len());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{} malformed", cases.len())), "{err}");
    // logged once, then rate-limited: far fewer warning lines than cases
    assert!(err.matches("skipping malformed").count() <= 2, "{err}");
}

#[test]
fn a_capture_cut_mid_packet_exports_what_came_before() {
    let d = TempDir::new("cut");
    let whole = std::fs::read(testdata("openbsd-v6.pcap")).unwrap();
    let cut = d.path().join("cut.pcap");
    // keep the first 90 %: the file now ends inside a record
    std::fs::write(&cut, &whole[..whole.len() * 9 / 10]).unwrap();
    let full = run(&[
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "-D",
        "-A",
    ]);
    let part = run(&["-r", cut.to_str().unwrap(), "-D", "-A"]);
    assert_eq!(
        part.status.code(),
        Some(2),
        "a cut capture is a partial run"
    );
    let err = String::from_utf8_lossy(&part.stderr);
    assert!(err.contains("ends in the middle of a packet"), "{err}");
    let full_lines = String::from_utf8_lossy(&full.stdout).lines().count();
    let part_lines = String::from_utf8_lossy(&part.stdout).lines().count();
    assert!(
        part_lines > 0 && part_lines < full_lines,
        "{part_lines} of {full_lines}"
    );
    // what was exported is a prefix of the full run's flows
    assert!(
        String::from_utf8_lossy(&full.stdout).starts_with(&*String::from_utf8_lossy(&part.stdout))
    );
}
