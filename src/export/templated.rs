//! The stream encoder NetFlow v9 and IPFIX share.
//!
//! Both are "header, then sets"; they differ in header layout, set ids,
//! padding, sequence semantics and how times are written. A [`Dialect`]
//! holds those differences ([`super::v9`], [`super::ipfix`]); this module
//! does the rest:
//!
//! - one datagram at a time, filled up to `max_payload` bytes; consecutive
//!   flows of one family share a data set, a change of family opens a new
//!   set (IPv4 and IPv6 may share a datagram);
//! - templates are put at the front of a datagram when none were sent yet,
//!   when the last template datagram is `template_refresh_packets` packets
//!   or `template_refresh_secs` seconds old, or after a send error;
//! - the sequence number follows the dialect's rule (v9: packets, IPFIX:
//!   data records).
//!
//! Pure: time comes in as `now`; no allocation per record.

use super::{EncoderConfig, EncoderStats, FlowEncoder};
use crate::flow::{Direction, Flow};
use crate::netflow::template::{FieldSpec, Ie, Template};
use crate::time::Timestamp;
use crate::wire::put;
use std::net::IpAddr;

/// Room for the largest record any dialect writes (IPFIX IPv6: 84 bytes).
/// Template of IPv4 flows, in both formats.
pub const TEMPLATE_V4: u16 = 256;
/// Template of IPv6 flows, in both formats.
pub const TEMPLATE_V6: u16 = 257;

/// The two templates of a format: source and destination address of the
/// family, then `middle`, then ICMP type × 256 + code of the family.
pub fn family_templates(middle: &[FieldSpec]) -> [Template; 2] {
    let mk = |id, a: Ie, b: Ie, l, icmp: Ie| {
        let mut fields = vec![FieldSpec::new(a, l), FieldSpec::new(b, l)];
        fields.extend_from_slice(middle);
        fields.push(FieldSpec::new(icmp, 2));
        Template { id, fields }
    };
    [
        mk(
            TEMPLATE_V4,
            Ie::SOURCE_IPV4_ADDRESS,
            Ie::DESTINATION_IPV4_ADDRESS,
            4,
            Ie::ICMP_TYPE_CODE_IPV4,
        ),
        mk(
            TEMPLATE_V6,
            Ie::SOURCE_IPV6_ADDRESS,
            Ie::DESTINATION_IPV6_ADDRESS,
            16,
            Ie::ICMP_TYPE_CODE_IPV6,
        ),
    ]
}

/// The body of a template set holding `templates`.
pub fn template_set_body(templates: &[Template]) -> Vec<u8> {
    let mut b = Vec::new();
    for t in templates {
        t.emit(&mut b);
    }
    b
}

/// flowDirection value: 0 ingress, 1 egress; unknown is sent as ingress
/// (the element has no "unknown", and pf states default to inbound).
pub fn direction_value(d: Direction) -> u8 {
    match d {
        Direction::Egress => 1,
        Direction::Ingress | Direction::Unknown => 0,
    }
}

/// ICMP type × 256 + code for ICMP and ICMPv6 flows (NetFlow carries
/// them in the destination port), 0 for others. nfdump 1.7 reads a v9
/// ICMP flow's type and code only from this element.
pub fn icmp_type_code(flow: &Flow) -> u16 {
    if matches!(flow.protocol, 1 | 58) {
        flow.dst_port
    } else {
        0
    }
}

/// Writes the addresses at the front of a record; returns (template id,
/// offset after them), or None for mixed families.
pub fn write_addrs(flow: &Flow, rec: &mut [u8]) -> Option<(u16, usize)> {
    match (flow.src, flow.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            put(rec, 0, &s.octets());
            put(rec, 4, &d.octets());
            Some((TEMPLATE_V4, 8))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            put(rec, 0, &s.octets());
            put(rec, 16, &d.octets());
            Some((TEMPLATE_V6, 32))
        }
        _ => None,
    }
}

pub const MAX_RECORD: usize = 96;

