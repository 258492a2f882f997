//! The command line: every option defined once, with its help text.
//!
//! Options follow pfflowd and softflowd where they overlap (`-i`, `-r`,
//! `-n`, `-v`, `-d`, `-D`); everything has a long form.

use crate::export::{
    CollectorMode, CollectorSpec, DEFAULT_TEMPLATE_REFRESH_PACKETS, DEFAULT_TEMPLATE_REFRESH_SECS,
    EncoderConfig, Format,
};
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
                .value_name("HOST:PORT[/FORMAT]")
                .action(ArgAction::Append)
                .help(
                    "Send flows to this collector (repeatable; [v6]:port for IPv6; \
                     a /5, /9 or /ipfix suffix overrides -v for it)",
                ),
        )
        .arg(
            Arg::new("netflow-version")
                .short('v')
                .long("netflow-version")
                .value_name("VERSION")
                .default_value("5")
                .help("Export format: 5, 9, or 10 (= ipfix)"),
        )
        .arg(
            Arg::new("source")
                .long("source")
                .value_name("ADDR")
                .value_parser(value_parser!(std::net::IpAddr))
                .help("Send from this local address (as pflow's flowsrc)"),
        )
        .arg(
            Arg::new("collector-mode")
                .long("collector-mode")
                .value_name("MODE")
                .value_parser(["mirror", "balance"])
                .default_value("mirror")
                .help("mirror: every collector gets every flow; balance: each conversation goes to one, by a stable hash"),
        )
        .arg(
            Arg::new("balance")
                .long("balance")
                .action(ArgAction::SetTrue)
                .help("Same as --collector-mode balance"),
        )
        .arg(
            Arg::new("mtu")
                .long("mtu")
                .value_name("BYTES")
                .value_parser(value_parser!(u16).range(576..))
                .default_value("1500")
                .help("Largest IP packet to send; datagrams are filled up to it"),
        )
        .arg(
            Arg::new("template-refresh-packets")
                .long("template-refresh-packets")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("16")
                .help("v9/IPFIX: resend templates every N export packets (0: not by count)"),
        )
        .arg(
            Arg::new("template-refresh-secs")
                .long("template-refresh-secs")
                .value_name("SECONDS")
                .value_parser(value_parser!(u32))
                .default_value("30")
                .help("v9/IPFIX: resend templates at least this often (0: not by time)"),
        )
        .arg(
            Arg::new("observation-domain")
                .long("observation-domain")
                .visible_alias("source-id")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("0")
                .help("IPFIX observation domain id / NetFlow v9 source ID"),
        )
        .arg(
            Arg::new("decode")
                .long("decode")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .exclusive(true)
                .help("Print the NetFlow v5/v9/IPFIX records in FILE (a pcap of export traffic, or raw datagrams) and exit"),
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
    /// Local address to send from.
    pub source: Option<std::net::IpAddr>,
    /// `--decode FILE`: print an export capture instead of running.
    pub decode: Option<PathBuf>,
}

