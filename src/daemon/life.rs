//! Becoming a daemon, in the one order that works with a chroot: lock the
//! pidfile, look the user up, open `/dev/null` and syslog (both are out of
//! reach once in the chroot), chroot and drop to the user, run the caller's
//! last checks as that user (errors still reach the terminal), detach,
//! write the pid, and give up what is left (pledge on OpenBSD).
//!
//! Shared by both modes' live sources; the sources and sockets themselves
//! are opened by the caller beforehand, as root.

use super::pidfile::Pidfile;
use super::privdrop;
use crate::cli::Config;
use crate::log;

/// What the caller keeps while it runs.
pub struct Detached {
    pidfile: Option<Pidfile>,
    /// The user we now run as.
    pub user: String,
}

impl Detached {
    /// Removes the pidfile at exit.
    pub fn finish(mut self) {
        if let Some(p) = self.pidfile.take() {
            p.remove();
        }
    }
}

/// See the module docs. `as_user` runs after the privilege drop, before
/// detaching.
pub fn detach(
    cfg: &Config,
    as_user: impl FnOnce() -> Result<(), String>,
) -> Result<Detached, String> {
    let mut pidfile = match &cfg.pidfile {
        Some(p) => Some(Pidfile::lock(p)?),
        None => None,
    };
    // Looked up before daemonising, so a missing user is an error on the
    // terminal, not in syslog.
    let user = privdrop::lookup_user(&cfg.user)?;
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    if !cfg.foreground {
        log::open_syslog(cfg.syslog_facility);
    }
    privdrop::drop_to(&user, cfg.chroot.as_deref())?;
    as_user()?;
    if !cfg.foreground {
        use std::os::fd::AsRawFd;
        // SAFETY: daemon(3) forks; we hold no threads or locks yet. With
        // noclose it leaves descriptors alone; ours point 0-2 at /dev/null.
        unsafe {
            if libc::daemon(0, 1) != 0 {
                return Err(format!("daemon: {}", std::io::Error::last_os_error()));
            }
            for fd in 0..3 {
                libc::dup2(devnull.as_raw_fd(), fd);
            }
        }
        log::send_to_syslog();
    }
    drop(devnull);
    if let Some(p) = pidfile.as_mut() {
        p.write_pid().map_err(|e| format!("pidfile: {e}"))?;
    }
    // a live libpcap source (-i) reads its statistics with an ioctl
    let bpf = cfg.read.is_none() && cfg.syncdev.is_none() && cfg.interface.is_some();
    privdrop::restrict(cfg.state_file.is_some(), bpf)?;
    Ok(Detached {
        pidfile,
        user: user.name,
    })
}
