//! pfsync version 5 (reference §4.5, §5): OpenBSD 4.5 and FreeBSD 9 → 15.
//!
//! Both systems say version 5 and agree on codes 0–12; FreeBSD added new
//! state layouts as new codes (13/14 `pfsync_state_1400`, 15/16
//! `pfsync_state_1500`), which OpenBSD 4.5 never sent. So one action table
//! covers both, and codes 13–16 here are FreeBSD's, never OpenBSD v6's.
//!
//! v5 subheaders carry no message length: the size comes from the action
//! code. An action without a known size cannot be stepped over, so it ends
//! the walk of its frame (counted as `unwalkable_action`). EOF (12) ends the
//! frame as well; FreeBSD appends one to every frame.
//!
//! AF_INET6 is 28 on FreeBSD and 24 on OpenBSD 4.5; both are read as IPv6
//! (neither is another family a pf state can have). `flags_known` is false:
//! the pflow bit is not carried (1301 has an 8-bit `state_flags`, FreeBSD's
//! PFSTATE_PFLOW value is unverified, reference §5).
//!
//! Multi-byte fields new in 1400/1500 (`state_flags`) are read big-endian
//! like every other field; the reference marks their byte order unverified,
//! and a wrong guess only affects the flags, never the framing.

use super::DecodeError;
use super::message::*;
use crate::wire::{array_at, be16, be32, be64, u8_at};

/// Sizes of the three FreeBSD state layouts (1301 = OpenBSD 4.5's).
pub const STATE_1301_LEN: usize = 242;
pub const STATE_1400_LEN: usize = 277;
pub const STATE_1500_LEN: usize = 360;

/// v5 action codes (§5).
pub mod action {
    pub const CLR: u8 = 0;
    pub const INS_1301: u8 = 1;
    pub const INS_ACK: u8 = 2;
    pub const UPD_1301: u8 = 3;
    pub const UPD_C: u8 = 4;
    pub const UPD_REQ: u8 = 5;
    pub const DEL: u8 = 6;
    pub const DEL_C: u8 = 7;
    pub const BUS: u8 = 10;
    pub const TDB: u8 = 11;
    pub const EOF: u8 = 12;
    pub const INS_1400: u8 = 13;
    pub const UPD_1400: u8 = 14;
    pub const INS_1500: u8 = 15;
    pub const UPD_1500: u8 = 16;
}

pub const CLR_LEN: usize = 20;
pub const SMALL_LEN: usize = 12;
pub const UPD_C_LEN: usize = 84;
pub const TDB_LEN: usize = 48;

/// Which state layout a code carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    S1301,
    S1400,
    S1500,
}

/// Message size of a v5 action; `None` when unknown (8, 9 and ≥ 17).
pub fn message_len(act: u8) -> Option<usize> {
    Some(match act {
        action::CLR => CLR_LEN,
        action::INS_1301 | action::UPD_1301 | action::DEL => STATE_1301_LEN,
        action::INS_ACK | action::UPD_REQ | action::DEL_C | action::BUS => SMALL_LEN,
        action::UPD_C => UPD_C_LEN,
        action::TDB => TDB_LEN,
        action::EOF => 0,
        action::INS_1400 | action::UPD_1400 => STATE_1400_LEN,
        action::INS_1500 | action::UPD_1500 => STATE_1500_LEN,
        _ => return None,
    })
}

pub(super) fn decode(act: u8, b: &[u8]) -> Result<Message, DecodeError> {
    Ok(match act {
        action::CLR => body::clear(b),
        action::INS_ACK => body::insert_ack(b),
        action::UPD_C => body::update_compressed(b),
        action::UPD_REQ => body::update_request(b),
        action::DEL_C => body::delete_compressed(b),
        action::BUS => body::bulk_status(b),
        action::TDB => Message::Tdb,
        action::EOF => Message::Eof,
        action::INS_1301 => Message::Insert(decode_state(Layout::S1301, b)),
        action::UPD_1301 => Message::Update(decode_state(Layout::S1301, b)),
        action::DEL => Message::Delete(decode_state(Layout::S1301, b)),
        action::INS_1400 => Message::Insert(decode_state(Layout::S1400, b)),
        action::UPD_1400 => Message::Update(decode_state(Layout::S1400, b)),
        action::INS_1500 => Message::Insert(decode_state(Layout::S1500, b)),
        action::UPD_1500 => Message::Update(decode_state(Layout::S1500, b)),
        _ => Message::Unknown {
            action: Action(act),
            size: b.len(),
        },
    })
}

