//! Becoming a daemon, in the one order that works with a chroot: lock the
//! pidfile (before anything else, [`lock_pidfile`]), look the user up, open `/dev/null` and syslog (both are out of
//! reach once in the chroot), chroot and drop to the user, run the caller's
//! last checks as that user (errors still reach the terminal), detach,
//! write the pid, and give up what is left (unveil and pledge on OpenBSD).
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
    /// Whether the pidfile can be removed at exit: not from inside a
    /// chroot (its path is not there), and not under OpenBSD's pledge
    /// (the unlink would need cpath and an unveil: a violation kills the
    /// process). A pidfile left behind is unlocked, and the next start
    /// takes it over.
    removable: bool,
    /// The user we now run as.
    pub user: String,
}

impl Detached {
    /// Removes the pidfile at exit, where it can.
    pub fn finish(mut self) {
        if let Some(p) = self.pidfile.take() {
            if self.removable {
                p.remove();
            }
        }
    }
}

/// The state file's directory as [`privdrop::restrict`] needs it, found
/// before the drop: by absolute path when no chroot hides it (daemon(3)
/// changes to `/`, so a relative one would not do).
fn state_dir(cfg: &Config) -> privdrop::StateDir {
    let Some(file) = &cfg.state_file else {
        return privdrop::StateDir::None;
    };
    if cfg.chroot.is_some() {
        return privdrop::StateDir::OutOfReach;
    }
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    std::fs::canonicalize(parent).map_or(privdrop::StateDir::OutOfReach, privdrop::StateDir::At)
}

/// Locks the pidfile (`-p`): the first thing a live run does, so that a
/// second instance is refused before it touches anything (the state file,
/// the collectors). Hand the lock to [`detach`].
pub fn lock_pidfile(cfg: &Config) -> Result<Option<Pidfile>, String> {
    cfg.pidfile.as_deref().map(Pidfile::lock).transpose()
}

/// See the module docs. `pidfile` is [`lock_pidfile`]'s; `as_user` runs
/// after the privilege drop, before detaching.
pub fn detach(
    cfg: &Config,
    mut pidfile: Option<Pidfile>,
    as_user: impl FnOnce() -> Result<(), String>,
) -> Result<Detached, String> {
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
    let state_dir = state_dir(cfg);
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
    privdrop::restrict(&state_dir, bpf)?;
    Ok(Detached {
        pidfile,
        removable: cfg.chroot.is_none() && !cfg!(target_os = "openbsd"),
        user: user.name,
    })
}
