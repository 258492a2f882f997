//! The UDP adapter: one connected socket per collector.
//!
//! A connected socket lets the kernel report a collector's ICMP "port
//! unreachable" back to us (as ECONNREFUSED on a later send); that send did
//! not go out, so it is retried once. Every error is counted per collector;
//! a datagram given up on is counted as dropped, never silently lost. One
//! collector failing never stops the others.
//!
//! [`UdpSink::send_all`] sends a batch: on Linux with one `sendmmsg(2)` per
//! collector and up to [`BATCH`] datagrams, elsewhere (or when batching is
//! turned off) with one `send(2)` each. Both paths count exactly the same
//! way: a datagram the kernel took is counted sent; the one `sendmmsg`
//! stopped at goes through the single-send path with its retry, so it is
//! sent or counted dropped, never lost silently. The caller hears of every
//! collector that had an error, so its encoder can re-send templates.

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
    /// Whether runs of equal-sized datagrams go out as one UDP GSO
    /// message (Linux; off for good once the kernel or route refuses it).
    gso: bool,
}

/// Linux hides a datagram the local queueing discipline dropped from a UDP
/// sender (the send "succeeds") unless the socket asks for errors with
/// IP_RECVERR; with it, the send fails with ENOBUFS, which we retry once
/// and otherwise count as dropped. Nothing is ever read from the error
/// queue this also fills: it is bounded by the socket's receive buffer.
#[cfg(target_os = "linux")]
fn report_local_drops(socket: &UdpSocket, addr: SocketAddr) {
    use std::os::fd::AsRawFd;
    let (level, opt) = match addr {
        SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_RECVERR),
        SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
    };
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            opt,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn report_local_drops(_socket: &UdpSocket, _addr: SocketAddr) {}

pub struct UdpSink {
    collectors: Vec<Collector>,
    batching: bool,
}

/// Most datagrams handed to one `sendmmsg(2)` call.
pub const BATCH: usize = 64;

