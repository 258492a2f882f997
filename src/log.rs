//! A small logger: stderr in the foreground, syslog(3) as a daemon, and
//! rate limiting so that a flood of bad input is logged once, not once per
//! packet.
//!
//! Messages carry a level; the active level is set once at start. A
//! [`RateLimit`] lets a caller log the first occurrence of a kind of event
//! and then at most once per interval, with the number suppressed.
//!
//! Syslog goes through the C library's `openlog`/`syslog`, opened with
//! `LOG_NDELAY` before any chroot so the connection to `/dev/log` is made
//! while the path is still reachable. On OpenBSD libc uses sendsyslog(2),
//! which needs no socket at all. On Linux, glibc reconnects by itself when
//! syslogd restarts — except inside a chroot, where `/dev/log` is not
//! visible: there the daemon keeps logging to the old socket until it is
//! gone. The man page's BUGS section says so.
//!
//! SIGHUP ([`reopen`]) reconnects only when the socket can be reached from
//! where the process now stands: closing the connection made before the
//! chroot could not be undone, and every later message would be lost.

use crate::time::Timestamp;
use std::ffi::CString;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warning = 1,
    Notice = 2,
    Info = 3,
    Debug = 4,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static SYSLOG: AtomicBool = AtomicBool::new(false);
static FACILITY: AtomicI32 = AtomicI32::new(libc::LOG_DAEMON);
static IDENT: OnceLock<CString> = OnceLock::new();

/// Syslog facilities by name, as syslog.conf(5) spells them.
pub fn facility_from_name(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "daemon" => libc::LOG_DAEMON,
        "user" => libc::LOG_USER,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => return None,
    })
}

/// Sends further messages to syslog with `facility` instead of stderr.
pub fn use_syslog(facility: libc::c_int) {
    open_syslog(facility);
    send_to_syslog();
}

/// Connects to syslog now (before a chroot hides `/dev/log`) without
/// sending anything there yet.
pub fn open_syslog(facility: libc::c_int) {
    let ident = IDENT.get_or_init(|| CString::new("stateflowd").unwrap_or_default());
    FACILITY.store(facility, Ordering::Relaxed);
    // SAFETY: `ident` lives for the rest of the process (a static), as
    // openlog(3) requires.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility) };
}

/// From now on, messages go to syslog (opened by [`open_syslog`]).
pub fn send_to_syslog() {
    SYSLOG.store(true, Ordering::Relaxed);
}

/// The socket the C library's syslog(3) connects to.
#[cfg(any(target_os = "freebsd", target_os = "dragonfly"))]
pub const LOG_SOCKET: &str = "/var/run/log";
#[cfg(target_os = "macos")]
pub const LOG_SOCKET: &str = "/var/run/syslog";
#[cfg(not(any(target_os = "freebsd", target_os = "dragonfly", target_os = "macos")))]
pub const LOG_SOCKET: &str = "/dev/log";

/// What [`reopen`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reopened {
    /// Logging to stderr: there is no connection.
    NotSyslog,
    /// Closed and connected again ([`LOG_SOCKET`] answers from here).
    Reconnected,
    /// [`LOG_SOCKET`] does not answer from here (a chroot hides it): the
    /// connection made at start was left as it was.
    Kept,
    /// OpenBSD: syslog(3) sends with sendsyslog(2); there is no connection.
    NoConnection,
}

/// Whether a syslog socket answers at `path`, as the C library connects:
/// a datagram socket first, then a stream one. Nothing is sent.
pub fn socket_answers(path: &std::path::Path) -> bool {
    use std::os::unix::net::{UnixDatagram, UnixStream};
    UnixDatagram::unbound().is_ok_and(|s| s.connect(path).is_ok())
        || UnixStream::connect(path).is_ok()
}

/// SIGHUP: reconnects to syslog, for a syslogd that restarted, where
/// [`LOG_SOCKET`] can be reached. Inside a chroot that hides it, the
/// connection made before the chroot is kept: closelog(3) there would
/// lose every later message, for openlog(3) could not connect again.
pub fn reopen() -> Reopened {
    if !SYSLOG.load(Ordering::Relaxed) {
        return Reopened::NotSyslog;
    }
    if cfg!(target_os = "openbsd") {
        return Reopened::NoConnection;
    }
    if !socket_answers(std::path::Path::new(LOG_SOCKET)) {
        return Reopened::Kept;
    }
    // SAFETY: plain libc call; open_syslog passes the static ident.
    unsafe { libc::closelog() };
    open_syslog(FACILITY.load(Ordering::Relaxed));
    Reopened::Reconnected
}

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

pub fn enabled(l: Level) -> bool {
    l as u8 <= LEVEL.load(Ordering::Relaxed)
}

pub fn log(l: Level, msg: &str) {
    if enabled(l) {
        let tag = match l {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        if SYSLOG.load(Ordering::Relaxed) {
            let prio = match l {
                Level::Error => libc::LOG_ERR,
                Level::Warning => libc::LOG_WARNING,
                Level::Notice => libc::LOG_NOTICE,
                Level::Info => libc::LOG_INFO,
                Level::Debug => libc::LOG_DEBUG,
            };
            // Interior NULs cannot travel through syslog(3); drop them.
            let c = CString::new(msg.replace('\0', "")).unwrap_or_default();
            // SAFETY: a constant "%s" format with one NUL-terminated argument.
            unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
        } else {
            eprintln!("stateflowd: {tag}: {msg}");
        }
    }
}

/// Logs the first event of a kind, then at most once per `interval`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    interval_us: u64,
    last: Option<Timestamp>,
    suppressed: u64,
}

impl RateLimit {
    pub const fn new(interval_secs: u64) -> Self {
        RateLimit {
            interval_us: interval_secs * 1_000_000,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log now; when it says yes after suppressing some, the
    /// count of those suppressed is returned with it.
    pub fn check(&mut self, now: Timestamp) -> Option<u64> {
        match self.last {
            Some(t) if now.micros_since(t) < self.interval_us && now >= t => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syslog_socket_answers_only_where_one_is_bound() {
        use std::os::unix::net::{UnixDatagram, UnixListener};
        let dir = std::env::temp_dir().join(format!("sfd-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (dgram, stream) = (dir.join("dgram"), dir.join("stream"));
        assert!(!socket_answers(&dgram), "nothing bound yet");
        let d = UnixDatagram::bind(&dgram).unwrap();
        let l = UnixListener::bind(&stream).unwrap();
        assert!(socket_answers(&dgram));
        assert!(socket_answers(&stream));
        // the probe sent nothing
        d.set_nonblocking(true).unwrap();
        assert!(d.recv(&mut [0u8; 16]).is_err());
        // a path left behind by a syslogd that exited answers no more
        drop((d, l));
        assert!(!socket_answers(&dgram));
        assert!(!socket_answers(&stream));
        std::fs::write(dir.join("file"), b"").unwrap();
        assert!(!socket_answers(&dir.join("file")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rate_limit_logs_first_then_once_per_interval() {
        let mut r = RateLimit::new(60);
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(r.check(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(r.check(t0.saturating_add_micros(i * 1_000_000)), None);
        }
        assert_eq!(r.check(Timestamp::from_secs(1060)), Some(5));
        assert_eq!(r.check(Timestamp::from_secs(1061)), None);
    }
}
