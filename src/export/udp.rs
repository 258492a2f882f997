//! The UDP adapter: one connected socket per collector.
//!
//! A connected socket lets the kernel report a collector's ICMP "port
//! unreachable" back to us (as ECONNREFUSED on a later send); that send did
//! not go out, so it is retried once. Every error is counted per collector;
//! a datagram given up on is counted as dropped, never silently lost. One
//! collector failing never stops the others.

use super::Outgoing;
use std::io;
use std::net::{SocketAddr, UdpSocket};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectorStats {
    pub datagrams: u64,
    pub bytes: u64,
    /// Send errors of any kind (each attempt counts).
    pub errors: u64,
    /// ECONNREFUSED seen (the collector's port was closed).
    pub refused: u64,
    pub retries: u64,
    /// Datagrams abandoned after their retry.
    pub dropped: u64,
}

pub struct Collector {
    pub addr: SocketAddr,
    socket: UdpSocket,
    pub stats: CollectorStats,
    last_error: Option<io::ErrorKind>,
}

pub struct UdpSink {
    collectors: Vec<Collector>,
}

impl UdpSink {
    /// Opens one socket per collector, bound to `source` (or the wildcard of
    /// the collector's family) and connected to it.
    pub fn open(addrs: &[SocketAddr], source: Option<std::net::IpAddr>) -> io::Result<Self> {
        let mut collectors = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            let bind: SocketAddr = match (source, addr) {
                (Some(ip), _) => SocketAddr::new(ip, 0),
                (None, SocketAddr::V4(_)) => "0.0.0.0:0".parse().expect("literal"),
                (None, SocketAddr::V6(_)) => "[::]:0".parse().expect("literal"),
            };
            let socket = UdpSocket::bind(bind)
                .map_err(|e| io::Error::new(e.kind(), format!("bind {bind}: {e}")))?;
            socket
                .connect(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("connect {addr}: {e}")))?;
            collectors.push(Collector {
                addr,
                socket,
                stats: CollectorStats::default(),
                last_error: None,
            });
        }
        Ok(UdpSink { collectors })
    }

    pub fn collectors(&self) -> &[Collector] {
        &self.collectors
    }

    /// Sends one datagram. Returns the error when it was dropped (already
    /// counted), so the caller may log it; `None` when sent.
    pub fn send(&mut self, d: &Outgoing) -> Option<io::Error> {
        let c = self.collectors.get_mut(d.collector)?;
        let mut attempt = 0;
        loop {
            match c.socket.send(&d.bytes) {
                Ok(_) => {
                    c.stats.datagrams += 1;
                    c.stats.bytes += d.bytes.len() as u64;
                    c.last_error = None;
                    return None;
                }
                Err(e) => {
                    c.stats.errors += 1;
                    let kind = e.kind();
                    if kind == io::ErrorKind::ConnectionRefused {
                        c.stats.refused += 1;
                    }
                    let retryable = matches!(
                        kind,
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) || e.raw_os_error() == Some(libc::ENOBUFS);
                    if retryable && attempt == 0 {
                        attempt += 1;
                        c.stats.retries += 1;
                        if kind != io::ErrorKind::ConnectionRefused {
                            std::thread::yield_now();
                        }
                        continue;
                    }
                    c.stats.dropped += 1;
                    // Report a kind of error once until the collector recovers.
                    let first = c.last_error != Some(kind);
                    c.last_error = Some(kind);
                    return first
                        .then(|| io::Error::new(kind, format!("collector {}: {e}", c.addr)));
                }
            }
        }
    }
}
