//! The daemon on a real sync link, in network namespaces this test makes:
//! a simulated firewall (`examples/pfsync_peer.rs`) in one namespace speaks
//! pfsync to 224.0.0.240 with TTL 255 over a veth pair; stateflowd and
//! nfcapd run in the other. Checked: the flows at the collector, the
//! counter-refresh exchange (bulk and per-state requests), the TTL and
//! peer filters, SIGTERM flushing, the privilege drop (uid, gid and root
//! directory read from /proc), pidfile and daemon mode.
//!
//! Needs root and a kernel that allows namespaces. Where `ip netns add`
//! (or another facility a test needs: a tbf qdisc, a private mount
//! namespace) is refused, the test does not fail: it calls
//! [`skip`](super::harness::skip), which prints the reason on stderr
//! (cargo hides that for passing tests) and appends a line `TEST: REASON`
//! to `target/tmp/test-skips.txt` (cargo's CARGO_TARGET_TMPDIR; see
//! [`skips_file`](super::harness::skips_file)). The runner deletes that
//! file before the run and prints it after, so a host that skipped says
//! so where it is seen.

use super::harness::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

struct Netns {
    fw: String,
    mon: String,
}

impl Netns {
    fn create() -> Option<Netns> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", std::process::id());
        let ns = Netns {
            fw: format!("sfd-fw-{id}"),
            mon: format!("sfd-mon-{id}"),
        };
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::piped())
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                })
                .unwrap_or((false, "ip not found".into()))
        };
        let (ok, err) = ip(&["netns", "add", &ns.fw]);
        if !ok {
            skip(&format!("`ip netns add` refused: {err}"));
            // nothing was made: nothing to delete
            std::mem::forget(ns);
            return None;
        }
        for args in [
            vec!["netns", "add", &ns.mon],
            vec![
                "link", "add", "sfdfw0", "netns", &ns.fw, "type", "veth", "peer", "name",
                "sfdmon0", "netns", &ns.mon,
            ],
            vec![
                "-n",
                &ns.fw,
                "addr",
                "add",
                "169.254.240.1/24",
                "dev",
                "sfdfw0",
            ],
            vec![
                "-n",
                &ns.mon,
                "addr",
                "add",
                "169.254.240.2/24",
                "dev",
                "sfdmon0",
            ],
            vec!["-n", &ns.fw, "link", "set", "sfdfw0", "up"],
            vec!["-n", &ns.mon, "link", "set", "sfdmon0", "up"],
            vec!["-n", &ns.fw, "link", "set", "lo", "up"],
            vec!["-n", &ns.mon, "link", "set", "lo", "up"],
        ] {
            let (ok, err) = ip(&args);
            assert!(ok, "ip {args:?}: {err}");
        }
        // A veth passes nothing until both ends have carrier.
        for (n, dev) in [(&ns.fw, "sfdfw0"), (&ns.mon, "sfdmon0")] {
            wait_for("veth carrier", || {
                Command::new("ip")
                    .args(["-n", n, "link", "show", "dev", dev])
                    .output()
                    .is_ok_and(|o| {
                        let s = String::from_utf8_lossy(&o.stdout);
                        s.contains("LOWER_UP") && !s.contains("NO-CARRIER")
                    })
            });
        }
        Some(ns)
    }

    fn exec(&self, ns: &str, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, prog]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.fw, &self.mon] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn peer_bin() -> PathBuf {
    // target/<profile>/deps/tests-… → target/<profile>/examples/pfsync_peer
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/pfsync_peer")
}

