//! Shared test plumbing: temporary directories, the `stateflowd` binary,
//! and a real nfcapd collector whose stored flows are read back with
//! `nfdump -o json`.

#![allow(dead_code)]

use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_stateflowd")
}

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

pub fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(name)
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "stateflowd-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The file listing the tests that skipped themselves in this build's
/// target directory: `target/tmp/test-skips.txt` (cargo's
/// CARGO_TARGET_TMPDIR), one line per skip. Nothing removes it: a runner
/// deletes it before `cargo test` and prints it afterwards.
pub fn skips_file() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-skips.txt")
}

/// Records that the calling test did not run what it is for, and why:
/// on stderr (which cargo shows only for a failing test) and as a line
/// `TEST: WHY` appended to [`skips_file`]. The test then returns; it does
/// not fail, for hosts that forbid what it needs are legitimate.
pub fn skip(why: &str) {
    use std::io::Write as _;
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed test)")
        .to_string();
    let why = why.trim().replace('\n', " ");
    eprintln!("\n*** SKIPPING {test}: {why} ***\n");
    let path = skips_file();
    let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
    let line = format!("{test}: {why}\n");
    // One write of a line with O_APPEND: tests skipping at once do not
    // interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "*** could not record the skip in {}: {e} ***",
            path.display()
        );
    }
}

/// Runs stateflowd with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run stateflowd")
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// Whether something listens on UDP `port` (reads /proc/net/udp{,6}, in
/// network namespace `netns` when given).
fn udp_bound(port: u16, netns: Option<&str>) -> bool {
    let want = format!(":{port:04X} ");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
        let text = match netns {
            None => std::fs::read_to_string(f).ok(),
            Some(ns) => Command::new("ip")
                .args(["netns", "exec", ns, "cat", f])
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned()),
        };
        text.is_some_and(|s| {
            s.lines().skip(1).any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| format!("{a} ").ends_with(&want))
            })
        })
    })
}

/// A flow as nfdump printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NfFlow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds since the epoch (UTC).
    pub first_ms: u64,
    pub last_ms: u64,
    pub input: u32,
    pub output: u32,
    /// Every field nfdump printed, for tests that look at more.
    pub raw: Vec<(String, String)>,
}

impl NfFlow {
    pub fn field(&self, k: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// nfcapd listening on 127.0.0.1 (or ::1), storing into a temp dir.
pub struct Nfcapd {
    child: Option<Child>,
    dir: TempDir,
    pub port: u16,
}

impl Nfcapd {
    pub fn start() -> Nfcapd {
        Self::start_on("127.0.0.1")
    }

    pub fn start_on(bind: &str) -> Nfcapd {
        Self::start_in(None, bind)
    }

    /// nfcapd inside network namespace `netns` (when given).
    pub fn start_in(netns: Option<&str>, bind: &str) -> Nfcapd {
        let dir = TempDir::new("nfcapd");
        let port = free_udp_port();
        let mut cmd = match netns {
            None => Command::new("nfcapd"),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nfcapd"]);
                c
            }
        };
        cmd.args([
            "-b",
            bind,
            "-p",
            &port.to_string(),
            "-t",
            "3600",
            "-B",
            "8388608",
        ])
        .arg("-w")
        .arg(dir.path());
        if bind.contains(':') {
            cmd.arg("-6");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nfcapd is not installed: apt-get install nfdump (.ci/run does)");
        let t0 = Instant::now();
        while !udp_bound(port, netns) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "nfcapd did not bind port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nfcapd {
            child: Some(child),
            dir,
            port,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops nfcapd (it writes its file on SIGTERM) and returns the flows
    /// stored, as `nfdump -o json` prints them.
    pub fn stop_and_read(mut self) -> Vec<NfFlow> {
        // Let datagrams already sent over loopback be read.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(mut c) = self.child.take() {
            unsafe_kill(c.id());
            let _ = c.wait();
        }
        let out = Command::new("nfdump")
            .arg("-R")
            .arg(self.dir.path())
            .args(["-o", "json"])
            .output()
            .expect("run nfdump");
        assert!(
            out.status.success(),
            "nfdump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        parse_nfdump_json(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for Nfcapd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unsafe_kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// nfdump's "first"/"last": `2025-11-24T16:00:01.973` (UTC).
pub fn parse_nf_time(s: &str) -> u64 {
    let (date, time) = s.split_once('T').expect("nfdump time");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let days = days_from_civil(d[0], d[1] as u32, d[2] as u32);
    (days as u64 * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000 + ms.parse::<u64>().unwrap()
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses nfdump 1.7's JSON output (one `"key" : value` per line).
pub fn parse_nfdump_json(s: &str) -> Vec<NfFlow> {
    let mut flows = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in s.lines() {
        let l = line.trim();
        if l.starts_with('}') {
            if cur.iter().any(|(k, v)| k == "type" && v == "FLOW") {
                flows.push(to_flow(std::mem::take(&mut cur)));
            }
            cur.clear();
        } else if let Some((k, v)) = l.split_once(" : ") {
            let k = k.trim().trim_matches('"').to_string();
            let v = v.trim().trim_end_matches(',').trim_matches('"').to_string();
            cur.push((k, v));
        }
    }
    flows
}

fn to_flow(raw: Vec<(String, String)>) -> NfFlow {
    let get = |k: &str| raw.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let addr = |a: &str, b: &str| {
        get(a)
            .or_else(|| get(b))
            .and_then(|v| v.parse().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    };
    // nfdump prints an ICMP flow's destination port as type and code and no
    // source port. Measured with nfdump 1.7.1 on v5 input: a record with
    // dstport 0x8af2 prints icmp_type 0xf2 (242), icmp_code 0x8a (138), so
    // the port is code * 256 + type.
    let dst_port = match get("icmp_type") {
        Some(_) => num("icmp_code") * 256 + num("icmp_type"),
        None => num("dst_port"),
    };
    NfFlow {
        src: addr("src4_addr", "src6_addr"),
        dst: addr("dst4_addr", "dst6_addr"),
        src_port: num("src_port") as u16,
        dst_port: dst_port as u16,
        proto: num("proto") as u8,
        packets: num("in_packets"),
        bytes: num("in_bytes"),
        first_ms: get("first").map(|v| parse_nf_time(&v)).unwrap_or(0),
        last_ms: get("last").map(|v| parse_nf_time(&v)).unwrap_or(0),
        input: num("input_snmp") as u32,
        output: num("output_snmp") as u32,
        raw,
    }
}

#[test]
fn nf_time_parses_utc() {
    assert_eq!(parse_nf_time("1970-01-01T00:00:01.002"), 1002);
    assert_eq!(parse_nf_time("2023-04-04T16:44:39.123"), 1_680_626_679_123);
}
