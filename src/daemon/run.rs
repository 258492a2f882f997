//! The pfsync-mode main loop.
//!
//! One thread: read packets from the source, hand them to the pipeline
//! with their arrival time, send what it returns. A replayed file uses the
//! capture's clock and runs to its end; a live source uses the wall clock
//! and runs until SIGTERM/SIGINT or `stateflowctl shutdown`, waking at
//! least once a second (and when a datagram's flush deadline comes) so a
//! quiet firewall still exports promptly.

use super::control::{self, Command, ControlSocket};
use super::life;
use super::pidfile::Pidfile;
use super::signals::Signals;
use super::statefile::StateFile;
use crate::cli::Config;
use crate::export::Outgoing;
use crate::export::udp::UdpSink;
use crate::log::{self, Level, RateLimit};
use crate::pfsync::carrier::LinkType;
use crate::pfsync::encode::V6FrameBuilder;
use crate::pipeline::{IpPolicy, PfsyncPipeline, PipelineConfig};
use crate::refresh::Refresher;
#[cfg(feature = "pcap")]
use crate::source::live::LibpcapSource;
use crate::source::pcap_file::{PcapError, PcapReader};
use crate::source::rawsock::RawSocket;
use crate::state::{ConvertOptions, TableConfig};
use crate::time::Timestamp;
use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::process::ExitCode;

/// Exit status when the run finished but lost or skipped something
/// (a truncated capture, datagrams dropped, the state file not saved).
pub const EXIT_PARTIAL: u8 = 2;

struct Runtime {
    pipeline: PfsyncPipeline,
    sink: UdpSink,
    out: Vec<Outgoing>,
    started: Timestamp,
    bad_frame_log: RateLimit,
    send_log: RateLimit,
    source_name: String,
    /// Frames the kernel dropped before we could read them.
    socket_overflow: u32,
    /// Packets libpcap or the interface dropped (live libpcap sources).
    capture_drops: u64,
    /// Errors reading the source.
    source_errors: u64,
    state_file: Option<StateFile>,
    /// Per collector: told the operator that v5 cannot carry IPv6.
    warned_v6: Vec<bool>,
}

impl Runtime {
    fn send_all(&mut self, now: Timestamp) {
        self.sink.send_reporting(
            &mut self.out,
            self.pipeline.exporter_mut(),
            &mut self.send_log,
            now,
        );
        self.warn_unexportable_once();
    }

    /// Logs once per collector when the first IPv6 flow meets a v5 one.
    fn warn_unexportable_once(&mut self) {
        for (c, w) in self.warned_v6.iter_mut().enumerate() {
            if !*w && self.pipeline.exporter().stats(c).unexportable > 0 {
                *w = true;
                let addr = self.sink.collectors().get(c).map(|c| c.addr.to_string());
                log::log(
                    Level::Notice,
                    &format!(
                        "collector {}: NetFlow v5 cannot carry IPv6 flows; they are counted and skipped (use -v 9 or ipfix)",
                        addr.unwrap_or_default()
                    ),
                );
            }
        }
    }

    /// Sends the v9/IPFIX templates ahead of any data.
    fn announce(&mut self, now: Timestamp) {
        self.pipeline.exporter_mut().announce(now, &mut self.out);
        self.send_all(now);
    }

    /// One line per collector that had trouble.
    fn log_collector_errors(&self) {
        for c in self.sink.collectors() {
            let s = c.stats;
            if s.errors > 0 {
                log::log(
                    Level::Warning,
                    &format!(
                        "collector {}: {} datagrams sent, {} send errors ({} refused: the collector's port was closed), {} retried, {} dropped",
                        c.addr, s.datagrams, s.errors, s.refused, s.retries, s.dropped
                    ),
                );
            }
        }
    }

