//! The command line: every option defined once, with its help text.
//!
//! Options follow pfflowd and softflowd where they overlap (`-i`, `-r`,
//! `-n`, `-v`, `-d`, `-D`); everything has a long form.

use crate::capture::Timeouts;
use crate::export::{
    CollectorMode, CollectorSpec, DEFAULT_TEMPLATE_REFRESH_PACKETS, DEFAULT_TEMPLATE_REFRESH_SECS,
    EncoderConfig, Format,
};
use crate::ifindex::IfIndexMap;
use crate::pfsync::IfName;
use crate::refresh::RefreshConfig;
use crate::selection::Selection;
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
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
            Arg::new("foreground")
                .short('d')
                .long("foreground")
                .action(ArgAction::SetTrue)
                .help("Do not become a daemon; log to stderr"),
        )
        .arg(
            Arg::new("debug")
                .long("debug")
                .action(ArgAction::SetTrue)
                .help("Log debugging detail (implies -d)"),
        )
        .arg(
            Arg::new("syncdev")
                .long("syncdev")
                .value_name("IFACE")
                .conflicts_with_all(["read", "interface"])
                .help("Listen on the pfsync sync link of this interface (IP protocol 240, group 224.0.0.240)"),
        )
        .arg(
            Arg::new("syncpeer")
                .long("syncpeer")
                .value_name("ADDR")
                .value_parser(value_parser!(Ipv4Addr))
                .requires("syncdev")
                .help("Unicast sync peer: do not join the multicast group; send requests to ADDR"),
        )
        .arg(
            Arg::new("accept-peer")
                .long("accept-peer")
                .value_name("ADDR")
                .value_parser(value_parser!(Ipv4Addr))
                .action(ArgAction::Append)
                .help("Accept pfsync only from this sender (repeatable; default: any)"),
        )
        .arg(
            Arg::new("rcvbuf")
                .long("rcvbuf")
                .value_name("BYTES")
                .value_parser(value_parser!(usize))
                .default_value("4194304")
                .help("Receive buffer of the sync-link socket (bursts beyond it are dropped and counted)"),
        )
        .arg(
            Arg::new("any-ttl")
                .long("any-ttl")
                .action(ArgAction::SetTrue)
                .help("Accept pfsync frames whose IP TTL is not 255 (the kernel refuses them)"),
        )
        .arg(
            Arg::new("refresh-counters")
                .long("refresh-counters")
                .value_name("SECS")
                .value_parser(value_parser!(u64).range(1..))
                .requires("syncdev")
                .help("Ask the firewall for states whose counters are older than SECS (opt-in; costs the firewall work)"),
        )
        .arg(
            Arg::new("refresh-rate")
                .long("refresh-rate")
                .value_name("N")
                .value_parser(value_parser!(u32).range(1..))
                .default_value("1000")
                .help("Most counter requests sent per second"),
        )
        .arg(
            Arg::new("no-bulk-request")
                .long("no-bulk-request")
                .action(ArgAction::SetTrue)
                .help("With --refresh-counters: do not ask for a bulk transfer at start"),
        )
        .arg(
            Arg::new("all-states")
                .short('A')
                .long("all-states")
                .action(ArgAction::SetTrue)
                .help("Export every state, not only those with the pflow state option"),
        )
        .arg(
            Arg::new("rule")
                .long("rule")
                .value_name("N,...")
                .action(ArgAction::Append)
                .help("Export only states created by these pf rule numbers"),
        )
        .arg(
            Arg::new("on-interface")
                .long("on-interface")
                .value_name("IFACE")
                .action(ArgAction::Append)
                .help("Export only states on this pf interface (repeatable)"),
        )
        .arg(
            Arg::new("direction")
                .short('S')
                .long("direction")
                .value_name("in|out|any")
                .help("Export only states created in this direction"),
        )
        .arg(
            Arg::new("family")
                .long("family")
                .value_name("inet|inet6|any")
                .help("Export only states of this address family"),
        )
        .arg(
            Arg::new("pidfile")
                .short('p')
                .long("pidfile")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Pidfile for live sources, or 'none' [default: /var/run/stateflowd.pid]"),
        )
        .arg(
            Arg::new("user")
                .short('u')
                .long("user")
                .value_name("USER")
                .default_value("_stateflowd")
                .help("Unprivileged user to run as once sockets are open"),
        )
        .arg(
            Arg::new("chroot")
                .long("chroot")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .default_value("/var/empty")
                .help("Empty directory to chroot into after opening sockets"),
        )
        .arg(
            Arg::new("no-chroot")
                .long("no-chroot")
                .action(ArgAction::SetTrue)
                .help("Do not chroot"),
        )
        .arg(
            Arg::new("control")
                .short('c')
                .long("control")
                .value_name("SOCKET")
                .value_parser(value_parser!(PathBuf))
                .help("Control socket for stateflowctl, or 'none' [default: /var/run/stateflowd.sock]"),
        )
        .arg(
            Arg::new("state-file")
                .long("state-file")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help("Save the state table here at exit and read it back at start"),
        )
        .arg(
            Arg::new("syslog-facility")
                .long("syslog-facility")
                .value_name("FACILITY")
                .default_value("daemon")
                .help("Syslog facility when running as a daemon"),
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
        .next_help_heading(None::<&str>)
        .arg(
            Arg::new("filter")
                .value_name("FILTER")
                .num_args(0..)
                .trailing_var_arg(true)
                .help("BPF filter expression (capture mode only)"),
        )
}