/// Where times are anchored, for dialects that write uptime-relative times.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// Instant of sysUpTime 0.
    pub origin: Timestamp,
}

impl Clock {
    /// ms of uptime at `t`; `None` when `t` predates the origin.
    pub fn uptime(&self, t: Timestamp) -> Option<u32> {
        (t >= self.origin).then(|| t.as_millis().wrapping_sub(self.origin.as_millis()) as u32)
    }
}

pub trait Dialect: Send + 'static {
    const HEADER_LEN: usize;
    const TEMPLATE_SET_ID: u16;
    /// v9 pads every set to a 32-bit boundary.
    const PAD_SETS: bool;
    /// v9 counts packets, IPFIX data records.
    const SEQUENCE_COUNTS_RECORDS: bool;
    /// The template set body (both templates), without its set header.
    fn template_body() -> Vec<u8>;
    /// Writes one record of `flow` into `rec`; returns its template id and
    /// length, or `None` when the flow cannot be encoded. Sets
    /// `*clamped` when a time had to be clamped.
    fn record(
        flow: &Flow,
        clock: &Clock,
        rec: &mut [u8; MAX_RECORD],
        clamped: &mut bool,
    ) -> Option<(u16, usize)>;
    /// Fills the header at the front of `dgram`.
    fn header(
        dgram: &mut [u8],
        now: Timestamp,
        clock: &Clock,
        count: u16,
        sequence: u32,
        cfg: &EncoderConfig,
    );
}

pub struct TemplatedEncoder<D: Dialect> {
    cfg: EncoderConfig,
    max_payload: usize,
    clock: Option<Clock>,
    /// Template set with its header, ready to copy.
    template_set: Vec<u8>,
    /// The datagram being built (empty: none started).
    buf: Vec<u8>,
    /// (set id, offset of its header) of the open data set.
    open_set: Option<(u16, usize)>,
    data_records: u32,
    has_templates: bool,
    sequence: u32,
    /// Packets sent since (and including) the last one with templates.
    packets_since_templates: u32,
    last_templates: Option<Timestamp>,
    resend_templates: bool,
    pending_since: Option<Timestamp>,
    stats: EncoderStats,
    _d: std::marker::PhantomData<D>,
}

impl<D: Dialect> TemplatedEncoder<D> {
    pub fn with_payload(cfg: EncoderConfig, max_payload: usize) -> Self {
        let body = D::template_body();
        let mut template_set = Vec::with_capacity(body.len() + 4);
        template_set.extend_from_slice(&D::TEMPLATE_SET_ID.to_be_bytes());
        template_set.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        template_set.extend_from_slice(&body);
        TemplatedEncoder {
            cfg,
            max_payload: max_payload.max(super::MIN_PAYLOAD),
            clock: None,
            template_set,
            buf: Vec::new(),
            open_set: None,
            data_records: 0,
            has_templates: false,
            sequence: 0,
            packets_since_templates: 0,
            last_templates: None,
            resend_templates: false,
            pending_since: None,
            stats: EncoderStats::default(),
            _d: std::marker::PhantomData,
        }
    }

    /// The stream's clock, anchored (as v5's) the first time it is needed.
    fn clock_at(&mut self, now: Timestamp) -> Clock {
        *self.clock.get_or_insert(Clock {
            origin: Timestamp::from_millis(
                now.as_millis().saturating_sub(super::v5::UPTIME_HISTORY_MS),
            ),
        })
    }

    fn templates_due(&self, now: Timestamp) -> bool {
        let Some(last) = self.last_templates else {
            return true;
        };
        self.resend_templates
            || (self.cfg.template_refresh_packets > 0
                && self.packets_since_templates >= self.cfg.template_refresh_packets)
            || (self.cfg.template_refresh_secs > 0
                && now.micros_since(last) >= u64::from(self.cfg.template_refresh_secs) * 1_000_000)
    }

