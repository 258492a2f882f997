//! Hostile input: every case in `testdata/malformed/` (written by
//! `examples/malformed_gen.rs`, listed in its MANIFEST with the counter it
//! must raise) is fed to the pipeline between good frames; the named
//! counter goes up by exactly one, nothing panics, and the good frames
//! around it still produce their flows. The same corpus goes through the
//! binary inside a capture, and a capture cut mid-packet still exports
//! what came before the cut. The damaged state files of
//! `testdata/malformed/state/` are each refused by the loader with the
//! reason their MANIFEST names, and leave the table empty.
//!
//! Capture mode: each capture of `testdata/malformed/packet/` holds good
//! packets around bad frames; replayed through `stateflowd --capture -r
//! FILE -D`, the counter its MANIFEST names rises by exactly its count, no
//! other does, and the good flows come out with their packets and octets.
//! NetFlow: each datagram of `testdata/malformed/netflow/` gets from the
//! decoder the answer its MANIFEST names, alone and between good datagrams
//! whose templates still serve afterwards; all of them, with the real
//! malformed samples of `shared/testdata/netflow/`, go through `--decode`
//! in one capture that counts each and still prints the good records.

use super::harness::*;
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey};
use stateflowd::pipeline::{PfsyncPipeline, PipelineConfig};
use stateflowd::source::pcap_file::PcapWriter;
use stateflowd::state::persist::{self, PersistError};
use stateflowd::state::{StateId, StateTable, TableConfig};
use stateflowd::time::Timestamp;

/// `testdata/malformed/MANIFEST`: file, the counter it raises, bytes.
fn corpus() -> Vec<(String, String, Vec<u8>)> {
    manifest_corpus("")
        .into_iter()
        .map(|(file, words, bytes)| (file, words[0].clone(), bytes))
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
    manifest_corpus("state")
}

/// `testdata/malformed/SUB/MANIFEST`: each line's file name, the words
/// after it, and the file's bytes.
fn manifest_corpus(sub: &str) -> Vec<(String, Vec<String>, Vec<u8>)> {
    let dir = testdata("malformed").join(sub);
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

// ---------------------------------------------------------------------------
// Capture mode: `testdata/malformed/packet/`.

struct PacketCase {
    file: String,
    link: u32,
    counter: String,
    /// `None` for a file refused whole.
    raised: Option<u64>,
    extra: usize,
}

fn packet_corpus() -> Vec<PacketCase> {
    let dir = testdata("malformed").join("packet");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            PacketCase {
                file: w[0].to_string(),
                link: w[1].parse().unwrap(),
                counter: w[2].to_string(),
                raised: (w[3] != "-").then(|| w[3].parse().unwrap()),
                extra: w[4].parse().unwrap(),
            }
        })
        .collect()
}

/// The records of a pcap file and its link type.
fn pcap_records(path: &std::path::Path) -> (u32, Vec<Vec<u8>>) {
    let mut r =
        stateflowd::source::pcap_file::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = vec![];
    let mut buf = vec![];
    while r.next_packet(&mut buf).unwrap().is_some() {
        out.push(buf.clone());
    }
    (r.link_type, out)
}

/// The number written just before `label` in the capture summary line.
fn count_before(line: &str, label: &str) -> u64 {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line}"));
    let word = line[..at].split_whitespace().last().unwrap();
    word.trim_start_matches('(').parse().unwrap()
}

