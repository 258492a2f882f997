//! The daemon operators run: sources, the main loop, and a process that
//! behaves — pidfile, syslog, privilege drop, signals, control socket.
//!
//! - [`run`]: the main loop for pfsync mode, over a pcap file (replay) or a
//!   live source (pfsync0 or another interface through libpcap, or the
//!   sync link's raw socket), with time from the capture or the wall clock.
//! - [`statefile`]: `--state-file`, read at start and written at exit.
//! - [`life`]: becoming a daemon (pidfile, syslog, chroot, user, detach),
//!   for both modes' live sources.
//! - [`signals`], [`pidfile`], [`privdrop`], [`control`]: the process
//!   plumbing, each small and separately tested.
//!
//! Order at start: open sources and sockets (root needed), open the state
//! file's directory and read it, bind the control socket, lock the pidfile,
//! daemonise, write the pid, open syslog, chroot and drop to the
//! unprivileged user, check the state file's directory is still writable,
//! install signal handlers, run.

pub mod control;
pub mod life;
pub mod pidfile;
pub mod privdrop;
pub mod run;
pub mod signals;
pub mod statefile;