/// Which source of flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Decide from the input (see `--mode`).
    #[default]
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

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            timeouts: Timeouts::default(),
            max_flows: 8192,
            track_vlan: false,
            ifindex: 0,
            promisc: true,
            snaplen: 256,
            filter: None,
        }
    }
}

/// Default pidfile for live sources.
pub const DEFAULT_PIDFILE: &str = "/var/run/stateflowd.pid";
/// Default control socket for live sources.
pub const DEFAULT_CONTROL: &str = "/var/run/stateflowd.sock";

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub read: Option<PathBuf>,
    pub interface: Option<String>,
    pub collectors: Vec<CollectorSpec>,
    pub encoder: EncoderConfig,
    pub ifindex: IfIndexMap,
    pub max_states: usize,
    pub dump: bool,
    pub foreground: bool,
    pub debug: bool,
    pub syncdev: Option<String>,
    pub syncpeer: Option<Ipv4Addr>,
    pub accept_peers: Vec<Ipv4Addr>,
    pub any_ttl: bool,
    pub rcvbuf: usize,
    pub refresh: Option<RefreshConfig>,
    pub selection: Selection,
    pub pidfile: Option<PathBuf>,
    pub user: String,
    pub chroot: Option<PathBuf>,
    /// None: no control socket.
    pub control: Option<PathBuf>,
    pub state_file: Option<PathBuf>,
    pub syslog_facility: libc::c_int,
    /// Local address to send from.
    pub source: Option<std::net::IpAddr>,
    /// `--decode FILE`: print an export capture instead of running.
    pub decode: Option<PathBuf>,
    pub mode: Mode,
    pub capture: CaptureOptions,
}

