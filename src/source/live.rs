//! libpcap adapter (I/O): live interfaces, files libpcap reads (pcapng), and
//! BPF filters for packets read by our own pcap reader.
//!
//! Thin on purpose: it yields `(timestamp, bytes)` and nothing else; all
//! parsing happens in [`crate::packet`]. Live captures run in immediate
//! mode, non-blocking, and wait in `poll(2)` for at most a second, so the
//! caller regains control to expire flows on a quiet link and to stop on a
//! signal (libpcap's own read timeout does not fire on a silent Linux link).

use crate::time::Timestamp;
use pcap::{Activated, Capture, Linktype};

/// What a read gave.
pub enum Next {
    /// A packet (now in the caller's buffer), captured at this time.
    Packet(Timestamp),
    /// A live capture's read timeout passed with no packet.
    Idle,
    /// End of a file.
    Eof,
}

pub struct LibpcapSource {
    cap: Capture<dyn Activated>,
    link: u32,
    /// Live captures: the descriptor we wait on (the capture is
    /// non-blocking).
    fd: Option<std::os::fd::RawFd>,
}

impl LibpcapSource {
    /// Opens `iface` for live capture.
    pub fn live(
        iface: &str,
        snaplen: i32,
        promisc: bool,
        filter: Option<&str>,
    ) -> Result<Self, String> {
        let cap = Capture::from_device(iface)
            .map_err(|e| format!("{iface}: {e}"))?
            .snaplen(snaplen)
            .promisc(promisc)
            .immediate_mode(true)
            .timeout(1000)
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(|e| format!("{iface}: {e}"))?;
        use std::os::fd::AsRawFd;
        let fd = cap.as_raw_fd();
        let mut s = Self::finish(cap.into(), filter, iface)?;
        s.fd = Some(fd);
        Ok(s)
    }

    /// Opens a capture file with libpcap (classic pcap or pcapng).
    pub fn file(path: &std::path::Path, filter: Option<&str>) -> Result<Self, String> {
        let cap = Capture::from_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::finish(cap.into(), filter, &path.display().to_string())
    }

    fn finish(
        mut cap: Capture<dyn Activated>,
        filter: Option<&str>,
        what: &str,
    ) -> Result<Self, String> {
        if let Some(f) = filter {
            cap.filter(f, true)
                .map_err(|e| format!("{what}: filter '{f}': {e}"))?;
        }
        let link = cap.get_datalink().0 as u32;
        Ok(LibpcapSource {
            cap,
            link,
            fd: None,
        })
    }

    pub fn link_type(&self) -> u32 {
        self.link
    }

    /// Reads the next packet into `buf`.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Next, String> {
        if let Some(fd) = self.fd {
            // Linux's TPACKET_V3 read timeout only runs once a packet has
            // arrived, so a quiet link would block forever: wait ourselves.
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 1000) };
            if n == 0
                || (n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted)
            {
                return Ok(Next::Idle);
            }
        }
        Ok(match self.try_next(buf)? {
            Some(ts) => Next::Packet(ts),
            // a live capture with nothing ready; a file at its end
            None if self.fd.is_some() => Next::Idle,
            None => Next::Eof,
        })
    }

    /// The descriptor a caller with its own poll(2) loop waits on (live
    /// captures only).
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd
    }

    /// Reads one packet into `buf` if one is ready, without waiting (live
    /// captures are non-blocking): `Ok(None)` when none is.
    pub fn try_next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Timestamp>, String> {
        match self.cap.next_packet() {
            Ok(p) => {
                buf.clear();
                buf.extend_from_slice(p.data);
                let tv = p.header.ts;
                let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
                let us = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
                Ok(Some(Timestamp::from_secs_micros(secs, us)))
            }
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// (received, dropped by libpcap, dropped by the interface), live only.
    pub fn stats(&mut self) -> Option<(u32, u32, u32)> {
        self.cap
            .stats()
            .ok()
            .map(|s| (s.received, s.dropped, s.if_dropped))
    }
}

/// A compiled BPF filter for packets of one link type read without libpcap.
pub struct Filter(pcap::BpfProgram);

impl Filter {
    pub fn compile(link: u32, expr: &str) -> Result<Self, String> {
        let dead = Capture::dead(Linktype(link as i32)).map_err(|e| e.to_string())?;
        dead.compile(expr, true)
            .map(Filter)
            .map_err(|e| format!("filter '{expr}': {e}"))
    }

    pub fn matches(&self, frame: &[u8]) -> bool {
        self.0.filter(frame)
    }
}
