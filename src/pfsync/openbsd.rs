//! OpenBSD pfsync version 6 message layouts (reference §4.3, §4.4, §4.7).
//!
//! Offsets are those of `struct pfsync_state` (264 bytes) and the small
//! messages in OpenBSD's if_pfsync.h 1.54 / pfvar.h 1.543. A message longer
//! than the structure we know is decoded by its known prefix (a newer peer
//! appended fields); a shorter one is refused, as the kernel does.

use super::DecodeError;
use super::message::*;
use crate::wire::{array_at, be16, be32, be64, u8_at};

/// OpenBSD's AF_INET6.
pub const AF_INET6_OPENBSD: u8 = 24;
pub const AF_INET: u8 = 2;

/// Size of the current `struct pfsync_state`.
pub const STATE_LEN: usize = 264;

/// v6 action codes (§4.3).
pub mod action {
    pub const CLR: u8 = 0;
    pub const INS_ACK: u8 = 2;
    pub const UPD_C: u8 = 4;
    pub const UPD_REQ: u8 = 5;
    pub const DEL: u8 = 6;
    pub const DEL_C: u8 = 7;
    pub const BUS: u8 = 10;
    pub const EOF: u8 = 12;
    pub const INS: u8 = 13;
    pub const UPD: u8 = 14;
    pub const TDB: u8 = 15;
}

/// Message sizes of the structures we decode (§4.7).
pub const CLR_LEN: usize = 20;
pub const INS_ACK_LEN: usize = 12;
pub const UPD_C_LEN: usize = 84;
pub const UPD_REQ_LEN: usize = 12;
pub const DEL_C_LEN: usize = 12;
pub const BUS_LEN: usize = 12;
pub const TDB_LEN: usize = 52;

pub(super) fn decode_v6(act: u8, b: &[u8]) -> Result<Message, DecodeError> {
    let need = match act {
        action::CLR => CLR_LEN,
        action::INS_ACK => INS_ACK_LEN,
        action::UPD_C => UPD_C_LEN,
        action::UPD_REQ => UPD_REQ_LEN,
        action::DEL | action::INS | action::UPD => STATE_LEN,
        action::DEL_C => DEL_C_LEN,
        action::BUS => BUS_LEN,
        action::TDB => TDB_LEN,
        action::EOF => 0,
        _ => {
            return Ok(Message::Unknown {
                action: Action(act),
                size: b.len(),
            });
        }
    };
    if b.len() < need {
        return Err(if matches!(act, action::DEL | action::INS | action::UPD) {
            DecodeError::UnknownStateLayout {
                action: act,
                size: b.len(),
            }
        } else {
            DecodeError::MessageTooSmall {
                action: act,
                size: b.len(),
            }
        });
    }
    Ok(match act {
        action::CLR => Message::Clear {
            ifname: IfName(array_at(b, 0)),
            creator: be32(b, 16),
        },
        action::INS_ACK => Message::InsertAck {
            id: be64(b, 0),
            creator: be32(b, 8),
        },
        action::UPD_C => Message::UpdateCompressed {
            id: be64(b, 0),
            // peer.state sits 24 bytes into each 32-byte pfsync_state_peer
            peer_state: [u8_at(b, 8 + 24), u8_at(b, 40 + 24)],
            creator: be32(b, 72),
            timeout: u8_at(b, 80),
        },
        action::UPD_REQ => Message::UpdateRequest {
            id: be64(b, 0),
            creator: be32(b, 8),
        },
        action::DEL_C => Message::DeleteCompressed {
            id: be64(b, 0),
            creator: be32(b, 8),
        },
        action::BUS => Message::BulkStatus {
            creator: be32(b, 0),
            endtime: be32(b, 4),
            status: BulkStatus::from_wire(u8_at(b, 8)),
        },
        action::TDB => Message::Tdb,
        action::EOF => Message::Eof,
        action::INS => Message::Insert(decode_state(b)),
        action::UPD => Message::Update(decode_state(b)),
        _ => Message::Delete(decode_state(b)),
    })
}

fn key_at(b: &[u8], off: usize) -> StateKey {
    StateKey {
        addr: [array_at(b, off), array_at(b, off + 16)],
        port: [be16(b, off + 32), be16(b, off + 34)],
        rdomain: be16(b, off + 36),
    }
}

/// Decodes a 264-byte `struct pfsync_state` (§4.4); `b` is at least that long.
pub fn decode_state(b: &[u8]) -> PfState {
    let family = match u8_at(b, 250) {
        AF_INET => Family::Inet,
        AF_INET6_OPENBSD => Family::Inet6,
        x => Family::Other(x),
    };
    PfState {
        id: be64(b, 0),
        ifname: IfName(array_at(b, 8)),
        keys: [key_at(b, 24), key_at(b, 64)],
        peer_state: [u8_at(b, 104 + 24), u8_at(b, 136 + 24)],
        rule: be32(b, 184),
        anchor: be32(b, 188),
        creation: be32(b, 196),
        expire: be32(b, 200),
        packets: [be64(b, 204), be64(b, 212)],
        bytes: [be64(b, 220), be64(b, 228)],
        creator: be32(b, 236),
        family,
        proto: u8_at(b, 251),
        direction: PfDirection::from_wire(u8_at(b, 252)),
        timeout: u8_at(b, 255),
        sync_flags: u8_at(b, 256),
        state_flags: be16(b, 260),
        flags_known: true,
    }
}
