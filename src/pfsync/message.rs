//! Decoded pfsync messages, the same types for every dialect.
//!
//! Numbers from the wire that name things (action codes, address families,
//! directions) keep unknown values so they can be counted and shown.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A pfsync action code as it appeared on the wire. Its meaning depends on
/// the dialect (codes 13–16 differ between OpenBSD v6 and FreeBSD v5), so the
/// decoder maps it to a [`Message`] variant; the raw code is kept for counters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Action(pub u8);

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "action {}", self.0)
    }
}

/// Address family of a state, normalised from the sender's OS numbering
/// (AF_INET6 is 24 on OpenBSD, 28 on FreeBSD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Family {
    #[default]
    Inet,
    Inet6,
    /// A value we do not know; the raw byte is kept.
    Other(u8),
}

/// pf's direction of the rule that created the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PfDirection {
    /// PF_INOUT (0): not expected in a state, kept as is.
    #[default]
    InOut,
    /// PF_IN (1).
    In,
    /// PF_OUT (2).
    Out,
    Other(u8),
}

impl PfDirection {
    pub fn from_wire(b: u8) -> Self {
        match b {
            0 => PfDirection::InOut,
            1 => PfDirection::In,
            2 => PfDirection::Out,
            x => PfDirection::Other(x),
        }
    }
    pub fn to_wire(self) -> u8 {
        match self {
            PfDirection::InOut => 0,
            PfDirection::In => 1,
            PfDirection::Out => 2,
            PfDirection::Other(x) => x,
        }
    }
}

/// An interface name as pf sends it: 16 bytes, NUL padded.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IfName(pub [u8; 16]);

impl IfName {
    pub fn new(name: &str) -> Self {
        let mut b = [0u8; 16];
        let n = name.len().min(15);
        b[..n].copy_from_slice(&name.as_bytes()[..n]);
        IfName(b)
    }
    /// The name up to its first NUL; lossy for non-UTF-8 bytes.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        let end = self.0.iter().position(|&c| c == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.0[..end])
    }
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// One of a state's two keys: pf's `pfsync_state_key` (or, for legacy
/// dialects, the lan/gwy/ext hosts arranged the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StateKey {
    /// Addresses in network order; IPv4 in the first four bytes.
    pub addr: [[u8; 16]; 2],
    pub port: [u16; 2],
    pub rdomain: u16,
}

impl StateKey {
    pub fn ip(&self, i: usize, family: Family) -> IpAddr {
        let a = self.addr[i & 1];
        match family {
            Family::Inet6 => IpAddr::V6(Ipv6Addr::from(a)),
            _ => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        }
    }
}

/// Index of the wire-side key in [`PfState::keys`] (`PF_SK_WIRE`).
pub const SK_WIRE: usize = 0;
/// Index of the stack-side key (`PF_SK_STACK`, pre-NAT for outbound states).
pub const SK_STACK: usize = 1;

/// `state_flags` bit that marks a state for flow export (pf.conf `pflow`).
pub const PFSTATE_PFLOW: u16 = 0x0004;

/// A full pf state as one of the full-state actions (INS, UPD, DEL) carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PfState {
    /// The state id, 8 opaque bytes read as a big-endian integer.
    pub id: u64,
    /// The creating firewall's host id (opaque).
    pub creator: u32,
    pub ifname: IfName,
    pub keys: [StateKey; 2],
    pub family: Family,
    pub proto: u8,
    pub direction: PfDirection,
    /// Rule number, `u32::MAX` = none.
    pub rule: u32,
    pub anchor: u32,
    /// Age of the state in seconds when the sender exported it.
    pub creation: u32,
    /// Seconds until expiry when exported.
    pub expire: u32,
    /// [initiator→responder, reverse].
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub state_flags: u16,
    /// Whether this dialect carries `state_flags` with the pflow bit at all.
    pub flags_known: bool,
    pub timeout: u8,
    pub sync_flags: u8,
    /// TCP peer states (src, dst).
    pub peer_state: [u8; 2],
}

impl PfState {
    /// True when the state carries pf's `pflow` option.
    pub fn pflow(&self) -> bool {
        self.state_flags & PFSTATE_PFLOW != 0
    }
}