/// Parses `HOST:PORT[/FORMAT]`: the collector and its own format, if given.
pub fn parse_collector_spec(s: &str) -> Result<(SocketAddr, Option<Format>), String> {
    match s.rsplit_once('/') {
        Some((addr, f)) => {
            let format = Format::parse(f)
                .ok_or_else(|| format!("collector '{s}': unknown format '{f}' (5, 9, ipfix)"))?;
            Ok((parse_collector(addr)?, Some(format)))
        }
        None => Ok((parse_collector(s)?, None)),
    }
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
    if let Some(path) = m.get_one::<PathBuf>("decode") {
        return Ok(Config {
            read: None,
            interface: None,
            collectors: Vec::new(),
            encoder: EncoderConfig::default(),
            ifindex: IfIndexMap::default(),
            max_states: 0,
            dump: false,
            debug: false,
            source: None,
            decode: Some(path.clone()),
        });
    }
    let vs = m
        .get_one::<String>("netflow-version")
        .map(String::as_str)
        .unwrap_or("5");
    let format = Format::parse(vs).ok_or_else(|| format!("unsupported NetFlow version '{vs}'"))?;
    let mut collectors = Vec::new();
    for c in m.get_many::<String>("collector").into_iter().flatten() {
        let (addr, own) = parse_collector_spec(c)?;
        collectors.push(CollectorSpec {
            addr,
            format: own.unwrap_or(format),
        });
    }
    let source = m.get_one::<std::net::IpAddr>("source").copied();
    if let Some(src) = source {
        if let Some(c) = collectors
            .iter()
            .find(|c| c.addr.is_ipv4() != src.is_ipv4())
        {
            return Err(format!(
                "--source {src} cannot reach collector {} (other address family)",
                c.addr
            ));
        }
    }
    let mode = if m.get_flag("balance")
        || m.get_one::<String>("collector-mode").map(String::as_str) == Some("balance")
    {
        CollectorMode::Balance
    } else {
        CollectorMode::Mirror
    };
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
    Ok(Config {
        read,
        interface,
        collectors,
        encoder: EncoderConfig {
            engine_type: *m.get_one::<u8>("engine-type").unwrap_or(&0),
            engine_id: *m.get_one::<u8>("engine-id").unwrap_or(&0),
            mtu: usize::from(*m.get_one::<u16>("mtu").unwrap_or(&1500)),
            template_refresh_packets: *m
                .get_one::<u32>("template-refresh-packets")
                .unwrap_or(&DEFAULT_TEMPLATE_REFRESH_PACKETS),
            template_refresh_secs: *m
                .get_one::<u32>("template-refresh-secs")
                .unwrap_or(&DEFAULT_TEMPLATE_REFRESH_SECS),
            observation_domain: *m.get_one::<u32>("observation-domain").unwrap_or(&0),
            mode,
            ..EncoderConfig::default()
        },
        ifindex,
        max_states: *m.get_one::<usize>("max-states").unwrap_or(&1_000_000),
        dump,
        debug: m.get_flag("debug"),
        source,
        decode: None,
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
    }

    #[test]
    fn per_collector_formats_and_export_options() {
        let m = command()
            .try_get_matches_from([
                "stateflowd",
                "-r",
                "x",
                "-v",
                "9",
                "-n",
                "10.0.0.1:2055/v5",
                "-n",
                "[2001:db8::1]:4739/ipfix",
                "-n",
                "127.0.0.1:9995",
                "--balance",
                "--mtu",
                "9000",
                "--template-refresh-packets",
                "4",
                "--template-refresh-secs",
                "0",
                "--source-id",
                "77",
            ])
            .unwrap();
        let c = config_from(&m).unwrap();
        let f: Vec<_> = c.collectors.iter().map(|c| c.format).collect();
        assert_eq!(f, [Format::V5, Format::Ipfix, Format::V9]);
        assert_eq!(c.collectors[1].addr, "[2001:db8::1]:4739".parse().unwrap());
        assert_eq!(c.encoder.mode, CollectorMode::Balance);
        assert_eq!(c.encoder.mtu, 9000);
        assert_eq!(c.encoder.template_refresh_packets, 4);
        assert_eq!(c.encoder.template_refresh_secs, 0);
        assert_eq!(c.encoder.observation_domain, 77);
        assert!(parse_collector_spec("127.0.0.1:2055/v7").is_err());
        // --source must match the collectors' family.
        let m = command()
            .try_get_matches_from([
                "stateflowd",
                "-r",
                "x",
                "-n",
                "[::1]:2055",
                "--source",
                "127.0.0.1",
            ])
            .unwrap();
        assert!(config_from(&m).unwrap_err().contains("family"));
        // The help's defaults are the library's.
        let m = command()
            .try_get_matches_from(["stateflowd", "-r", "x", "-D"])
            .unwrap();
        let c = config_from(&m).unwrap();
        assert_eq!(c.encoder, EncoderConfig::default());
        let m = command()
            .try_get_matches_from(["stateflowd", "-v", "ipfix", "-r", "x", "-D"])
            .unwrap();
        assert!(config_from(&m).is_ok());
        let m = command()
            .try_get_matches_from(["stateflowd", "--decode", "f.pcap"])
            .unwrap();
        assert_eq!(
            config_from(&m).unwrap().decode,
            Some(PathBuf::from("f.pcap"))
        );
        assert!(
            command()
                .try_get_matches_from(["stateflowd", "--decode", "f", "-r", "x"])
                .is_err()
        );
    }
}
