//! The daemon operators run: sources, the main loop, and a process that
//! behaves — pidfile, syslog, privilege drop, signals, control socket.
//!
//! - [`run`]: the main loop for pfsync mode, over a pcap file (replay) or a
//!   live source (the sync link's raw socket), with time from the capture
//!   or the wall clock.
//! - [`signals`], [`pidfile`], [`privdrop`], [`control`]: the process
//!   plumbing, each small and separately tested.
//!
//! Order at start: open sources and sockets (root needed), bind the control
//! socket, lock the pidfile, daemonise, write the pid, open syslog, chroot
//! and drop to the unprivileged user, install signal handlers, run.

pub mod control;
pub mod pidfile;
pub mod privdrop;
pub mod run;
pub mod signals;
