//! The binary under valgrind on a short capture: no invalid reads or
//! writes, no uses of uninitialised memory, no definite leaks — and the
//! same flows as without it.

use super::harness::*;
use std::process::Command;

#[test]
fn replay_is_clean_under_valgrind() {
    let pcap = testdata("openbsd-v6.pcap");
    let plain = run(&["-r", pcap.to_str().unwrap(), "-D", "-A"]);
    let out = Command::new("valgrind")
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--quiet",
        ])
        .arg(bin())
        .args(["-r", pcap.to_str().unwrap(), "-D", "-A"])
        .output()
        .expect("valgrind is not installed: apt-get install valgrind (scripts/setup does)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "valgrind: {err}");
    assert!(
        !err.contains("Invalid read") && !err.contains("uninitialised"),
        "{err}"
    );
    assert_eq!(out.stdout, plain.stdout, "same flows under valgrind");
    assert!(String::from_utf8_lossy(&plain.stdout).lines().count() > 50);
}
