//! Capture-mode driver (I/O): packets in, NetFlow datagrams out.
//!
//! Reads a pcap file in large chunks with the pure reader (or, with the
//! `pcap` feature, a pcapng file or a live interface through libpcap),
//! parses each frame, feeds the flow cache and exports through the same
//! [`Exporter`] and [`UdpSink`] pfsync mode uses. The clock is the
//! packets' clock: replaying a capture expires flows, and stamps records
//! and datagram headers, in capture time. A live capture also advances the
//! clock from the wall clock when the link is quiet. Holds no flow logic
//! of its own.
//!
//! A replay runs on two threads, because one core cannot both read and
//! parse a large file and keep a table of a million conversations at the
//! speed the file allows: this one reads, parses and readies packets
//! ([`CacheConfig::prepare`]) in batches, and exports; the table's thread
//! accounts the batches in order and hands back the flows that ended. The
//! flows, their order of accounting and their times are exactly those of
//! one thread (the cache is the same pure code, fed the same packets in
//! the same order); only the export of a batch's flows happens while later
//! packets are already being read. A live capture accounts each packet as
//! it comes, on one thread.

use crate::capture::cache::Prepared;
use crate::capture::{CacheConfig, ConvChunk, FlowCache};
use crate::cli::{Config, Mode};
use crate::daemon::life;
use crate::daemon::signals::Signals;
use crate::export::udp::UdpSink;
use crate::export::{Exporter, Outgoing};
use crate::flow::Flow;
use crate::log::{self, Level, RateLimit};
use crate::packet::{self, ParseError, linktype};
use crate::source::pcap_file::{PcapError, PcapReader};
use crate::time::Timestamp;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
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

enum Source {
    File {
        reader: PcapReader<std::fs::File>,
        /// The file's size, for the progress line.
        size: u64,
        #[cfg(feature = "pcap")]
        filter: Option<crate::source::live::Filter>,
    },
    #[cfg(feature = "pcap")]
    Pcap {
        src: crate::source::live::LibpcapSource,
        live: bool,
    },
}

enum Got {
    Packet(Timestamp),
    /// A packet the BPF filter did not select.
    #[cfg_attr(not(feature = "pcap"), allow(dead_code))]
    Filtered,
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
            let reader = PcapReader::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
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
                    size,
                    #[cfg(feature = "pcap")]
                    filter,
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
                ..
            } => match reader.next_record() {
                Ok(Some((meta, data))) => {
                    #[cfg(feature = "pcap")]
                    if let Some(f) = filter {
                        if !f.matches(data) {
                            return Ok((Got::Filtered, &[]));
                        }
                    }
                    Ok((Got::Packet(meta.ts), data))
                }
                Ok(None) => Ok((Got::Eof, &[])),
                Err(e @ (PcapError::Truncated | PcapError::BadRecord { .. })) => {
                    log::log(Level::Warning, &format!("{e}; stopped there"));
                    Err(String::new())
                }
                Err(e) => Err(e.to_string()),
            },
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
            Source::File { reader, size, .. } => Some((reader.position(), *size)),
            #[cfg(feature = "pcap")]
            Source::Pcap { .. } => None,
        }
    }
}

/// Packets read and readied for the flow table, passed from the I/O side
/// to the table and back.
struct Batch {
    packets: Vec<(Timestamp, Prepared)>,
    /// A quiet live link: the wall clock moves flows along.
    tick: Option<Timestamp>,
    /// The capture clock after the batch.
    clock: Timestamp,
    /// Conversations tracked after the batch (for the progress line).
    tracked: usize,
    /// Flow buffers the exporter has emptied, going back to the table to
    /// be filled again: a replay ends millions of flows, and buffers that
    /// go round are not allocated (and faulted in) anew for each chunk.
    emptied: Vec<Vec<Flow>>,
    /// Room for more conversations, made on the reading side (the table
    /// grows by chunks a few milliseconds each to fault in).
    chunk: Option<ConvChunk>,
    /// Set by the table: it would take a chunk, and how many it has had.
    wants_chunk: bool,
    chunks_given: u64,
}

impl Batch {
    fn new(cap: usize) -> Batch {
        Batch {
            packets: Vec::with_capacity(cap),
            tick: None,
            clock: Timestamp::ZERO,
            tracked: 0,
            emptied: Vec::new(),
            chunk: None,
            wants_chunk: false,
            chunks_given: 0,
        }
    }
}

/// Flows handed to the exporter at a time: a batch's, or a share of the
/// many that end together (an `expint` interval's, or the whole table's at
/// the end).
const FLOW_CHUNK: usize = 4096;

/// How far ahead of the packet being accounted the table prefetches: the
/// batch's own lines at 4× (the reader wrote them on the other core), the
/// index slots at 2×, the entries those slots point to at 1×. Each stage
/// then finds its input cached, and a packet's misses overlap those of the
/// packets before it instead of stalling one after another.
const PREFETCH: usize = 16;

