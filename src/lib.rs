//! stateflowd turns pf firewall state into flow records.
//!
//! pf announces every state change over pfsync; stateflowd reads those
//! messages, keeps its own account of the states, and when a state ends
//! sends NetFlow records for it to collectors. A modern deletion carries
//! only the state's identity, so the state table remembers what the
//! insertions and updates said — and no pfsync message carries final
//! counters: records carry the last full snapshot seen.
//!
//! # Module map
//!
//! The data path, in order (pure code unless marked I/O):
//!
//! | module | holds |
//! | --- | --- |
//! | [`source`] | packet sources: pcap files, libpcap live capture, the sync link's raw socket (I/O adapters) |
//! | [`packet`] | capture mode: link layer → IP → transport parsing |
//! | [`capture`] | capture mode: flow cache (softflowd semantics) and its driver |
//! | [`pfsync::carrier`] | unwrapping link layers/IPv4 down to the pfsync frame |
//! | [`pfsync`] | pfsync frame and message decoding (and [`pfsync::encode`]) |
//! | [`state`] | the state table (`StateTable`) and state → flow conversion |
//! | [`flow`] | `Flow`, the record type every mode and format shares |
//! | [`netflow`] | NetFlow wire formats: encoders and decoders |
//! | [`export`] | batching flows into datagrams per collector; [`export::udp`] sends them (I/O) |
//! | [`selection`] | which ended states are exported (pflow flag, rule, interface, direction, family) |
//! | [`refresh`] | opt-in requests (UPD_REQ) for fresher counters, rate limited |
//! | [`pipeline`] | pfsync mode wired together, without I/O |
//! | [`daemon`] | the main loop, signals, pidfile, privilege drop, control socket (I/O) |
//! | [`ifindex`] | interface names → SNMP ifIndex |
//! | [`time`] | `Timestamp`; clocks are always passed in |
//! | [`wire`] | panic-free big-endian field access |
//! | [`log`] | stderr logging with rate limits |
//! | [`cli`] | command-line options and configuration |
//! | [`testgen`] | deterministic pfsync capture generator with expected flows |
//!
//! # Contract
//!
//! Decoders never panic and never size an allocation from an unchecked
//! count; state machines never read the clock. See each module's docs.

pub mod capture;
pub mod cli;
pub mod daemon;
pub mod export;
pub mod flow;
pub mod ifindex;
pub mod log;
pub mod netflow;
pub mod packet;
pub mod pfsync;
pub mod pipeline;
pub mod refresh;
pub mod selection;
pub mod source;
pub mod state;
pub mod testgen;
pub mod time;
pub mod wire;