    fn start(&mut self, now: Timestamp) {
        self.buf.reserve_exact(self.max_payload);
        self.buf.resize(D::HEADER_LEN, 0);
        self.has_templates = self.templates_due(now);
        if self.has_templates {
            self.buf.extend_from_slice(&self.template_set);
        }
    }

    fn close_set(&mut self) {
        if let Some((_, at)) = self.open_set.take() {
            if D::PAD_SETS {
                let pad = (4 - (self.buf.len() - at) % 4) % 4;
                self.buf.resize(self.buf.len() + pad, 0);
            }
            let len = (self.buf.len() - at) as u16;
            crate::wire::put(&mut self.buf, at + 2, &len.to_be_bytes());
        }
    }

    fn emit(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        self.emit_inner(now, out, false);
    }

    /// Emits the datagram being built; one with no data records only when
    /// `templates_only` (an announcement).
    fn emit_inner(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>, templates_only: bool) {
        if self.data_records == 0 && !(templates_only && self.has_templates) {
            // Nothing but (maybe) templates: decide again next time.
            self.buf.clear();
            return;
        }
        self.close_set();
        let clock = self.clock.unwrap_or(Clock { origin: now });
        let n_templates = if self.has_templates { 2 } else { 0 };
        let count = (self.data_records + n_templates) as u16;
        D::header(&mut self.buf, now, &clock, count, self.sequence, &self.cfg);
        out.push(std::mem::take(&mut self.buf));
        self.sequence = self.sequence.wrapping_add(if D::SEQUENCE_COUNTS_RECORDS {
            self.data_records
        } else {
            1
        });
        self.stats.datagrams += 1;
        if self.has_templates {
            self.stats.template_datagrams += 1;
            self.packets_since_templates = 1;
            self.last_templates = Some(now);
            self.resend_templates = false;
        } else {
            self.packets_since_templates = self.packets_since_templates.saturating_add(1);
        }
        self.data_records = 0;
        self.pending_since = None;
    }
}

impl<D: Dialect> FlowEncoder for TemplatedEncoder<D> {
    fn push(&mut self, flow: &Flow, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        self.stats.flows += 1;
        let clock = self.clock_at(now);
        let mut rec = [0u8; MAX_RECORD];
        let mut clamped = false;
        let Some((set_id, len)) = D::record(flow, &clock, &mut rec, &mut clamped) else {
            self.stats.unexportable += 1;
            return;
        };
        if clamped {
            self.stats.clamped_first += 1;
        }
        if self.buf.is_empty() {
            self.start(now);
        }
        let need = |s: &Self| {
            let set_hdr = if s.open_set.map(|o| o.0) == Some(set_id) {
                0
            } else {
                4 + 3 // a new set header, and padding of the one it closes
            };
            s.buf.len() + set_hdr + len + if D::PAD_SETS { 3 } else { 0 }
        };
        if need(self) > self.max_payload && self.data_records > 0 {
            self.emit(now, out);
            self.start(now);
        }
        if self.open_set.map(|o| o.0) != Some(set_id) {
            self.close_set();
            self.open_set = Some((set_id, self.buf.len()));
            self.buf.extend_from_slice(&set_id.to_be_bytes());
            self.buf.extend_from_slice(&[0, 0]);
        }
        self.buf.extend_from_slice(&rec[..len]);
        self.data_records += 1;
        self.stats.records += 1;
        self.pending_since.get_or_insert(now);
    }

    fn flush(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        self.emit(now, out);
    }

    fn pending_since(&self) -> Option<Timestamp> {
        self.pending_since
    }

    fn stats(&self) -> EncoderStats {
        self.stats
    }

    fn on_send_error(&mut self) {
        self.resend_templates = true;
    }

    fn announce(&mut self, now: Timestamp, out: &mut Vec<Vec<u8>>) {
        if !self.buf.is_empty() {
            return;
        }
        self.clock_at(now);
        self.buf.reserve_exact(self.max_payload);
        self.buf.resize(D::HEADER_LEN, 0);
        self.buf.extend_from_slice(&self.template_set);
        self.has_templates = true;
        self.emit_inner(now, out, true);
    }
}
