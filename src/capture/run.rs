//! Capture-mode driver (I/O): packets in, NetFlow datagrams out.
//!
//! Reads a pcap file with the pure reader (or, with the `pcap` feature, a
//! pcapng file or a live interface through libpcap), parses each frame,
//! feeds the flow cache and exports through the same [`Exporter`] and
//! [`UdpSink`] pfsync mode uses. The clock is the packets' clock: replaying
//! a capture expires flows, and stamps records and datagram headers, in
//! capture time. A live capture also advances the clock from the wall clock
//! when the link is quiet. Holds no flow logic of its own.

use crate::capture::{CacheConfig, FlowCache};
use crate::cli::{Config, Mode};
use crate::export::udp::UdpSink;
use crate::export::{Exporter, Outgoing};
use crate::flow::Flow;
use crate::log::{self, Level};
use crate::packet::{self, ParseError, linktype};
use crate::source::pcap_file::{PcapError, PcapReader};
use crate::time::Timestamp;
use std::cell::Cell;
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const PCAPNG_MAGIC: u32 = 0x0a0d_0d0a;

/// First four bytes and, for classic pcap, the link type of a file.
fn sniff(path: &Path) -> Result<(u32, Option<u32>), String> {
    let mut h = [0u8; 24];
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut got = 0;
    while got < h.len() {
        match f.read(&mut h[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    if got < 4 {
        return Ok((0, None));
    }
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    if got < 24 || magic == PCAPNG_MAGIC {
        return Ok((magic, None));
    }
    let lt = u32::from_le_bytes([h[20], h[21], h[22], h[23]]);
    let lt = if matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d) {
        lt
    } else {
        lt.swap_bytes()
    };
    Ok((magic, Some(lt & 0xffff)))
}

/// Whether this configuration runs capture mode: `--mode capture`, a BPF
/// filter, or (auto) a file pfsync mode cannot read — pcapng, or a link
/// type that never carries pfsync (pflog). Everything else stays pfsync.
pub fn wants_capture(cfg: &Config) -> bool {
    match cfg.mode {
        Mode::Capture => true,
        Mode::Pfsync => false,
        Mode::Auto => match &cfg.read {
            Some(p) => matches!(
                sniff(p),
                Ok((PCAPNG_MAGIC, _)) | Ok((_, Some(linktype::PFLOG)))
            ),
            None => false,
        },
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Counts bytes read, for the progress line.
struct Counting<R> {
    inner: R,
    n: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get() + k as u64);
        Ok(k)
    }
}

enum Source {
    File {
        reader: PcapReader<BufReader<Counting<std::fs::File>>>,
        #[cfg(feature = "pcap")]
        filter: Option<crate::source::live::Filter>,
        read: Rc<Cell<u64>>,
        size: u64,
    },
    #[cfg(feature = "pcap")]
    Pcap {
        src: crate::source::live::LibpcapSource,
        live: bool,
    },
}

enum Got {
    Packet(Timestamp),
    #[cfg_attr(not(feature = "pcap"), allow(dead_code))]
    Idle,
    Eof,
}

impl Source {
    fn open(cfg: &Config) -> Result<(Source, u32), String> {
        let filter = cfg.capture.filter.as_deref();
        if let Some(path) = &cfg.read {
            let (magic, lt) = sniff(path)?;
            if magic == PCAPNG_MAGIC || lt.is_none() {
                #[cfg(feature = "pcap")]
                {
                    let src = crate::source::live::LibpcapSource::file(path, filter)?;
                    let lt = src.link_type();
                    return Ok((Source::Pcap { src, live: false }, lt));
                }
                #[cfg(not(feature = "pcap"))]
                return Err(format!(
                    "{}: not a classic pcap file (pcapng needs the pcap feature)",
                    path.display()
                ));
            }
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let read = Rc::new(Cell::new(0));
            let counting = Counting {
                inner: file,
                n: read.clone(),
            };
            let reader = PcapReader::new(BufReader::with_capacity(1 << 18, counting))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let link = reader.link_type;
            #[cfg(feature = "pcap")]
            let filter = match filter {
                Some(f) => Some(crate::source::live::Filter::compile(link, f)?),
                None => None,
            };
            #[cfg(not(feature = "pcap"))]
            if filter.is_some() {
                return Err("BPF filters need the pcap feature".into());
            }
            return Ok((
                Source::File {
                    reader,
                    #[cfg(feature = "pcap")]
                    filter,
                    read,
                    size,
                },
                link,
            ));
        }
        let iface = cfg.interface.as_deref().unwrap_or("");
        #[cfg(feature = "pcap")]
        {
            let src = crate::source::live::LibpcapSource::live(
                iface,
                cfg.capture.snaplen,
                cfg.capture.promisc,
                filter,
            )?;
            let lt = src.link_type();
            Ok((Source::Pcap { src, live: true }, lt))
        }
        #[cfg(not(feature = "pcap"))]
        Err(format!("{iface}: live capture needs the pcap feature"))
    }

    fn next(&mut self, buf: &mut Vec<u8>) -> Result<Got, String> {
        match self {
            Source::File {
                reader,
                #[cfg(feature = "pcap")]
                filter,
                ..
            } =>
            {
                #[cfg_attr(not(feature = "pcap"), allow(clippy::never_loop))]
                loop {
                    match reader.next_packet(buf) {
                        Ok(Some(meta)) => {
                            #[cfg(feature = "pcap")]
                            if let Some(f) = filter {
                                if !f.matches(buf) {
                                    continue;
                                }
                            }
                            return Ok(Got::Packet(meta.ts));
                        }
                        Ok(None) => return Ok(Got::Eof),
                        Err(e @ (PcapError::Truncated | PcapError::BadRecord { .. })) => {
                            log::log(Level::Warning, &format!("{e}; stopped there"));
                            return Err(String::new());
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
            #[cfg(feature = "pcap")]
            Source::Pcap { src, .. } => Ok(match src.next(buf)? {
                crate::source::live::Next::Packet(t) => Got::Packet(t),
                crate::source::live::Next::Idle => Got::Idle,
                crate::source::live::Next::Eof => Got::Eof,
            }),
        }
    }

    fn is_live(&self) -> bool {
        match self {
            Source::File { .. } => false,
            #[cfg(feature = "pcap")]
            Source::Pcap { live, .. } => *live,
        }
    }

    fn progress(&self) -> Option<(u64, u64)> {
        match self {
            Source::File { read, size, .. } => Some((read.get(), *size)),
            #[cfg(feature = "pcap")]
            Source::Pcap { .. } => None,
        }
    }
}

#[derive(Default)]
struct Counters {
    frames: u64,
    truncated: u64,
    not_ip: u64,
    bad_ip: u64,
}

/// Runs capture mode to the end of the file (or a signal on a live
/// interface). Exit status 2 when the file ended in a damaged record or
/// datagrams were dropped.
pub fn run(cfg: Config) -> Result<ExitCode, String> {
    if cfg.debug {
        log::set_level(Level::Debug);
    }
    let (mut src, link) = Source::open(&cfg)?;
    if !linktype::is_supported(link) {
        return Err(format!(
            "link type {link} is not one capture mode reads (Ethernet, raw IP, Linux cooked, loopback, pflog)"
        ));
    }
    let what = match (&cfg.read, &cfg.interface) {
        (Some(p), _) => p.display().to_string(),
        (None, Some(i)) => i.clone(),
        _ => String::new(),
    };
    let live = src.is_live();
    if live {
        // SAFETY: installing an async-signal-safe handler that only stores
        // to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        }
    }
    let addrs: Vec<_> = cfg.collectors.iter().map(|c| c.addr).collect();
    let mut sink = UdpSink::open(&addrs, None).map_err(|e| e.to_string())?;
    let mut exporter = Exporter::new(&cfg.collectors, cfg.encoder);
    let mut cache = FlowCache::new(CacheConfig {
        timeouts: cfg.capture.timeouts,
        max_flows: cfg.capture.max_flows,
        key_vlan: cfg.capture.track_vlan,
        ifindex: cfg.capture.ifindex,
    });
    // SAFETY: isatty only inspects a descriptor.
    let tty = unsafe { libc::isatty(2) } == 1;
    let started = Instant::now();
    let mut last_progress = started;

    let mut buf = Vec::with_capacity(65_536);
    let mut flows: Vec<Flow> = Vec::new();
    let mut out: Vec<Outgoing> = Vec::new();
    let mut n = Counters::default();
    let mut clock = Timestamp::ZERO;
    let mut status = ExitCode::SUCCESS;
    let dump = cfg.dump;
    let emit = |flows: &mut Vec<Flow>,
                exporter: &mut Exporter,
                sink: &mut UdpSink,
                out: &mut Vec<Outgoing>,
                now: Timestamp| {
        for f in flows.drain(..) {
            if dump {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{f}");
            }
            exporter.push(&f, now, out);
        }
        if exporter.next_deadline().is_some_and(|d| d <= now) {
            exporter.poll(now, out);
        }
        for d in out.drain(..) {
            if let Some(e) = sink.send(&d) {
                log::log(Level::Warning, &format!("send failed: {e}"));
            }
        }
    };
    loop {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let got = match src.next(&mut buf) {
            Ok(g) => g,
            Err(e) if e.is_empty() => {
                status = ExitCode::from(2);
                break;
            }
            Err(e) => return Err(format!("{what}: {e}")),
        };
        let ts = match got {
            Got::Eof => break,
            Got::Idle => {
                // A quiet link: the wall clock moves flows along.
                clock = clock.max(Timestamp::now());
                cache.poll(clock, &mut flows);
                emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);
                continue;
            }
            Got::Packet(ts) => ts,
        };
        n.frames += 1;
        // The clock never runs backwards on out-of-order timestamps.
        clock = clock.max(ts);
        // Expire what is due before this packet can join it.
        if cache.next_deadline().is_some_and(|d| d <= clock) {
            cache.poll(clock, &mut flows);
        }
        match packet::parse(link, &buf) {
            Ok(p) => cache.packet(&p, ts, &mut flows),
            Err(ParseError::Truncated) => n.truncated += 1,
            Err(ParseError::NotIp) => n.not_ip += 1,
            Err(ParseError::BadIp | ParseError::UnsupportedLink(_)) => n.bad_ip += 1,
        }
        if !flows.is_empty() || exporter.next_deadline().is_some_and(|d| d <= clock) {
            emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);
        }
        if tty && n.frames & 0xffff == 0 {
            let now = Instant::now();
            if now.duration_since(last_progress).as_secs() >= 1 {
                last_progress = now;
                if let Some((done, size)) = src.progress() {
                    let pct = (done * 100).checked_div(size).unwrap_or(0);
                    eprint!(
                        "\r{what}: {pct:>3}%  {} packets  {} flows tracked  ",
                        n.frames,
                        cache.len()
                    );
                }
            }
        }
    }
    if tty && last_progress != started {
        eprintln!();
    }
    if live {
        clock = clock.max(Timestamp::now());
    }
    cache.drain(&mut flows);
    emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);
    exporter.flush(clock, &mut out);
    emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);

    let s = cache.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let sent: u64 = sink.collectors().iter().map(|c| c.stats.datagrams).sum();
    let dropped: u64 = sink.collectors().iter().map(|c| c.stats.dropped).sum();
    log::log(
        Level::Notice,
        &format!(
            "{what}: {} packets ({} truncated, {} not IP, {} malformed IP) in {elapsed:.2}s; \
             {} fragments ({} without a first); {} conversations: {} idle, {} TCP end, {} active \
             timeout, {} evicted (max flows), {} at end; {} records, {} datagrams sent, {} dropped",
            n.frames,
            n.truncated,
            n.not_ip,
            n.bad_ip,
            s.fragments,
            s.orphan_fragments,
            s.created,
            s.expired_idle,
            s.expired_tcp_end,
            s.expired_active,
            s.evicted,
            s.flushed,
            s.records,
            sent,
            dropped
        ),
    );
    for (c, addr) in addrs.iter().enumerate() {
        let es = exporter.stats(c);
        if es.unexportable > 0 {
            log::log(
                Level::Notice,
                &format!(
                    "{} IPv6 flows cannot be sent as NetFlow v5 and were skipped for collector {}",
                    es.unexportable, addr
                ),
            );
        }
    }
    #[cfg(feature = "pcap")]
    if let Source::Pcap { src, live: true } = &mut src {
        if let Some((rx, drop, ifdrop)) = src.stats() {
            log::log(
                Level::Notice,
                &format!("libpcap: {rx} received, {drop} dropped, {ifdrop} dropped by interface"),
            );
        }
    }
    if dropped > 0 {
        status = ExitCode::from(2);
    }
    Ok(status)
}