    fn packet(&mut self, link: LinkType, now: Timestamp, pkt: &[u8]) {
        if let Some(e) = self.pipeline.on_packet(link, now, pkt, &mut self.out) {
            if let Some(n) = self.bad_frame_log.check(now) {
                log::log(
                    Level::Warning,
                    &format!("skipping malformed pfsync: {e} (+{n} similar suppressed)"),
                );
            }
        }
        self.send_all(now);
    }

    fn statistics(&self, now: Timestamp) -> String {
        let mut o = String::new();
        let s = self.pipeline.stats();
        let t = self.pipeline.table().stats();
        let _ = writeln!(o, "source: {}", self.source_name);
        let _ = writeln!(
            o,
            "uptime_seconds: {}",
            now.micros_since(self.started) / 1_000_000
        );
        let _ = writeln!(o, "packets: {}", s.packets);
        let _ = writeln!(o, "frames: {}", s.frames);
        for (k, v) in &s.messages {
            let _ = writeln!(o, "messages.{k}: {v}");
        }
        let _ = writeln!(o, "dropped.socket_overflow: {}", self.socket_overflow);
        let _ = writeln!(o, "dropped.capture: {}", self.capture_drops);
        let _ = writeln!(o, "errors.source: {}", self.source_errors);
        for (k, v) in &s.not_pfsync {
            let _ = writeln!(o, "dropped.{k}: {v}");
        }
        for (k, v) in &s.decode_errors {
            let _ = writeln!(o, "malformed.{k}: {v}");
        }
        let _ = writeln!(o, "states.tracked: {}", self.pipeline.table().len());
        let _ = writeln!(o, "states.inserted: {}", t.inserts);
        let _ = writeln!(o, "states.learned: {}", t.learned);
        let _ = writeln!(o, "states.deleted: {}", t.deletes);
        let _ = writeln!(o, "states.unknown_deletes: {}", t.unknown_deletes);
        let _ = writeln!(o, "states.unknown_updates: {}", t.unknown_updates);
        let _ = writeln!(o, "states.cleared: {}", t.cleared_states);
        let _ = writeln!(o, "states.replaced: {}", t.replaced);
        let _ = writeln!(o, "states.evicted: {}", t.evicted);
        let _ = writeln!(o, "states.restored: {}", t.restored);
        let _ = writeln!(o, "bulk.starts: {}", t.bulk_starts);
        let _ = writeln!(o, "bulk.ends: {}", t.bulk_ends);
        let _ = writeln!(o, "bulk.ends_unmatched: {}", t.bulk_ends_unmatched);
        let _ = writeln!(o, "states.marked_stale: {}", t.marked_stale);
        let _ = writeln!(o, "states.stale_revived: {}", t.stale_revived);
        let _ = writeln!(o, "states.stale_ended: {}", t.stale_ended);
        let _ = writeln!(o, "states.ended: {}", s.states_ended);
        for (k, v) in &s.not_selected {
            let _ = writeln!(o, "not_selected.{k}: {v}");
        }
        let _ = writeln!(o, "flows: {}", s.flows);
        for (i, c) in self.sink.collectors().iter().enumerate() {
            let e = self.pipeline.exporter().stats(i);
            let _ = writeln!(
                o,
                "collector {}: flows {} records {} datagrams {} bytes {} errors {} refused {} retries {} dropped {} unexportable {}",
                c.addr,
                e.flows,
                e.records,
                c.stats.datagrams,
                c.stats.bytes,
                c.stats.errors,
                c.stats.refused,
                c.stats.retries,
                c.stats.dropped,
                e.unexportable
            );
        }
        if let Some(r) = self.pipeline.refresher() {
            let rs = r.stats();
            let _ = writeln!(
                o,
                "refresh: requests {} bulk_requests {} rate_limited {}",
                rs.requests, rs.bulk_requests, rs.rate_limited
            );
        }
        o
    }

