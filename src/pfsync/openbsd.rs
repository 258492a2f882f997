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
        action::CLR => body::clear(b),
        action::INS_ACK => body::insert_ack(b),
        action::UPD_C => body::update_compressed(b),
        action::UPD_REQ => body::update_request(b),
        action::DEL_C => body::delete_compressed(b),
        action::BUS => body::bulk_status(b),
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

#[cfg(test)]
mod tests {
    //! Decoding checked against byte offsets computed by hand from
    //! reference §4.1–4.4 and §4.7, not against our encoder.

    use super::super::{DecodeError, parse_frame};
    use super::*;

    /// A v6 frame: header with the right `len`, then the given subheaders.
    fn frame(parts: &[(u8, u8, u16, Vec<u8>)]) -> Vec<u8> {
        let mut f = vec![0u8; 20];
        f[0] = 6;
        for (act, words, count, body) in parts {
            f.extend_from_slice(&[*act, *words]);
            f.extend_from_slice(&count.to_be_bytes());
            f.extend_from_slice(body);
        }
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        f
    }

    /// A 264-byte pfsync_state with every field we read set by offset.
    fn hand_state() -> Vec<u8> {
        let mut s = vec![0u8; 264];
        s[0..8].copy_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]); // id
        s[8..12].copy_from_slice(b"em0\0"); // ifname
        // key[0] (wire) @24: addr[0] @24, addr[1] @40, port[0] @56, port[1] @58, rdomain @60
        s[24..28].copy_from_slice(&[198, 51, 100, 7]);
        s[40..44].copy_from_slice(&[203, 0, 113, 9]);
        s[56..58].copy_from_slice(&[0xc3, 0x50]); // 50000
        s[58..60].copy_from_slice(&[0x00, 0x50]); // 80
        s[60..62].copy_from_slice(&[0x00, 0x03]); // rdomain 3
        // key[1] (stack) @64: addr[0] @64, addr[1] @80, ports @96/@98
        s[64..68].copy_from_slice(&[198, 51, 100, 7]);
        s[80..84].copy_from_slice(&[192, 0, 2, 10]);
        s[96..98].copy_from_slice(&[0xc3, 0x50]);
        s[98..100].copy_from_slice(&[0x1f, 0x90]); // 8080
        s[128] = 4; // src peer state (@104 + 24)
        s[160] = 5; // dst peer state (@136 + 24)
        s[184..188].copy_from_slice(&[0, 0, 0, 17]); // rule
        s[188..192].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]); // anchor
        s[192..196].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]); // nat_rule
        s[196..200].copy_from_slice(&[0, 0, 0x0e, 0x10]); // creation 3600 s
        s[200..204].copy_from_slice(&[0, 0, 0, 30]); // expire
        s[204..212].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // packets[0] hi,lo
        s[212..220].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]); // packets[1]
        s[220..228].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0x10, 0]); // bytes[0]
        s[228..236].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0x20, 0]); // bytes[1]
        s[236..240].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]); // creatorid
        s[250] = 2; // af
        s[251] = 6; // proto
        s[252] = 1; // direction in
        s[255] = 2; // timeout TCP_ESTABLISHED
        s[256] = 0x04; // sync_flags
        s[260..262].copy_from_slice(&[0x00, 0x05]); // state_flags: ALLOWOPTS|PFLOW
        s
    }

    #[test]
    fn full_state_fields_decode_from_their_offsets() {
        let f = frame(&[(13, 66, 1, hand_state())]);
        let fr = parse_frame(&f).unwrap();
        let msgs: Vec<_> = fr.messages().collect();
        assert_eq!(msgs.len(), 1);
        let Ok(Message::Insert(s)) = msgs[0] else {
            panic!("{:?}", msgs[0])
        };
        assert_eq!(s.id, 0x0102_0304_0506_0708);
        assert_eq!(s.ifname.as_str(), "em0");
        assert_eq!(s.keys[SK_WIRE].addr[0][..4], [198, 51, 100, 7]);
        assert_eq!(s.keys[SK_WIRE].addr[1][..4], [203, 0, 113, 9]);
        assert_eq!(s.keys[SK_WIRE].port, [50000, 80]);
        assert_eq!(s.keys[SK_WIRE].rdomain, 3);
        assert_eq!(s.keys[SK_STACK].addr[1][..4], [192, 0, 2, 10]);
        assert_eq!(s.keys[SK_STACK].port, [50000, 8080]);
        assert_eq!(s.peer_state, [4, 5]);
        assert_eq!(s.rule, 17);
        assert_eq!(s.anchor, u32::MAX);
        assert_eq!(s.creation, 3600);
        assert_eq!(s.expire, 30);
        assert_eq!(s.packets, [(1 << 32) | 2, 3]);
        assert_eq!(s.bytes, [0x1000, 0x2000]);
        assert_eq!(s.creator, 0xcafe_babe);
        assert_eq!(s.family, Family::Inet);
        assert_eq!(s.proto, 6);
        assert_eq!(s.direction, PfDirection::In);
        assert_eq!(s.timeout, 2);
        assert_eq!(s.sync_flags, 4);
        assert_eq!(s.state_flags, 5);
        assert!(s.pflow());
    }

    #[test]
    fn ipv6_family_is_openbsd_24_and_update_is_14() {
        let mut st = hand_state();
        st[250] = 24;
        st[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let f = frame(&[(14, 66, 1, st.clone())]);
        let Some(Ok(Message::Update(s))) = parse_frame(&f).unwrap().messages().next() else {
            panic!()
        };
        assert_eq!(s.family, Family::Inet6);
        assert_eq!(
            s.keys[0].ip(0, s.family),
            "2001:db8::1".parse::<std::net::IpAddr>().unwrap()
        );
        // FreeBSD's 28 is not AF_INET6 on OpenBSD
        st[250] = 28;
        let f = frame(&[(6, 66, 1, st)]);
        let Some(Ok(Message::Delete(s))) = parse_frame(&f).unwrap().messages().next() else {
            panic!()
        };
        assert_eq!(s.family, Family::Other(28));
    }

    #[test]
    fn small_messages_decode_from_their_offsets() {
        let mut clr = vec![0u8; 20];
        clr[..4].copy_from_slice(b"em1\0");
        clr[16..20].copy_from_slice(&[0, 0, 0, 9]);
        let del_c = vec![0, 0, 0, 0, 0, 0, 0x12, 0x34, 0xaa, 0xbb, 0xcc, 0xdd];
        let mut upd_c = vec![0u8; 84];
        upd_c[7] = 0x42; // id
        upd_c[32] = 4; // src.state @8+24
        upd_c[64] = 9; // dst.state @40+24
        upd_c[72..76].copy_from_slice(&[0, 0, 0, 7]); // creatorid
        upd_c[80] = 2; // timeout
        let bus = vec![0, 0, 0, 7, 0x60, 0, 0, 1, 2, 0, 0, 0];
        let upd_req = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let ins_ack = vec![0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 6];
        let f = frame(&[
            (0, 5, 1, clr),
            (7, 3, 2, [del_c.clone(), del_c].concat()),
            (4, 21, 1, upd_c),
            (10, 3, 1, bus),
            (5, 3, 1, upd_req),
            (2, 3, 1, ins_ack),
        ]);
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            m,
            [
                Message::Clear {
                    creator: 9,
                    ifname: IfName::new("em1")
                },
                Message::DeleteCompressed {
                    id: 0x1234,
                    creator: 0xaabb_ccdd
                },
                Message::DeleteCompressed {
                    id: 0x1234,
                    creator: 0xaabb_ccdd
                },
                Message::UpdateCompressed {
                    id: 0x42,
                    creator: 7,
                    peer_state: [4, 9],
                    timeout: 2
                },
                Message::BulkStatus {
                    creator: 7,
                    endtime: 0x6000_0001,
                    status: BulkStatus::End
                },
                Message::UpdateRequest { id: 0, creator: 0 },
                Message::InsertAck { id: 5, creator: 6 },
            ]
        );
    }

    #[test]
    fn unknown_actions_and_longer_messages_are_stepped_by_len() {
        // An unknown action 99 of 2 words x 2, then a DEL_C grown to 4 words
        // by a newer peer: the known 12-byte prefix is read.
        let del_c = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0xee, 0xee, 0xee, 0xee];
        let f = frame(&[(99, 2, 2, vec![0xff; 16]), (7, 4, 1, del_c)]);
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            m,
            [
                Message::Unknown {
                    action: Action(99),
                    size: 8
                },
                Message::Unknown {
                    action: Action(99),
                    size: 8
                },
                Message::DeleteCompressed { id: 1, creator: 2 },
            ]
        );
    }

    #[test]
    fn malformed_frames_are_refused_with_their_reason() {
        assert_eq!(
            parse_frame(&[]).unwrap_err(),
            DecodeError::Runt { captured: 0 }
        );
        assert_eq!(
            parse_frame(&[6, 0, 0]).unwrap_err(),
            DecodeError::Runt { captured: 3 }
        );
        assert_eq!(
            parse_frame(&[9; 40]).unwrap_err(),
            DecodeError::UnsupportedVersion(9)
        );
        let mut f = frame(&[(7, 3, 1, vec![0; 12])]);
        // len says 4 more bytes than captured
        let l = f.len() as u16 + 4;
        f[2..4].copy_from_slice(&l.to_be_bytes());
        assert_eq!(
            parse_frame(&f).unwrap_err(),
            DecodeError::ShortFrame {
                declared: 40,
                captured: 36
            }
        );
        f[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            parse_frame(&f).unwrap_err(),
            DecodeError::BadLength { declared: 10 }
        );
    }

    #[test]
    fn bytes_past_len_are_ignored_and_bad_messages_counted() {
        let mut f = frame(&[(7, 3, 1, vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2])]);
        f.extend_from_slice(&[7, 3, 0, 1]); // trailing garbage past len
        f.extend_from_slice(&[0; 12]);
        assert_eq!(parse_frame(&f).unwrap().messages().count(), 1);

        // A DEL_C announced with 2 words (8 bytes) is too small: refused,
        // and the walk goes on with the next subheader.
        let f = frame(&[(7, 2, 1, vec![0; 8]), (7, 3, 1, vec![0; 12])]);
        let m: Vec<_> = parse_frame(&f).unwrap().messages().collect();
        assert_eq!(
            m[0],
            Err(DecodeError::MessageTooSmall { action: 7, size: 8 })
        );
        assert!(m[1].is_ok());
        // A state message shorter than 264 bytes has no layout here.
        let f = frame(&[(13, 60, 1, vec![0; 240])]);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Err(DecodeError::UnknownStateLayout {
                action: 13,
                size: 240
            }))
        );
        // Zero length with a count: the rest of the frame cannot be walked.
        let f = frame(&[(7, 0, 5, vec![]), (7, 3, 1, vec![0; 12])]);
        let m: Vec<_> = parse_frame(&f).unwrap().messages().collect();
        assert_eq!(m, [Err(DecodeError::BadSubheader { action: 7 })]);
        // Count larger than the frame.
        let f = frame(&[(7, 3, 500, vec![0; 12])]);
        let m: Vec<_> = parse_frame(&f).unwrap().messages().collect();
        assert_eq!(m, [Err(DecodeError::Truncated { action: 7 })]);
        // count 0 subheaders are skipped
        let f = frame(&[(13, 66, 0, vec![]), (7, 3, 1, vec![0; 12])]);
        assert_eq!(parse_frame(&f).unwrap().messages().count(), 1);
    }

    #[test]
    fn encoder_round_trips_through_the_decoder() {
        let Some(Ok(Message::Insert(s))) = parse_frame(&frame(&[(13, 66, 1, hand_state())]))
            .unwrap()
            .messages()
            .next()
        else {
            panic!()
        };
        // The encoder writes back exactly the hand-built bytes we decode.
        assert_eq!(
            super::super::encode::encode_state_v6(&s).to_vec(),
            hand_state()
        );
        let msgs = [
            Message::Insert(s),
            Message::Insert(s),
            Message::UpdateCompressed {
                id: 1,
                creator: 2,
                peer_state: [3, 4],
                timeout: 5,
            },
            Message::DeleteCompressed { id: 9, creator: 2 },
            Message::Clear {
                creator: 2,
                ifname: IfName::new("vio0"),
            },
        ];
        let mut b = super::super::encode::V6FrameBuilder::new();
        for m in &msgs {
            b.push(m);
        }
        let bytes = b.finish();
        assert_eq!(bytes.len(), 20 + 4 + 2 * 264 + 4 + 84 + 4 + 12 + 4 + 20);
        let back: Vec<_> = parse_frame(&bytes)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, msgs);
    }
}
