//! NetFlow wire formats: encoders and decoders, pure over byte slices.
//!
//! - [`v5`]: NetFlow version 5 (Cisco; the format pfflowd and pflow(4) send
//!   by default): 24-byte header, 48-byte IPv4-only records, at most 30 per
//!   datagram. Layout in `shared/reference/anchors-behaviour.md` §4.1.
//! - [`v9`]: NetFlow version 9 (RFC 3954) packet header and FlowSets.
//! - [`ipfix`]: IPFIX (RFC 7011) message header and sets.
//! - [`template`]: what v9 and IPFIX share: element ids, templates, the
//!   template cache, data record → [`crate::flow::Flow`].
//! - [`decode`]: a stateful decoder of all three (templates kept across
//!   datagrams), pcap/raw-file walking and one-line printing, for tests,
//!   `--decode` and fuzzing.
//!
//! Decoders check lengths once and never panic; they exist for tests, for
//! `--decode` and for operators checking what was sent.

pub mod decode;
pub mod ipfix;
pub mod template;
pub mod v5;
pub mod v9;
