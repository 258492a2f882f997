//! Legacy pfsync, versions 2, 3 and 4 (reference §3): OpenBSD 3.5–4.4 and
//! FreeBSD 5.3–8 (contrib/pf). What pfflowd consumed.
//!
//! A legacy frame carries one action: a 4-byte (v2) or 20-byte (v3/v4)
//! header with `action` and `count`, then `count` records of the action's
//! fixed size. There is no length field: a frame captured shorter than
//! `count` records is refused whole (the kernel drops it), bytes past them
//! are ignored.
//!
//! Full states map onto [`PfState`] as the modern layout would carry them:
//! v4's `key[2]` is read as is; v2/v3's lan/gwy/ext hosts become
//! `key[WIRE] = (ext, gwy)` and `key[STACK] = (ext, lan)`, which is what pf
//! 4.4 put in its keys for the same state (the external host is index 0,
//! the translated address is on the wire side, the internal one on the
//! stack side). `flags_known` is false: no legacy dialect has the pflow bit.
//! AF_INET6 is accepted as 24 (OpenBSD) or 28 (FreeBSD): both systems spoke
//! these versions and neither value means anything else in a pf state.

use super::DecodeError;
use super::message::*;
use crate::wire::{array_at, be16, be32, be64, u8_at};

/// Size of the v2 frame header; v3 and v4 add the 16-byte ruleset checksum.
pub const HEADER_LEN_V2: usize = 4;
pub const HEADER_LEN_V3: usize = 20;

/// Size of `struct pfsync_state` in v2 (§3.4) and v3/v4 (§3.5, §3.6).
pub const STATE_LEN_V2: usize = 224;
pub const STATE_LEN_V3: usize = 240;

/// Legacy action codes (§3.2).
pub mod action {
    pub const CLR: u8 = 0;
    pub const INS: u8 = 1;
    pub const UPD: u8 = 2;
    pub const DEL: u8 = 3;
    pub const UPD_C: u8 = 4;
    pub const DEL_C: u8 = 5;
    pub const INS_F: u8 = 6;
    pub const DEL_F: u8 = 7;
    pub const UREQ: u8 = 8;
    pub const BUS: u8 = 9;
    pub const TDB_UPD: u8 = 10;
}

pub const CLR_LEN: usize = 24;
pub const UPD_C_LEN: usize = 88;
pub const DEL_C_LEN: usize = 16;
pub const UREQ_LEN: usize = 16;
pub const BUS_LEN: usize = 16;
pub const TDB_LEN: usize = 48;

/// The three legacy versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Legacy {
    V2,
    V3,
    V4,
}

impl Legacy {
    pub fn header_len(self) -> usize {
        match self {
            Legacy::V2 => HEADER_LEN_V2,
            _ => HEADER_LEN_V3,
        }
    }
    pub fn state_len(self) -> usize {
        match self {
            Legacy::V2 => STATE_LEN_V2,
            _ => STATE_LEN_V3,
        }
    }
    /// Record size of an action, `None` for codes this version lacks (the
    /// frame cannot be walked: its records have no known size).
    pub fn record_len(self, act: u8) -> Option<usize> {
        Some(match act {
            action::CLR => CLR_LEN,
            action::INS | action::UPD | action::DEL => self.state_len(),
            action::UPD_C => UPD_C_LEN,
            action::DEL_C => DEL_C_LEN,
            action::UREQ => UREQ_LEN,
            action::BUS => BUS_LEN,
            action::TDB_UPD if self != Legacy::V2 => TDB_LEN,
            _ => return None,
        })
    }
}

fn family(af: u8) -> Family {
    match af {
        2 => Family::Inet,
        24 | 28 => Family::Inet6,
        x => Family::Other(x),
    }
}

/// Decodes one record of `act`; `b` is exactly `record_len(act)` long.
pub(super) fn decode(v: Legacy, act: u8, b: &[u8]) -> Result<Message, DecodeError> {
    Ok(match act {
        action::CLR => body::clear(b),
        action::INS => Message::Insert(decode_state(v, b)),
        action::UPD => Message::Update(decode_state(v, b)),
        action::DEL => Message::Delete(decode_state(v, b)),
        action::UPD_C => body::update_compressed(b),
        action::DEL_C => body::delete_compressed(b),
        action::UREQ => body::update_request(b),
        action::BUS => body::bulk_status(b),
        action::TDB_UPD => Message::Tdb,
        _ => Message::Unknown {
            action: Action(act),
            size: b.len(),
        },
    })
}

