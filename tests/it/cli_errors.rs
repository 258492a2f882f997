//! A user's mistakes get one clear line on stderr and a non-zero exit code,
//! never a panic or a backtrace.

use super::harness::*;

fn assert_clean_failure(args: &[&str], expect: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        err.contains(expect),
        "{args:?}: stderr {err:?} lacks {expect:?}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: more than one line: {err}"
    );
}

#[test]
fn missing_file_is_one_line() {
    assert_clean_failure(
        &["-r", "/nonexistent/x.pcap", "-n", "127.0.0.1:2055"],
        "/nonexistent/x.pcap: No such file or directory",
    );
}

#[test]
fn unreadable_file_is_one_line() {
    // A directory opens but cannot be read as a file.
    let d = TempDir::new("unreadable");
    assert_clean_failure(
        &["-r", d.path().to_str().unwrap(), "-n", "127.0.0.1:2055"],
        "Is a directory",
    );
}

#[test]
fn not_a_pcap_file() {
    let d = TempDir::new("notpcap");
    let f = d.path().join("x.pcap");
    std::fs::write(&f, b"this is not a capture file at all").unwrap();
    assert_clean_failure(
        &["-r", f.to_str().unwrap(), "-n", "127.0.0.1:2055"],
        "not a pcap file",
    );
}

#[test]
fn unsupported_link_type() {
    let d = TempDir::new("linktype");
    let f = d.path().join("x.pcap");
    let mut w = stateflowd::source::pcap_file::PcapWriter::new(Vec::new(), 105).unwrap(); // 802.11
    w.write_packet(stateflowd::time::Timestamp::from_secs(1), &[0; 30])
        .unwrap();
    std::fs::write(&f, w.into_inner()).unwrap();
    assert_clean_failure(
        &["-r", f.to_str().unwrap(), "-n", "127.0.0.1:2055"],
        "link type 105",
    );
}

#[test]
fn bad_collector_address() {
    let pcap = testdata("openbsd-v6.pcap");
    for bad in ["127.0.0.1", "127.0.0.1:99999", "no-such-host.invalid:2055"] {
        assert_clean_failure(&["-r", pcap.to_str().unwrap(), "-n", bad], "collector");
    }
}

#[test]
fn no_collector_given() {
    let pcap = testdata("openbsd-v6.pcap");
    assert_clean_failure(&["-r", pcap.to_str().unwrap()], "no collector given");
}

#[test]
fn unknown_option_is_a_usage_error() {
    let out = run(&["--no-such-option"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-option"));
}
