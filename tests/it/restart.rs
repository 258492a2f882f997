//! `--state-file`: a restart loses nothing. A capture cut in two and
//! replayed as two runs sharing a state file gives exactly the flows of
//! the whole capture replayed at once (the second run resolves the
//! compressed deletions of states the first one saw inserted); without
//! the file those flows are lost and counted as unknown deletions. A
//! state file that cannot be written at exit is an error with exit
//! status 2, and a corrupt one is ignored with a warning.

use super::harness::*;
use stateflowd::source::pcap_file::{PcapReader, PcapWriter};
use std::path::{Path, PathBuf};

/// Writes packets `[0, cut)` of `src` to `a` and the rest to `b`.
fn split(src: &Path, cut: usize, a: &Path, b: &Path) -> usize {
    let mut r = PcapReader::new(std::fs::File::open(src).unwrap()).unwrap();
    let link = r.link_type;
    let mut wa = PcapWriter::new(std::fs::File::create(a).unwrap(), link).unwrap();
    let mut wb = PcapWriter::new(std::fs::File::create(b).unwrap(), link).unwrap();
    let mut buf = Vec::new();
    let mut n = 0;
    while let Some(m) = r.next_packet(&mut buf).unwrap() {
        let w = if n < cut { &mut wa } else { &mut wb };
        w.write_packet(m.ts, &buf).unwrap();
        n += 1;
    }
    n
}

fn flows(args: &[&str]) -> (Vec<String>, String, Option<i32>) {
    let out = run(args);
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    (
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

fn replay(pcap: &Path, state: Option<&Path>) -> (Vec<String>, String, Option<i32>) {
    let mut args = vec!["-A", "-D", "-r", pcap.to_str().unwrap()];
    if let Some(s) = state {
        args.extend(["--state-file", s.to_str().unwrap()]);
    }
    flows(&args)
}

#[test]
fn a_capture_replayed_in_two_runs_with_a_state_file_gives_the_whole_captures_flows() {
    let dir = TempDir::new("restart");
    for name in [
        "openbsd-v6.pcap",
        "freebsd1400.pcap",
        "legacy-v4-ether.pcap",
    ] {
        let whole = testdata(name);
        let (all, err, code) = replay(&whole, None);
        assert_eq!(code, Some(0), "{err}");
        assert!(all.len() > 20, "{name}: {} flows", all.len());
        let (a, b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
        let total = split(&whole, 0, &a, &b);
        let cut = total / 2;
        split(&whole, cut, &a, &b);
        let state: PathBuf = dir.path().join(format!("{name}.states"));

        let (first, err1, code1) = replay(&a, Some(&state));
        assert_eq!(code1, Some(0), "{err1}");
        assert!(err1.contains("saved"), "{err1}");
        let saved = std::fs::metadata(&state).unwrap().len();
        assert!(saved > 24 + 8, "{name}: state file of {saved} bytes");
        let (second, err2, code2) = replay(&b, Some(&state));
        assert_eq!(code2, Some(0), "{err2}");
        assert!(err2.contains("read "), "{err2}");
        let mut joined: Vec<String> = first.iter().chain(&second).cloned().collect();
        joined.sort();
        assert_eq!(joined, all, "{name}: split at packet {cut} of {total}");

        // Without the file the second half cannot resolve what the first
        // half inserted: fewer flows, and the difference is counted.
        let (alone, err3, _) = replay(&b, None);
        assert!(
            alone.len() < second.len(),
            "{name}: {} flows without the state file, {} with it",
            alone.len(),
            second.len()
        );
        assert!(err3.contains("of unknown states"), "{err3}");
    }
}

#[test]
fn an_unwritable_state_file_is_an_error_and_a_corrupt_one_is_ignored() {
    let dir = TempDir::new("restart-bad");
    // Its "directory" is a regular file: it can be neither read nor saved.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let bad = file.join("states");
    let out = run(&[
        "-A",
        "-D",
        "-r",
        testdata("openbsd-v6.pcap").to_str().unwrap(),
        "--state-file",
        bad.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--state-file"), "{err}");

    // A corrupt file: a warning, a run as without it, and a good file
    // written over it at exit.
    let state = dir.path().join("states");
    std::fs::write(&state, b"SFDSTATE\0\0\0\x01 cut short").unwrap();
    let (with_corrupt, err, code) = replay(&testdata("openbsd-v6.pcap"), Some(&state));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("ignoring the state file"), "{err}");
    let (plain, _, _) = replay(&testdata("openbsd-v6.pcap"), None);
    assert_eq!(with_corrupt, plain);
    let back = stateflowd::state::persist::load(&state).unwrap();
    let live = err
        .lines()
        .filter(|l| l.contains(" states still live"))
        .find_map(|l| {
            l.split(" states still live")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap();
    assert!(live > 0, "{err}");
    assert_eq!(back.len(), live, "{err}");
}
