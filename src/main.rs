//! The `stateflowd` binary: parse the command line, build the pipeline, run.

use stateflowd::cli;
use stateflowd::export::udp::UdpSink;
use stateflowd::log::{self, Level, RateLimit};
use stateflowd::pfsync::carrier::LinkType;
use stateflowd::pipeline::{PfsyncPipeline, PipelineConfig};
use stateflowd::source::pcap_file::{PcapError, PcapReader};
use stateflowd::state::{ConvertOptions, TableConfig};
use stateflowd::time::Timestamp;
use std::io::{BufReader, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = match cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 64 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cfg = match cli::config_from(&matches) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stateflowd: {e}");
            return ExitCode::from(64);
        }
    };
    match run(cfg) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stateflowd: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cfg: cli::Config) -> Result<ExitCode, String> {
    if cfg.debug {
        log::set_level(Level::Debug);
    }
    if let Some(path) = &cfg.decode {
        return decode(path);
    }
    let Some(path) = cfg.read.clone() else {
        return Err(format!(
            "live capture on {} is not available in this build yet; use -r FILE",
            cfg.interface.as_deref().unwrap_or("?")
        ));
    };
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
    let addrs: Vec<_> = cfg.collectors.iter().map(|c| c.addr).collect();
    let mut sink = UdpSink::open(&addrs, cfg.source).map_err(|e| e.to_string())?;
    let mut pipeline = PfsyncPipeline::new(
        PipelineConfig {
            table: TableConfig {
                max_states: cfg.max_states,
            },
            convert: ConvertOptions::default(),
            encoder: cfg.encoder,
        },
        &cfg.collectors,
        cfg.ifindex.clone(),
    );
    if cfg.dump {
        pipeline.set_observer(Box::new(|f| {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{f}");
        }));
    }

    let mut buf = Vec::with_capacity(65_536);
    let mut out = Vec::new();
    let mut last_ts = Timestamp::ZERO;
    let mut bad_frame_log = RateLimit::new(60);
    let mut status = ExitCode::SUCCESS;
    let mut warned_v6 = vec![false; cfg.collectors.len()];
    loop {
        match reader.next_packet(&mut buf) {
            Ok(Some(meta)) => {
                if last_ts == Timestamp::ZERO {
                    // v9/IPFIX collectors learn the templates before data.
                    pipeline.exporter_mut().announce(meta.ts, &mut out);
                }
                last_ts = last_ts.max(meta.ts);
                if let Some(e) = pipeline.on_packet(link, meta.ts, &buf, &mut out) {
                    if let Some(suppressed) = bad_frame_log.check(meta.ts) {
                        log::log(
                            Level::Warning,
                            &format!(
                                "skipping malformed pfsync: {e} (+{suppressed} similar suppressed)"
                            ),
                        );
                    }
                }
                send_all(&mut sink, &mut pipeline, &mut out);
                warn_unexportable_once(&pipeline, &cfg.collectors, &mut warned_v6);
            }
            Ok(None) => break,
            Err(e @ (PcapError::Truncated | PcapError::BadRecord { .. })) => {
                log::log(
                    Level::Warning,
                    &format!("{}: {e}; stopped there", path.display()),
                );
                status = ExitCode::from(2);
                break;
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    pipeline.flush(last_ts, false, &mut out);
    send_all(&mut sink, &mut pipeline, &mut out);

    let s = pipeline.stats();
    let t = pipeline.table().stats();
    let sent: u64 = sink.collectors().iter().map(|c| c.stats.datagrams).sum();
    let dropped: u64 = sink.collectors().iter().map(|c| c.stats.dropped).sum();
    log::log(
        Level::Notice,
        &format!(
            "{}: {} packets, {} pfsync frames, {} malformed; {} deletions ({} of unknown states), {} states still live; {} flows, {} datagrams sent, {} dropped",
            path.display(),
            s.packets,
            s.frames,
            s.decode_error_total(),
            t.deletes + t.cleared_states,
            t.unknown_deletes,
            pipeline.table().len(),
            s.flows,
            sent,
            dropped
        ),
    );
    for (c, addr) in addrs.iter().enumerate() {
        let es = pipeline.exporter().stats(c);
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
    for c in sink.collectors() {
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
    if dropped > 0 {
        status = ExitCode::from(2);
    }
    Ok(status)
}

fn send_all(
    sink: &mut UdpSink,
    pipeline: &mut PfsyncPipeline,
    out: &mut Vec<stateflowd::export::Outgoing>,
) {
    sink.send_all(out, |c, e| {
        // The collector may have lost our templates: send them again.
        pipeline.exporter_mut().on_send_error(c);
        if let Some(e) = e {
            log::log(Level::Warning, &format!("send failed: {e}"));
        }
    });
}

/// Logs once per collector when the first IPv6 flow meets a v5 collector.
fn warn_unexportable_once(
    pipeline: &PfsyncPipeline,
    collectors: &[stateflowd::export::CollectorSpec],
    warned: &mut [bool],
) {
    for (c, w) in warned.iter_mut().enumerate() {
        if !*w && pipeline.exporter().stats(c).unexportable > 0 {
            *w = true;
            let addr = collectors.get(c).map(|c| c.addr.to_string());
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

/// `--decode FILE`: one line per record on stdout, a summary on stderr.
fn decode(path: &std::path::Path) -> Result<ExitCode, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut o = std::io::BufWriter::new(std::io::stdout().lock());
    let s = stateflowd::netflow::decode::decode_file(&bytes, |l| {
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
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
