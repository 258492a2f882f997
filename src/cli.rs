//! The command line: every option defined once, with its help text.
//!
//! Options follow pfflowd and softflowd where they overlap (`-i`, `-r`,
//! `-n`, `-v`, `-d`, `-D`); everything has a long form.

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
    Ok(Config {
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
    }
}