fn family(af: u8) -> Family {
    match af {
        2 => Family::Inet,
        24 | 28 => Family::Inet6,
        x => Family::Other(x),
    }
}

/// Decodes a v5 state of `layout`; `b` is at least that layout's size.
pub fn decode_state(layout: Layout, b: &[u8]) -> PfState {
    let mut keys = [StateKey::default(); 2];
    // key[2], 36 bytes each, no rdomain (§4.5); same in all three layouts
    for (k, off) in keys.iter_mut().zip([24usize, 60]) {
        k.addr = [array_at(b, off), array_at(b, off + 16)];
        k.port = [be16(b, off + 32), be16(b, off + 34)];
    }
    let mut s = PfState {
        id: be64(b, 0),
        ifname: IfName(array_at(b, 8)),
        keys,
        peer_state: [u8_at(b, 96 + 24), u8_at(b, 128 + 24)],
        rule: be32(b, 176),
        anchor: be32(b, 180),
        creation: be32(b, 188),
        expire: be32(b, 192),
        packets: [be64(b, 196), be64(b, 204)],
        bytes: [be64(b, 212), be64(b, 220)],
        creator: be32(b, 228),
        flags_known: false,
        ..PfState::default()
    };
    match layout {
        Layout::S1301 => {
            s.family = family(u8_at(b, 232));
            s.proto = u8_at(b, 233);
            s.direction = PfDirection::from_wire(u8_at(b, 234));
            s.state_flags = u16::from(u8_at(b, 238));
            s.timeout = u8_at(b, 239);
            s.sync_flags = u8_at(b, 240);
        }
        Layout::S1400 => {
            s.family = family(u8_at(b, 232));
            s.proto = u8_at(b, 233);
            s.direction = PfDirection::from_wire(u8_at(b, 234));
            s.state_flags = be16(b, 235);
            s.timeout = u8_at(b, 239);
            s.sync_flags = u8_at(b, 240);
        }
        Layout::S1500 => {
            // no af/proto/direction at 232..235 (that is tagname): the wire
            // side's family and protocol, direction @351
            s.family = family(u8_at(b, 344));
            s.proto = u8_at(b, 347);
            s.direction = PfDirection::from_wire(u8_at(b, 351));
            s.state_flags = be16(b, 332);
            s.timeout = u8_at(b, 350);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    //! Offsets from reference §4.5 and §5, written by hand.

    use super::super::{DecodeError, Dialect, addr4, fill_unread, parse_frame};
    use super::*;

    fn frame(parts: &[(u8, u16, Vec<u8>)], eof: bool) -> Vec<u8> {
        let mut f = vec![0u8; 20];
        f[0] = 5;
        for (act, count, body) in parts {
            f.extend_from_slice(&[*act, 0]);
            f.extend_from_slice(&count.to_be_bytes());
            f.extend_from_slice(body);
        }
        if eof {
            f.extend_from_slice(&[12, 0, 0, 1]);
        }
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        f
    }

    /// Offsets 0–231, common to 1301, 1400 and 1500; every field its own
    /// value.
    fn common(len: usize) -> Vec<u8> {
        let mut s = vec![0u8; len];
        s[0..8].copy_from_slice(&[0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0x0f]); // id
        s[8..13].copy_from_slice(b"igb0\0");
        // key[0] @24 (36 bytes): addr[0] @24, addr[1] @40, ports @56, @58
        s[24..28].copy_from_slice(&[198, 51, 100, 4]);
        s[40..44].copy_from_slice(&[203, 0, 113, 4]);
        s[56..58].copy_from_slice(&[0x01, 0xbb]); // 443
        s[58..60].copy_from_slice(&[0xd4, 0x31]); // 54321
        // key[1] @60: addr[0] @60, addr[1] @76, port[0] @92, port[1] @94
        s[60..64].copy_from_slice(&[198, 51, 100, 40]);
        s[76..80].copy_from_slice(&[172, 16, 0, 4]);
        s[92..94].copy_from_slice(&[0x20, 0xfb]); // 8443
        s[94..96].copy_from_slice(&[0x30, 0x39]); // 12345
        s[120] = 3; // src.state @96+24
        s[152] = 6; // dst.state @128+24
        s[176..180].copy_from_slice(&[0, 0, 0, 44]); // rule
        s[180..184].copy_from_slice(&[0, 0, 0, 45]); // anchor
        s[188..192].copy_from_slice(&[0, 0, 0, 77]); // creation
        s[192..196].copy_from_slice(&[0, 0, 0, 66]); // expire
        s[196..204].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 10]); // packets[0]
        s[204..212].copy_from_slice(&[0, 0, 0, 2, 0, 0, 0, 20]); // packets[1]
        s[212..220].copy_from_slice(&[0, 0, 0, 3, 0, 0, 0, 30]); // bytes[0]
        s[220..228].copy_from_slice(&[0, 0, 0, 4, 0, 0, 0, 40]); // bytes[1]
        s[228..232].copy_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d]); // creatorid
        s
    }

    /// What every layout reads below 232 (§4.5): id, ifname, both keys
    /// (every byte), the peers' state bytes, rule, anchor, then creation
    /// to creatorid. nat_rule @184 is not read.
    const READ_COMMON: [std::ops::Range<usize>; 6] =
        [0..24, 24..96, 120..121, 152..153, 176..184, 188..232];

    /// `s` with every byte outside [`READ_COMMON`] and `tail` set to filler.
    fn filled(mut s: Vec<u8>, tail: &[std::ops::Range<usize>]) -> Vec<u8> {
        fill_unread(&mut s, &[&READ_COMMON[..], tail].concat());
        s
    }

    fn check_common(s: &PfState) {
        assert_eq!(s.id, 0xf0f1_f2f3_f4f5_f60f);
        assert_eq!(s.ifname, IfName::new("igb0"));
        assert_eq!(
            s.keys[0],
            StateKey {
                addr: [addr4([198, 51, 100, 4]), addr4([203, 0, 113, 4])],
                port: [443, 54321],
                rdomain: 0,
            }
        );
        assert_eq!(
            s.keys[1],
            StateKey {
                addr: [addr4([198, 51, 100, 40]), addr4([172, 16, 0, 4])],
                port: [8443, 12345],
                rdomain: 0,
            }
        );
        assert_eq!(s.peer_state, [3, 6]);
        assert_eq!((s.rule, s.anchor, s.creation, s.expire), (44, 45, 77, 66));
        assert_eq!(s.packets, [(1 << 32) | 10, (2 << 32) | 20]);
        assert_eq!(s.bytes, [(3 << 32) | 30, (4 << 32) | 40]);
        assert_eq!(s.creator, 0x0a0b_0c0d);
        assert!(!s.flags_known);
    }

    #[test]
    fn state_1301_on_codes_1_3_6() {
        let mut s = common(242);
        s[232] = 28; // FreeBSD AF_INET6
        s[233] = 6;
        s[234] = 2; // out
        s[237] = 1; // log
        s[238] = 0x05; // state_flags (u8)
        s[239] = 9; // timeout
        s[240] = 8; // sync_flags
        // __spare @235, log @237 and updates @241 are not read
        let s = filled(s, &[232..235, 238..241]);
        for (code, want) in [(1u8, "ins"), (3, "upd"), (6, "del")] {
            let f = frame(&[(code, 1, s.clone())], true);
            let fr = parse_frame(&f).unwrap();
            assert_eq!(fr.dialect, Dialect::V5);
            let m: Vec<_> = fr.messages().map(Result::unwrap).collect();
            assert_eq!(m.len(), 2, "{want}");
            assert_eq!(m[1], Message::Eof);
            let st = match (want, m[0]) {
                ("ins", Message::Insert(st)) => st,
                ("upd", Message::Update(st)) => st,
                ("del", Message::Delete(st)) => st,
                (w, x) => panic!("{w}: {x:?}"),
            };
            check_common(&st);
            assert_eq!(st.family, Family::Inet6);
            assert_eq!((st.proto, st.direction), (6, PfDirection::Out));
            assert_eq!((st.state_flags, st.timeout, st.sync_flags), (5, 9, 8));
        }
    }

    #[test]
    fn state_1400_on_codes_13_14_is_277_bytes_unaligned() {
        let mut s = common(277);
        s[232] = 2;
        s[233] = 17;
        s[234] = 1;
        s[235..237].copy_from_slice(&[0x02, 0x01]); // state_flags u16 @235
        s[237] = 1; // log
        s[239] = 7; // timeout
        s[240] = 4; // sync_flags
        // log @237, __spare @238 and everything from updates @241 on are
        // not read
        let s = filled(s, &[232..237, 239..241]);
        // two INS then a DEL_C: the second state starts at an odd offset
        let del_c = vec![
            0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0xa1, 0xa2, 0xa3, 0xa4,
        ];
        let f = frame(
            &[(13, 2, [s.clone(), s.clone()].concat()), (7, 1, del_c)],
            true,
        );
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0], m[1]);
        let Message::Insert(st) = m[1] else {
            panic!("{:?}", m[1])
        };
        check_common(&st);
        assert_eq!(st.family, Family::Inet);
        assert_eq!((st.proto, st.direction), (17, PfDirection::In));
        assert_eq!((st.state_flags, st.timeout, st.sync_flags), (0x0201, 7, 4));
        assert_eq!(
            m[2],
            Message::DeleteCompressed {
                id: 0x9192_9394_9596_9798,
                creator: 0xa1a2_a3a4
            }
        );
        let f = frame(&[(14, 1, s)], false);
        assert!(matches!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Ok(Message::Update(u))) if u == st
        ));
    }

    #[test]
    fn state_1500_reads_af_proto_direction_from_the_new_offsets() {
        let mut s = common(360);
        s[232..240].copy_from_slice(b"tagname\0"); // not af/proto/direction
        s[332..334].copy_from_slice(&[0x00, 0x03]); // state_flags
        s[344] = 28; // wire_af
        s[345] = 2; // stack_af (NAT64 would differ)
        s[347] = 58; // wire_proto
        s[348] = 1; // stack_proto
        s[350] = 9; // timeout
        s[351] = 2; // direction
        // kept: the tagname (what 1301 offsets would misread) and the stack
        // side, which must not be what is read
        let s = filled(s, &[232..240, 332..334, 344..346, 347..349, 350..352]);
        let f = frame(&[(15, 1, s.clone()), (16, 1, s)], true);
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        let (Message::Insert(a), Message::Update(b)) = (m[0], m[1]) else {
            panic!("{m:?}")
        };
        assert_eq!(a, b);
        check_common(&a);
        assert_eq!(a.family, Family::Inet6);
        assert_eq!((a.proto, a.direction), (58, PfDirection::Out));
        assert_eq!((a.state_flags, a.timeout, a.sync_flags), (3, 9, 0));
    }

    #[test]
    fn eof_ends_the_frame_and_unknown_codes_stop_the_walk() {
        // EOF, then bytes that would decode if walked: ignored
        let mut f = frame(&[(7, 1, vec![0; 12])], true);
        f.extend_from_slice(&[7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 9]);
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(parse_frame(&f).unwrap().messages().count(), 2);
        // code 8 (INS_F) has no size in v5: the walk stops, counted
        let f = frame(&[(7, 1, vec![0; 12]), (8, 1, vec![0; 40])], false);
        let m: Vec<_> = parse_frame(&f).unwrap().messages().collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1], Err(DecodeError::UnwalkableAction { action: 8 }));
        // count larger than the frame
        let f = frame(&[(13, 2, vec![0; 277])], false);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Err(DecodeError::Truncated { action: 13 }))
        );
    }

    #[test]
    fn codes_13_to_16_differ_between_v5_and_v6() {
        // The same 277+ bytes under code 13: FreeBSD INS_1400 in v5; in v6
        // the length decides and 277 is not a whole number of words.
        let s = common(360);
        let v5 = frame(&[(15, 1, s.clone())], false);
        assert!(matches!(
            parse_frame(&v5).unwrap().messages().next(),
            Some(Ok(Message::Insert(_)))
        ));
        let mut v6 = v5.clone();
        v6[0] = 6;
        v6[21] = 90; // 360 / 4
        // v6 code 15 is TDB
        assert_eq!(
            parse_frame(&v6).unwrap().messages().next(),
            Some(Ok(Message::Tdb))
        );
        // code 16: FreeBSD UPD_1500 in v5, nothing (ACT_MAX) in v6
        let v5 = frame(&[(16, 1, s)], false);
        let Some(Ok(Message::Update(st))) = parse_frame(&v5).unwrap().messages().next() else {
            panic!()
        };
        check_common(&st);
        let mut v6 = v5;
        v6[0] = 6;
        v6[21] = 90;
        assert_eq!(
            parse_frame(&v6).unwrap().messages().next(),
            Some(Ok(Message::Unknown {
                action: Action(16),
                size: 360
            }))
        );
    }

    #[test]
    fn small_messages_decode_from_their_offsets() {
        // CLR 20: ifname @0, creatorid @16; INS_ACK/UPD_REQ/DEL_C 12: id @0,
        // creatorid @8; UPD_C 84: src.state @32, dst.state @64, creatorid
        // @72, timeout @80; BUS 12: creatorid @0, endtime @4, status @8;
        // TDB 48
        let mut clr = vec![0u8; 20];
        clr[..4].copy_from_slice(b"vtne");
        clr[16..20].copy_from_slice(&[0, 0, 0, 3]);
        let ack = vec![
            0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x91, 0x92, 0x93, 0x94,
        ];
        let req = vec![
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x31, 0x32, 0x33, 0x34,
        ];
        let mut upd_c = vec![0u8; 84];
        upd_c[..8].copy_from_slice(&[0x80, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]); // id
        upd_c[32] = 4;
        upd_c[64] = 10;
        upd_c[72..76].copy_from_slice(&[0x51, 0x52, 0x53, 0x54]);
        upd_c[80] = 5;
        fill_unread(&mut upd_c, &[0..8, 32..33, 64..65, 72..76, 80..81]);
        let bus = vec![0x61, 0x62, 0x63, 0x64, 0x71, 0x72, 0x73, 0x74, 2, 0, 0, 0];
        let f = frame(
            &[
                (0, 1, clr),
                (2, 1, ack),
                (5, 1, req),
                (4, 1, upd_c),
                (10, 1, bus),
                (11, 1, vec![0xee; 48]),
            ],
            true,
        );
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            m,
            [
                Message::Clear {
                    creator: 3,
                    ifname: IfName::new("vtne")
                },
                Message::InsertAck {
                    id: 0x8182_8384_8586_8788,
                    creator: 0x9192_9394
                },
                Message::UpdateRequest {
                    id: 0x2122_2324_2526_2728,
                    creator: 0x3132_3334
                },
                Message::UpdateCompressed {
                    id: 0x8041_4243_4445_4647,
                    creator: 0x5152_5354,
                    peer_state: [4, 10],
                    timeout: 5
                },
                Message::BulkStatus {
                    creator: 0x6162_6364,
                    endtime: 0x7172_7374,
                    status: BulkStatus::End
                },
                Message::Tdb,
                Message::Eof,
            ]
        );
    }
}
