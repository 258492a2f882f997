//! Packet sources: where captured bytes come from.
//!
//! - [`pcap_file`]: classic pcap files, read and written without libpcap
//!   (microsecond and nanosecond variants, either byte order), so replay
//!   works, and is tested, on any host.
//! - [`rawsock`]: the sync link, a raw socket for IP protocol 240 joined to
//!   224.0.0.240 (I/O adapter).
//! - `live` (feature `pcap`): libpcap for live interfaces, pcapng files
//!   and compiling BPF filters.

#[cfg(feature = "pcap")]
pub mod live;
pub mod pcap_file;
pub mod rawsock;