fn ctl(ns: &Netns, sock: &str, cmd: &str) -> String {
    let o = ns
        .exec(&ns.mon, env!("CARGO_BIN_EXE_stateflowctl"))
        .args(["-c", sock, cmd])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stat(stats: &str, key: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid a daemon wrote to `pidf`, once the line is complete.
fn pid_from(pidf: &std::path::Path) -> u32 {
    wait_for("the pidfile", || {
        std::fs::read_to_string(pidf).is_ok_and(|s| s.ends_with('\n'))
    });
    std::fs::read_to_string(pidf)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

struct Daemon {
    child: Child,
    sock: String,
    _dir: TempDir,
}

impl Drop for Daemon {
    /// A test that failed halfway leaves no daemon behind.
    fn drop(&mut self) {
        if self.child.try_wait().is_ok_and(|st| st.is_none()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// stateflowd in the monitor namespace, in the foreground (-d), dropping
/// to `nobody` with a chroot.
fn start_daemon(ns: &Netns, nf: &Nfcapd, extra: &[&str]) -> (Daemon, PathBuf) {
    start_daemon_on(ns, nf, &["--syncdev", "sfdmon0"], extra)
}

/// [`start_daemon`] with another source (`-i sfdmon0`, say).
fn start_daemon_on(ns: &Netns, nf: &Nfcapd, source: &[&str], extra: &[&str]) -> (Daemon, PathBuf) {
    let dir = TempDir::new("daemon");
    let sock = dir.path().join("ctl.sock").display().to_string();
    let chroot = dir.path().join("empty");
    let child = ns
        .exec(&ns.mon, bin())
        .args(source)
        .args(["-n", &nf.addr(), "-d", "-u", "nobody"])
        .arg("--chroot")
        .arg(&chroot)
        .args([
            "-c",
            &sock,
            "-p",
            &dir.path().join("pid").display().to_string(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = sock.clone();
    wait_for("the control socket", || std::path::Path::new(&s).exists());
    (
        Daemon {
            child,
            sock,
            _dir: dir,
        },
        chroot,
    )
}

/// `/proc/PID/status` once process `pid` no longer has real uid 0.
fn wait_for_privdrop(pid: u32) -> String {
    let mut status = String::new();
    wait_for("the privilege drop", || {
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            .is_some_and(|real| real != "0")
    });
    status
}

/// The numbers the peer printed on stderr as `key=value`.
fn peer_count(peer_err: &str, key: &str) -> u64 {
    peer_err
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the peer's report: {peer_err}"))
}

fn spawn_peer(ns: &Netns, args: &[&str]) -> Child {
    ns.exec(&ns.fw, peer_bin().to_str().unwrap())
        .args(["--iface", "sfdfw0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Final counters by client port: (pkts fwd, bytes fwd, pkts back, bytes back).
type Finals = BTreeMap<u16, (u64, u64, u64, u64)>;

fn run_peer(ns: &Netns, args: &[&str]) -> (Finals, String) {
    finish_peer(spawn_peer(ns, args))
}

/// Waits for the peer; returns each state's final counters by client port
/// and what it said on stderr.
fn finish_peer(child: Child) -> (Finals, String) {
    let o: Output = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "peer: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // final counters by client port (40000 + i), which the flows carry
    let mut finals = BTreeMap::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let v: Vec<&str> = l.split_whitespace().collect();
        let id = u64::from_str_radix(v[0], 16).unwrap();
        let port = (40_000 + (id - 0x1000)) as u16;
        let n = |i: usize| v[i].parse::<u64>().unwrap();
        finals.insert(port, (n(1), n(2), n(3), n(4)));
    }
    (finals, String::from_utf8_lossy(&o.stderr).into_owned())
}

fn terminate(d: &mut Daemon) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status();
    wait_exit(d, Duration::from_secs(3), "SIGTERM")
}

/// The daemon's exit status, which must come within `limit` of `after`.
fn wait_exit(d: &mut Daemon, limit: Duration, after: &str) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(st) = d.child.try_wait().unwrap() {
            return st;
        }
        assert!(
            t0.elapsed() < limit,
            "still running {limit:?} after {after}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sync_link_with_refreshed_counters_privdrop_and_sigterm_flush() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    // Two states exist before stateflowd starts; the peer serves requests
    // for 1.5 s (stateflowd's bulk request arrives then), creates five
    // states and sends four rounds of traffic 1.1 s apart, each answered
    // by a request for fresher counters.
    let peer = spawn_peer(
        &ns,
        &[
            "--states",
            "5",
            "--preexisting",
            "2",
            "--rounds",
            "4",
            "--round-ms",
            "1100",
            "--wait-ms",
            "1500",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let (mut d, chroot) = start_daemon(&ns, &nf, &["--refresh-counters", "1"]);

    // The privilege drop, seen from outside. The control socket that
    // start_daemon waited for is bound before the drop, so wait for the
    // drop itself: chroot and setresgid come before setresuid, so once
    // the real uid is no longer 0 all of them have happened.
    let pid = d.child.id();
    let status = wait_for_privdrop(pid);
    let nobody = stateflowd::daemon::privdrop::lookup_user("nobody").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let gid_line = status.lines().find(|l| l.starts_with("Gid:")).unwrap();
    let ids = |l: &str| {
        l.split_whitespace()
            .skip(1)
            .map(|x| x.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(uid_line), vec![nobody.uid; 4], "{uid_line}");
    assert_eq!(ids(gid_line), vec![nobody.gid; 4], "{gid_line}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        chroot
    );

    let (finals, peer_err) = finish_peer(peer);
    // The peer drops (and counts) anything whose TTL is not 255, as the
    // kernel does: our requests went out with TTL 255 and were answered,
    // the bulk request once and each of the 7 states at least once (after
    // its last round: the final counters checked below come from there).
    assert_eq!(peer_count(&peer_err, "bad_ttl"), 0, "{peer_err}");
    assert_eq!(peer_count(&peer_err, "bulk"), 1, "{peer_err}");
    let answered = peer_count(&peer_err, "requests");
    assert!(answered >= 7, "{peer_err}");
    let stats = ctl(&ns, &d.sock, "statistics");
    assert!(stat(&stats, "messages.upd") >= 2 + 4 * 5, "{stats}");
    assert_eq!(stat(&stats, "states.unknown_deletes"), 0, "{stats}");
    // "refresh: requests N bulk_requests B rate_limited R": every state the
    // peer answered for was asked for by us
    let sent: u64 = stats
        .split("refresh: requests ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no refresh line: {stats}"));
    assert!(
        sent >= answered,
        "sent {sent}, peer answered {answered}: {stats}"
    );
    // SIGTERM right after the deletions: flows still waiting in a datagram
    // must be sent before exit.
    let st = terminate(&mut d);
    assert!(st.success(), "exit status {st:?}");

    // every state's last refresh happened after its last round
    assert_flows_carry_the_final_counters(&nf.stop_and_read(), &finals, 7);
}

/// Each of `states` states gave one flow per direction, with the final
/// counters the peer reported for it.
fn assert_flows_carry_the_final_counters(got: &[NfFlow], finals: &Finals, states: usize) {
    assert_eq!(
        got.len(),
        2 * states,
        "{states} states x 2 directions: {got:?}"
    );
    for f in got {
        let (client_port, fwd) = if f.dst_port == 443 {
            (f.src_port, true)
        } else {
            (f.dst_port, false)
        };
        let fin = finals[&client_port];
        let (p, b) = if fwd { (fin.0, fin.1) } else { (fin.2, fin.3) };
        assert_eq!((f.packets, f.bytes), (p, b), "flow {f:?}");
    }
}

#[test]
fn without_refresh_only_insertion_counters_exist_and_old_states_are_unknown() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let (mut d, _) = start_daemon(&ns, &nf, &[]);
    let (_, peer_err) = run_peer(
        &ns,
        &[
            "--states",
            "4",
            "--preexisting",
            "3",
            "--rounds",
            "2",
            "--round-ms",
            "200",
        ],
    );
    assert!(peer_err.contains("requests=0 bulk=0"), "{peer_err}");
    let stats = ctl(&ns, &d.sock, "statistics");
    assert_eq!(stat(&stats, "states.unknown_deletes"), 3, "{stats}");
    assert_eq!(stat(&stats, "flows"), 4, "{stats}");
    assert!(terminate(&mut d).success());
    let got = nf.stop_and_read();
    // The INS said 1 packet / 60 bytes forward and nothing back: the
    // reverse record is omitted, and that is all pfsync told us.
    assert_eq!(got.len(), 4);
    assert!(
        got.iter()
            .all(|f| f.packets == 1 && f.bytes == 60 && f.dst_port == 443)
    );
}

#[test]
fn ttl_and_peer_filters_drop_and_count() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let (mut d, _) = start_daemon(&ns, &nf, &[]);
    run_peer(&ns, &["--states", "3", "--rounds", "0", "--ttl", "64"]);
    let stats = ctl(&ns, &d.sock, "statistics");
    assert!(stat(&stats, "dropped.bad_ttl") >= 2, "{stats}");
    assert_eq!(stat(&stats, "frames"), 0, "{stats}");
    assert!(terminate(&mut d).success());
    drop(d);

    let (mut d, _) = start_daemon(&ns, &nf, &["--accept-peer", "169.254.240.99"]);
    run_peer(&ns, &["--states", "3", "--rounds", "0"]);
    let stats = ctl(&ns, &d.sock, "statistics");
    assert!(stat(&stats, "dropped.unknown_peer") >= 2, "{stats}");
    assert_eq!(stat(&stats, "frames"), 0, "{stats}");
    assert!(terminate(&mut d).success());
    drop(d);

    let (mut d, _) = start_daemon(&ns, &nf, &["--accept-peer", "169.254.240.1"]);
    run_peer(&ns, &["--states", "3", "--rounds", "0"]);
    let stats = ctl(&ns, &d.sock, "statistics");
    assert_eq!(stat(&stats, "flows"), 3, "{stats}");
    assert!(terminate(&mut d).success());
    assert_eq!(nf.stop_and_read().len(), 3);
}

#[test]
fn daemon_mode_pidfile_second_instance_and_missing_user() {
    let Some(ns) = Netns::create() else { return };
    let dir = TempDir::new("bg");
    let pidf = dir.path().join("sfd.pid").display().to_string();
    let sock = dir.path().join("ctl.sock").display().to_string();
    let chroot = dir.path().join("empty").display().to_string();
    let base = [
        "--syncdev",
        "sfdmon0",
        "-n",
        "127.0.0.1:9",
        "-u",
        "nobody",
        "--chroot",
        &chroot,
        "-p",
        &pidf,
    ];
    // Background: the parent returns at once, the daemon holds the pidfile.
    let o = ns
        .exec(&ns.mon, bin())
        .args(base)
        .args(["-c", &sock])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid = pid_from(std::path::Path::new(&pidf));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    // A second instance with the same pidfile refuses to start, before it
    // touches anything: asked for an interface that does not exist, it
    // still says the pidfile is taken (the lock comes first).
    let mut second = base;
    second[1] = "nosuchdev0";
    let o = ns
        .exec(&ns.mon, bin())
        .args(second)
        .args(["-d", "-c", "none"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("already running (pid {pid}")),
        "{err}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    wait_for("the daemon to exit", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });

    // A user that does not exist is an error, not a run as root.
    let o = ns
        .exec(&ns.mon, bin())
        .args([
            "--syncdev",
            "sfdmon0",
            "-n",
            "127.0.0.1:9",
            "-d",
            "-c",
            "none",
            "-p",
            "none",
        ])
        .args(["-u", "no_such_user_sfd"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("user 'no_such_user_sfd' does not exist"));
}

/// Flood: 100,000 states inserted, then deleted at link speed (the peer
/// reports over 1,000,000 deletions/s). With a small receive buffer the
/// kernel drops frames and stateflowd counts them (dropped.socket_overflow),
/// and the count accounts for every deletion missing at nfcapd; with a
/// large one every deletion becomes a flow at nfcapd. (Full size,
/// 1,000,000 deletions: `sh bench/flood.sh`, or `sh bench/run.sh --flood`.)
#[test]
fn deletion_flood_is_exported_whole_or_its_losses_counted() {
    let Some(ns) = Netns::create() else { return };
    let n: u64 = 100_000;
    let flood = |rcvbuf: &str| {
        let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
        let (mut d, _) = start_daemon(&ns, &nf, &["--rcvbuf", rcvbuf]);
        let (_, peer_err) = run_peer(&ns, &["--flood", &n.to_string(), "--wait-ms", "1500"]);
        let rate: f64 = peer_err
            .split("rate=")
            .nth(1)
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(0.0);
        // wait until every frame read has been handled
        let mut stats = String::new();
        wait_for("the daemon to catch up", || {
            stats = ctl(&ns, &d.sock, "statistics");
            let done = stat(&stats, "states.deleted") + stat(&stats, "dropped.socket_overflow");
            stat(&stats, "states.tracked") == 0
                || done > 0 && {
                    std::thread::sleep(Duration::from_millis(300));
                    let again = ctl(&ns, &d.sock, "statistics");
                    let same = stat(&again, "frames") == stat(&stats, "frames");
                    stats = again;
                    same
                }
        });
        assert!(terminate(&mut d).success());
        (rate, stats, nf.stop_and_read().len() as u64, peer_err)
    };

    let (rate, stats, at_collector, peer_err) = flood("65536");
    assert!(rate > 1_000_000.0, "peer sent only {rate} deletions/s");
    let lost_frames = stat(&stats, "dropped.socket_overflow");
    assert!(lost_frames > 0, "a 64 KiB buffer should overflow: {stats}");
    assert_eq!(at_collector, stat(&stats, "flows"), "{stats}");
    let missing = n - at_collector;
    assert!(missing > 0, "{stats}");
    // Every deletion missing at the collector is explained by the frames
    // the kernel dropped: a lost deletion frame held at most `per_frame`
    // of them (a lost insertion frame, 5 states whose deletions are then
    // unknown, fewer) ...
    let per_frame = peer_count(&peer_err, "per_frame");
    assert!(
        at_collector + per_frame * lost_frames >= n,
        "{missing} deletions missing, only {lost_frames} frames of <= {per_frame} counted lost: {stats}"
    );
    // ... and the counter does not overstate: every lost frame cost at
    // least one flow.
    assert!(
        lost_frames <= missing,
        "{lost_frames} frames counted lost, {missing} flows missing: {stats}"
    );

    let (rate, stats, at_collector, _) = flood("268435456");
    assert!(rate > 1_000_000.0, "peer sent only {rate} deletions/s");
    assert_eq!(stat(&stats, "dropped.socket_overflow"), 0, "{stats}");
    assert_eq!(stat(&stats, "states.deleted"), n, "{stats}");
    assert_eq!(at_collector, n, "every deletion is a flow at nfcapd");
}

/// SIGTERM in the middle of a flood: the daemon stops reading, and every
/// flow it had already decoded reaches the collector before it exits. The
/// deletions are spread over about half a second (a frame of 121 every
/// 500 µs) so that the signal lands while they still arrive; the test
/// checks that it did.
#[test]
fn sigterm_during_a_flood_exports_everything_decoded() {
    let Some(ns) = Netns::create() else { return };
    let n: u64 = 100_000;
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let (mut d, _) = start_daemon(&ns, &nf, &["--rcvbuf", "268435456"]);
    let mut peer = spawn_peer(
        &ns,
        &[
            "--flood",
            &n.to_string(),
            "--flood-gap-us",
            "500",
            "--wait-ms",
            "300",
        ],
    );
    // Wait until deletions are being handled, then stop the daemon.
    wait_for("deletions to start", || {
        stat(&ctl(&ns, &d.sock, "statistics"), "states.deleted") > 0
    });
    let st = terminate(&mut d);
    assert!(st.success());
    // the peer was still sending deletions when the daemon had exited
    let flood_over = peer.try_wait().unwrap().is_some();
    let (_, peer_err) = finish_peer(peer);
    assert!(!flood_over, "the flood ended before SIGTERM: {peer_err}");
    let mut err = String::new();
    use std::io::Read as _;
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // "... ; N flows, M datagrams sent, 0 dropped"
    let flows: u64 = err
        .rsplit_once(" flows, ")
        .and_then(|(a, _)| a.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {err}"));
    assert!(flows > 0, "{err}");
    assert!(
        flows < n,
        "all {n} deletions were handled: no SIGTERM mid-flood: {err}"
    );
    assert_eq!(nf.stop_and_read().len() as u64, flows, "{err}");
}

/// `-i IFACE`: the same sync link read through libpcap (an Ethernet
/// interface here; pfsync0 on a firewall), and a restart in the middle of
/// the states' lives: the first daemon saves the three live states at
/// SIGTERM, the second reads them back and resolves their compressed
/// deletions into flows (without the file they would be unknown
/// deletions, and no flows). Then a state file that cannot be written at exit
/// (its directory removed) gives exit status 2 and says why.
#[test]
fn libpcap_source_and_a_restart_that_keeps_the_states() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let dir = TempDir::new("statedir");
    let sdir = dir.path().join("db");
    std::fs::create_dir(&sdir).unwrap();
    let nobody = stateflowd::daemon::privdrop::lookup_user("nobody").unwrap();
    std::os::unix::fs::chown(&sdir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    let state = sdir.join("states").display().to_string();
    let src = ["-i", "sfdmon0"];
    let extra = ["-A", "--state-file", state.as_str()];

    let (mut d1, _) = start_daemon_on(&ns, &nf, &src, &extra);
    // three states inserted at once, updated in two rounds 1.5 s apart,
    // held 2 s, then deleted
    let peer = spawn_peer(
        &ns,
        &[
            "--states",
            "3",
            "--rounds",
            "2",
            "--round-ms",
            "1500",
            "--hold-ms",
            "2000",
        ],
    );
    let sock = d1.sock.clone();
    wait_for("the insertions", || {
        stat(&ctl(&ns, &sock, "statistics"), "states.tracked") == 3
    });
    let stats = ctl(&ns, &sock, "statistics");
    assert!(
        stats.contains("source: sfdmon0 (libpcap, link type 1)"),
        "{stats}"
    );
    assert!(terminate(&mut d1).success());
    let saved = stateflowd::state::persist::load(std::path::Path::new(&state)).unwrap();
    assert_eq!(saved.len(), 3);

    let (mut d2, _) = start_daemon_on(&ns, &nf, &src, &extra);
    let (finals, _) = finish_peer(peer);
    assert_eq!(finals.len(), 3);
    let sock = d2.sock.clone();
    wait_for("the deletions", || {
        stat(&ctl(&ns, &sock, "statistics"), "states.deleted") == 3
    });
    let stats = ctl(&ns, &sock, "statistics");
    assert_eq!(stat(&stats, "states.restored"), 3, "{stats}");
    assert_eq!(stat(&stats, "states.unknown_deletes"), 0, "{stats}");
    // Without --refresh-counters the counters are the insertion's, whose
    // reply direction is empty: one record per state.
    assert_eq!(stat(&stats, "flows"), 3, "{stats}");

    std::fs::remove_dir_all(&sdir).unwrap();
    let st = terminate(&mut d2);
    assert_eq!(st.code(), Some(2), "a state file not saved is a loss");
    let mut err = String::new();
    use std::io::Read;
    d2.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("saving states to"), "{err}");

    let got = nf.stop_and_read();
    assert_eq!(got.len(), 3, "3 states, forward records: {got:?}");
    let ports: std::collections::BTreeSet<u16> = got
        .iter()
        .map(|f| {
            if f.dst_port == 443 {
                f.src_port
            } else {
                f.dst_port
            }
        })
        .collect();
    assert_eq!(
        ports.into_iter().collect::<Vec<_>>(),
        vec![40_000, 40_001, 40_002]
    );
}

/// The libpcap source failing for good (its interface deleted): read
/// errors are counted, the daemon does not spin, and after ten in a row
/// it exports what it has and exits with status 1 for its supervisor.
#[test]
fn a_vanished_capture_interface_ends_the_daemon_with_status_1() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let (mut d, _) = start_daemon_on(&ns, &nf, &["-i", "sfdmon0"], &["-A"]);
    let (_, _) = run_peer(
        &ns,
        &["--states", "2", "--rounds", "1", "--round-ms", "100"],
    );
    let sock = d.sock.clone();
    wait_for("the deletions", || {
        stat(&ctl(&ns, &sock, "statistics"), "states.deleted") == 2
    });
    let ok = Command::new("ip")
        .args(["-n", &ns.mon, "link", "del", "sfdmon0"])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let t0 = Instant::now();
    let st = wait_exit(&mut d, Duration::from_secs(20), "its interface vanished");
    assert_eq!(st.code(), Some(1));
    let mut err = String::new();
    use std::io::Read;
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("read errors in a row"), "{err}");
    // it gave up after about ten one-second pauses, not at once
    assert!(t0.elapsed() >= Duration::from_secs(8), "{:?}", t0.elapsed());
    // exported before it gave up: one record per state (see above)
    assert_eq!(nf.stop_and_read().len(), 2);
}

/// ENOBUFS on send: the link to the collector is shaped (tbf, 1 Mbit/s)
/// so the local queue drops most of a fast replay. stateflowd asks Linux
/// to report such drops (IP_RECVERR), retries each once and counts the
/// rest as dropped: what nfcapd stored is exactly what the sender says it
/// sent, and the exit status says something was lost.
#[test]
fn local_queue_drops_enobufs_are_retried_and_counted() {
    let Some(ns) = Netns::create() else { return };
    let dir = TempDir::new("enobufs");
    let pcap = dir.path().join("big.pcap");
    let generator = peer_bin().with_file_name("pfsync_gen");
    let ok = Command::new(&generator)
        .args(["--seed", "9", "--states", "6000", "--link", "246"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let nf = Nfcapd::start_in(Some(&ns.fw), "169.254.240.1");
    let collector = nf.addr().replace("127.0.0.1", "169.254.240.1");
    let tc = Command::new("tc")
        .args(["-n", &ns.mon, "qdisc", "add", "dev", "sfdmon0", "root"])
        .args(["tbf", "rate", "1mbit", "burst", "4kb", "limit", "8kb"])
        .output()
        .unwrap();
    if !tc.status.success() {
        skip(&format!(
            "the kernel refused a tbf qdisc: {}",
            String::from_utf8_lossy(&tc.stderr)
        ));
        return;
    }
    let out = ns
        .exec(&ns.mon, bin())
        .args(["-A", "-r", pcap.to_str().unwrap(), "-n", &collector])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // "... N flows, S datagrams sent, D dropped"
    let summary = err.lines().find(|l| l.contains("datagrams sent")).unwrap();
    let num_before = |word: &str| -> u64 {
        let words: Vec<&str> = summary
            .split([' ', ',', ';'])
            .filter(|w| !w.is_empty())
            .collect();
        let i = words.iter().position(|w| *w == word).unwrap();
        words[i - 1].parse().unwrap()
    };
    let (flows, sent, dropped) = (
        num_before("flows"),
        num_before("datagrams"),
        num_before("dropped"),
    );
    assert!(dropped > 0 && sent > 0, "{summary}");
    // "collector A: N datagrams sent, E send errors (R refused: ...), T
    // retried, D dropped"
    let line = err
        .lines()
        .find(|l| l.contains(" retried, "))
        .unwrap_or_else(|| panic!("no collector error line: {err}"));
    let col = |word: &str| -> u64 {
        let words: Vec<&str> = line
            .split([' ', ',', ';', '(', ')', ':'])
            .filter(|w| !w.is_empty())
            .collect();
        let i = words.iter().position(|w| *w == word).unwrap();
        words[i - 1].parse().unwrap()
    };
    let (errors, refused, retried) = (col("send"), col("refused"), col("retried"));
    assert_eq!(
        (col("datagrams"), col("dropped")),
        (sent, dropped),
        "{line}"
    );
    assert_eq!(refused, 0, "{line}");
    // ENOBUFS is retried once: every dropped datagram was retried first
    // (under this shaping the retry mostly fails too). Each datagram that
    // met the error failed once, twice if dropped.
    assert!(retried >= dropped, "{line}");
    assert_eq!(errors, retried + dropped, "{line}");
    // v5 holds at most 30 records a datagram (fewer when one is sent on
    // its flush deadline)
    assert!((sent + dropped) * 30 >= flows, "{summary}");
    assert!(err.contains("No buffer space available"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    let got = nf.stop_and_read().len() as u64;
    // what arrived is what was sent, nothing more: each datagram sent
    // holds 1 to 30 records
    assert!(
        got >= sent && got <= sent * 30 && got < flows,
        "nfcapd stored {got} records of {sent} datagrams sent ({summary})"
    );
}

/// A field of the first `collector ADDR: ...` line of the statistics.
fn collector_stat(stats: &str, field: &str) -> u64 {
    let line = stats
        .lines()
        .find(|l| l.starts_with("collector "))
        .unwrap_or_else(|| panic!("no collector line: {stats}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .iter()
        .position(|w| *w == field)
        .and_then(|i| words.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {line}"))
}

/// The control commands besides `statistics`, end to end through
/// stateflowctl: `dump-states` lists the states the peer inserted, by
/// creator and id; `expire-all` ends them and sends their flows at once;
/// `flush` sends flows still waiting for their datagram's one-second
/// deadline; `shutdown` sends the last ones and exits 0 at once. nfcapd
/// then holds exactly the flows of all three phases.
/// The peer inserts `n` states as firewall `creator` and deletes them
/// at once (no traffic rounds, no wait).
fn insert_and_delete(ns: &Netns, n: u32, creator: &str) {
    let n = n.to_string();
    let _ = run_peer(
        ns,
        &[
            "--states",
            &n,
            "--rounds",
            "0",
            "--hold-ms",
            "0",
            "--creator",
            creator,
        ],
    );
}

#[test]
fn control_commands_dump_expire_flush_and_shutdown() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let (mut d, _) = start_daemon(&ns, &nf, &[]);
    let sock = d.sock.clone();
    let stats = || ctl(&ns, &sock, "statistics");

    // Three states, held 3 s: listed, then expired by the operator.
    let peer = spawn_peer(
        &ns,
        &[
            "--states",
            "3",
            "--rounds",
            "0",
            "--hold-ms",
            "3000",
            "--creator",
            "5eed00a1",
        ],
    );
    wait_for("the insertions", || stat(&stats(), "states.tracked") == 3);
    let dump = ctl(&ns, &sock, "dump-states");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 3, "{dump}");
    for (i, l) in lines.iter().enumerate() {
        // creator.id in hex, then the state as the peer's insertion gave it
        let want = format!(
            "5eed00a1.{:016x} In proto 6 198.51.100.{}:{} -> 192.0.2.1:443 if em0 rule 1 pkts 1/0 bytes 60/0 ",
            0x1000 + i,
            i + 1,
            40_000 + i
        );
        assert!(l.starts_with(&want), "line {i}: {l}\nwanted: {want}");
    }
    let sent_before = collector_stat(&stats(), "datagrams");
    assert_eq!(ctl(&ns, &sock, "expire-all"), "expired 3 states\n");
    let s = stats();
    assert_eq!(stat(&s, "states.tracked"), 0, "{s}");
    assert_eq!(stat(&s, "flows"), 3, "{s}");
    let sent_after_expiry = collector_stat(&s, "datagrams");
    assert!(
        sent_after_expiry > sent_before,
        "expire-all sends at once: {s}"
    );
    assert_eq!(ctl(&ns, &sock, "dump-states"), "\n", "nothing tracked");
    // the peer's own deletions now name states no longer known
    let _ = finish_peer(peer);
    wait_for("the deletions of expired states", || {
        stat(&stats(), "states.unknown_deletes") == 3
    });

    // Two states deleted at once: their flows wait for the datagram's
    // deadline, until `flush`.
    insert_and_delete(&ns, 2, "5eed00a2");
    // (states.deleted counts the unknown deletions too)
    wait_for("the deletions", || stat(&stats(), "states.deleted") == 5);
    let s = stats();
    assert_eq!(stat(&s, "flows"), 5, "{s}");
    assert_eq!(
        collector_stat(&s, "datagrams"),
        sent_after_expiry,
        "the two flows wait for their datagram's deadline: {s}"
    );
    assert_eq!(ctl(&ns, &sock, "flush"), "flushed\n");
    let s = stats();
    let sent_after_flush = collector_stat(&s, "datagrams");
    assert_eq!(
        sent_after_flush,
        sent_after_expiry + 1,
        "flush sent the waiting datagram: {s}"
    );

    // Two more, deleted, and `shutdown` while their flows wait.
    insert_and_delete(&ns, 2, "5eed00a3");
    wait_for("the deletions", || stat(&stats(), "states.deleted") == 7);
    let s = stats();
    assert_eq!(stat(&s, "flows"), 7, "{s}");
    assert_eq!(collector_stat(&s, "datagrams"), sent_after_flush, "{s}");
    assert_eq!(ctl(&ns, &sock, "shutdown"), "shutting down\n");
    let st = wait_exit(&mut d, Duration::from_secs(2), "shutdown");
    assert!(st.success(), "exit status {st:?}");
    let mut err = String::new();
    use std::io::Read as _;
    d.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("shutdown requested on the control socket"),
        "{err}"
    );
    assert!(err.contains("; 7 flows, "), "{err}");

    // 3 + 2 + 2 states, one (forward) record each: the insertion counters
    // have nothing in the reply direction.
    let got = nf.stop_and_read();
    let mut ports = BTreeMap::new();
    for f in &got {
        assert_eq!((f.dst_port, f.packets, f.bytes), (443, 1, 60), "{f:?}");
        *ports.entry(f.src_port).or_insert(0) += 1;
    }
    assert_eq!(
        ports,
        BTreeMap::from([(40_000, 3), (40_001, 3), (40_002, 1)]),
        "{got:?}"
    );
}

/// A stand-in for syslogd: a datagram socket bound as `log` in a
/// directory that the daemon, in a mount namespace of its own, sees as
/// `/dev` (with the real /dev/null bound on `null` there). Nothing is
/// mounted outside that namespace.
struct FakeDevLog {
    dir: TempDir,
    sock: std::os::unix::net::UnixDatagram,
    got: Vec<String>,
}

impl FakeDevLog {
    fn new() -> FakeDevLog {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("devlog");
        std::fs::write(dir.path().join("null"), b"").unwrap();
        let path = dir.path().join("log");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        // as /dev/log: anyone may connect (the daemon reconnects as nobody)
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        FakeDevLog {
            dir,
            sock,
            got: Vec::new(),
        }
    }

    /// The first message received containing `needle` (10 s at most).
    fn wait_for(&mut self, needle: &str) -> String {
        let t0 = Instant::now();
        let mut buf = vec![0u8; 8192];
        loop {
            if let Some(m) = self.got.iter().find(|m| m.contains(needle)) {
                let m = m.clone();
                self.got.retain(|x| *x != m);
                return m;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no syslog message with {needle:?}; received: {:#?}",
                self.got
            );
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on the daemon this test started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// The sockets process `pid` holds, as `socket:[INODE]`.
fn sockets(pid: u32) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("socket:"))
        .collect()
}

/// Kills a daemon left running by a failed assertion.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        if std::path::Path::new(&format!("/proc/{}", self.0)).exists() {
            // SAFETY: kill(2) on the daemon this test started.
            unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// SIGHUP as a daemon logging to syslog. Inside the chroot /dev/log is
/// out of reach: the connection made at start is kept (the same socket,
/// and messages still arrive after the signal; closing it would lose
/// them all). Without a chroot it reconnects: a new socket replaces the
/// old one, and messages arrive on it.
#[test]
fn sighup_keeps_syslog_inside_a_chroot_and_reconnects_outside() {
    let Some(ns) = Netns::create() else { return };
    let unshare = |args: &[&str]| {
        let mut c = ns.exec(&ns.mon, "unshare");
        c.args(["--mount", "--propagation", "private"]).args(args);
        c
    };
    let probe = unshare(&["true"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        skip(&format!("a private mount namespace was refused: {probe:?}"));
        return;
    }
    for chrooted in [true, false] {
        let mut log = FakeDevLog::new();
        let run = TempDir::new("hup");
        let pidf = run.path().join("pid");
        let chroot = run.path().join("empty");
        let mut cmd = unshare(&[
            "sh",
            "-c",
            r#"mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev && shift && exec "$@""#,
            "sh",
        ]);
        cmd.arg(log.dir.path()).arg(bin()).args([
            "--syncdev",
            "sfdmon0",
            "-n",
            "127.0.0.1:9",
            "-u",
            "nobody",
            "-c",
            "none",
        ]);
        cmd.arg("-p").arg(&pidf);
        if chrooted {
            cmd.arg("--chroot").arg(&chroot);
        } else {
            cmd.arg("--no-chroot");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let pid = pid_from(&pidf);
        let _reap = Reap(pid);
        let tag = format!("stateflowd[{pid}]: ");
        log.wait_for(&format!("{tag}listening for pfsync"));
        let root = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
        assert_eq!(root == chroot, chrooted, "root {}", root.display());

        let before = sockets(pid);
        signal(pid, libc::SIGHUP);
        let m = log.wait_for(&format!("{tag}SIGHUP: "));
        let after = sockets(pid);
        if chrooted {
            assert!(m.contains("kept the connection made at start"), "{m}");
            assert_eq!(before, after, "the syslog connection was kept");
        } else {
            assert!(m.contains("reconnected to syslog"), "{m}");
            assert_eq!(before.difference(&after).count(), 1, "{before:?} {after:?}");
            assert_eq!(after.difference(&before).count(), 1, "{before:?} {after:?}");
        }
        // still logging after the signal
        signal(pid, libc::SIGUSR1);
        let m = log.wait_for(&format!("{tag}source: sync link sfdmon0"));
        assert!(m.contains("; states.tracked: 0;"), "{m}");
        signal(pid, libc::SIGTERM);
        log.wait_for(&format!("{tag}exiting on signal"));
        wait_for("the daemon to exit", || {
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
    }
}

/// Capture mode on a live interface, as a daemon: the BPF filter picks the
/// packets, the process drops to `nobody` in its chroot once the capture is
/// open, and SIGTERM exports the flows still in the table.
#[test]
fn live_capture_filters_drops_privileges_and_flushes_on_sigterm() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let dir = TempDir::new("capture-live");
    let chroot = dir.path().join("empty");
    let mut child = ns
        .exec(&ns.mon, bin())
        .args(["--capture", "-i", "sfdmon0", "-n", &nf.addr(), "-d"])
        .args(["-u", "nobody", "--chroot"])
        .arg(&chroot)
        .arg("-p")
        .arg(dir.path().join("pid"))
        .args(["udp", "and", "dst", "port", "5555"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = wait_for_privdrop(pid);
    let ids = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(ids("Uid:"), vec!["65534"; 4], "{status}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        chroot
    );
    // A socket bound to port 5555 on the capturing side, so that no ICMP
    // error makes the sender's (connected) socket skip a datagram.
    let mon = ns.mon.clone();
    let _listener = std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/var/run/netns/{mon}")).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a namespace descriptor we opened; it changes
        // this short-lived thread's namespace only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        std::net::UdpSocket::bind("169.254.240.2:5555").unwrap()
    })
    .join()
    .unwrap();
    // From the other side of the link: five datagrams from one socket to
    // port 5555 (one flow, 33 IP bytes each), three to port 6666 (not
    // selected by the filter, nor are the ICMP errors they draw).
    let sent = ns
        .exec(&ns.fw, "bash")
        .args([
            "-c",
            "exec 3>/dev/udp/169.254.240.2/5555 4>/dev/udp/169.254.240.2/6666; \
             for i in 1 2 3 4 5; do printf hello >&3; sleep 0.05; done; \
             for i in 1 2 3; do printf other >&4; done",
        ])
        .status()
        .unwrap();
    assert!(sent.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the capture ended early"
    );
    let mut d = Daemon {
        child,
        sock: String::new(),
        _dir: dir,
    };
    let st = terminate(&mut d);
    assert!(st.success(), "exit status {st:?}");
    let flows = nf.stop_and_read();
    assert_eq!(flows.len(), 1, "{flows:?}");
    let f = &flows[0];
    assert_eq!(
        (f.src.to_string(), f.dst.to_string(), f.dst_port, f.proto),
        ("169.254.240.1".into(), "169.254.240.2".into(), 5555, 17)
    );
    assert_eq!((f.packets, f.bytes), (5, 5 * 33));
}

/// `--syncpeer`: pfsync by unicast both ways, no multicast group joined.
/// The peer joins no group either, so its answer to the bulk request and
/// the flows prove that requests went to it by unicast too.
#[test]
fn syncpeer_takes_and_sends_unicast_without_joining_the_group() {
    let Some(ns) = Netns::create() else { return };
    let nf = Nfcapd::start_in(Some(&ns.mon), "127.0.0.1");
    let peer = spawn_peer(
        &ns,
        &[
            "--syncpeer",
            "169.254.240.2",
            "--states",
            "3",
            "--preexisting",
            "1",
            "--rounds",
            "2",
            "--round-ms",
            "1100",
            "--wait-ms",
            "1500",
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let (mut d, _) = start_daemon(
        &ns,
        &nf,
        &["--syncpeer", "169.254.240.1", "--refresh-counters", "1"],
    );
    // 224.0.0.240 is F00000E0 in /proc/net/igmp: not a group of this host.
    let igmp = ns
        .exec(&ns.mon, "cat")
        .arg("/proc/net/igmp")
        .output()
        .unwrap();
    let igmp = String::from_utf8_lossy(&igmp.stdout);
    assert!(igmp.contains("sfdmon0") || igmp.contains("lo"), "{igmp}");
    assert!(
        !igmp.contains("F00000E0"),
        "joined the pfsync group:\n{igmp}"
    );
    let (finals, peer_err) = finish_peer(peer);
    assert_eq!(peer_count(&peer_err, "bulk"), 1, "{peer_err}");
    assert_eq!(peer_count(&peer_err, "bad_ttl"), 0, "{peer_err}");
    let st = terminate(&mut d);
    assert!(st.success(), "exit status {st:?}");
    assert_flows_carry_the_final_counters(&nf.stop_and_read(), &finals, 4);
}
