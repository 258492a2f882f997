//! The sync link: a raw IPv4 socket for protocol 240 (pfsync).
//!
//! Joined to the pfsync group 224.0.0.240 on the sync interface (or only
//! unicast from a `syncpeer`), so stateflowd can run on a monitoring host
//! beside a firewall pair and hear every firewall's states. The same socket
//! sends our requests (UPD_REQ) with TTL 255, as a pfsync peer does.
//! Received packets start with their IPv4 header; policy (TTL 255, allowed
//! peers) is applied by the caller on the parsed header.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The pfsync multicast group (`INADDR_PFSYNC_GROUP`).
pub const PFSYNC_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 240);
pub const IPPROTO_PFSYNC: libc::c_int = 240;

pub struct RawSocket {
    fd: OwnedFd,
    ifindex: u32,
    /// Where requests go: the group, or the unicast sync peer.
    dest: Ipv4Addr,
    /// Packets the kernel dropped because our receive buffer was full
    /// (Linux SO_RXQ_OVFL; stays 0 elsewhere).
    overflow: std::cell::Cell<u32>,
}

/// Receive buffer asked for by default: room for a bulk transfer's burst.
pub const DEFAULT_RCVBUF: usize = 4 << 20;

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

fn setopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    check(rc, what)
}

pub fn ifindex_of(iface: &str) -> io::Result<u32> {
    let c = CString::new(iface).map_err(|_| io::Error::other("interface name has a NUL"))?;
    // SAFETY: NUL-terminated name.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface {iface} does not exist"),
        ))
    } else {
        Ok(idx)
    }
}

impl RawSocket {
    /// Opens the socket on `iface`; joins the group unless `peer` is given.
    pub fn open(iface: &str, peer: Option<Ipv4Addr>) -> io::Result<RawSocket> {
        Self::open_with_buffer(iface, peer, DEFAULT_RCVBUF)
    }