    fn dump_states(&self) -> String {
        let mut o = String::new();
        let mut v: Vec<_> = self.pipeline.table().iter().collect();
        v.sort_by_key(|(id, _)| *id);
        for (id, t) in v {
            let (i, r) = if t.direction == crate::pfsync::PfDirection::Out {
                (1, 0)
            } else {
                (0, 1)
            };
            let _ = writeln!(
                o,
                "{:08x}.{:016x} {:?} proto {} {}:{} -> {}:{} if {} rule {} pkts {}/{} bytes {}/{} first {} last {} counters_at {}",
                id.creator,
                id.id,
                t.direction,
                t.proto,
                t.key.ip(i, t.family),
                t.key.port[i],
                t.key.ip(r, t.family),
                t.key.port[r],
                t.ifname.as_str(),
                t.rule,
                t.packets[0],
                t.packets[1],
                t.bytes[0],
                t.bytes[1],
                t.first,
                t.last,
                t.counters_at
            );
        }
        o
    }

    fn summary(&self) -> String {
        let s = self.pipeline.stats();
        let t = self.pipeline.table().stats();
        let sent: u64 = self
            .sink
            .collectors()
            .iter()
            .map(|c| c.stats.datagrams)
            .sum();
        let dropped: u64 = self.sink.collectors().iter().map(|c| c.stats.dropped).sum();
        format!(
            "{}: {} packets, {} pfsync frames, {} malformed; {} deletions ({} of unknown states), {} states still live; {} flows, {} datagrams sent, {} dropped",
            self.source_name,
            s.packets,
            s.frames,
            s.decode_error_total(),
            t.deletes + t.cleared_states,
            t.unknown_deletes,
            self.pipeline.table().len(),
            s.flows,
            sent,
            dropped
        )
    }

    /// Opens `--state-file` (before any chroot) and puts its states back.
    fn open_state_file(&mut self, cfg: &Config, now: Timestamp) -> Result<(), String> {
        let Some(path) = &cfg.state_file else {
            return Ok(());
        };
        let sf = StateFile::open(path)?;
        let states = sf.load();
        let n = self.pipeline.restore(&states, now, &mut self.out);
        if n > 0 {
            log::log(
                Level::Info,
                &format!("{n} saved states put back in the table"),
            );
        }
        self.send_all(now);
        self.state_file = Some(sf);
        Ok(())
    }

    /// Writes the state table to `--state-file`, if any; false when that
    /// failed (already logged).
    fn save_states(&self) -> bool {
        let Some(sf) = &self.state_file else {
            return true;
        };
        match sf.save(self.pipeline.table()) {
            Ok(n) => {
                log::log(
                    Level::Notice,
                    &format!("saved {n} live states to {}", sf.path().display()),
                );
                true
            }
            Err(e) => {
                log::log(Level::Error, &e);
                false
            }
        }
    }

    fn dropped(&self) -> u64 {
        self.sink.collectors().iter().map(|c| c.stats.dropped).sum()
    }
}

fn build(cfg: &Config, source_name: String, now: Timestamp) -> Result<Runtime, String> {
    let addrs: Vec<_> = cfg.collectors.iter().map(|c| c.addr).collect();
    let sink = UdpSink::open(&addrs, cfg.source).map_err(|e| e.to_string())?;
    let mut pipeline = PfsyncPipeline::new(
        PipelineConfig {
            table: TableConfig {
                max_states: cfg.max_states,
            },
            convert: ConvertOptions::default(),
            encoder: cfg.encoder,
            selection: cfg.selection.clone(),
            ip_policy: IpPolicy {
                require_ttl_255: !cfg.any_ttl,
                peers: cfg.accept_peers.iter().map(|a| a.octets()).collect(),
            },
        },
        &cfg.collectors,
        cfg.ifindex.clone(),
    );
    if cfg.dump {
        pipeline.set_observer(Box::new(|f| {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{f}");
            let _ = o.flush();
        }));
    }
    Ok(Runtime {
        pipeline,
        sink,
        out: Vec::new(),
        started: now,
        bad_frame_log: RateLimit::new(60),
        send_log: RateLimit::new(60),
        source_name,
        socket_overflow: 0,
        capture_drops: 0,
        source_errors: 0,
        state_file: None,
        warned_v6: vec![false; cfg.collectors.len()],
    })
}

