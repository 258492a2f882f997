//! Properties the fuzz targets assert, one function per parser; each
//! panics when its property fails (libFuzzer then keeps the input).
//!
//! - [`pfsync_frame`]: every message the decoder yields, encoded again in
//!   any dialect that can say it and decoded back, equals what that
//!   dialect can carry (`encode::representable`); the walk yields at most
//!   one item per input byte (length accounting, no runaway loop).
//! - [`carrier`]: the pfsync frame found in a packet is a subslice of it.
//! - [`state_table`]: the table under any message sequence agrees with a
//!   plain map model and never exceeds its bound.
//! - [`state_file`]: a state file is accepted only if its length is exactly
//!   header + records + checksum, and its records re-encode to its bytes.

use stateflowd::pfsync::carrier::{LinkType, extract};
use stateflowd::pfsync::encode::{Encoding, FrameBuilder, V5Options, representable_msg};
use stateflowd::pfsync::legacy::Legacy;
use stateflowd::pfsync::{BulkStatus, IfName, Message, PfState, parse_frame};
use stateflowd::state::persist;
use stateflowd::state::{StateId, StateTable, TableConfig};
use stateflowd::time::Timestamp;
use std::collections::BTreeMap;

fn encodings() -> [Encoding; 8] {
    [
        Encoding::Legacy(Legacy::V2),
        Encoding::Legacy(Legacy::V3),
        Encoding::Legacy(Legacy::V4),
        Encoding::V5(V5Options::OPENBSD_45),
        Encoding::V5(V5Options::FREEBSD_1301),
        Encoding::V5(V5Options::FREEBSD_1400),
        Encoding::V5(V5Options::FREEBSD_1500),
        Encoding::V6,
    ]
}

pub fn pfsync_frame(data: &[u8]) {
    let Ok(frame) = parse_frame(data) else {
        return;
    };
    let mut n = 0usize;
    for m in frame.messages() {
        n += 1;
        assert!(n <= data.len(), "more messages than bytes");
        let Ok(m) = m else { continue };
        if m == Message::Eof {
            continue;
        }
        for enc in encodings() {
            let mut b = FrameBuilder::new(enc.clone());
            if b.push(&m).is_err() {
                continue;
            }
            let bytes = b.finish();
            let back: Vec<_> = parse_frame(&bytes)
                .expect("our own frame")
                .messages()
                .map(|x| x.expect("our own message"))
                .filter(|x| *x != Message::Eof)
                .collect();
            assert_eq!(back, [representable_msg(&enc, &m)], "{enc:?}");
        }
    }
}

pub fn carrier(data: &[u8]) {
    let Some((&sel, pkt)) = data.split_first() else {
        return;
    };
    const LINKS: [LinkType; 10] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::PFSYNC_OPENBSD,
        LinkType::RAW,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::PFSYNC_FREEBSD_OLD,
        LinkType::IPV4,
        LinkType::PFSYNC,
        LinkType::LINUX_SLL2,
    ];
    let link = LINKS[usize::from(sel) % LINKS.len()];
    if let Ok(c) = extract(link, pkt) {
        let (p0, p1) = (pkt.as_ptr() as usize, pkt.as_ptr() as usize + pkt.len());
        let (f0, f1) = (
            c.frame.as_ptr() as usize,
            c.frame.as_ptr() as usize + c.frame.len(),
        );
        assert!(p0 <= f0 && f1 <= p1, "frame outside the packet");
        if c.ip.is_some() {
            assert!(f0 >= p0 + 20, "IP-carried frame without room for a header");
        }
        pfsync_frame(c.frame);
    }
}

pub fn state_table(data: &[u8]) {
    let Some((&max, ops)) = data.split_first() else {
        return;
    };
    let max = usize::from(max % 32) + 1;
    let mut tab = StateTable::new(TableConfig { max_states: max });
    tab.set_stale_grace_secs(5);
    let mut model: BTreeMap<StateId, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for (k, op) in ops.chunks_exact(2).enumerate() {
        let now = Timestamp::from_secs(1000 + k as u64);
        let (id, creator) = (u64::from(op[1] & 15), u32::from(op[1] >> 6));
        let sid = StateId { creator, id };
        let msg = match op[0] % 7 {
            0 => Message::Insert(PfState {
                id,
                creator,
                ..Default::default()
            }),
            1 => Message::Update(PfState {
                id,
                creator,
                packets: [u64::from(op[0]), 0],
                ..Default::default()
            }),
            2 => Message::UpdateCompressed {
                id,
                creator,
                peer_state: [0; 2],
                timeout: 0,
            },
            3 => Message::DeleteCompressed { id, creator },
            4 => Message::Clear {
                creator,
                ifname: IfName::default(),
            },
            5 => Message::BulkStatus {
                creator,
                endtime: 0,
                status: BulkStatus::from_wire(op[0] >> 6),
            },
            _ => {
                tab.poll(now, &mut out);
                for c in out.drain(..) {
                    assert!(model.remove(&c.id).is_some(), "ended an unknown state");
                }
                continue;
            }
        };
        tab.apply(&msg, now, &mut out);
        match msg {
            Message::Insert(_) | Message::Update(_) => {
                model.insert(sid, ());
            }
            _ => {}
        }
        for c in out.drain(..) {
            assert!(model.remove(&c.id).is_some(), "ended an unknown state");
        }
        assert!(tab.len() <= max, "over the bound");
        assert_eq!(tab.len(), model.len());
    }
    for id in model.keys() {
        assert!(tab.get(id).is_some());
    }
}

pub fn state_file(data: &[u8]) {
    if let Ok(states) = persist::parse(data) {
        assert_eq!(
            data.len(),
            persist::HEADER_LEN + states.len() * persist::RECORD_LEN + 8
        );
        let mut body = Vec::new();
        for (id, t) in &states {
            body.extend_from_slice(&persist::encode_record(*id, t));
        }
        assert_eq!(body, data[persist::HEADER_LEN..data.len() - 8]);
    }
}
