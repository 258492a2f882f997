//! The pfsync-mode pipeline, without I/O: captured packet in, datagrams out.
//!
//! `packet → carrier::extract → pfsync::parse_frame → StateTable::apply →
//! convert::flows_of → Exporter`. The caller reads packets (pcap file, live
//! capture, raw socket), passes each with its arrival time, and sends what
//! comes back. Every packet that is not usable is counted by reason; a
//! malformed frame never stops the others.

use crate::export::{CollectorSpec, EncoderConfig, Exporter, Outgoing};
use crate::flow::Flow;
use crate::ifindex::IfIndexMap;
use crate::pfsync::carrier::{self, LinkType, NotPfsync};
use crate::pfsync::{self, DecodeError, Message};
use crate::state::{Completed, ConvertOptions, StateTable, TableConfig, flows_of};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// What the pipeline counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub packets: u64,
    /// Packets that carried no pfsync frame, by reason.
    pub not_pfsync: BTreeMap<&'static str, u64>,
    pub frames: u64,
    /// Messages decoded, by kind.
    pub messages: BTreeMap<&'static str, u64>,
    /// Frames or messages refused, by [`DecodeError::counter_name`].
    pub decode_errors: BTreeMap<&'static str, u64>,
    pub states_ended: u64,
    pub flows: u64,
}

impl PipelineStats {
    pub fn decode_error_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }
}

/// Called with every flow the pipeline produces (e.g. `--dump`).
pub type FlowObserver = Box<dyn FnMut(&Flow)>;

pub fn message_kind(m: &Message) -> &'static str {
    match m {
        Message::Clear { .. } => "clr",
        Message::Insert(_) => "ins",
        Message::Update(_) => "upd",
        Message::Delete(_) => "del",
        Message::UpdateCompressed { .. } => "upd_c",
        Message::DeleteCompressed { .. } => "del_c",
        Message::InsertAck { .. } => "ins_ack",
        Message::UpdateRequest { .. } => "upd_req",
        Message::BulkStatus { .. } => "bus",
        Message::Tdb => "tdb",
        Message::Eof => "eof",
        Message::Unknown { .. } => "unknown",
    }
}

#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub table: TableConfig,
    pub convert: ConvertOptions,
    pub encoder: EncoderConfig,
}

pub struct PfsyncPipeline {
    table: StateTable,
    ifmap: IfIndexMap,
    convert: ConvertOptions,
    exporter: Exporter,
    stats: PipelineStats,
    completed: Vec<Completed>,
    /// Flows are also handed to this observer (e.g. `--dump`).
    observer: Option<FlowObserver>,
}

impl PfsyncPipeline {
    pub fn new(cfg: PipelineConfig, collectors: &[CollectorSpec], ifmap: IfIndexMap) -> Self {
        PfsyncPipeline {
            table: StateTable::new(cfg.table),
            ifmap,
            convert: cfg.convert,
            exporter: Exporter::new(collectors, cfg.encoder),
            stats: PipelineStats::default(),
            completed: Vec::new(),
            observer: None,
        }
    }

    pub fn set_observer(&mut self, f: FlowObserver) {
        self.observer = Some(f);
    }

    pub fn stats(&self) -> &PipelineStats {
        &self.stats
    }

    pub fn table(&self) -> &StateTable {
        &self.table
    }

    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }

    /// Handles one captured packet that arrived at `now`. Returns the first
    /// decode error it met (already counted), for the caller to log.
    pub fn on_packet(
        &mut self,
        link: LinkType,
        now: Timestamp,
        pkt: &[u8],
        out: &mut Vec<Outgoing>,
    ) -> Option<DecodeError> {
        self.stats.packets += 1;
        let frame = match carrier::extract(link, pkt) {
            Ok(c) => c.frame,
            Err(e) => {
                let k = match e {
                    NotPfsync::Truncated => "truncated",
                    NotPfsync::OtherTraffic => "other_traffic",
                    NotPfsync::UnsupportedLink => "unsupported_link",
                    NotPfsync::Fragment => "fragment",
                };
                *self.stats.not_pfsync.entry(k).or_default() += 1;
                return None;
            }
        };
        self.on_frame(frame, now, out)
    }

    /// Handles one pfsync frame (already unwrapped from its carrier).
    pub fn on_frame(
        &mut self,
        frame: &[u8],
        now: Timestamp,
        out: &mut Vec<Outgoing>,
    ) -> Option<DecodeError> {
        let mut first_err = None;
        let frame = match pfsync::parse_frame(frame) {
            Ok(f) => f,
            Err(e) => {
                *self
                    .stats
                    .decode_errors
                    .entry(e.counter_name())
                    .or_default() += 1;
                return Some(e);
            }
        };
        self.stats.frames += 1;
        for m in frame.messages() {
            match m {
                Ok(msg) => {
                    *self.stats.messages.entry(message_kind(&msg)).or_default() += 1;
                    self.table.apply(&msg, now, &mut self.completed);
                }
                Err(e) => {
                    *self
                        .stats
                        .decode_errors
                        .entry(e.counter_name())
                        .or_default() += 1;
                    first_err.get_or_insert(e);
                }
            }
        }
        self.export_completed(now, out);
        self.exporter.poll(now, out);
        first_err
    }

    fn export_completed(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for c in self.completed.drain(..) {
            self.stats.states_ended += 1;
            for f in flows_of(&c, &mut self.ifmap, self.convert) {
                self.stats.flows += 1;
                if let Some(obs) = self.observer.as_mut() {
                    obs(&f);
                }
                self.exporter.push(&f, now, out);
            }
        }
    }

    /// Lets time pass: flushes datagrams that waited long enough.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        self.exporter.poll(now, out);
    }

    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.exporter.next_deadline()
    }

    /// Sends everything pending. With `end_states`, every tracked state is
    /// ended and exported first (an operator's flush); a replay ends without
    /// it, since states alive at the end of a capture have not ended.
    pub fn flush(&mut self, now: Timestamp, end_states: bool, out: &mut Vec<Outgoing>) {
        if end_states {
            self.table.drain(now, &mut self.completed);
            self.export_completed(now, out);
        }
        self.exporter.flush(now, out);
    }
}
