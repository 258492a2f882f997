//! OpenBSD pfsync version 6 message layouts (reference §4.3, §4.4, §4.7).
//!
//! Offsets are those of `struct pfsync_state` (264 bytes) and the small
//! messages in OpenBSD's if_pfsync.h 1.54 / pfvar.h 1.543. Every message
//! shorter than its structure is refused, as the kernel does (§4.2).
//!
//! Longer messages. The subheader gives each message's length, so a longer
//! one never breaks the walk; the question is only whether its first bytes
//! still mean what we think.
//! - Small messages (CLR, INS_ACK, UPD_C, UPD_REQ, DEL_C, BUS) are read by
//!   their known prefix, as the kernel's own receiver reads them (§4.2: it
//!   skips only messages *shorter* than it knows).
//! - Full states (INS, UPD, DEL) are read only at exactly 264 bytes. A
//!   longer one is not decoded but refused as
//!   [`DecodeError::StateLongerThanKnown`] (counter
//!   `state_longer_than_known`), and the walk goes on with the next message.
//!   This departs from the kernel's prefix rule on purpose: the reference's
//!   history of this struct (§4.6) is not one of appending. From 4.5 (242
//!   bytes, §4.5) to now the state key grew from 36 to 40 bytes, moving
//!   every field after offset 24 by 8, and the tail after `creatorid` was
//!   reordered (`af`/`proto`/`direction` moved, `state_flags` widened to 16
//!   bits); when each change came and what size the first v6 state had are
//!   unverified. Nothing says a longer state keeps our 264 bytes in place,
//!   and reading our offsets into a moved layout would invent addresses,
//!   ports and counters. A skipped state shows in the statistics; a wrong
//!   flow would not.

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
    let state = matches!(act, action::DEL | action::INS | action::UPD);
    if b.len() < need {
        return Err(if state {
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
    if state && b.len() > STATE_LEN {
        // Not an appended tail we could ignore: see the module doc.
        return Err(DecodeError::StateLongerThanKnown {
            action: act,
            size: b.len(),
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

    use super::super::{DecodeError, addr4, fill_unread, parse_frame};
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

    /// A 264-byte pfsync_state with every field we read set by offset, each
    /// to a value no neighbour has; unread bytes are zero (as our encoder
    /// writes them, but for nat_rule).
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
        // key[1] (stack) @64: addr[0] @64, addr[1] @80, port[0] @96, port[1] @98, rdomain @100
        s[64..68].copy_from_slice(&[198, 51, 100, 8]);
        s[80..84].copy_from_slice(&[192, 0, 2, 10]);
        s[96..98].copy_from_slice(&[0xc3, 0x51]); // 50001
        s[98..100].copy_from_slice(&[0x1f, 0x90]); // 8080
        s[100..102].copy_from_slice(&[0x00, 0x04]); // rdomain 4
        s[128] = 4; // src peer state (@104 + 24)
        s[160] = 5; // dst peer state (@136 + 24)
        s[184..188].copy_from_slice(&[0, 0, 0, 17]); // rule
        s[188..192].copy_from_slice(&[0, 0, 0, 35]); // anchor
        s[192..196].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]); // nat_rule
        s[196..200].copy_from_slice(&[0, 0, 0x0e, 0x10]); // creation 3600 s
        s[200..204].copy_from_slice(&[0, 0, 0, 30]); // expire
        s[204..212].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // packets[0] hi,lo
        s[212..220].copy_from_slice(&[0, 0, 0, 4, 0, 0, 0, 3]); // packets[1]
        s[220..228].copy_from_slice(&[0, 0, 0, 5, 0, 0, 0x10, 0]); // bytes[0]
        s[228..236].copy_from_slice(&[0, 0, 0, 6, 0, 0, 0x20, 0]); // bytes[1]
        s[236..240].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]); // creatorid
        s[250] = 2; // af
        s[251] = 6; // proto
        s[252] = 1; // direction in
        s[255] = 8; // timeout (PFTM index)
        s[256] = 0x0c; // sync_flags SRCNODE|NATSRCNODE
        s[260..262].copy_from_slice(&[0x00, 0x05]); // state_flags: ALLOWOPTS|PFLOW
        s
    }

    /// The byte ranges of §4.4 that [`decode_state`] reads.
    const READ_V6: [std::ops::Range<usize>; 10] = [
        0..24,    // id, ifname
        24..62,   // key[0] addr[2], port[2], rdomain
        64..102,  // key[1]
        128..129, // src.state
        160..161, // dst.state
        184..192, // rule, anchor
        196..240, // creation, expire, packets, bytes, creatorid
        250..253, // af, proto, direction
        255..257, // timeout, sync_flags
        260..262, // state_flags
    ];

    /// The fields of [`hand_state`], as the decoder must give them.
    fn check_hand_state(s: &PfState) {
        assert_eq!(s.id, 0x0102_0304_0506_0708);
        assert_eq!(s.ifname, IfName(*b"em0\0\0\0\0\0\0\0\0\0\0\0\0\0"));
        assert_eq!(
            s.keys[SK_WIRE],
            StateKey {
                addr: [addr4([198, 51, 100, 7]), addr4([203, 0, 113, 9])],
                port: [50000, 80],
                rdomain: 3,
            }
        );
        assert_eq!(
            s.keys[SK_STACK],
            StateKey {
                addr: [addr4([198, 51, 100, 8]), addr4([192, 0, 2, 10])],
                port: [50001, 8080],
                rdomain: 4,
            }
        );
        assert_eq!(s.peer_state, [4, 5]);
        assert_eq!((s.rule, s.anchor), (17, 35));
        assert_eq!((s.creation, s.expire), (3600, 30));
        assert_eq!(s.packets, [(1 << 32) | 2, (4 << 32) | 3]);
        assert_eq!(s.bytes, [(5 << 32) | 0x1000, (6 << 32) | 0x2000]);
        assert_eq!(s.creator, 0xcafe_babe);
        assert_eq!(s.family, Family::Inet);
        assert_eq!((s.proto, s.direction), (6, PfDirection::In));
        assert_eq!((s.timeout, s.sync_flags, s.state_flags), (8, 0x0c, 5));
        assert!(s.flags_known);
        assert!(s.pflow());
    }

    #[test]
    fn full_state_fields_decode_from_their_offsets() {
        let mut st = hand_state();
        fill_unread(&mut st, &READ_V6);
        let f = frame(&[(13, 66, 1, st)]);
        let fr = parse_frame(&f).unwrap();
        let msgs: Vec<_> = fr.messages().collect();
        assert_eq!(msgs.len(), 1);
        let Ok(Message::Insert(s)) = msgs[0] else {
            panic!("{:?}", msgs[0])
        };
        check_hand_state(&s);
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
        // Every id has 8 distinct bytes and every creatorid 4, each message
        // its own, so a swapped, shifted or byte-reversed field reads a
        // different number (§4.7: id @0 BE 8 bytes, creatorid @8).
        let mut clr = vec![0u8; 20];
        clr[..4].copy_from_slice(b"em1\0");
        clr[16..20].copy_from_slice(&[0x91, 0x92, 0x93, 0x94]); // creatorid @16
        let del_c = vec![
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // id
            0xa1, 0xa2, 0xa3, 0xa4, // creatorid
        ];
        let mut upd_c = vec![0u8; 84];
        upd_c[..8].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]); // id
        upd_c[32] = 4; // src.state @8+24
        upd_c[64] = 9; // dst.state @40+24
        upd_c[72..76].copy_from_slice(&[0xb1, 0xb2, 0xb3, 0xb4]); // creatorid
        upd_c[80] = 2; // timeout
        let bus = vec![0xc1, 0xc2, 0xc3, 0xc4, 0x60, 0x61, 0x62, 0x63, 2, 0, 0, 0];
        let upd_req = vec![
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, // id
            0xd1, 0xd2, 0xd3, 0xd4, // creatorid
        ];
        let ins_ack = vec![
            0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, // id
            0xe1, 0xe2, 0xe3, 0xe4, // creatorid
        ];
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
                    creator: 0x9192_9394,
                    ifname: IfName::new("em1")
                },
                Message::DeleteCompressed {
                    id: 0x0102_0304_0506_0708,
                    creator: 0xa1a2_a3a4
                },
                Message::DeleteCompressed {
                    id: 0x0102_0304_0506_0708,
                    creator: 0xa1a2_a3a4
                },
                Message::UpdateCompressed {
                    id: 0x1112_1314_1516_1718,
                    creator: 0xb1b2_b3b4,
                    peer_state: [4, 9],
                    timeout: 2
                },
                Message::BulkStatus {
                    creator: 0xc1c2_c3c4,
                    endtime: 0x6061_6263,
                    status: BulkStatus::End
                },
                Message::UpdateRequest {
                    id: 0x2122_2324_2526_2728,
                    creator: 0xd1d2_d3d4
                },
                Message::InsertAck {
                    id: 0x3132_3334_3536_3738,
                    creator: 0xe1e2_e3e4
                },
            ]
        );
    }

    #[test]
    fn codes_that_are_states_elsewhere_are_unknown_in_v6() {
        // 1/3 were v5's INS/UPD (OINS/OUPD, deprecated in v6) and 16 is
        // FreeBSD's UPD_1500 and v6's ACT_MAX (§4.3): in a v6 frame none is
        // a state, whatever its size, and each is stepped over by its length.
        let st = hand_state();
        let del_c = vec![
            0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0xf1, 0xf2, 0xf3, 0xf4,
        ];
        let f = frame(&[
            (16, 66, 1, st.clone()),
            (1, 66, 1, st.clone()),
            (3, 66, 1, st),
            (16, 90, 1, vec![0x5a; 360]),
            (7, 3, 1, del_c),
        ]);
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        let unknown = |action, size| Message::Unknown {
            action: Action(action),
            size,
        };
        assert_eq!(
            m,
            [
                unknown(16, 264),
                unknown(1, 264),
                unknown(3, 264),
                unknown(16, 360),
                Message::DeleteCompressed {
                    id: 0x4142_4344_4546_4748,
                    creator: 0xf1f2_f3f4
                },
            ]
        );
    }

    #[test]
    fn states_longer_than_known_are_counted_and_not_misread() {
        // A 272-byte INS (68 words): our 264 bytes, then 8 more. §4.6 shows
        // the struct grew by moving fields, not by appending, so it is
        // refused; the walk steps exactly 272 bytes and reads what follows.
        let mut long = hand_state();
        long.extend_from_slice(&[0xee; 8]);
        assert_eq!(long.len(), 272);
        let del_c = vec![
            0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x61, 0x62, 0x63, 0x64,
        ];
        let f = frame(&[
            (13, 68, 2, [long.clone(), long.clone()].concat()),
            (7, 3, 1, del_c),
            (14, 66, 1, hand_state()),
            (6, 68, 1, long),
        ]);
        let m: Vec<_> = parse_frame(&f).unwrap().messages().collect();
        assert_eq!(m.len(), 5, "{m:?}");
        let longer = |action| Err(DecodeError::StateLongerThanKnown { action, size: 272 });
        assert_eq!(m[0], longer(13));
        assert_eq!(m[1], longer(13));
        assert_eq!(
            m[2],
            Ok(Message::DeleteCompressed {
                id: 0x5152_5354_5556_5758,
                creator: 0x6162_6364
            })
        );
        // The 264-byte UPD after them is read field by field at §4.4's
        // offsets (the same bytes as the refused prefix).
        let Ok(Message::Update(s)) = m[3] else {
            panic!("{:?}", m[3])
        };
        check_hand_state(&s);
        assert_eq!(m[4], longer(6));
        assert_eq!(
            longer(13).unwrap_err().counter_name(),
            "state_longer_than_known"
        );

        // What the operator sees: the statistics count each refused state
        // under its own name, and the good messages beside them.
        let mut p = crate::pipeline::PfsyncPipeline::new(
            crate::pipeline::PipelineConfig::default(),
            &[],
            Default::default(),
        );
        let mut out = vec![];
        let err = p.on_frame(&f, crate::time::Timestamp::from_secs(100), &mut out);
        assert_eq!(err, Some(longer(13).unwrap_err()));
        let st = p.stats();
        assert_eq!(st.decode_errors.get("state_longer_than_known"), Some(&3));
        assert_eq!(st.decode_error_total(), 3);
        assert_eq!(st.messages.get("upd"), Some(&1));
        assert_eq!(st.messages.get("ins"), None);
    }

    #[test]
    fn unknown_actions_and_longer_messages_are_stepped_by_len() {
        // An unknown action 99 of 2 words x 2, then a DEL_C grown to 4 words
        // by a newer peer: the known 12-byte prefix is read.
        let del_c = vec![
            0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x81, 0x82, 0x83, 0x84, 0xee, 0xee,
            0xee, 0xee,
        ];
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
                Message::DeleteCompressed {
                    id: 0x7172_7374_7576_7778,
                    creator: 0x8182_8384
                },
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