fn host(b: &[u8], off: usize) -> ([u8; 16], u16) {
    (array_at(b, off), be16(b, off + 16))
}

/// Decodes a legacy `struct pfsync_state` (224 or 240 bytes).
pub fn decode_state(v: Legacy, b: &[u8]) -> PfState {
    let mut keys = [StateKey::default(); 2];
    if v == Legacy::V4 {
        // key[2], 36 bytes each: addr[0], addr[1], port[0], port[1] (§3.6)
        for (k, off) in keys.iter_mut().zip([24usize, 60]) {
            k.addr = [array_at(b, off), array_at(b, off + 16)];
            k.port = [be16(b, off + 32), be16(b, off + 34)];
        }
    } else {
        // lan @24, gwy @48, ext @72 (§3.4)
        let (lan, lan_p) = host(b, 24);
        let (gwy, gwy_p) = host(b, 48);
        let (ext, ext_p) = host(b, 72);
        keys[SK_WIRE].addr = [ext, gwy];
        keys[SK_WIRE].port = [ext_p, gwy_p];
        keys[SK_STACK].addr = [ext, lan];
        keys[SK_STACK].port = [ext_p, lan_p];
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
        flags_known: false,
        ..PfState::default()
    };
    let tail = if v == Legacy::V2 {
        // u32 counters: packets[2] @196, bytes[2] @204
        s.packets = [u64::from(be32(b, 196)), u64::from(be32(b, 200))];
        s.bytes = [u64::from(be32(b, 204)), u64::from(be32(b, 208))];
        212
    } else {
        // hi/lo pairs: packets[2][2] @196, bytes[2][2] @212
        s.packets = [be64(b, 196), be64(b, 204)];
        s.bytes = [be64(b, 212), be64(b, 220)];
        228
    };
    // creatorid, af, proto, direction, log, allow_opts/state_flags, timeout,
    // sync_flags, updates
    s.creator = be32(b, tail);
    s.family = family(u8_at(b, tail + 4));
    s.proto = u8_at(b, tail + 5);
    s.direction = PfDirection::from_wire(u8_at(b, tail + 6));
    s.state_flags = u16::from(u8_at(b, tail + 8));
    s.timeout = u8_at(b, tail + 9);
    s.sync_flags = u8_at(b, tail + 10);
    s
}

#[cfg(test)]
mod tests {
    //! Offsets from reference §3.1–3.6, written by hand; each field holds
    //! a distinct value so a wrong offset reads a wrong number.

    use super::super::{DecodeError, Dialect, addr4, fill_unread, parse_frame};
    use super::*;

    fn frame(version: u8, act: u8, count: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![version, 0, act, count];
        if version > 2 {
            f.extend_from_slice(&[0xa5; 16]); // ruleset checksum
        }
        f.extend_from_slice(body);
        f
    }