/// Status of a bulk update (BUS message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkStatus {
    Start,
    End,
    Other(u8),
}

impl BulkStatus {
    pub fn from_wire(b: u8) -> Self {
        match b {
            1 => BulkStatus::Start,
            2 => BulkStatus::End,
            x => BulkStatus::Other(x),
        }
    }
    pub fn to_wire(self) -> u8 {
        match self {
            BulkStatus::Start => 1,
            BulkStatus::End => 2,
            BulkStatus::Other(x) => x,
        }
    }
}

/// One decoded pfsync message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// Every state of `creator` (on `ifname`, when not empty) is gone.
    Clear {
        creator: u32,
        ifname: IfName,
    },
    /// A new state.
    Insert(PfState),
    /// A full state refresh (bulk transfer or reply to a request).
    Update(PfState),
    /// A full-state deletion (legacy dialects on pfsync0; modern input only).
    Delete(PfState),
    /// Compressed update: activity on a known state, no counters.
    UpdateCompressed {
        id: u64,
        creator: u32,
        peer_state: [u8; 2],
        timeout: u8,
    },
    /// Compressed deletion: only the state's identity.
    DeleteCompressed {
        id: u64,
        creator: u32,
    },
    InsertAck {
        id: u64,
        creator: u32,
    },
    /// A request for a state (or, with id 0 and creator 0, a bulk transfer).
    UpdateRequest {
        id: u64,
        creator: u32,
    },
    BulkStatus {
        creator: u32,
        endtime: u32,
        status: BulkStatus,
    },
    /// IPsec SA replay counters: no flow data.
    Tdb,
    /// End of frame marker (FreeBSD, OpenBSD 4.5).
    Eof,
    /// An action this dialect does not define; `size` bytes were skipped.
    Unknown {
        action: Action,
        size: usize,
    },
}

/// Bodies laid out the same way in every dialect that has them (OpenBSD
/// 4.4's v4 compressed forms onwards, FreeBSD alike): the dialect modules
/// decide which action code and length mean which, and call these. Offsets
/// from `struct pfsync_clr`, `pfsync_ins_ack`, `pfsync_upd_c`,
/// `pfsync_upd_req`, `pfsync_del_c` and `pfsync_bus`
/// (../shared/reference/pfsync-formats.md). `b` is at least the message's
/// length; the readers return 0 past its end rather than panic.
pub(super) mod body {
    use super::{BulkStatus, IfName, Message};
    use crate::wire::{array_at, be32, be64, u8_at};

    /// CLR: ifname\[16\], creatorid.
    pub fn clear(b: &[u8]) -> Message {
        Message::Clear {
            ifname: IfName(array_at(b, 0)),
            creator: be32(b, 16),
        }
    }

    /// INS_ACK: id, creatorid.
    pub fn insert_ack(b: &[u8]) -> Message {
        Message::InsertAck {
            id: be64(b, 0),
            creator: be32(b, 8),
        }
    }

    /// UPD_C: id, src and dst `pfsync_state_peer` (32 bytes each, whose
    /// `state` byte sits 24 bytes in), creatorid, timeout.
    pub fn update_compressed(b: &[u8]) -> Message {
        Message::UpdateCompressed {
            id: be64(b, 0),
            peer_state: [u8_at(b, 8 + 24), u8_at(b, 40 + 24)],
            creator: be32(b, 72),
            timeout: u8_at(b, 80),
        }
    }

    /// UPD_REQ: id, creatorid (id 0 and creator 0: a bulk request).
    pub fn update_request(b: &[u8]) -> Message {
        Message::UpdateRequest {
            id: be64(b, 0),
            creator: be32(b, 8),
        }
    }

    /// DEL_C: id, creatorid.
    pub fn delete_compressed(b: &[u8]) -> Message {
        Message::DeleteCompressed {
            id: be64(b, 0),
            creator: be32(b, 8),
        }
    }

    /// BUS: creatorid, endtime, status.
    pub fn bulk_status(b: &[u8]) -> Message {
        Message::BulkStatus {
            creator: be32(b, 0),
            endtime: be32(b, 4),
            status: BulkStatus::from_wire(u8_at(b, 8)),
        }
    }
}
