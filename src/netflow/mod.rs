//! NetFlow wire formats: encoders and decoders, pure over byte slices.
//!
//! - [`v5`]: NetFlow version 5 (Cisco; the format pfflowd and pflow(4) send
//!   by default): 24-byte header, 48-byte IPv4-only records, at most 30 per
//!   datagram. Layout in `shared/reference/anchors-behaviour.md` §4.1.
//!
//! Decoders check lengths once and never panic; they exist for tests, for
//! `--dump`-style tooling and for operators checking what was sent.

pub mod v5;