    /// Bytes 0..196 shared by v2/v3 (lan/gwy/ext layout).
    fn common_v2v3(len: usize) -> Vec<u8> {
        let mut s = vec![0u8; len];
        s[0..8].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]); // id
        s[8..12].copy_from_slice(b"fxp0");
        s[24..28].copy_from_slice(&[10, 0, 0, 5]); // lan addr
        s[40..42].copy_from_slice(&[0x04, 0x00]); // lan port 1024
        s[48..52].copy_from_slice(&[192, 0, 2, 1]); // gwy addr
        s[64..66].copy_from_slice(&[0x9c, 0x40]); // gwy port 40000
        s[72..76].copy_from_slice(&[198, 51, 100, 80]); // ext addr
        s[88..90].copy_from_slice(&[0x00, 0x50]); // ext port 80
        s[120] = 4; // src.state (@96+24)
        s[152] = 7; // dst.state (@128+24)
        s[176..180].copy_from_slice(&[0, 0, 0, 12]); // rule
        s[180..184].copy_from_slice(&[0, 0, 0, 13]); // anchor
        s[188..192].copy_from_slice(&[0, 0, 1, 0]); // creation 256 s
        s[192..196].copy_from_slice(&[0, 0, 0, 90]); // expire
        s
    }

    /// What v2/v3 read below offset 196 (§3.4): id, ifname, each host's
    /// addr and port (not its pad), the peers' state bytes, rule, anchor,
    /// creation, expire. nat_rule @184 is not read.
    const READ_V2V3_HEAD: [std::ops::Range<usize>; 8] = [
        0..24,
        24..42,
        48..66,
        72..90,
        120..121,
        152..153,
        176..184,
        188..196,
    ];

    fn check_hosts(s: &PfState) {
        assert_eq!(s.id, 0x1112_1314_1516_1718);
        assert_eq!(s.ifname, IfName(*b"fxp0\0\0\0\0\0\0\0\0\0\0\0\0"));
        let (lan, gwy, ext) = (
            addr4([10, 0, 0, 5]),
            addr4([192, 0, 2, 1]),
            addr4([198, 51, 100, 80]),
        );
        assert_eq!(s.keys[SK_WIRE].addr, [ext, gwy]);
        assert_eq!(s.keys[SK_STACK].addr, [ext, lan]);
        assert_eq!(s.keys[SK_WIRE].port, [80, 40000]);
        assert_eq!(s.keys[SK_STACK].port, [80, 1024]);
        assert_eq!((s.keys[0].rdomain, s.keys[1].rdomain), (0, 0));
        assert_eq!(s.peer_state, [4, 7]);
        assert_eq!((s.rule, s.anchor), (12, 13));
        assert_eq!((s.creation, s.expire), (256, 90));
        assert!(!s.flags_known);
    }

    #[test]
    fn v2_full_delete_with_32_bit_counters() {
        let mut s = common_v2v3(224);
        s[196..200].copy_from_slice(&[0, 0, 0, 11]); // packets[0]
        s[200..204].copy_from_slice(&[0, 0, 0, 22]); // packets[1]
        s[204..208].copy_from_slice(&[0, 0, 0x10, 0]); // bytes[0]
        s[208..212].copy_from_slice(&[0xff, 0, 0, 1]); // bytes[1]
        s[212..216].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // creatorid
        s[216] = 2; // af
        s[217] = 6; // proto
        s[218] = 2; // direction out
        s[220] = 1; // allow_opts
        s[221] = 3; // timeout
        s[222] = 5; // sync_flags
        // log @219 and updates @223 are not read
        fill_unread(
            &mut s,
            &[&READ_V2V3_HEAD[..], &[196..219, 220..223]].concat(),
        );
        let f = frame(2, 3, 1, &s);
        let fr = parse_frame(&f).unwrap();
        assert_eq!(fr.dialect, Dialect::LegacyV2);
        let m: Vec<_> = fr.messages().collect();
        assert_eq!(m.len(), 1);
        let Ok(Message::Delete(st)) = m[0] else {
            panic!("{:?}", m[0])
        };
        check_hosts(&st);
        assert_eq!(st.packets, [11, 22]);
        assert_eq!(st.bytes, [0x1000, 0xff00_0001]);
        assert_eq!(st.creator, 0xdead_beef);
        assert_eq!(st.family, Family::Inet);
        assert_eq!((st.proto, st.direction), (6, PfDirection::Out));
        assert_eq!((st.state_flags, st.timeout, st.sync_flags), (1, 3, 5));
    }

    /// The v3/v4 tail (§3.5): 64-bit counters @196, creatorid @228, af,
    /// proto, direction @232..235, state_flags, timeout, sync_flags
    /// @236..239; log @235 and updates @239 are not read.
    const READ_V3_TAIL: [std::ops::Range<usize>; 2] = [196..235, 236..239];

    fn v3_tail(s: &mut [u8]) {
        s[196..204].copy_from_slice(&[0, 0, 0, 1, 0, 0, 0, 5]); // packets[0] hi,lo
        s[204..212].copy_from_slice(&[0, 0, 0, 3, 0, 0, 0, 6]); // packets[1]
        s[212..220].copy_from_slice(&[0, 0, 0, 2, 0, 0, 0, 7]); // bytes[0]
        s[220..228].copy_from_slice(&[0, 0, 0, 4, 0, 0, 1, 0]); // bytes[1]
        s[228..232].copy_from_slice(&[0x01, 0x02, 0x03, 0x04]); // creatorid
        s[232] = 24; // af: OpenBSD AF_INET6
        s[233] = 17; // proto
        s[234] = 1; // direction in
        s[236] = 2; // state_flags SLOPPY
        s[237] = 8; // timeout
        s[238] = 4; // sync_flags
    }

    fn check_v3_tail(st: &PfState) {
        assert_eq!(st.packets, [(1 << 32) | 5, (3 << 32) | 6]);
        assert_eq!(st.bytes, [(2 << 32) | 7, (4 << 32) | 256]);
        assert_eq!(st.creator, 0x0102_0304);
        assert_eq!(st.family, Family::Inet6);
        assert_eq!((st.proto, st.direction), (17, PfDirection::In));
        assert_eq!((st.state_flags, st.timeout, st.sync_flags), (2, 8, 4));
    }

    #[test]
    fn v3_insert_with_64_bit_counters_and_two_records() {
        let mut s = common_v2v3(240);
        v3_tail(&mut s);
        fill_unread(&mut s, &[&READ_V2V3_HEAD[..], &READ_V3_TAIL[..]].concat());
        let f = frame(3, 1, 2, &[s.clone(), s].concat());
        let fr = parse_frame(&f).unwrap();
        assert_eq!(fr.dialect, Dialect::LegacyV3);
        let m: Vec<_> = fr.messages().map(Result::unwrap).collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], m[1]);
        let Message::Insert(st) = m[1] else {
            panic!("{:?}", m[1])
        };
        check_hosts(&st);
        check_v3_tail(&st);
    }

    #[test]
    fn v4_state_keys_and_update() {
        // §3.6: bytes 24..96 are key[2], 36 bytes each; the rest is v3's.
        let mut s = vec![0u8; 240];
        s[0..8].copy_from_slice(&[0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28]); // id
        s[8..11].copy_from_slice(b"em3");
        // key[0] @24: addr[0] @24, addr[1] @40, port[0] @56, port[1] @58
        s[24..28].copy_from_slice(&[198, 51, 100, 2]);
        s[40..44].copy_from_slice(&[203, 0, 113, 3]);
        s[56..58].copy_from_slice(&[0x00, 0x35]); // 53
        s[58..60].copy_from_slice(&[0xea, 0x60]); // 60000
        // key[1] @60: addr[0] @60, addr[1] @76, port[0] @92, port[1] @94
        s[60..64].copy_from_slice(&[198, 51, 100, 20]);
        s[76..80].copy_from_slice(&[10, 1, 1, 1]);
        s[92..94].copy_from_slice(&[0x14, 0xe9]); // 5353
        s[94..96].copy_from_slice(&[0x13, 0x88]); // 5000
        s[120] = 3; // src.state (@96+24)
        s[152] = 9; // dst.state (@128+24)
        s[176..180].copy_from_slice(&[0, 0, 0, 41]); // rule
        s[180..184].copy_from_slice(&[0, 0, 0, 42]); // anchor
        s[188..192].copy_from_slice(&[0, 0, 0x02, 0x01]); // creation 513 s
        s[192..196].copy_from_slice(&[0, 0, 0, 44]); // expire
        v3_tail(&mut s);
        let read = [
            0..24,    // id, ifname
            24..96,   // key[0], key[1]: every byte is a field
            120..121, // src.state
            152..153, // dst.state
            176..184, // rule, anchor (nat_rule @184 is not read)
            188..196, // creation, expire
        ];
        fill_unread(&mut s, &[&read[..], &READ_V3_TAIL[..]].concat());
        let f = frame(4, 2, 1, &s);
        let fr = parse_frame(&f).unwrap();
        assert_eq!(fr.dialect, Dialect::LegacyV4);
        let Some(Ok(Message::Update(st))) = fr.messages().next() else {
            panic!()
        };
        assert_eq!(st.id, 0x2122_2324_2526_2728);
        assert_eq!(st.ifname, IfName::new("em3"));
        assert_eq!(
            st.keys[SK_WIRE],
            StateKey {
                addr: [addr4([198, 51, 100, 2]), addr4([203, 0, 113, 3])],
                port: [53, 60000],
                rdomain: 0,
            }
        );
        assert_eq!(
            st.keys[SK_STACK],
            StateKey {
                addr: [addr4([198, 51, 100, 20]), addr4([10, 1, 1, 1])],
                port: [5353, 5000],
                rdomain: 0,
            }
        );
        assert_eq!(st.peer_state, [3, 9]);
        assert_eq!((st.rule, st.anchor), (41, 42));
        assert_eq!((st.creation, st.expire), (513, 44));
        assert!(!st.flags_known);
        check_v3_tail(&st);
    }

    #[test]
    fn compressed_and_small_records() {
        // Ids with 8 distinct bytes, creatorids with 4, each record its own;
        // bytes the decoder does not read are filler.
        // DEL_C, 16 bytes: id @0, creatorid @8, src.state @12, dst.state @13
        let mut del_c = vec![
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xa1, 0xa2, 0xa3, 0xa4, 10, 10, 0, 0,
        ];
        fill_unread(&mut del_c, std::slice::from_ref(&(0..12)));
        let f = frame(3, 5, 2, &[del_c.clone(), del_c].concat());
        let m: Vec<_> = parse_frame(&f)
            .unwrap()
            .messages()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            m,
            [Message::DeleteCompressed {
                id: 0x0102_0304_0506_0708,
                creator: 0xa1a2_a3a4
            }; 2]
        );
        // UPD_C, 88 bytes: id @0, src.state @8+24, dst.state @40+24,
        // creatorid @72, timeout @80
        let mut u = vec![0u8; 88];
        u[..8].copy_from_slice(&[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]);
        u[32] = 4;
        u[64] = 5;
        u[72..76].copy_from_slice(&[0xb1, 0xb2, 0xb3, 0xb4]);
        u[80] = 2;
        fill_unread(&mut u, &[0..8, 32..33, 64..65, 72..76, 80..81]);
        let f = frame(2, 4, 1, &u);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Ok(Message::UpdateCompressed {
                id: 0x1112_1314_1516_1718,
                creator: 0xb1b2_b3b4,
                peer_state: [4, 5],
                timeout: 2
            }))
        );
        // CLR, 24 bytes: ifname @0, creatorid @16
        let mut c = vec![0u8; 24];
        c[..3].copy_from_slice(b"em2");
        c[16..20].copy_from_slice(&[0xc1, 0xc2, 0xc3, 0xc4]);
        fill_unread(&mut c, std::slice::from_ref(&(0..20)));
        let f = frame(4, 0, 1, &c);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Ok(Message::Clear {
                creator: 0xc1c2_c3c4,
                ifname: IfName::new("em2")
            }))
        );
        // UREQ, 16 bytes: id @0, creatorid @8
        let mut u = vec![
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0xd1, 0xd2, 0xd3, 0xd4, 0, 0, 0, 0,
        ];
        fill_unread(&mut u, std::slice::from_ref(&(0..12)));
        let f = frame(4, 8, 1, &u);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Ok(Message::UpdateRequest {
                id: 0x2122_2324_2526_2728,
                creator: 0xd1d2_d3d4
            }))
        );
        // BUS, 16 bytes: creatorid @0, endtime @4, status @8
        let mut b = vec![
            0xe1, 0xe2, 0xe3, 0xe4, 0x31, 0x32, 0x33, 0x34, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        fill_unread(&mut b, std::slice::from_ref(&(0..9)));
        let f = frame(3, 9, 1, &b);
        assert_eq!(
            parse_frame(&f).unwrap().messages().next(),
            Some(Ok(Message::BulkStatus {
                creator: 0xe1e2_e3e4,
                endtime: 0x3132_3334,
                status: BulkStatus::Start
            }))
        );
    }

    #[test]
    fn framing_follows_the_kernel() {
        // count says 2 records, one captured: the frame is dropped
        let f = frame(3, 5, 2, &[0u8; 16]);
        assert_eq!(
            parse_frame(&f).unwrap_err(),
            DecodeError::ShortFrame {
                declared: 20 + 32,
                captured: 36
            }
        );
        // bytes past the records are ignored
        let mut f = frame(2, 5, 1, &[0u8; 16]);
        f.extend_from_slice(&[0xff; 30]);
        assert_eq!(parse_frame(&f).unwrap().messages().count(), 1);
        // INS_F has no size: the frame cannot be walked
        assert_eq!(
            parse_frame(&frame(3, 6, 1, &[0u8; 64])).unwrap_err(),
            DecodeError::UnwalkableAction { action: 6 }
        );
        // TDB exists from v3 on only
        assert!(parse_frame(&frame(2, 10, 1, &[0u8; 48])).is_err());
        assert_eq!(
            parse_frame(&frame(3, 10, 1, &[0u8; 48]))
                .unwrap()
                .messages()
                .next(),
            Some(Ok(Message::Tdb))
        );
        // v3 header shorter than 20 bytes
        assert_eq!(
            parse_frame(&[3, 0, 5, 0, 0]).unwrap_err(),
            DecodeError::Runt { captured: 5 }
        );
        // count 0: an empty frame
        assert_eq!(
            parse_frame(&frame(2, 1, 0, &[]))
                .unwrap()
                .messages()
                .count(),
            0
        );
    }
}