/// Most datagrams, and bytes, in one segmented (GSO) message: the kernel's
/// limit (`UDP_MAX_SEGMENTS`) and what one UDP payload can hold.
#[cfg(target_os = "linux")]
const GSO_SEGMENTS: usize = 64;
#[cfg(target_os = "linux")]
const GSO_BYTES: usize = 65_000;

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
            report_local_drops(&socket, addr);
            collectors.push(Collector {
                addr,
                socket,
                stats: CollectorStats::default(),
                last_error: None,
                gso: cfg!(target_os = "linux"),
            });
        }
        Ok(UdpSink {
            collectors,
            batching: cfg!(target_os = "linux"),
        })
    }

    /// Turns `sendmmsg(2)` batching on or off (on by default on Linux; a
    /// no-op elsewhere).
    pub fn set_batching(&mut self, on: bool) {
        self.batching = on && cfg!(target_os = "linux");
    }

    /// Sends every datagram of `out` (which is left empty), in order per
    /// collector. `on_error(collector, err)` is called once per datagram
    /// whose sending met an error, even if the retry then worked (the
    /// collector may have lost our templates); `err` is `Some` when the
    /// datagram was dropped and this kind of error is new for that
    /// collector (worth a log line).
    pub fn send_all(
        &mut self,
        out: &mut Vec<Outgoing>,
        mut on_error: impl FnMut(usize, Option<io::Error>),
    ) {
        if !self.batching || out.len() < 2 {
            for d in out.drain(..) {
                let before = self.errors_of(d.collector);
                let e = self.send(&d);
                if self.errors_of(d.collector) != before {
                    on_error(d.collector, e);
                }
            }
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let n = self.collectors.len();
            for c in 0..n {
                let mine: Vec<&Outgoing> = out.iter().filter(|d| d.collector == c).collect();
                let mut i = 0;
                while i < mine.len() {
                    let end = (i + BATCH).min(mine.len());
                    let (sent, err) = self.sendmmsg(c, &mine[i..end]);
                    i += sent;
                    if i < end {
                        // The kernel stopped at mine[i]: the single path
                        // takes its error (if any) as the first attempt,
                        // retries, and counts the outcome.
                        let before = self.errors_of(c);
                        let e = self.send_from(mine[i], err);
                        if self.errors_of(c) != before {
                            on_error(c, e);
                        }
                        i += 1;
                    }
                }
            }
            out.clear();
        }
    }

    /// [`Self::send_all`] as both modes use it: a collector that had an
    /// error is told to `exporter` (it may have lost our templates, which
    /// then go again), and dropped datagrams are logged, at most one line
    /// per `log_limit` interval.
    pub fn send_reporting(
        &mut self,
        out: &mut Vec<Outgoing>,
        exporter: &mut super::Exporter,
        log_limit: &mut crate::log::RateLimit,
        now: crate::time::Timestamp,
    ) {
        use crate::log::{self, Level};
        self.send_all(out, |c, e| {
            exporter.on_send_error(c);
            if let Some(e) = e {
                if let Some(n) = log_limit.check(now) {
                    log::log(
                        Level::Warning,
                        &format!("send failed: {e} (+{n} similar suppressed)"),
                    );
                }
            }
        });
    }

    fn errors_of(&self, c: usize) -> u64 {
        self.collectors.get(c).map(|c| c.stats.errors).unwrap_or(0)
    }

    /// One `sendmmsg(2)` call; returns how many datagrams the kernel took
    /// (counted), and the error that stopped it at the first one (not yet
    /// counted: [`Self::send_from`] does).
    ///
    /// A run of datagrams of one size (NetFlow v5 fills every datagram to
    /// 30 records, v9 and IPFIX to the MTU) goes out as one message with
    /// UDP generic segmentation offload (`UDP_SEGMENT`): the kernel walks
    /// its stack once per run and cuts the run into the same datagrams, so
    /// the collector sees no difference. A kernel or route that refuses it
    /// turns it off for that collector, and the datagrams go one by one.
    #[cfg(target_os = "linux")]
    fn sendmmsg(&mut self, c: usize, ds: &[&Outgoing]) -> (usize, Option<io::Error>) {
        use std::os::fd::AsRawFd;
        let Some(col) = self.collectors.get_mut(c) else {
            return (ds.len(), None);
        };
        let n = ds.len().min(BATCH);
        let mut iov: [libc::iovec; BATCH] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        for (v, d) in iov.iter_mut().zip(&ds[..n]) {
            *v = libc::iovec {
                iov_base: d.bytes.as_ptr() as *mut libc::c_void,
                iov_len: d.bytes.len(),
            };
        }
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value
        // (null name, no control data).
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        // One control message (a u16 segment size) per message, 8-aligned.
        let mut ctrl = [[0u64; 4]; BATCH];
        // Datagrams in each message.
        let mut segs = [0usize; BATCH];
        let (mut m, mut k) = (0, 0);
        while k < n {
            let size = ds[k].bytes.len();
            let mut j = k + 1;
            if col.gso {
                let mut total = size;
                // Equal sizes; a shorter one may end the run.
                while j < n
                    && j - k < GSO_SEGMENTS
                    && ds[j].bytes.len() <= size
                    && total + ds[j].bytes.len() <= GSO_BYTES
                {
                    total += ds[j].bytes.len();
                    j += 1;
                    if ds[j - 1].bytes.len() < size {
                        break;
                    }
                }
            }
            let h = &mut msgs[m].msg_hdr;
            h.msg_iov = iov[k..].as_mut_ptr();
            h.msg_iovlen = j - k;
            if j - k > 1 {
                // SAFETY: ctrl[m] has room for one cmsghdr and a u16
                // (CMSG_SPACE(2) = 24 bytes on LP64) and outlives the call.
                unsafe {
                    h.msg_control = ctrl[m].as_mut_ptr().cast();
                    h.msg_controllen = libc::CMSG_SPACE(2) as _;
                    let cm = libc::CMSG_FIRSTHDR(h);
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = libc::UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<u16>(), size as u16);
                }
            }
            segs[m] = j - k;
            m += 1;
            k = j;
        }
        // SAFETY: msgs[..m] point at iovecs and control buffers on this
        // stack frame, which point into datagrams borrowed for this call;
        // the socket is connected, so no name.
        let r = unsafe {
            libc::sendmmsg(
                col.socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                m as libc::c_uint,
                0,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if segs[0] > 1
                && matches!(
                    e.raw_os_error(),
                    Some(libc::EIO | libc::EINVAL | libc::EMSGSIZE | libc::ENOPROTOOPT)
                )
            {
                // Segmentation refused (old kernel, no checksum offload on
                // the route, segments above the MTU): not a send error.
                col.gso = false;
                return (0, None);
            }
            return (0, Some(e));
        }
        let r = r as usize;
        let mut sent = 0;
        for (msg, &count) in msgs[..r].iter().zip(&segs) {
            sent += count;
            col.stats.datagrams += count as u64;
            col.stats.bytes += u64::from(msg.msg_len);
        }
        col.last_error = None;
        (sent, None)
    }

    pub fn collectors(&self) -> &[Collector] {
        &self.collectors
    }

    /// Sends one datagram. Returns the error when it was dropped (already
    /// counted), so the caller may log it; `None` when sent.
    pub fn send(&mut self, d: &Outgoing) -> Option<io::Error> {
        self.send_from(d, None)
    }

    /// [`Self::send`], where `first` (if any) is the error an earlier
    /// attempt at this datagram already met.
    fn send_from(&mut self, d: &Outgoing, mut first: Option<io::Error>) -> Option<io::Error> {
        let c = self.collectors.get_mut(d.collector)?;
        let mut attempt = 0;
        loop {
            let res = match first.take() {
                Some(e) => Err(e),
                None => c.socket.send(&d.bytes),
            };
            match res {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        r
    }

    fn batch(collectors: usize, n: usize) -> Vec<Outgoing> {
        (0..n)
            .map(|i| Outgoing {
                collector: i % collectors,
                bytes: vec![i as u8; 10 + i],
            })
            .collect()
    }

    #[test]
    fn batched_and_single_paths_deliver_in_order_and_count_exactly() {
        for batching in [true, false] {
            let (a, b) = (receiver(), receiver());
            let addrs = [a.local_addr().unwrap(), b.local_addr().unwrap()];
            let mut sink = UdpSink::open(&addrs, Some("127.0.0.1".parse().unwrap())).unwrap();
            sink.set_batching(batching);
            let mut out = batch(2, 150);
            let mut errors = 0;
            sink.send_all(&mut out, |_, _| errors += 1);
            assert!(out.is_empty());
            assert_eq!(errors, 0);
            let mut buf = [0u8; 512];
            for (k, r) in [&a, &b].iter().enumerate() {
                for i in (k..150).step_by(2) {
                    let (n, from) = r.recv_from(&mut buf).unwrap();
                    assert_eq!(n, 10 + i, "batching {batching}");
                    assert_eq!(buf[0], i as u8);
                    assert_eq!(from.ip(), "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
                }
                let s = sink.collectors()[k].stats;
                assert_eq!(s.datagrams, 75);
                let bytes: usize = (k..150).step_by(2).map(|i| 10 + i).sum();
                assert_eq!(s.bytes, bytes as u64);
                assert_eq!((s.errors, s.dropped), (0, 0));
            }
        }
    }

    #[test]
    fn runs_of_equal_datagrams_arrive_one_by_one_and_counted() {
        // Full v5-sized datagrams with shorter ones between: the kernel's
        // segmentation must hand the collector exactly what a send each
        // would have.
        let r = receiver();
        let mut sink = UdpSink::open(
            &[r.local_addr().unwrap()],
            Some("127.0.0.1".parse().unwrap()),
        )
        .unwrap();
        // (57 datagrams: within a default-sized receive buffer.)
        let mut sizes = vec![1464; 30];
        sizes.push(700);
        sizes.extend([1464; 10]);
        sizes.extend([900; 15]);
        sizes.push(1464);
        let mut out: Vec<Outgoing> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| Outgoing {
                collector: 0,
                bytes: (0..n).map(|k| (i * 7 + k) as u8).collect(),
            })
            .collect();
        let want: Vec<Vec<u8>> = out.iter().map(|d| d.bytes.clone()).collect();
        let mut errors = 0;
        sink.send_all(&mut out, |_, _| errors += 1);
        assert_eq!(errors, 0);
        let mut buf = [0u8; 2048];
        for (i, w) in want.iter().enumerate() {
            let n = r
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("datagram {i}: {e}"));
            assert_eq!(&buf[..n], &w[..], "datagram {i}");
        }
        let s = sink.collectors()[0].stats;
        assert_eq!(s.datagrams, sizes.len() as u64);
        assert_eq!(s.bytes, sizes.iter().sum::<usize>() as u64);
        #[cfg(target_os = "linux")]
        assert!(
            sink.collectors[0].gso,
            "segmentation was refused on loopback"
        );
    }

    #[test]
    fn a_refusing_collector_is_counted_and_does_not_stop_the_other() {
        let good = receiver();
        let closed = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let addrs = [closed, good.local_addr().unwrap()];
        for batching in [true, false] {
            let mut sink = UdpSink::open(&addrs, None).unwrap();
            sink.set_batching(batching);
            let mut failed = vec![];
            for _ in 0..5 {
                let mut out = batch(2, 40);
                sink.send_all(&mut out, |c, _| failed.push(c));
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut buf = [0u8; 512];
            for _ in 0..100 {
                good.recv_from(&mut buf).unwrap();
            }
            let bad = sink.collectors()[0].stats;
            let ok = sink.collectors()[1].stats;
            assert_eq!((ok.datagrams, ok.errors, ok.dropped), (100, 0, 0));
            // Every datagram is either handed to the kernel or counted lost.
            assert_eq!(bad.datagrams + bad.dropped, 100, "{bad:?}");
            assert!(bad.refused >= 1, "{bad:?}");
            assert_eq!(bad.errors, bad.refused);
            assert!(!failed.is_empty());
            assert!(failed.iter().all(|&c| c == 0));
        }
    }
}
