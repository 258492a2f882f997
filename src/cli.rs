//! The command line: every option defined once, with its help text.
//!
//! Options follow pfflowd and softflowd where they overlap (`-i`, `-r`,
//! `-n`, `-v`, `-d`, `-D`); everything has a long form.

use crate::capture::Timeouts;
use crate::export::{CollectorSpec, EncoderConfig, Format};
use crate::ifindex::IfIndexMap;
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

pub fn command() -> Command {
    Command::new("stateflowd")
        .about("Turn pf firewall state (pfsync) into NetFlow flow records")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit"),
        )
        .arg(
            Arg::new("read")
                .short('r')
                .long("read")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Read pfsync frames from a pcap file, export, and exit"),
        )
        .arg(
            Arg::new("interface")
                .short('i')
                .long("interface")
                .value_name("IFACE")
                .conflicts_with("read")
                .help("Capture pfsync live from this interface (pfsync0)"),
        )
        .arg(
            Arg::new("collector")
                .short('n')
                .long("collector")
                .value_name("HOST:PORT")
                .action(ArgAction::Append)
                .help("Send flows to this collector (repeatable; [v6]:port for IPv6)"),
        )
        .arg(
            Arg::new("netflow-version")
                .short('v')
                .long("netflow-version")
                .value_name("VERSION")
                .default_value("5")
                .help("Export format: 5"),
        )
        .arg(
            Arg::new("ifindex")
                .long("ifindex")
                .value_name("NAME=INDEX,...")
                .action(ArgAction::Append)
                .help("SNMP ifIndex for interface names of the firewall (wins over local names)"),
        )
        .arg(
            Arg::new("engine-type")
                .long("engine-type")
                .value_name("N")
                .value_parser(value_parser!(u8))
                .default_value("0")
                .help("NetFlow v5 engine_type"),
        )
        .arg(
            Arg::new("engine-id")
                .long("engine-id")
                .value_name("N")
                .value_parser(value_parser!(u8))
                .default_value("0")
                .help("NetFlow v5 engine_id"),
        )
        .arg(
            Arg::new("max-states")
                .long("max-states")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("1000000")
                .help(
                    "Most pf states tracked at once; the longest idle is exported early beyond it",
                ),
        )
        .arg(
            Arg::new("dump")
                .short('D')
                .long("dump")
                .action(ArgAction::SetTrue)
                .help("Print each flow as a line on standard output"),
        )
        .arg(
            Arg::new("debug")
                .short('d')
                .long("debug")
                .action(ArgAction::SetTrue)
                .help("Stay in the foreground and log debugging detail to stderr"),
        )
        .next_help_heading("Capture mode (flows from raw packets, like softflowd)")
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_name("MODE")
                .value_parser(["auto", "pfsync", "capture"])
                .default_value("auto")
                .help(
                    "pfsync: read pfsync messages; capture: track flows from packets. \
                     auto: capture for a BPF filter or a link type pfsync never uses \
                     (pflog, pcapng files), else pfsync",
                ),
        )
        .arg(
            Arg::new("capture")
                .long("capture")
                .action(ArgAction::SetTrue)
                .conflicts_with("mode")
                .help("Same as --mode capture"),
        )
        .arg(
            Arg::new("timeout")
                .short('t')
                .long("timeout")
                .value_name("NAME=TIME")
                .action(ArgAction::Append)
                .help(
                    "Capture timeout (softflowd names): tcp, tcp.rst, tcp.fin, udp, icmp, \
                     general, maxlife, expint; TIME like 300, 10m, 1h30m",
                ),
        )
        .arg(
            Arg::new("max-flows")
                .short('m')
                .long("max-flows")
                .value_name("N")
                .value_parser(value_parser!(usize))
                .default_value("8192")
                .help("Most conversations tracked; the least recently active is exported early beyond it"),
        )
        .arg(
            Arg::new("track-vlan")
                .long("track-vlan")
                .action(ArgAction::SetTrue)
                .help("Keep flows on different VLANs apart"),
        )
        .arg(
            Arg::new("flow-ifindex")
                .long("flow-ifindex")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("0")
                .help("ifIndex written as input and output interface of captured flows"),
        )
        .arg(
            Arg::new("no-promisc")
                .short('N')
                .long("no-promisc")
                .action(ArgAction::SetTrue)
                .help("Do not put the capture interface in promiscuous mode"),
        )
        .arg(
            Arg::new("snaplen")
                .long("snaplen")
                .value_name("BYTES")
                .value_parser(value_parser!(i32).range(64..=262_144))
                .default_value("256")
                .help("Bytes captured per packet on a live interface"),
        )
        .arg(
            Arg::new("filter")
                .value_name("BPF")
                .num_args(0..)
                .trailing_var_arg(true)
                .help("BPF filter expression (capture mode only)"),
        )
}

