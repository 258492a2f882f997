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
use crate::packet::{self, ParseError, ParsedPacket, linktype};
use crate::source::pcap_file::{PcapError, PcapSlice};
use crate::time::Timestamp;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
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

/// A read-only private mapping of a whole file, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
    /// Prefix already handed back by `release_before`.
    released: usize,
}

/// Granularity of handing read pages back (a multiple of any page size).
const RELEASE_STEP: usize = 4 << 20;

impl Mapping {
    fn open(path: &Path) -> Result<Mapping, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len() as usize;
        use std::os::fd::AsRawFd;
        // SAFETY: mapping a file we opened read-only; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "{}: mmap: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: advice on the mapping just made.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_SEQUENTIAL);
        }
        Ok(Mapping {
            ptr,
            len,
            released: 0,
        })
    }

    /// Drops the pages before `upto` from this process's memory (they stay
    /// in the page cache): a replay's resident set is then its flow table,
    /// not the whole capture.
    fn release_before(&mut self, upto: usize) {
        let end = upto.min(self.len) & !(RELEASE_STEP - 1);
        if end > self.released {
            // SAFETY: a page-aligned range of our own read-only private
            // mapping that is not read again (a re-read would refault the
            // same bytes from the file).
            unsafe {
                libc::madvise(
                    (self.ptr as *mut u8).add(self.released) as *mut libc::c_void,
                    end - self.released,
                    libc::MADV_DONTNEED,
                );
            }
            self.released = end;
        }
    }

    /// The mapped bytes. 'static because the only holder, `Source::File`,
    /// drops its reader (declared first) before the mapping. A file
    /// truncated by someone else while mapped raises SIGBUS, as with any
    /// mmap reader; captures being replayed are not being written.
    fn bytes(&self) -> &'static [u8] {
        // SAFETY: ptr/len describe a live PROT_READ mapping until drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

enum Source {
    File {
        // Declared before `map`, so dropped before it.
        reader: PcapSlice<'static>,
        #[cfg(feature = "pcap")]
        filter: Option<crate::source::live::Filter>,
        map: Mapping,
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
            let map = Mapping::open(path)?;
            let reader =
                PcapSlice::new(map.bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
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
                    map,
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

    /// The next packet: its time and bytes (a slice of the mapped file, or
    /// of `buf` for libpcap).
    #[cfg_attr(not(feature = "pcap"), allow(unused_variables, clippy::ptr_arg))]
    fn next<'b>(&'b mut self, buf: &'b mut Vec<u8>) -> Result<(Got, &'b [u8]), String> {
        match self {
            Source::File {
                reader,
                #[cfg(feature = "pcap")]
                filter,
                map,
            } => {
                let pos = reader.position();
                if pos >= map.released + 2 * RELEASE_STEP {
                    map.release_before(pos - RELEASE_STEP);
                }
                #[cfg_attr(not(feature = "pcap"), allow(clippy::never_loop))]
                loop {
                    match reader.next_packet() {
                        Ok(Some((meta, data))) => {
                            #[cfg(feature = "pcap")]
                            if let Some(f) = filter {
                                if !f.matches(data) {
                                    continue;
                                }
                            }
                            return Ok((Got::Packet(meta.ts), data));
                        }
                        Ok(None) => return Ok((Got::Eof, &[])),
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
                crate::source::live::Next::Packet(t) => (Got::Packet(t), &buf[..]),
                crate::source::live::Next::Idle => (Got::Idle, &[]),
                crate::source::live::Next::Eof => (Got::Eof, &[]),
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
            Source::File { reader, map, .. } => Some((reader.position() as u64, map.len as u64)),
            #[cfg(feature = "pcap")]
            Source::Pcap { .. } => None,
        }
    }
}

/// Accounts a batch of parsed packets in order, expiring what is due
/// before each packet can join it; the clock never runs backwards on
/// out-of-order timestamps.
fn process(
    batch: &mut Vec<(Timestamp, ParsedPacket, u32)>,
    cache: &mut FlowCache,
    clock: &mut Timestamp,
    flows: &mut Vec<Flow>,
) {
    for (_, _, tag) in batch.iter() {
        cache.prefetch_entry(*tag);
    }
    for (ts, p, _) in batch.drain(..) {
        *clock = (*clock).max(ts);
        if cache.next_deadline().is_some_and(|d| d <= *clock) {
            cache.poll(*clock, flows);
        }
        cache.packet(&p, ts, flows);
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
    // Files are read in batches of parsed packets whose table slots and
    // entries are prefetched before the packets are accounted, one by one
    // and in order; a live capture accounts each packet as it comes.
    let batch_size = if live { 1 } else { 32 };
    let mut batch: Vec<(Timestamp, ParsedPacket, u32)> = Vec::with_capacity(batch_size);
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
        let (got, frame) = match src.next(&mut buf) {
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
                process(&mut batch, &mut cache, &mut clock, &mut flows);
                // A quiet link: the wall clock moves flows along.
                clock = clock.max(Timestamp::now());
                cache.poll(clock, &mut flows);
                emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);
                continue;
            }
            Got::Packet(ts) => ts,
        };
        n.frames += 1;
        match packet::parse(link, frame) {
            Ok(p) => {
                let tag = cache.prefetch_slot(&p);
                batch.push((ts, p, tag));
            }
            Err(ParseError::Truncated) => n.truncated += 1,
            Err(ParseError::NotIp) => n.not_ip += 1,
            Err(ParseError::BadIp | ParseError::UnsupportedLink(_)) => n.bad_ip += 1,
        }
        if batch.len() >= batch_size {
            process(&mut batch, &mut cache, &mut clock, &mut flows);
            if !flows.is_empty() || exporter.next_deadline().is_some_and(|d| d <= clock) {
                emit(&mut flows, &mut exporter, &mut sink, &mut out, clock);
            }
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
    process(&mut batch, &mut cache, &mut clock, &mut flows);
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