impl Config {
    /// True when reading a live source (daemon life applies).
    pub fn is_live(&self) -> bool {
        self.read.is_none()
    }
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
            decode: Some(path.clone()),
            ..Config::default()
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
    let syncdev = m.get_one::<String>("syncdev").cloned();
    if read.is_none() && interface.is_none() && syncdev.is_none() {
        return Err("nothing to read: give -r FILE, -i INTERFACE or --syncdev INTERFACE".into());
    }
    let mut selection = Selection {
        all_states: m.get_flag("all-states"),
        ..Default::default()
    };
    for spec in m.get_many::<String>("rule").into_iter().flatten() {
        for r in spec.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            selection.rules.push(
                r.parse()
                    .map_err(|_| format!("--rule: '{r}' is not a rule number"))?,
            );
        }
    }
    for i in m.get_many::<String>("on-interface").into_iter().flatten() {
        if i.is_empty() || i.len() > 15 {
            return Err(format!("--on-interface: '{i}' is not an interface name"));
        }
        selection.interfaces.push(IfName::new(i));
    }
    if let Some(d) = m.get_one::<String>("direction") {
        selection.direction = Selection::parse_direction(d)?;
    }
    if let Some(f) = m.get_one::<String>("family") {
        selection.family = Selection::parse_family(f)?;
    }
    let refresh = m
        .get_one::<u64>("refresh-counters")
        .map(|secs| RefreshConfig {
            max_age_us: secs.saturating_mul(1_000_000),
            max_per_sec: *m.get_one::<u32>("refresh-rate").unwrap_or(&1000),
            bulk_at_start: !m.get_flag("no-bulk-request"),
        });
    let facility_name = m
        .get_one::<String>("syslog-facility")
        .map(String::as_str)
        .unwrap_or("daemon");
    let syslog_facility = crate::log::facility_from_name(facility_name)
        .ok_or_else(|| format!("unknown syslog facility '{facility_name}'"))?;
    let live = read.is_none();
    let control = match m.get_one::<PathBuf>("control") {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p.clone()),
        None if live => Some(PathBuf::from(DEFAULT_CONTROL)),
        None => None,
    };
    let pidfile = match m.get_one::<PathBuf>("pidfile") {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p.clone()),
        None if live => Some(PathBuf::from(DEFAULT_PIDFILE)),
        None => None,
    };
    let words: Vec<&str> = m
        .get_many::<String>("filter")
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let filter = (!words.is_empty()).then(|| words.join(" "));
    let mut source_mode = match m.get_one::<String>("mode").map(String::as_str) {
        _ if m.get_flag("capture") => Mode::Capture,
        Some("pfsync") => Mode::Pfsync,
        Some("capture") => Mode::Capture,
        _ => Mode::Auto,
    };
    if filter.is_some() {
        match source_mode {
            Mode::Pfsync => {
                return Err("a BPF filter works in capture mode only (--mode capture)".into());
            }
            // pfsync mode takes no filter, so a filter is unambiguous.
            Mode::Auto => source_mode = Mode::Capture,
            Mode::Capture => {}
        }
    }
    let mut timeouts = Timeouts::default();
    let mut any_timeout = false;
    for t in m.get_many::<String>("timeout").into_iter().flatten() {
        timeouts.set(t).map_err(|e| format!("-t: {e}"))?;
        any_timeout = true;
    }
    if any_timeout && source_mode == Mode::Pfsync {
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
        mode: source_mode,
        capture,
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
        foreground: m.get_flag("foreground") || m.get_flag("debug"),
        debug: m.get_flag("debug"),
        syncdev,
        syncpeer: m.get_one::<Ipv4Addr>("syncpeer").copied(),
        accept_peers: m
            .get_many::<Ipv4Addr>("accept-peer")
            .into_iter()
            .flatten()
            .copied()
            .collect(),
        any_ttl: m.get_flag("any-ttl"),
        rcvbuf: *m
            .get_one::<usize>("rcvbuf")
            .unwrap_or(&crate::source::rawsock::DEFAULT_RCVBUF),
        refresh,
        selection,
        pidfile,
        user: m
            .get_one::<String>("user")
            .cloned()
            .unwrap_or_else(|| "_stateflowd".into()),
        chroot: if m.get_flag("no-chroot") {
            None
        } else {
            m.get_one::<PathBuf>("chroot").cloned()
        },
        control,
        state_file: m.get_one::<PathBuf>("state-file").cloned(),
        syslog_facility,
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