/// Runs pfsync mode as configured; returns the exit status.
pub fn run(cfg: Config) -> Result<ExitCode, String> {
    if cfg.debug {
        log::set_level(Level::Debug);
    }
    if let Some(path) = &cfg.decode {
        return decode(path);
    }
    if let Some(path) = &cfg.read {
        return replay(&cfg, path.clone());
    }
    let pidfile = life::lock_pidfile(&cfg)?;
    let input = match (&cfg.syncdev, &cfg.interface) {
        (Some(dev), _) => {
            let sock = RawSocket::open_with_buffer(dev, cfg.syncpeer, cfg.rcvbuf)
                .map_err(|e| format!("--syncdev {dev}: {e}"))?;
            Input::Sync {
                sock,
                dev: dev.clone(),
            }
        }
        (None, Some(iface)) => open_pcap(iface)?,
        (None, None) => return Err("nothing to read".into()),
    };
    live(&cfg, pidfile, input)
}

/// libpcap's largest snap length: no pfsync frame is ever cut short.
#[cfg(feature = "pcap")]
const LIVE_SNAPLEN: i32 = 262_144;

#[cfg(feature = "pcap")]
fn open_pcap(iface: &str) -> Result<Input, String> {
    // pfsync0 needs no promiscuous mode; an Ethernet interface carrying the
    // sync link does, unless something on the host joined 224.0.0.240.
    let promisc = !iface.starts_with("pfsync");
    let cap = LibpcapSource::live(iface, LIVE_SNAPLEN, promisc, None)?;
    let link = LinkType(cap.link_type());
    if !link.is_supported() {
        return Err(format!(
            "{iface}: link type {} carries no pfsync we can read",
            link.0
        ));
    }
    Ok(Input::Pcap {
        cap,
        link,
        iface: iface.to_string(),
    })
}

#[cfg(not(feature = "pcap"))]
fn open_pcap(iface: &str) -> Result<Input, String> {
    Err(format!(
        "live capture on {iface} needs libpcap support, which this build lacks; use --syncdev on the sync link or -r FILE"
    ))
}

