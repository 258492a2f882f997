//! Capture mode: flows from raw packets, as softflowd makes them.
//!
//! [`cache::FlowCache`] is the pure part: it takes parsed packets
//! ([`crate::packet`]) with their capture time, keeps one entry per
//! conversation (both directions of a 5-tuple), and hands back finished
//! [`crate::flow::Flow`]s — two per conversation, one per direction that
//! carried packets, like softflowd's NetFlow export. The clock is always a
//! parameter, so a replayed capture expires flows by the packets' clock and
//! records carry the capture's own times. [`run`] is the thin driver (pcap
//! file in, UDP out).
//!
//! Expiry follows softflowd 1.1 (`flow_update_expiry`): RST → `tcp.rst`,
//! FIN both ways → `tcp.fin`, otherwise per-protocol idle timeouts; `maxlife`
//! cuts long conversations; expiry times are rounded up to `expint`; above
//! `max_flows` the least recently active conversation is evicted.

pub mod cache;
pub mod run;

pub use cache::{CacheConfig, CacheStats, ConvChunk, FlowCache, Timeouts};