/// Most emptied flow buffers kept for reuse.
const SPARE_FLOWS: usize = 2 * IN_FLIGHT;

/// The flow table, its clock, and the flows it has ended but not yet
/// handed on.
struct Tracker {
    cache: FlowCache,
    clock: Timestamp,
    flows: Vec<Flow>,
    /// Emptied buffers to hand the next flows on in.
    spare: Vec<Vec<Flow>>,
}

/// Where ended flows go: to export, with the capture clock they ended at.
type Emit<'a> = dyn FnMut(Vec<Flow>, Timestamp) + 'a;

/// The exporter, as the reading side calls it.
type ExportFn<'a> = dyn FnMut(&[Flow], Timestamp) + 'a;

/// Exports the flows in `f` and keeps the emptied buffer in `spare`.
fn export_and_keep(
    export: &mut ExportFn,
    mut f: Vec<Flow>,
    now: Timestamp,
    spare: &mut Vec<Vec<Flow>>,
) {
    export(&f, now);
    if spare.len() < SPARE_FLOWS {
        f.clear();
        spare.push(f);
    }
}

impl Tracker {
    fn new(cache: FlowCache) -> Tracker {
        Tracker {
            cache,
            clock: Timestamp::ZERO,
            flows: Vec::with_capacity(FLOW_CHUNK),
            spare: Vec::new(),
        }
    }

    /// Accounts a batch in order, expiring what is due before each packet
    /// can join it; the clock never runs backwards on out-of-order
    /// timestamps. The flows that ended go to `emit`.
    fn take(&mut self, b: &mut Batch, emit: &mut Emit) {
        let Tracker {
            cache,
            clock,
            flows,
            spare,
        } = self;
        let room = SPARE_FLOWS.saturating_sub(spare.len());
        // Draining drops what is beyond the bound.
        spare.extend(b.emptied.drain(..).take(room));
        if let Some(c) = b.chunk.take() {
            cache.give_chunk(c);
        }
        let packets = &b.packets;
        for (_, p) in packets.iter().take(2 * PREFETCH) {
            cache.prefetch_slot(p);
        }
        for k in 0..packets.len() {
            if let Some(e) = packets.get(k + 4 * PREFETCH) {
                crate::capture::cache::prefetch(e);
            }
            if let Some((_, p)) = packets.get(k + 2 * PREFETCH) {
                cache.prefetch_slot(p);
            }
            if let Some((_, p)) = packets.get(k + PREFETCH) {
                cache.prefetch_entry(p);
            }
            let (ts, p) = &packets[k];
            *clock = (*clock).max(*ts);
            if cache.next_deadline().is_some_and(|d| d <= *clock) {
                let now = *clock;
                cache.poll_with(now, flows, FLOW_CHUNK, |f| hand_on(emit, f, spare, now));
            }
            cache.account(p, *ts, flows);
        }
        b.packets.clear();
        if let Some(t) = b.tick.take() {
            *clock = (*clock).max(t);
            let now = *clock;
            cache.poll_with(now, flows, FLOW_CHUNK, |f| hand_on(emit, f, spare, now));
        }
        if !flows.is_empty() {
            hand_on(emit, flows, spare, *clock);
        }
        b.clock = *clock;
        b.tracked = cache.len();
        b.wants_chunk = cache.wants_chunk();
        b.chunks_given = cache.chunks_given();
    }

    /// Ends every conversation (end of file, or a signal).
    fn end(&mut self, emit: &mut Emit) {
        let now = self.clock;
        let spare = &mut self.spare;
        self.cache.drain_with(&mut self.flows, FLOW_CHUNK, |f| {
            hand_on(emit, f, spare, now)
        });
        if !self.flows.is_empty() {
            hand_on(emit, &mut self.flows, spare, now);
        }
    }
}

/// Passes the flows in `f` on, leaving it empty with room for a chunk (a
/// spare buffer when there is one).
fn hand_on(emit: &mut Emit, f: &mut Vec<Flow>, spare: &mut Vec<Vec<Flow>>, now: Timestamp) {
    let next = spare
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(FLOW_CHUNK));
    emit(std::mem::replace(f, next), now);
}

/// Batches in flight between the I/O thread and the table's.
const IN_FLIGHT: usize = 4;

/// What the table's thread sends back: flows to export, and batches
/// emptied for the reader to fill again.
enum Back {
    Flows(Vec<Flow>, Timestamp),
    Batch(Batch),
}