fn replay(cfg: &Config, path: std::path::PathBuf) -> Result<ExitCode, String> {
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader =
        PcapReader::new(BufReader::new(file)).map_err(|e| format!("{}: {e}", path.display()))?;
    let link = LinkType(reader.link_type);
    if !link.is_supported() {
        return Err(format!(
            "{}: link type {} carries no pfsync we can read (want 246, 18, 121, Ethernet, raw IP, loopback or Linux cooked)",
            path.display(),
            reader.link_type
        ));
    }
    let mut rt = build(cfg, path.display().to_string(), Timestamp::ZERO)?;
    let mut state_file_read = cfg.state_file.is_none();
    let signals = Signals::install().map_err(|e| format!("signals: {e}"))?;
    let mut buf = Vec::with_capacity(65_536);
    let mut last_ts = Timestamp::ZERO;
    let mut status = ExitCode::SUCCESS;
    let mut n: u64 = 0;
    loop {
        match reader.next_packet(&mut buf) {
            Ok(Some(meta)) => {
                if rt.started == Timestamp::ZERO {
                    rt.started = meta.ts;
                    // v9/IPFIX collectors learn the templates before data.
                    rt.announce(meta.ts);
                }
                if !state_file_read {
                    // States saved by an earlier run, restored at the
                    // capture's clock.
                    rt.open_state_file(cfg, meta.ts)?;
                    state_file_read = true;
                }
                last_ts = last_ts.max(meta.ts);
                rt.packet(link, meta.ts, &buf);
            }
            Ok(None) => break,
            Err(e @ (PcapError::Truncated | PcapError::BadRecord { .. })) => {
                log::log(
                    Level::Warning,
                    &format!("{}: {e}; stopped there", path.display()),
                );
                status = ExitCode::from(EXIT_PARTIAL);
                break;
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        n += 1;
        if n % 1024 == 0 && signals.take().terminate {
            log::log(Level::Notice, "interrupted; exporting what was read");
            break;
        }
    }
    rt.pipeline.flush(last_ts, false, &mut rt.out);
    rt.send_all(last_ts);
    log::log(Level::Notice, &rt.summary());
    for (c, col) in rt.sink.collectors().iter().enumerate() {
        let es = rt.pipeline.exporter().stats(c);
        if es.unexportable > 0 {
            log::log(
                Level::Notice,
                &format!(
                    "{} IPv6 flows cannot be sent as NetFlow v5 and were skipped for collector {}",
                    es.unexportable, col.addr
                ),
            );
        }
    }
    rt.log_collector_errors();
    if !state_file_read {
        // an empty capture: keep what was saved as it was
        rt.open_state_file(cfg, last_ts)?;
    }
    if rt.dropped() > 0 || !rt.save_states() {
        status = ExitCode::from(EXIT_PARTIAL);
    }
    Ok(status)
}

/// Where a live daemon reads pfsync.
enum Input {
    /// The sync link: a raw IP socket (frames arrive without link header).
    Sync { sock: RawSocket, dev: String },
    /// An interface through libpcap: pfsync0, or one carrying the sync
    /// link.
    #[cfg(feature = "pcap")]
    Pcap {
        cap: LibpcapSource,
        link: LinkType,
        iface: String,
    },
}

impl Input {
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        match self {
            Input::Sync { sock, .. } => Some(sock.fd()),
            #[cfg(feature = "pcap")]
            Input::Pcap { cap, .. } => cap.fd(),
        }
    }

    fn describe(&self, cfg: &Config) -> String {
        match self {
            Input::Sync { dev, .. } => format!(
                "sync link {dev} ({})",
                match cfg.syncpeer {
                    Some(p) => format!("unicast peer {p}"),
                    None => "group 224.0.0.240".into(),
                }
            ),
            #[cfg(feature = "pcap")]
            Input::Pcap { iface, link, .. } => format!("{iface} (libpcap, link type {})", link.0),
        }
    }
}

/// Consecutive read errors after which the source is given up: the daemon
/// exports what it has, saves its states and exits (status 1) for its
/// supervisor to restart it.
const MAX_SOURCE_ERRORS: u32 = 10;

/// Everything a live daemon holds besides the runtime.
struct Live {
    rt: Runtime,
    input: Input,
    control: Option<ControlSocket>,
    signals: Signals,
    recv_log: RateLimit,
    /// Read errors since the last packet.
    failing: u32,
    /// After a read error the source is left alone until then.
    resume_at: Timestamp,
}

fn live(cfg: &Config, pidfile: Option<Pidfile>, input: Input) -> Result<ExitCode, String> {
    let now = Timestamp::now();
    let mut rt = build(cfg, input.describe(cfg), now)?;
    if let Some(r) = cfg.refresh {
        rt.pipeline.set_refresher(Refresher::new(r));
    }
    rt.open_state_file(cfg, now)?;
    let control = match &cfg.control {
        Some(p) => Some(ControlSocket::bind(p)?),
        None => None,
    };
    let sf = rt.state_file.as_ref();
    let detached = life::detach(cfg, pidfile, || {
        sf.map_or(Ok(()), StateFile::check_writable)
    })?;
    let signals = Signals::install().map_err(|e| format!("signals: {e}"))?;
    log::log(
        Level::Notice,
        &format!(
            "listening for pfsync on {}, exporting to {} collector(s), running as {}",
            input.describe(cfg),
            cfg.collectors.len(),
            detached.user
        ),
    );
    let mut live = Live {
        rt,
        input,
        control,
        signals,
        recv_log: RateLimit::new(60),
        failing: 0,
        resume_at: Timestamp::ZERO,
    };
    let code = live.run();
    detached.finish();
    Ok(code)
}

impl Live {
    fn send_requests(&mut self, now: Timestamp) {
        let reqs = self.rt.pipeline.take_requests();
        if reqs.is_empty() {
            return;
        }
        // UPD_REQ messages are 16 bytes with their subheader: ~90 fit a
        // 1500-byte frame.
        for chunk in reqs.chunks(80) {
            let mut b = V6FrameBuilder::new();
            for m in chunk {
                b.push(m);
            }
            let sock = match &self.input {
                Input::Sync { sock, .. } => sock,
                // requests need the sync link (the command line ensures it)
                #[cfg(feature = "pcap")]
                Input::Pcap { .. } => return,
            };
            if let Err(e) = sock.send(&b.finish()) {
                if let Some(n) = self.recv_log.check(now) {
                    log::log(
                        Level::Warning,
                        &format!("sending pfsync request: {e} (+{n} suppressed)"),
                    );
                }
            }
        }
    }

    /// Reads what the source holds, at most a bounded number of packets so
    /// that signals and the control socket get their turn. False when the
    /// source has failed too often to go on.
    #[cfg_attr(not(feature = "pcap"), allow(unused_variables, clippy::ptr_arg))]
    fn drain(&mut self, buf: &mut [u8], pbuf: &mut Vec<u8>) -> bool {
        let now = Timestamp::now();
        if now < self.resume_at {
            return true;
        }
        for _ in 0..4096 {
            let got: Result<bool, String> = match &mut self.input {
                Input::Sync { sock, .. } => match sock.recv(buf) {
                    Ok(Some(n)) => {
                        let now = Timestamp::now();
                        self.rt
                            .packet(LinkType::RAW, now, buf.get(..n).unwrap_or_default());
                        Ok(true)
                    }
                    Ok(None) => Ok(false),
                    Err(e) => Err(e.to_string()),
                },
                #[cfg(feature = "pcap")]
                Input::Pcap { cap, link, .. } => match cap.try_next(pbuf) {
                    Ok(Some(ts)) => {
                        self.rt.packet(*link, ts, pbuf);
                        Ok(true)
                    }
                    Ok(None) => Ok(false),
                    Err(e) => Err(e),
                },
            };
            match got {
                Ok(true) => self.failing = 0,
                Ok(false) => break,
                Err(e) => {
                    self.rt.source_errors += 1;
                    self.failing += 1;
                    // Leave a failing source alone for a second rather
                    // than spin on it.
                    self.resume_at = now.saturating_add_micros(1_000_000);
                    if let Some(n) = self.recv_log.check(now) {
                        log::log(
                            Level::Warning,
                            &format!("reading pfsync: {e} (+{n} suppressed)"),
                        );
                    }
                    break;
                }
            }
        }
        match &mut self.input {
            // Current, end of a burst included (see overflow_drops).
            Input::Sync { sock, .. } => self.rt.socket_overflow = sock.overflow_drops(),
            #[cfg(feature = "pcap")]
            Input::Pcap { cap, .. } => {
                if let Some((_, dropped, if_dropped)) = cap.stats() {
                    self.rt.capture_drops = u64::from(dropped) + u64::from(if_dropped);
                }
            }
        }
        self.failing < MAX_SOURCE_ERRORS
    }

    fn run(&mut self) -> ExitCode {
        let mut buf = vec![0u8; 65_536];
        let mut pbuf = Vec::with_capacity(65_536);
        self.rt.announce(Timestamp::now());
        self.send_requests(Timestamp::now());
        loop {
            let now = Timestamp::now();
            let timeout_ms = match self.rt.pipeline.next_deadline() {
                Some(d) => (d.micros_since(now) / 1000).clamp(0, 1000) as i32,
                None => 1000,
            };
            // A negative descriptor is skipped by poll: a failing source
            // waits out its pause.
            let source_fd = match self.input.fd() {
                Some(fd) if now >= self.resume_at => fd,
                _ => -1,
            };
            let mut fds = vec![
                libc::pollfd {
                    fd: source_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.signals.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if let Some(c) = &self.control {
                fds.push(libc::pollfd {
                    fd: c.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: poll over a live array of pollfd.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };

            if !self.drain(&mut buf, &mut pbuf) {
                log::log(
                    Level::Error,
                    &format!(
                        "{}: {} read errors in a row; giving up so that the supervisor can restart us",
                        self.rt.source_name, self.failing
                    ),
                );
                let _ = self.shutdown(Timestamp::now());
                return ExitCode::from(1);
            }
            let now = Timestamp::now();
            self.rt.pipeline.poll(now, &mut self.rt.out);
            self.rt.send_all(now);
            self.send_requests(now);

            let sig = self.signals.take();
            if sig.usr1 {
                log::log(Level::Notice, &self.rt.statistics(now).replace('\n', "; "));
            }
            if sig.hangup {
                let what = match log::reopen() {
                    log::Reopened::Reconnected => "reconnected to syslog",
                    log::Reopened::Kept => {
                        "syslog socket out of reach (chroot): kept the connection made at start"
                    }
                    log::Reopened::NoConnection => "syslog needs no reconnecting",
                    log::Reopened::NotSyslog => "logging to stderr",
                };
                log::log(
                    Level::Notice,
                    &format!("SIGHUP: {what}; the command line is all the configuration"),
                );
            }
            if sig.terminate {
                log::log(Level::Notice, "exiting on signal");
                return self.shutdown(now);
            }
            if let Some(ctl) = &self.control {
                if let Some((stream, req)) = ctl.accept() {
                    let answer = match req {
                        Ok(Command::Statistics) => self.rt.statistics(now),
                        Ok(Command::DumpStates) => self.rt.dump_states(),
                        Ok(Command::Flush) => {
                            self.rt.pipeline.flush(now, false, &mut self.rt.out);
                            self.rt.send_all(now);
                            "flushed".into()
                        }
                        Ok(Command::ExpireAll) => {
                            let n = self.rt.pipeline.table().len();
                            self.rt.pipeline.flush(now, true, &mut self.rt.out);
                            self.rt.send_all(now);
                            format!("expired {n} states")
                        }
                        Ok(Command::Shutdown) => {
                            let _ = control::reply(stream, "shutting down");
                            log::log(Level::Notice, "shutdown requested on the control socket");
                            return self.shutdown(now);
                        }
                        Ok(Command::Help) => control::COMMANDS
                            .iter()
                            .map(|(c, h)| format!("{c:<12} {h}\n"))
                            .collect(),
                        Err(e) => format!("error: {e}"),
                    };
                    let _ = control::reply(stream, &answer);
                }
            }
        }
    }

    /// Exports every completed flow and exits. States still alive are not
    /// flows yet: they stay in the state table (saved when a state file is
    /// configured).
    fn shutdown(&mut self, now: Timestamp) -> ExitCode {
        self.rt.pipeline.flush(now, false, &mut self.rt.out);
        self.rt.send_all(now);
        log::log(Level::Notice, &self.rt.summary());
        self.rt.log_collector_errors();
        let saved = self.rt.save_states();
        if self.rt.dropped() > 0 || !saved {
            ExitCode::from(EXIT_PARTIAL)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// `--decode FILE`: one line per NetFlow record on stdout, a summary on
/// stderr.
fn decode(path: &std::path::Path) -> Result<ExitCode, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let s = crate::netflow::decode::decode_file(&bytes, |l| {
        let _ = writeln!(o, "{l}");
    });
    let _ = o.flush();
    log::log(
        Level::Notice,
        &format!(
            "{}: {} datagrams, {} records, {} undecodable, {} data sets without template, {} packets not UDP",
            path.display(),
            s.datagrams,
            s.records,
            s.errors,
            s.unknown_sets,
            s.skipped
        ),
    );
    Ok(if s.errors > 0 {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}
