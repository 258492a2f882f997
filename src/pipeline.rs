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
use crate::refresh::Refresher;
use crate::selection::Selection;
use crate::state::{
    Completed, ConvertOptions, StateId, StateTable, TableConfig, Tracked, flows_of,
};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Which senders' frames are accepted when they arrive over IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPolicy {
    /// Accept only TTL 255, as the kernel does (a frame from off-link has
    /// been routed and is not from a pfsync peer).
    pub require_ttl_255: bool,
    /// Accept only these source addresses (empty = any).
    pub peers: Vec<[u8; 4]>,
}

impl Default for IpPolicy {
    fn default() -> Self {
        IpPolicy {
            require_ttl_255: true,
            peers: Vec::new(),
        }
    }
}

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
    /// Ended states not exported, by selection reason.
    pub not_selected: BTreeMap<&'static str, u64>,
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

#[derive(Clone, Debug, Default)]
pub struct PipelineConfig {
    pub table: TableConfig,
    pub convert: ConvertOptions,
    pub encoder: EncoderConfig,
    pub selection: Selection,
    pub ip_policy: IpPolicy,
}

pub struct PfsyncPipeline {
    table: StateTable,
    ifmap: IfIndexMap,
    convert: ConvertOptions,
    exporter: Exporter,
    stats: PipelineStats,
    selection: Selection,
    ip_policy: IpPolicy,
    refresher: Option<Refresher>,
    /// Requests (UPD_REQ) for the driver to send on the sync link.
    requests: Vec<Message>,
    completed: Vec<Completed>,
    /// Reused for one frame's messages.
    msgs: Vec<Message>,
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
            selection: cfg.selection,
            ip_policy: cfg.ip_policy,
            refresher: None,
            requests: Vec::new(),
            completed: Vec::new(),
            msgs: Vec::new(),
            observer: None,
        }
    }

    pub fn set_observer(&mut self, f: FlowObserver) {
        self.observer = Some(f);
    }

    /// Turns on counter refreshing (see [`crate::refresh`]); the bulk
    /// request, if configured, is queued at once.
    pub fn set_refresher(&mut self, mut r: Refresher) {
        self.requests.extend(r.start());
        self.refresher = Some(r);
    }

    pub fn refresher(&self) -> Option<&Refresher> {
        self.refresher.as_ref()
    }

    /// Takes the requests queued for the sync link.
    pub fn take_requests(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.requests)
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

    pub fn exporter_mut(&mut self) -> &mut Exporter {
        &mut self.exporter
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
            Ok(c) => {
                if let Some(ip) = c.ip {
                    if self.ip_policy.require_ttl_255 && ip.ttl != 255 {
                        *self.stats.not_pfsync.entry("bad_ttl").or_default() += 1;
                        return None;
                    }
                    if !self.ip_policy.peers.is_empty() && !self.ip_policy.peers.contains(&ip.src) {
                        *self.stats.not_pfsync.entry("unknown_peer").or_default() += 1;
                        return None;
                    }
                }
                c.frame
            }
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
        let mut msgs = std::mem::take(&mut self.msgs);
        msgs.clear();
        for m in frame.messages() {
            match m {
                Ok(msg) => {
                    *self.stats.messages.entry(message_kind(&msg)).or_default() += 1;
                    msgs.push(msg);
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
        // One call for the whole frame: the table loads the entries the
        // frame names together, so a large table's cache misses overlap.
        self.table.apply_all(&msgs, now, &mut self.completed);
        if let Some(r) = self.refresher.as_mut() {
            for msg in &msgs {
                match msg {
                    Message::BulkStatus {
                        status: crate::pfsync::BulkStatus::End,
                        ..
                    } => r.on_bulk_end(),
                    Message::UpdateCompressed { id, creator, .. } => {
                        let sid = StateId {
                            creator: *creator,
                            id: *id,
                        };
                        if let Some(t) = self.table.get(&sid) {
                            self.requests.extend(r.on_activity(sid, t.counters_at, now));
                        }
                    }
                    _ => {}
                }
            }
        }
        self.msgs = msgs;
        self.table.poll(now, &mut self.completed);
        self.export_completed(now, out);
        self.exporter.poll(now, out);
        first_err
    }

    fn export_completed(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        for c in self.completed.drain(..) {
            self.stats.states_ended += 1;
            if let Some(r) = self.refresher.as_mut() {
                r.forget(&c.id);
            }
            if let Err(why) = self.selection.check(&c.state) {
                *self
                    .stats
                    .not_selected
                    .entry(why.counter_name())
                    .or_default() += 1;
                continue;
            }
            for f in flows_of(&c, &mut self.ifmap, self.convert) {
                self.stats.flows += 1;
                if let Some(obs) = self.observer.as_mut() {
                    obs(&f);
                }
                self.exporter.push(&f, now, out);
            }
        }
    }

    /// Lets time pass: ends stale states whose grace ran out, flushes
    /// datagrams that waited long enough, repeats an unanswered bulk
    /// request.
    pub fn poll(&mut self, now: Timestamp, out: &mut Vec<Outgoing>) {
        if let Some(r) = self.refresher.as_mut() {
            self.requests.extend(r.poll(now));
        }
        self.table.poll(now, &mut self.completed);
        self.export_completed(now, out);
        self.exporter.poll(now, out);
    }

    /// The earliest instant [`PfsyncPipeline::poll`] has work to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        match (self.exporter.next_deadline(), self.table.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Puts back states read from a state file (see
    /// [`crate::state::persist`]); states beyond the table's bound end at
    /// once and are exported like any eviction. Returns how many were put
    /// back.
    pub fn restore(
        &mut self,
        states: &[(StateId, Tracked)],
        now: Timestamp,
        out: &mut Vec<Outgoing>,
    ) -> u64 {
        let before = self.table.stats().restored;
        for (id, t) in states {
            self.table.restore(*id, t, &mut self.completed);
        }
        self.export_completed(now, out);
        self.table.stats().restored - before
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
