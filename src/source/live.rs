//! libpcap adapter (I/O): live interfaces, files libpcap reads (pcapng), and
//! BPF filters for packets read by our own pcap reader.
//!
//! Thin on purpose: it yields `(timestamp, bytes)` and nothing else; all
//! parsing happens in [`crate::packet`]. Live captures use immediate mode
//! and a one-second read timeout so the caller regains control to expire
//! flows on a quiet link.

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
            .map_err(|e| format!("{iface}: {e}"))?;
        Self::finish(cap.into(), filter, iface)
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
        Ok(LibpcapSource { cap, link })
    }

    pub fn link_type(&self) -> u32 {
        self.link
    }

    /// Reads the next packet into `buf`.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Next, String> {
        match self.cap.next_packet() {
            Ok(p) => {
                buf.clear();
                buf.extend_from_slice(p.data);
                let tv = p.header.ts;
                let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
                let us = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
                Ok(Next::Packet(Timestamp::from_secs_micros(secs, us)))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(Next::Idle),
            Err(pcap::Error::NoMorePackets) => Ok(Next::Eof),
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
