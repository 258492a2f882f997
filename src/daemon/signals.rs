//! Signals as events for the main loop.
//!
//! The handlers only set a flag and write one byte to a non-blocking pipe;
//! the loop polls the pipe's read end with its other descriptors and acts
//! on the flags outside signal context.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static TERM: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);
static USR1: AtomicBool = AtomicBool::new(false);
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGTERM | libc::SIGINT => TERM.store(true, Ordering::SeqCst),
        libc::SIGHUP => HUP.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => USR1.store(true, Ordering::SeqCst),
        _ => {}
    }
    let fd = PIPE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops it.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Which signals arrived since the last [`Signals::take`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    pub terminate: bool,
    pub hangup: bool,
    pub usr1: bool,
}

pub struct Signals {
    read_fd: RawFd,
}

fn set_nonblock_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Signals {
    /// Installs handlers for TERM, INT, HUP and USR1; ignores PIPE.
    pub fn install() -> io::Result<Signals> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe(2) fills two descriptors.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        set_nonblock_cloexec(fds[0])?;
        set_nonblock_cloexec(fds[1])?;
        PIPE_W.store(fds[1], Ordering::SeqCst);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            // SAFETY: a zeroed sigaction with our handler and an empty mask
            // is a valid argument; the handler is async-signal-safe.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        // SAFETY: ignoring SIGPIPE so a vanished control client is an error.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        Ok(Signals { read_fd: fds[0] })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.read_fd
    }

    /// Drains the pipe and returns (and clears) the pending signals.
    pub fn take(&self) -> Pending {
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our non-blocking pipe.
        while unsafe { libc::read(self.read_fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        Pending {
            terminate: TERM.swap(false, Ordering::SeqCst),
            hangup: HUP.swap(false, Ordering::SeqCst),
            usr1: USR1.swap(false, Ordering::SeqCst),
        }
    }
}