#[test]
fn every_malformed_packet_raises_its_counter_and_the_flows_around_it_stay_whole() {
    use stateflowd::packet::{self, Frag, ParseError};
    let cases = packet_corpus();
    assert!(cases.len() >= 25);
    let dir = testdata("malformed").join("packet");
    // The good flows every capture holds (examples/malformed_gen.rs):
    // SYN 20+20, PSH|ACK 20+20+100, ACK 20+20: 220 octets, flags
    // 0x02|0x18|0x10; IPv6 40 + UDP 8 + 20 payload.
    let tcp_flow = "proto   6 10.0.0.1:40000 -> 10.0.0.2:80 pkts 3 bytes 220 flags 0x1a";
    let udp_flow = "proto  17 [2001:db8::1]:5353 -> [2001:db8::2]:53 pkts 1 bytes 68 flags 0x00";
    for c in &cases {
        let path = dir.join(&c.file);
        let (link, records) = pcap_records(&path);
        assert_eq!(link, c.link, "{}", c.file);
        let out = run(&["--capture", "-r", path.to_str().unwrap(), "-D"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let Some(raised) = c.raised else {
            assert_eq!(c.counter, "refused", "{}", c.file);
            assert_eq!(out.status.code(), Some(1), "{}: {stderr}", c.file);
            assert!(
                stderr.contains(&format!(
                    "link type {} is not one capture mode reads",
                    c.link
                )),
                "{}: {stderr}",
                c.file
            );
            assert!(stdout.is_empty(), "{}: {stdout}", c.file);
            continue;
        };
        // The bad frames sit between the flow's second and third packets;
        // one count each.
        let bad = &records[2..records.len() - 2];
        assert_eq!(bad.len() as u64, raised, "{}", c.file);
        for (i, f) in bad.iter().enumerate() {
            let got = packet::parse(link, f);
            let ok = match c.counter.as_str() {
                "truncated" => got == Err(ParseError::Truncated),
                "not_ip" => got == Err(ParseError::NotIp),
                "malformed_ip" => got == Err(ParseError::BadIp),
                "orphan_fragments" => matches!(got, Ok(p) if matches!(p.frag, Frag::Later(_))),
                other => panic!("{}: unknown counter {other}", c.file),
            };
            assert!(ok, "{} frame {i}: {got:?}", c.file);
        }
        assert!(out.status.success(), "{}: {stderr}", c.file);
        let line = stderr
            .lines()
            .find(|l| l.contains(" packets ("))
            .unwrap_or_else(|| panic!("{}: no summary in {stderr}", c.file));
        let want = |name: &str| if c.counter == name { raised } else { 0 };
        assert_eq!(
            count_before(line, " packets ("),
            records.len() as u64,
            "{line}"
        );
        assert_eq!(
            count_before(line, " truncated,"),
            want("truncated"),
            "{line}"
        );
        assert_eq!(count_before(line, " not IP,"), want("not_ip"), "{line}");
        assert_eq!(
            count_before(line, " malformed IP)"),
            want("malformed_ip"),
            "{line}"
        );
        assert_eq!(
            count_before(line, " fragments ("),
            want("orphan_fragments"),
            "{line}"
        );
        assert_eq!(
            count_before(line, " without a first)"),
            want("orphan_fragments"),
            "{line}"
        );
        let flows: Vec<&str> = stdout.lines().collect();
        assert_eq!(flows.len(), 2 + c.extra, "{}: {stdout}", c.file);
        for good in [tcp_flow, udp_flow] {
            assert_eq!(
                flows.iter().filter(|l| l.contains(good)).count(),
                1,
                "{}: {good} not in {stdout}",
                c.file
            );
        }
    }
    // every counter and the refusal are exercised, on several link types
    for name in [
        "truncated",
        "not_ip",
        "malformed_ip",
        "orphan_fragments",
        "refused",
    ] {
        assert!(cases.iter().any(|c| c.counter == name), "{name}");
    }
    for lt in [0, 1, 101, 113] {
        assert!(cases.iter().any(|c| c.link == lt), "link {lt}");
    }
}

// ---------------------------------------------------------------------------
// NetFlow decoders: `testdata/malformed/netflow/`.

use stateflowd::netflow::decode::{DecodeError, Decoded, Decoder};
use stateflowd::netflow::template::Error as TError;
use stateflowd::netflow::v5::Error as V5Error;

/// `testdata/malformed/netflow/MANIFEST`: file, outcome words, bytes.
fn netflow_corpus() -> Vec<(String, Vec<String>, Vec<u8>)> {
    manifest_corpus("netflow")
}

fn netflow_file(name: &str) -> Vec<u8> {
    std::fs::read(testdata("malformed").join("netflow").join(name)).unwrap()
}

/// The record every corpus datagram carries.
fn assert_standard_flow(file: &str, f: &stateflowd::flow::Flow) {
    assert_eq!(
        (f.src.to_string(), f.dst.to_string(), f.src_port, f.dst_port),
        ("192.0.2.1".into(), "198.51.100.2".into(), 1234, 80),
        "{file}: {f}"
    );
    assert_eq!(
        (f.protocol, f.packets, f.octets),
        (6, 3, 300),
        "{file}: {f}"
    );
}

/// Checks a decode against a MANIFEST outcome; `Some(flows)` when the
/// datagram decoded.
fn check_netflow_outcome(
    file: &str,
    want: &[String],
    got: &Result<Decoded, DecodeError>,
) -> Option<usize> {
    let n = |i: usize| -> u64 { want[i].parse().unwrap() };
    match (want[0].as_str(), got) {
        ("ok", Ok(d)) => {
            assert_eq!(d.flows.len() as u64, n(1), "{file}");
            assert_eq!(d.unknown_sets as u64, n(2), "{file}");
            assert_eq!(d.templates as u64, n(3), "{file}");
            for f in &d.flows {
                assert_standard_flow(file, f);
            }
            return Some(d.flows.len());
        }
        ("no_version", Err(DecodeError::NoVersion { len })) => assert_eq!(*len as u64, n(1)),
        ("unknown_version", Err(DecodeError::UnknownVersion(v))) => {
            assert_eq!(u64::from(*v), n(1))
        }
        ("v5_too_short", Err(DecodeError::V5(V5Error::TooShort { len }))) => {
            assert_eq!(*len as u64, n(1))
        }
        ("v5_count_mismatch", Err(DecodeError::V5(V5Error::CountMismatch { count, len }))) => {
            assert_eq!((u64::from(*count), *len as u64), (n(1), n(2)), "{file}")
        }
        ("v5_too_many_records", Err(DecodeError::V5(V5Error::TooManyRecords { count }))) => {
            assert_eq!(u64::from(*count), n(1))
        }
        ("too_short", Err(DecodeError::Templated(TError::TooShort { len }))) => {
            assert_eq!(*len as u64, n(1))
        }
        ("bad_set_length", Err(DecodeError::Templated(TError::BadSetLength { offset, len }))) => {
            assert_eq!((*offset as u64, u64::from(*len)), (n(1), n(2)), "{file}")
        }
        ("bad_template", Err(DecodeError::Templated(TError::BadTemplate { id }))) => {
            assert_eq!(u64::from(*id), n(1), "{file}")
        }
        (
            "bad_message_length",
            Err(DecodeError::Templated(TError::BadMessageLength { announced, len })),
        ) => assert_eq!((u64::from(*announced), *len as u64), (n(1), n(2)), "{file}"),
        (w, g) => panic!("{file}: want {w}, got {g:?}"),
    }
    None
}

#[test]
fn every_malformed_datagram_gets_its_answer_and_the_good_ones_around_it_decode() {
    let cases = netflow_corpus();
    assert!(cases.len() >= 40);
    for v in [5u16, 9, 10] {
        assert!(
            cases.iter().any(|(_, w, b)| w[0] != "ok"
                && b.len() >= 2
                && u16::from_be_bytes([b[0], b[1]]) == v),
            "no refused case of version {v}"
        );
    }
    let good = |n: &str| netflow_file(n);
    for (file, want, bytes) in &cases {
        // alone
        check_netflow_outcome(file, want, &Decoder::new().decode(bytes));
        // between good datagrams of the same exporter: the templates they
        // taught before it still serve the data after it
        let mut dec = Decoder::new();
        for g in ["good-v9.bin", "good-ipfix.bin", "good-v5.bin"] {
            assert_eq!(dec.decode(&good(g)).unwrap().flows.len(), 1, "{file}: {g}");
        }
        let got = dec.decode(bytes);
        // (the good ones' data-only datagrams decode here: the templates
        // are known)
        if !file.starts_with("good-") {
            check_netflow_outcome(file, want, &got);
        }
        for g in ["good-v9-data.bin", "good-ipfix-data.bin", "good-v5.bin"] {
            let d = dec.decode(&good(g)).unwrap();
            assert_eq!((d.flows.len(), d.unknown_sets), (1, 0), "{file}: then {g}");
            assert_standard_flow(file, &d.flows[0]);
        }
    }
    // The real malformed samples (logstash's test data): counts past the
    // 1464 bytes they hold.
    for (name, count) in [
        ("logstash-netflow5_test_invalid01.dat", 55582),
        ("logstash-netflow5_test_invalid02.dat", 163),
    ] {
        let b = std::fs::read(shared("testdata/netflow").join(name)).unwrap();
        assert_eq!(
            Decoder::new().decode(&b),
            Err(DecodeError::V5(V5Error::CountMismatch { count, len: 1464 })),
            "{name}"
        );
    }
}

/// A raw-IP packet carrying `payload` in UDP from `src` to 10.9.9.9:2055.
fn udp_packet(src: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&[10, 9, 9, 9]);
    p.extend_from_slice(&[0x9c, 0x40, 0x08, 0x07]);
    p.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

#[test]
fn decode_reads_a_capture_full_of_malformed_datagrams_and_counts_each() {
    let cases = netflow_corpus();
    let d = TempDir::new("netflow-hostile");
    let path = d.path().join("export.pcap");
    let mut w = PcapWriter::new(Vec::new(), 101).unwrap();
    let t = Timestamp::from_secs(1_700_000_000);
    let exporter = [10, 0, 0, 1];
    // datagram numbers (1-based) that must be reported undecodable
    let mut errors = vec![];
    let mut records = 0;
    let mut unknown = 0;
    let mut n = 0;
    let mut put = |w: &mut PcapWriter<Vec<u8>>, src, b: &[u8]| {
        w.write_packet(t, &udp_packet(src, b)).unwrap();
        n += 1;
        n
    };
    for g in ["good-v9.bin", "good-ipfix.bin", "good-v5.bin"] {
        put(&mut w, exporter, &netflow_file(g));
        records += 1;
    }
    // each case from an exporter of its own: no templates shared
    for (i, (_, want, bytes)) in cases.iter().enumerate() {
        let k = put(&mut w, [10, 1, (i / 200) as u8, (i % 200) as u8 + 1], bytes);
        if want[0] == "ok" {
            records += want[1].parse::<u64>().unwrap();
            unknown += want[2].parse::<u64>().unwrap();
        } else {
            errors.push(k);
        }
    }
    for name in [
        "logstash-netflow5_test_invalid01.dat",
        "logstash-netflow5_test_invalid02.dat",
    ] {
        let b = std::fs::read(shared("testdata/netflow").join(name)).unwrap();
        errors.push(put(&mut w, [10, 2, 0, 1], &b));
    }
    // the first exporter's data, after all of it
    for g in ["good-v9-data.bin", "good-ipfix-data.bin", "good-v5.bin"] {
        put(&mut w, exporter, &netflow_file(g));
        records += 1;
    }
    std::fs::write(&path, w.into_inner()).unwrap();
    let out = run(&["--decode", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "undecodable datagrams: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{n} datagrams, {records} records, {} undecodable, {unknown} data sets without template, 0 packets not UDP",
            errors.len()
        )),
        "{stderr}"
    );
    let reported: Vec<usize> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("# datagram "))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(reported, errors, "{stdout}");
    // the last three records are the first exporter's, decoded whole
    let lines: Vec<&str> = stdout.lines().collect();
    let tail = &lines[lines.len() - 3..];
    for (l, v) in tail.iter().zip(["v9 ", "ipfix ", "v5 "]) {
        assert!(l.starts_with(v), "{l}");
        assert!(
            l.contains("proto   6 192.0.2.1:1234 -> 198.51.100.2:80 pkts 3 bytes 300"),
            "{l}"
        );
    }
    assert_eq!(
        lines.iter().filter(|l| !l.starts_with('#')).count() as u64,
        records
    );
}

#[test]
fn decode_of_a_raw_ipfix_message_with_a_length_below_its_header_is_one_error() {
    let path = testdata("malformed")
        .join("netflow")
        .join("ipfix-length-below-header.bin");
    let out = run(&["--decode", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("1 datagrams, 0 records, 1 undecodable"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "# datagram 1: message length 8 disagrees with the 80-byte datagram"
    );
}
