//! From [`Flow`]s to datagrams for collectors.
//!
//! The sans-I/O part: [`Exporter`] holds one [`FlowEncoder`] per collector
//! (so each collector sees its own consistent sequence numbers), batches
//! flows into datagrams, and hands back `(collector index, datagram)` pairs.
//! Time is passed in; a short flush interval makes a quiet firewall still
//! export within a second or two. [`udp`] is the thin adapter that sends.

pub mod udp;
pub mod v5;

use crate::flow::Flow;
use crate::time::Timestamp;
use std::fmt;
use std::net::SocketAddr;

/// Export format of one collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    V5,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "5" | "v5" => Some(Format::V5),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::V5 => "v5",
        })
    }
}

/// Settings shared by the encoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    pub engine_type: u8,
    pub engine_id: u8,
    /// Longest a flow waits in a partly filled datagram, in microseconds.
    pub flush_interval_us: u64,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            engine_type: 0,
            engine_id: 0,
            flush_interval_us: 1_000_000,
        }
    }
}

/// Counters an encoder keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncoderStats {
    /// Flows taken.
    pub flows: u64,
    /// Records written (a flow may need several, e.g. v5 counter splits).
    pub records: u64,
    pub datagrams: u64,
    /// Flows this format cannot carry (IPv6 in v5).
    pub unexportable: u64,
    /// Flows whose First predates what the format's clock can express.
    pub clamped_first: u64,
}

/// A stateful encoder of one export stream.
pub trait FlowEncoder: Send {
    /// Adds a flow; full datagrams are appended to `out`.
    fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Vec<u8>>);
    /// Emits whatever is pending.
    fn flush(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>);
    /// When the oldest pending flow arrived, if any.
    fn pending_since(&self) -> Option<Timestamp>;
    fn stats(&self) -> EncoderStats;
}

pub fn new_encoder(format: Format, cfg: EncoderConfig) -> Box<dyn FlowEncoder> {
    match format {
        Format::V5 => Box::new(v5::V5Encoder::new(cfg)),
    }
}

/// Where to send, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectorSpec {
    pub addr: SocketAddr,
    pub format: Format,
}

/// One datagram for one collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub collector: usize,
    pub bytes: Vec<u8>,
}

/// Batches flows for every collector (each collector receives every flow).
pub struct Exporter {
    cfg: EncoderConfig,
    encoders: Vec<Box<dyn FlowEncoder>>,
    scratch: Vec<Vec<u8>>,
}

impl Exporter {
    pub fn new(collectors: &[CollectorSpec], cfg: EncoderConfig) -> Self {
        Exporter {
            cfg,
            encoders: collectors
                .iter()
                .map(|c| new_encoder(c.format, cfg))
                .collect(),
            scratch: Vec::new(),
        }
    }

    pub fn collectors(&self) -> usize {
        self.encoders.len()
    }

    pub fn stats(&self, collector: usize) -> EncoderStats {
        self.encoders
            .get(collector)
            .map(|e| e.stats())
            .unwrap_or_default()
    }

    pub fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            e.push(flow, now, &mut self.scratch);
            out.extend(self.scratch.drain(..).map(|bytes| Outgoing {
                collector: i,
                bytes,
            }));
        }
    }

    /// Flushes encoders whose oldest pending flow has waited the flush
    /// interval.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            if let Some(since) = e.pending_since() {
                if now.micros_since(since) >= self.cfg.flush_interval_us {
                    e.flush(now, &mut self.scratch);
                    out.extend(self.scratch.drain(..).map(|bytes| Outgoing {
                        collector: i,
                        bytes,
                    }));
                }
            }
        }
    }

    /// The next instant [`Exporter::poll`] has work, if any.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.encoders
            .iter()
            .filter_map(|e| e.pending_since())
            .min()
            .map(|t| t.saturating_add_micros(self.cfg.flush_interval_us))
    }

    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for (i, e) in self.encoders.iter_mut().enumerate() {
            e.flush(now, &mut self.scratch);
            out.extend(self.scratch.drain(..).map(|bytes| Outgoing {
                collector: i,
                bytes,
            }));
        }
    }
}
