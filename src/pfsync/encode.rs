//! pfsync encoders: the inverse of the decoders, for the capture generator,
//! fuzz round trips, and the requests a daemon sends on the sync link.
//!
//! The encoder writes exactly the layouts the decoder reads (reference §4);
//! decoder tests do not rely on it, they check hand-computed offsets.

use super::message::*;
use super::openbsd::{self, action};
use super::{HEADER_LEN, SUBHEADER_LEN};
use crate::wire::put;

/// Builds one OpenBSD version 6 frame. Consecutive messages of the same
/// action share one subheader, as the kernel batches them.
#[derive(Clone, Debug)]
pub struct V6FrameBuilder {
    buf: Vec<u8>,
    /// (action, offset of the open subheader's count field)
    open: Option<(u8, usize)>,
}

impl Default for V6FrameBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl V6FrameBuilder {
    pub fn new() -> Self {
        let mut buf = vec![0u8; HEADER_LEN];
        buf[0] = 6;
        V6FrameBuilder { buf, open: None }
    }

    /// Bytes the frame would have now.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER_LEN
    }

    /// Appends one message. `Unknown` is written as `size` zero bytes under
    /// its action code, to exercise receivers' skipping.
    pub fn push(&mut self, msg: &Message) -> &mut Self {
        let (act, body) = encode_v6(msg);
        let words = body.len() / 4;
        match self.open {
            Some((a, count_off)) if a == act && words == self.open_words() => {
                let c = u16::from_be_bytes([self.buf[count_off], self.buf[count_off + 1]]);
                let c = c.wrapping_add(1);
                self.buf[count_off..count_off + 2].copy_from_slice(&c.to_be_bytes());
            }
            _ => {
                let at = self.buf.len();
                self.buf
                    .extend_from_slice(&[act, words as u8, 0, 1][..SUBHEADER_LEN]);
                self.open = Some((act, at + 2));
            }
        }
        self.buf.extend_from_slice(&body);
        self
    }

    fn open_words(&self) -> usize {
        match self.open {
            Some((_, count_off)) => usize::from(self.buf[count_off - 1]),
            None => 0,
        }
    }

    /// Finishes the frame: fills in the header's length.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len().min(usize::from(u16::MAX)) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

/// Encodes one message body; returns its v6 action code and bytes (a whole
/// number of 32-bit words).
pub fn encode_v6(msg: &Message) -> (u8, Vec<u8>) {
    match *msg {
        Message::Clear { creator, ifname } => {
            let mut b = vec![0u8; openbsd::CLR_LEN];
            put(&mut b, 0, &ifname.0);
            put(&mut b, 16, &creator.to_be_bytes());
            (action::CLR, b)
        }
        Message::InsertAck { id, creator } => (action::INS_ACK, id_creator(id, creator)),
        Message::UpdateRequest { id, creator } => (action::UPD_REQ, id_creator(id, creator)),
        Message::DeleteCompressed { id, creator } => (action::DEL_C, id_creator(id, creator)),
        Message::UpdateCompressed {
            id,
            creator,
            peer_state,
            timeout,
        } => {
            let mut b = vec![0u8; openbsd::UPD_C_LEN];
            put(&mut b, 0, &id.to_be_bytes());
            b[8 + 24] = peer_state[0];
            b[40 + 24] = peer_state[1];
            put(&mut b, 72, &creator.to_be_bytes());
            b[80] = timeout;
            (action::UPD_C, b)
        }
        Message::BulkStatus {
            creator,
            endtime,
            status,
        } => {
            let mut b = vec![0u8; openbsd::BUS_LEN];
            put(&mut b, 0, &creator.to_be_bytes());
            put(&mut b, 4, &endtime.to_be_bytes());
            b[8] = status.to_wire();
            (action::BUS, b)
        }
        Message::Insert(ref s) => (action::INS, encode_state_v6(s).to_vec()),
        Message::Update(ref s) => (action::UPD, encode_state_v6(s).to_vec()),
        Message::Delete(ref s) => (action::DEL, encode_state_v6(s).to_vec()),
        Message::Tdb => (action::TDB, vec![0u8; openbsd::TDB_LEN]),
        Message::Eof => (action::EOF, Vec::new()),
        Message::Unknown { action, size } => (action.0, vec![0u8; size.div_ceil(4) * 4]),
    }
}

fn id_creator(id: u64, creator: u32) -> Vec<u8> {
    let mut b = vec![0u8; 12];
    put(&mut b, 0, &id.to_be_bytes());
    put(&mut b, 8, &creator.to_be_bytes());
    b
}

/// Writes a `struct pfsync_state` of OpenBSD current (264 bytes, §4.4).
pub fn encode_state_v6(s: &PfState) -> [u8; openbsd::STATE_LEN] {
    let mut b = [0u8; openbsd::STATE_LEN];
    put(&mut b, 0, &s.id.to_be_bytes());
    put(&mut b, 8, &s.ifname.0);
    for (k, off) in s.keys.iter().zip([24usize, 64]) {
        put(&mut b, off, &k.addr[0]);
        put(&mut b, off + 16, &k.addr[1]);
        put(&mut b, off + 32, &k.port[0].to_be_bytes());
        put(&mut b, off + 34, &k.port[1].to_be_bytes());
        put(&mut b, off + 36, &k.rdomain.to_be_bytes());
    }
    b[104 + 24] = s.peer_state[0];
    b[136 + 24] = s.peer_state[1];
    put(&mut b, 184, &s.rule.to_be_bytes());
    put(&mut b, 188, &s.anchor.to_be_bytes());
    put(&mut b, 192, &u32::MAX.to_be_bytes());
    put(&mut b, 196, &s.creation.to_be_bytes());
    put(&mut b, 200, &s.expire.to_be_bytes());
    put(&mut b, 204, &s.packets[0].to_be_bytes());
    put(&mut b, 212, &s.packets[1].to_be_bytes());
    put(&mut b, 220, &s.bytes[0].to_be_bytes());
    put(&mut b, 228, &s.bytes[1].to_be_bytes());
    put(&mut b, 236, &s.creator.to_be_bytes());
    b[250] = match s.family {
        Family::Inet => openbsd::AF_INET,
        Family::Inet6 => openbsd::AF_INET6_OPENBSD,
        Family::Other(x) => x,
    };
    b[251] = s.proto;
    b[252] = s.direction.to_wire();
    b[255] = s.timeout;
    b[256] = s.sync_flags;
    put(&mut b, 260, &s.state_flags.to_be_bytes());
    b
}