    /// As [`RawSocket::open`], with a receive buffer of `rcvbuf` bytes (as
    /// root the system maximum does not apply on Linux).
    pub fn open_with_buffer(
        iface: &str,
        peer: Option<Ipv4Addr>,
        rcvbuf: usize,
    ) -> io::Result<RawSocket> {
        let ifindex = ifindex_of(iface)?;
        // SAFETY: socket(2); the descriptor is owned from here on.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                IPPROTO_PFSYNC,
            )
        };
        check(raw, "raw socket for IP protocol 240 (needs root)")?;
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        #[cfg(target_os = "linux")]
        {
            let name = CString::new(iface).map_err(|_| io::Error::other("bad name"))?;
            // SAFETY: the name buffer outlives the call.
            let rc = unsafe {
                libc::setsockopt(
                    s,
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    name.as_ptr().cast(),
                    name.as_bytes_with_nul().len() as libc::socklen_t,
                )
            };
            check(rc, "SO_BINDTODEVICE")?;
        }
        let ttl: libc::c_int = 255;
        setopt(s, libc::IPPROTO_IP, libc::IP_TTL, &ttl, "IP_TTL")?;
        let mttl: libc::c_uchar = 255;
        setopt(
            s,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            &mttl,
            "IP_MULTICAST_TTL",
        )?;
        let noloop: libc::c_uchar = 0;
        setopt(
            s,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            &noloop,
            "IP_MULTICAST_LOOP",
        )?;
        let tos: libc::c_int = 0x10;
        setopt(s, libc::IPPROTO_IP, libc::IP_TOS, &tos, "IP_TOS")?;
        let rcvbuf = rcvbuf.min(i32::MAX as usize) as libc::c_int;
        #[cfg(target_os = "linux")]
        {
            if setopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &rcvbuf,
                "SO_RCVBUFFORCE",
            )
            .is_err()
            {
                let _ = setopt(s, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf, "SO_RCVBUF");
            }
            let on: libc::c_int = 1;
            setopt(s, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &on, "SO_RXQ_OVFL")?;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = setopt(s, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf, "SO_RCVBUF");
        let sock = RawSocket {
            fd,
            ifindex,
            dest: peer.unwrap_or(PFSYNC_GROUP),
            overflow: std::cell::Cell::new(0),
        };
        sock.multicast(peer.is_none())?;
        Ok(sock)
    }

    #[cfg(target_os = "linux")]
    fn multicast(&self, join: bool) -> io::Result<()> {
        let mreq = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(PFSYNC_GROUP).to_be(),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: self.ifindex as libc::c_int,
        };
        let s = self.fd.as_raw_fd();
        setopt(
            s,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreq,
            "IP_MULTICAST_IF",
        )?;
        if join {
            setopt(
                s,
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                &mreq,
                "join 224.0.0.240",
            )?;
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn multicast(&self, join: bool) -> io::Result<()> {
        // BSD: interfaces are named by one of their IPv4 addresses.
        let addr = iface_ipv4(self.ifindex)?;
        let s = self.fd.as_raw_fd();
        let ifaddr = libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        };
        setopt(
            s,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &ifaddr,
            "IP_MULTICAST_IF",
        )?;
        if join {
            let mreq = libc::ip_mreq {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(PFSYNC_GROUP).to_be(),
                },
                imr_interface: ifaddr,
            };
            setopt(
                s,
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                &mreq,
                "join 224.0.0.240",
            )?;
        }
        Ok(())
    }

    /// Sets the TTL of what we send (pfsync uses 255; tests send others
    /// to check that receivers refuse them).
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        let s = self.fd.as_raw_fd();
        let t: libc::c_int = ttl.into();
        setopt(s, libc::IPPROTO_IP, libc::IP_TTL, &t, "IP_TTL")?;
        let m: libc::c_uchar = ttl;
        setopt(
            s,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            &m,
            "IP_MULTICAST_TTL",
        )
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Receives one packet (IPv4 header first) into `buf`; `Ok(None)` when
    /// nothing is waiting. The IPv4 total length is rewritten from the
    /// received size: BSD raw sockets hand it over in host order.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Room for one SO_RXQ_OVFL control message (a u32), aligned.
        let mut cbuf = [0u64; 8];
        // SAFETY: a zeroed msghdr is valid; we point it at live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: recvmsg into the buffers described by `msg`.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        #[cfg(target_os = "linux")]
        // SAFETY: walking the control messages the kernel wrote into cbuf.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                    let p = libc::CMSG_DATA(c) as *const u32;
                    self.overflow.set(std::ptr::read_unaligned(p));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let n = n as usize;
        if n >= 4 {
            let total = (n.min(65_535) as u16).to_be_bytes();
            buf[2] = total[0];
            buf[3] = total[1];
        }
        Ok(Some(n))
    }

    /// Packets the kernel dropped for lack of buffer space so far.
    ///
    /// SO_RXQ_OVFL only reports the count on the next packet received, so
    /// drops after the last one (the end of a burst) would go unseen; the
    /// socket's own counter (SO_MEMINFO's drops, the same number) is read
    /// as well, so the count is current whenever it is asked for.
    pub fn overflow_drops(&self) -> u32 {
        #[cfg(target_os = "linux")]
        {
            let mut info = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
            let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
            // SAFETY: getsockopt fills at most `len` bytes of `info`.
            let r = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_MEMINFO,
                    info.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            let drops = libc::SK_MEMINFO_DROPS as usize;
            if r == 0 && len as usize >= (drops + 1) * 4 {
                self.overflow.set(self.overflow.get().max(info[drops]));
            }
        }
        self.overflow.get()
    }

    /// Sends one pfsync frame to the group (or the sync peer), TTL 255.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(self.dest).to_be(),
            },
            sin_zero: [0; 8],
            #[cfg(any(
                target_os = "openbsd",
                target_os = "freebsd",
                target_os = "netbsd",
                target_os = "dragonfly",
                target_os = "macos"
            ))]
            sin_len: std::mem::size_of::<libc::sockaddr_in>() as u8,
        };
        // SAFETY: sendto with a live buffer and a sockaddr_in of its size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn iface_ipv4(ifindex: u32) -> io::Result<Ipv4Addr> {
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk and free below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*p };
        if !ifa.ifa_addr.is_null()
            && unsafe { i32::from((*ifa.ifa_addr).sa_family) } == libc::AF_INET
            && unsafe { libc::if_nametoindex(ifa.ifa_name) } == ifindex
        {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            break;
        }
        p = ifa.ifa_next;
    }
    // SAFETY: freeing the list we got.
    unsafe { libc::freeifaddrs(ifap) };
    found.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "sync interface has no IPv4 address",
        )
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn drops_at_the_end_of_a_burst_are_counted_without_another_packet() {
        // A receiver with a tiny buffer that never reads, on loopback: the
        // burst overflows it and nothing arrives afterwards to carry
        // SO_RXQ_OVFL, yet the count must be there when asked for.
        let lo = Some(Ipv4Addr::LOCALHOST);
        let rx = match RawSocket::open_with_buffer("lo", lo, 4096) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("SKIPPING: raw sockets need root ({e})");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let tx = RawSocket::open("lo", lo).unwrap();
        let frame = [6u8, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..200 {
            tx.send(&frame).unwrap();
        }
        let dropped = rx.overflow_drops();
        assert!(dropped > 100 && dropped <= 200, "{dropped} drops counted");
        // Reading what was queued does not lose the count.
        let mut buf = [0u8; 2048];
        let mut queued = 0;
        while rx.recv(&mut buf).unwrap().is_some() {
            queued += 1;
        }
        assert_eq!(queued + rx.overflow_drops(), 200);
    }
}
