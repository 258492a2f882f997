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
    if stateflowd::capture::run::wants_capture(&cfg) {
        return match stateflowd::capture::run::run(cfg) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("stateflowd: {e}");
                ExitCode::from(1)
            }
        };
    }
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
    let mut sink = UdpSink::open(&addrs, None).map_err(|e| e.to_string())?;
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
    loop {
        match reader.next_packet(&mut buf) {
            Ok(Some(meta)) => {
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
                send_all(&mut sink, &mut out);
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
    send_all(&mut sink, &mut out);

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
    if dropped > 0 {
        status = ExitCode::from(2);
    }
    Ok(status)
}

fn send_all(sink: &mut UdpSink, out: &mut Vec<stateflowd::export::Outgoing>) {
    for d in out.drain(..) {
        if let Some(e) = sink.send(&d) {
            log::log(Level::Warning, &format!("send failed: {e}"));
        }
    }
}