/// Which source of flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Decide from the input (see `--mode`).
    Auto,
    Pfsync,
    Capture,
}

/// Capture-mode settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureOptions {
    pub timeouts: Timeouts,
    pub max_flows: usize,
    pub track_vlan: bool,
    pub ifindex: u32,
    pub promisc: bool,
    pub snaplen: i32,
    /// BPF expression, words joined by spaces.
    pub filter: Option<String>,
}

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct Config {
    pub read: Option<PathBuf>,
    pub interface: Option<String>,
    pub collectors: Vec<CollectorSpec>,
    pub encoder: EncoderConfig,
    pub ifindex: IfIndexMap,
    pub max_states: usize,
    pub dump: bool,
    pub debug: bool,
    pub mode: Mode,
    pub capture: CaptureOptions,
}

/// Resolves `host:port` (or `[v6]:port`) to one address.
pub fn parse_collector(s: &str) -> Result<SocketAddr, String> {
    let bad = || format!("collector '{s}' is not HOST:PORT");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 || host.is_empty() {
        return Err(bad());
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("collector '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("collector '{s}': no address"))
}

pub fn config_from(m: &ArgMatches) -> Result<Config, String> {
    let vs = m
        .get_one::<String>("netflow-version")
        .map(String::as_str)
        .unwrap_or("5");
    let format = Format::parse(vs).ok_or_else(|| format!("unsupported NetFlow version '{vs}'"))?;
    let mut collectors = Vec::new();
    for c in m.get_many::<String>("collector").into_iter().flatten() {
        collectors.push(CollectorSpec {
            addr: parse_collector(c)?,
            format,
        });
    }
    let dump = m.get_flag("dump");
    if collectors.is_empty() && !dump {
        return Err("no collector given: use -n HOST:PORT (or -D to print flows)".into());
    }
    let mut ifindex = IfIndexMap::with_local_lookup();
    for spec in m.get_many::<String>("ifindex").into_iter().flatten() {
        ifindex
            .parse_into(spec)
            .map_err(|e| format!("--ifindex: {e}"))?;
    }
    let read = m.get_one::<PathBuf>("read").cloned();
    let interface = m.get_one::<String>("interface").cloned();
    if read.is_none() && interface.is_none() {
        return Err("nothing to read: give -r FILE or -i INTERFACE".into());
    }
    let words: Vec<&str> = m
        .get_many::<String>("filter")
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let filter = (!words.is_empty()).then(|| words.join(" "));
    let mut mode = match m.get_one::<String>("mode").map(String::as_str) {
        _ if m.get_flag("capture") => Mode::Capture,
        Some("pfsync") => Mode::Pfsync,
        Some("capture") => Mode::Capture,
        _ => Mode::Auto,
    };
    if filter.is_some() {
        match mode {
            Mode::Pfsync => {
                return Err("a BPF filter works in capture mode only (--mode capture)".into());
            }
            // pfsync mode takes no filter, so a filter is unambiguous.
            Mode::Auto => mode = Mode::Capture,
            Mode::Capture => {}
        }
    }
    let mut timeouts = Timeouts::default();
    let mut any_timeout = false;
    for t in m.get_many::<String>("timeout").into_iter().flatten() {
        timeouts.set(t).map_err(|e| format!("-t: {e}"))?;
        any_timeout = true;
    }
    if any_timeout && mode == Mode::Pfsync {
        return Err("-t timeouts apply to capture mode only".into());
    }
    let capture = CaptureOptions {
        timeouts,
        max_flows: *m.get_one::<usize>("max-flows").unwrap_or(&8192),
        track_vlan: m.get_flag("track-vlan"),
        ifindex: *m.get_one::<u32>("flow-ifindex").unwrap_or(&0),
        promisc: !m.get_flag("no-promisc"),
        snaplen: *m.get_one::<i32>("snaplen").unwrap_or(&256),
        filter,
    };
    if capture.max_flows == 0 {
        return Err("--max-flows must be at least 1".into());
    }
    Ok(Config {
        mode,
        capture,
        read,
        interface,
        collectors,
        encoder: EncoderConfig {
            engine_type: *m.get_one::<u8>("engine-type").unwrap_or(&0),
            engine_id: *m.get_one::<u8>("engine-id").unwrap_or(&0),
            ..EncoderConfig::default()
        },
        ifindex,
        max_states: *m.get_one::<usize>("max-states").unwrap_or(&1_000_000),
        dump,
        debug: m.get_flag("debug"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collectors_parse_v4_v6_and_refuse_nonsense() {
        assert_eq!(
            parse_collector("127.0.0.1:2055").unwrap(),
            "127.0.0.1:2055".parse().unwrap()
        );
        assert_eq!(
            parse_collector("[::1]:4739").unwrap(),
            "[::1]:4739".parse().unwrap()
        );
        assert_eq!(parse_collector("localhost:9995").unwrap().port(), 9995);
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            ":2055",
            "host:port",
            "1.2.3.4:70000",
        ] {
            assert!(parse_collector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_requires_a_source_and_a_sink() {
        let m = command()
            .try_get_matches_from(["stateflowd", "-r", "x.pcap"])
            .unwrap();
        assert!(config_from(&m).unwrap_err().contains("no collector"));
        let m = command()
            .try_get_matches_from(["stateflowd", "-n", "127.0.0.1:2055"])
            .unwrap();
        assert!(config_from(&m).unwrap_err().contains("nothing to read"));
        let m = command()
            .try_get_matches_from(["stateflowd", "-r", "x", "-n", "127.0.0.1:2055", "-v", "7"])
            .unwrap();
        assert!(config_from(&m).unwrap_err().contains("version"));
        let m = command()
            .try_get_matches_from([
                "stateflowd",
                "-r",
                "x",
                "-n",
                "127.0.0.1:2055",
                "--ifindex",
                "em0=3",
                "--engine-id",
                "9",
            ])
            .unwrap();
        let c = config_from(&m).unwrap();
        assert_eq!(c.collectors.len(), 1);
        assert_eq!(c.encoder.engine_id, 9);
        assert_eq!(c.mode, Mode::Auto);
        assert_eq!(c.capture.timeouts, Timeouts::default());
        assert_eq!(c.capture.max_flows, 8192);
    }

    #[test]
    fn capture_options_filter_and_mode() {
        let get = |args: &[&str]| {
            let mut v = vec!["stateflowd", "-r", "x", "-n", "127.0.0.1:2055"];
            v.extend_from_slice(args);
            config_from(&command().try_get_matches_from(v).unwrap())
        };
        let c = get(&["--capture", "-t", "udp=1m", "-t", "maxlife=0", "-m", "100"]).unwrap();
        assert_eq!(c.mode, Mode::Capture);
        assert_eq!(
            (c.capture.timeouts.udp, c.capture.timeouts.maxlife),
            (60, 0)
        );
        assert_eq!(c.capture.max_flows, 100);
        assert_eq!(c.capture.filter, None);
        // A trailing filter implies capture mode and keeps its words.
        let c = get(&["tcp", "and", "port", "80"]).unwrap();
        assert_eq!(c.mode, Mode::Capture);
        assert_eq!(c.capture.filter.as_deref(), Some("tcp and port 80"));
        assert!(
            get(&["--mode", "pfsync", "udp"])
                .unwrap_err()
                .contains("capture mode only")
        );
        assert!(
            get(&["-t", "nope=1"])
                .unwrap_err()
                .contains("unknown timeout")
        );
        assert!(get(&["--mode", "pfsync", "-t", "udp=1"]).is_err());
        assert_eq!(get(&["--mode", "pfsync"]).unwrap().mode, Mode::Pfsync);
    }
}
