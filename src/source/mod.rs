//! Packet sources: where captured bytes come from.
//!
//! - [`pcap_file`]: classic pcap files, read and written without libpcap
//!   (microsecond and nanosecond variants, either byte order), so replay
//!   works, and is tested, on any host.

pub mod pcap_file;
