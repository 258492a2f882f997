//! Hostile input: every case in `testdata/malformed/` (written by
//! `examples/malformed_gen.rs`, listed in its MANIFEST with the counter it
//! must raise) is fed to the pipeline between good frames; the named
//! counter goes up by exactly one, nothing panics, and the good frames
//! around it still produce their flows. The same corpus goes through the
//! binary inside a capture, and a capture cut mid-packet still exports
//! what came before the cut. The damaged state files of
//! `testdata/malformed/state/` are each refused by the loader with the
//! reason their MANIFEST names, and leave the table empty.

use super::harness::*;
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey};
use stateflowd::pipeline::{PfsyncPipeline, PipelineConfig};
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::state::persist::{self, PersistError};
use stateflowd::state::{StateId, StateTable, TableConfig};
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
    assert!(cases.len() >= 29);
    // every dialect's framing is attacked: legacy 2, 3, 4, v5, v6
    for v in 2..=6u8 {
        assert!(
            cases.iter().any(|(_, _, b)| b.first() == Some(&v)),
            "no case of version {v}"
        );
    }
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

/// `testdata/malformed/state/MANIFEST`: file, expected answer, its words.
fn state_corpus() -> Vec<(String, Vec<String>, Vec<u8>)> {
    let dir = testdata("malformed").join("state");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<String> = l.split_whitespace().map(String::from).collect();
            let bytes = std::fs::read(dir.join(&w[0])).unwrap();
            (w[0].clone(), w[1..].to_vec(), bytes)
        })
        .collect()
}

#[test]
fn every_damaged_state_file_is_refused_with_its_reason() {
    let cases = state_corpus();
    assert!(cases.len() >= 10);
    let num = |s: &str| -> Option<u64> { (s != "-").then(|| s.parse().unwrap()) };
    for (file, want, bytes) in &cases {
        let got = persist::parse(bytes);
        match (want[0].as_str(), &got) {
            ("ok", Ok(states)) => {
                assert_eq!(states.len() as u64, num(&want[1]).unwrap(), "{file}");
            }
            ("bad_length", Err(PersistError::BadLength { file: f, expected })) => {
                assert_eq!(Some(*f), num(&want[1]), "{file}");
                assert_eq!(*expected, num(&want[2]), "{file}");
                assert_eq!(*f, bytes.len() as u64, "{file}");
            }
            ("wrong_version", Err(PersistError::WrongVersion(v))) => {
                assert_eq!(Some(u64::from(*v)), num(&want[1]), "{file}");
            }
            ("bad_checksum", Err(PersistError::BadChecksum))
            | ("bad_magic", Err(PersistError::BadMagic)) => {}
            (w, g) => panic!("{file}: want {w}, got {g:?}"),
        }
    }
}

#[test]
fn the_good_state_file_holds_what_was_saved_and_half_of_it_restores_nothing() {
    let dir = testdata("malformed").join("state");
    let good = persist::load(&dir.join("good.state")).unwrap();
    // examples/malformed_gen.rs saved states 1..=3 of creator 0x0a0b0c0d,
    // state k with packets [10k, 9k] and bytes [1000k, 900k]
    let ids: Vec<StateId> = good.iter().map(|(id, _)| *id).collect();
    let want: Vec<StateId> = (1..=3)
        .map(|id| StateId {
            creator: 0x0a0b_0c0d,
            id,
        })
        .collect();
    assert_eq!(ids, want);
    for (id, t) in &good {
        let k = id.id;
        assert_eq!((t.packets, t.bytes), ([10 * k, 9 * k], [1000 * k, 900 * k]));
        assert_eq!(t.key.port[0], 40000 + k as u16);
    }
    // The file cut in half: refused as too short for its header's count,
    // and nothing of it enters the table.
    let mut tab = StateTable::new(TableConfig::default());
    let mut out = vec![];
    let e = persist::load_into(&dir.join("cut-in-half.state"), &mut tab, &mut out).unwrap_err();
    assert!(
        matches!(
            e,
            PersistError::BadLength {
                file: 215,
                expected: Some(431)
            }
        ),
        "{e:?}"
    );
    assert!(tab.is_empty() && out.is_empty());
    assert_eq!(
        e.to_string(),
        "state file is 215 bytes, its header says 431"
    );
}