/// Where the flow table runs.
enum Tracking {
    /// On this thread, each packet as it comes (live capture).
    Inline(Box<Tracker>),
    /// On a thread of its own (replay), while this one reads, parses and
    /// exports: the two cores of a small box each do half the work.
    Threaded {
        to: std::sync::mpsc::SyncSender<Batch>,
        back: std::sync::mpsc::Receiver<Back>,
        spare: Vec<Batch>,
        /// Flow buffers exported, to go back with the next batch.
        emptied: Vec<Vec<Flow>>,
        /// Conversation chunks made here and sent to the table.
        chunks_sent: u64,
        table: std::thread::JoinHandle<Tracker>,
    },
}

const TABLE_GONE: &str = "the flow table's thread stopped";

impl Tracking {
    fn threaded(mut t: Tracker, batch: usize) -> Result<Tracking, String> {
        let (to, rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
        let (tx, back) = std::sync::mpsc::sync_channel::<Back>(IN_FLIGHT);
        let table = std::thread::Builder::new()
            .name("flow-table".into())
            .spawn(move || {
                let mut emit = |f: Vec<Flow>, now: Timestamp| {
                    let _ = tx.send(Back::Flows(f, now));
                };
                for mut b in &rx {
                    t.take(&mut b, &mut emit);
                    if tx.send(Back::Batch(b)).is_err() {
                        return t;
                    }
                }
                // The reader is done: end the rest while it exports.
                t.end(&mut emit);
                t
            })
            .map_err(|e| format!("starting the flow table's thread: {e}"))?;
        Ok(Tracking::Threaded {
            to,
            back,
            spare: (1..IN_FLIGHT).map(|_| Batch::new(batch)).collect(),
            emptied: Vec::new(),
            chunks_sent: 0,
            table,
        })
    }

    /// Hands a filled batch over; returns one to fill, after passing the
    /// flows that ended meanwhile to `export`.
    fn exchange(&mut self, mut b: Batch, export: &mut ExportFn) -> Result<Batch, String> {
        match self {
            Tracking::Inline(t) => {
                let mut emptied = std::mem::take(&mut b.emptied);
                t.take(&mut b, &mut |f, now| {
                    export_and_keep(export, f, now, &mut emptied)
                });
                b.emptied = emptied;
                Ok(b)
            }
            Tracking::Threaded {
                to,
                back,
                spare,
                emptied,
                chunks_sent,
                ..
            } => {
                b.emptied.append(emptied);
                to.send(b).map_err(|_| TABLE_GONE.to_string())?;
                if let Some(b) = spare.pop() {
                    return Ok(b);
                }
                loop {
                    match back.recv().map_err(|_| TABLE_GONE.to_string())? {
                        Back::Flows(f, now) => export_and_keep(export, f, now, emptied),
                        Back::Batch(mut b) => {
                            // One chunk on its way at a time.
                            if b.wants_chunk && b.chunks_given == *chunks_sent {
                                b.chunk = Some(ConvChunk::new());
                                *chunks_sent += 1;
                            }
                            return Ok(b);
                        }
                    }
                }
            }
        }
    }

    /// Hands the last batch over and ends every conversation; every flow
    /// still to come goes to `export`. Returns the (now empty) table.
    fn finish(self, mut b: Batch, export: &mut ExportFn) -> Result<Tracker, String> {
        match self {
            Tracking::Inline(mut t) => {
                let mut export = |f: Vec<Flow>, now| export(&f, now);
                t.take(&mut b, &mut export);
                t.end(&mut export);
                Ok(*t)
            }
            Tracking::Threaded {
                to, back, table, ..
            } => {
                to.send(b).map_err(|_| TABLE_GONE.to_string())?;
                drop(to);
                for m in back {
                    if let Back::Flows(f, now) = m {
                        export(&f, now);
                    }
                }
                table.join().map_err(|_| TABLE_GONE.to_string())
            }
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

/// The export side: flows to datagrams to collectors.
struct Export {
    exporter: Exporter,
    sink: UdpSink,
    out: Vec<Outgoing>,
    dump: bool,
    send_log: RateLimit,
}

impl Export {
    fn flows(&mut self, flows: &[Flow], now: Timestamp) {
        for f in flows {
            if self.dump {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{f}");
            }
            self.exporter.push(f, now, &mut self.out);
        }
        self.tick(now);
    }

    /// Sends what is ready, and what the exporter's timers say is due.
    fn tick(&mut self, now: Timestamp) {
        if self.exporter.next_deadline().is_some_and(|d| d <= now) {
            self.exporter.poll(now, &mut self.out);
        }
        self.send(now);
    }

    fn send(&mut self, now: Timestamp) {
        self.sink
            .send_reporting(&mut self.out, &mut self.exporter, &mut self.send_log, now);
    }
}

/// Runs capture mode to the end of the file (or a signal on a live
/// interface). Exit status 2 when the file ended in a damaged record or
/// datagrams were dropped.
pub fn run(cfg: Config) -> Result<ExitCode, String> {
    if cfg.debug {
        log::set_level(Level::Debug);
    }
    // A live capture is a daemon: refuse a second instance first.
    let pidfile = if cfg.read.is_none() {
        life::lock_pidfile(&cfg)?
    } else {
        None
    };
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
    let addrs: Vec<_> = cfg.collectors.iter().map(|c| c.addr).collect();
    let mut ex = Export {
        sink: UdpSink::open(&addrs, None).map_err(|e| e.to_string())?,
        exporter: Exporter::new(&cfg.collectors, cfg.encoder),
        out: Vec::new(),
        dump: cfg.dump,
        send_log: RateLimit::new(10),
    };
    // With the capture and the sockets open, a live capture becomes a
    // daemon as pfsync mode's live sources do: pidfile, chroot, the
    // unprivileged user, syslog (unless -d).
    let detached = if live {
        let d = life::detach(&cfg, pidfile, || Ok(()))?;
        log::log(
            Level::Notice,
            &format!(
                "capturing on {what}, exporting to {} collector(s), running as {}",
                cfg.collectors.len(),
                d.user
            ),
        );
        Some(d)
    } else {
        None
    };
    // TERM/INT end the run as the end of the file does (every flow is
    // exported); HUP reopens syslog.
    let signals = Signals::install().map_err(|e| format!("signals: {e}"))?;
    let cache_cfg = CacheConfig {
        timeouts: cfg.capture.timeouts,
        max_flows: cfg.capture.max_flows,
        key_vlan: cfg.capture.track_vlan,
        ifindex: cfg.capture.ifindex,
    };
    let tracker = Tracker::new(FlowCache::new(cache_cfg));
    // A live capture accounts each packet as it comes; a file is read in
    // batches that the table takes on its own thread.
    let batch_size = if live { 1 } else { 4096 };
    let mut tracking = if live {
        Tracking::Inline(Box::new(tracker))
    } else {
        Tracking::threaded(tracker, batch_size)?
    };
    // SAFETY: isatty only inspects a descriptor.
    let tty = unsafe { libc::isatty(2) } == 1;
    let started = Instant::now();
    let mut last_progress = started;

    let mut buf = Vec::with_capacity(65_536);
    let mut n = Counters::default();
    let mut status = ExitCode::SUCCESS;
    let mut batch = Batch::new(batch_size);
    let mut tracked = 0;
    let mut turns: u32 = 0;
    let mut quiet = false;
    loop {
        turns = turns.wrapping_add(1);
        // Signals: after every quiet spell of a live link (a signal ends
        // its wait), and every 1024 turns of a busy one.
        if quiet || turns % 1024 == 0 {
            let sig = signals.take();
            if sig.hangup {
                log::reopen();
            }
            if sig.terminate {
                break;
            }
        }
        let (got, frame) = match src.next(&mut buf) {
            Ok(g) => g,
            Err(e) if e.is_empty() => {
                status = ExitCode::from(2);
                break;
            }
            Err(e) => return Err(format!("{what}: {e}")),
        };
        quiet = matches!(got, Got::Idle);
        match got {
            Got::Eof => break,
            Got::Idle => batch.tick = Some(Timestamp::now()),
            Got::Filtered => {}
            Got::Packet(ts) => {
                n.frames += 1;
                match packet::parse(link, frame) {
                    Ok(p) => batch.packets.push((ts, cache_cfg.prepare(&p))),
                    Err(ParseError::Truncated) => n.truncated += 1,
                    Err(ParseError::NotIp) => n.not_ip += 1,
                    Err(ParseError::BadIp | ParseError::UnsupportedLink(_)) => n.bad_ip += 1,
                }
            }
        }
        if batch.packets.len() >= batch_size || batch.tick.is_some() {
            batch = tracking.exchange(batch, &mut |f, now| ex.flows(f, now))?;
            ex.tick(batch.clock);
            tracked = batch.tracked;
        }
        if tty && n.frames & 0xffff == 0 {
            let now = Instant::now();
            if now.duration_since(last_progress).as_secs() >= 1 {
                last_progress = now;
                if let Some((done, size)) = src.progress() {
                    let pct = (done * 100).checked_div(size).unwrap_or(0);
                    eprint!(
                        "\r{what}: {pct:>3}%  {} packets  {tracked} flows tracked  ",
                        n.frames
                    );
                }
            }
        }
    }
    if live {
        batch.tick = Some(Timestamp::now());
    }
    let mut clock = Timestamp::ZERO;
    let Tracker { cache, .. } = tracking.finish(batch, &mut |f, now| {
        clock = clock.max(now);
        ex.flows(f, now);
    })?;
    if tty && last_progress != started {
        eprintln!();
    }
    ex.exporter.flush(clock, &mut ex.out);
    ex.send(clock);
    let Export { exporter, sink, .. } = ex;

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
    if let Some(d) = detached {
        d.finish();
    }
    Ok(status)
}
