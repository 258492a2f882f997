//! The state table driven by decoded frames of every dialect, with an
//! explicit clock: insert, update, delete, clear, bulk transfer and stale
//! sweep, eviction, and a restart through the state file.

use super::persist;
use super::table::{StateId, StateTable, TableConfig};
use crate::flow::EndReason;
use crate::pfsync::encode::{Encoding, FrameBuilder, V5Options};
use crate::pfsync::legacy::Legacy;
use crate::pfsync::{
    BulkStatus, Family, IfName, Message, PfDirection, PfState, SK_STACK, SK_WIRE, StateKey,
    parse_frame,
};
use crate::time::Timestamp;

fn encodings() -> Vec<Encoding> {
    vec![
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

fn st(creator: u32, id: u64, creation: u32, p: [u64; 2]) -> PfState {
    let mut keys = [StateKey::default(); 2];
    keys[SK_WIRE].addr[0][..4].copy_from_slice(&[198, 51, 100, id as u8]);
    keys[SK_WIRE].addr[1][..4].copy_from_slice(&[203, 0, 113, 1]);
    keys[SK_WIRE].port = [40000 + id as u16, 443];
    keys[SK_STACK] = keys[SK_WIRE];
    keys[SK_STACK].addr[1][..4].copy_from_slice(&[10, 0, 0, 1]);
    PfState {
        id,
        creator,
        ifname: IfName::new("em0"),
        keys,
        family: Family::Inet,
        proto: 6,
        direction: PfDirection::In,
        rule: 1,
        anchor: u32::MAX,
        creation,
        packets: p,
        bytes: [p[0] * 100, p[1] * 100],
        ..Default::default()
    }
}

fn t(s: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + s)
}

/// Encodes `msgs` in `enc` (as many frames as it takes), decodes them and
/// applies them at `now`.
fn send(
    enc: &Encoding,
    tab: &mut StateTable,
    msgs: &[Message],
    now: Timestamp,
    out: &mut Vec<super::Completed>,
) {
    let mut frames = vec![];
    let mut b = FrameBuilder::new(enc.clone());
    for m in msgs {
        if b.push(m).is_err() {
            frames.push(std::mem::replace(&mut b, FrameBuilder::new(enc.clone())).finish());
            b.push(m).expect("message in dialect");
        }
    }
    frames.push(b.finish());
    for f in frames {
        for m in parse_frame(&f).expect("frame").messages() {
            tab.apply(&m.expect("message"), now, out);
        }
    }
}

#[test]
fn lifecycle_in_every_dialect() {
    let dir = std::env::temp_dir().join(format!("sfd-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for enc in encodings() {
        let name = format!("{enc:?}");
        let mut tab = StateTable::new(TableConfig { max_states: 4 });
        tab.set_stale_grace_secs(30);
        let mut out = vec![];
        // insert: 1/1 (age 2 s), 1/2, 2/3
        send(
            &enc,
            &mut tab,
            &[
                Message::Insert(st(1, 1, 2, [1, 0])),
                Message::Insert(st(1, 2, 0, [1, 1])),
                Message::Insert(st(2, 3, 0, [2, 0])),
            ],
            t(10),
            &mut out,
        );
        assert_eq!(tab.len(), 3, "{name}");
        let a = tab.get(&StateId { creator: 1, id: 1 }).unwrap();
        assert_eq!(
            (a.first, a.last, a.packets),
            (t(8), t(10), [1, 0]),
            "{name}"
        );
        assert_eq!(a.key.addr[0][..4], [198, 51, 100, 1], "{name}");
        // compressed update, then a full one with counters
        send(
            &enc,
            &mut tab,
            &[Message::UpdateCompressed {
                id: 1,
                creator: 1,
                peer_state: [4, 4],
                timeout: 2,
            }],
            t(20),
            &mut out,
        );
        send(
            &enc,
            &mut tab,
            &[Message::Update(st(1, 2, 15, [70, 50]))],
            t(25),
            &mut out,
        );
        let b = tab.get(&StateId { creator: 1, id: 2 }).unwrap();
        assert_eq!(
            (b.first, b.counters_at, b.packets),
            (t(10), t(25), [70, 50]),
            "{name}"
        );
        // compressed delete of a known and an unknown state
        send(
            &enc,
            &mut tab,
            &[
                Message::DeleteCompressed { id: 1, creator: 1 },
                Message::DeleteCompressed { id: 99, creator: 1 },
            ],
            t(40),
            &mut out,
        );
        assert_eq!(out.len(), 1, "{name}");
        assert_eq!(
            (out[0].id.id, out[0].state.last, out[0].ended),
            (1, t(20), t(40))
        );
        assert_eq!(tab.stats().unknown_deletes, 1, "{name}");
        out.clear();
        // bulk transfer from creator 1 resends 1/2 only: 2/3 goes stale and
        // ends after the grace period
        send(
            &enc,
            &mut tab,
            &[Message::BulkStatus {
                creator: 1,
                endtime: 0,
                status: BulkStatus::Start,
            }],
            t(50),
            &mut out,
        );
        send(
            &enc,
            &mut tab,
            &[Message::Update(st(1, 2, 40, [80, 60]))],
            t(51),
            &mut out,
        );
        send(
            &enc,
            &mut tab,
            &[Message::BulkStatus {
                creator: 1,
                endtime: 0,
                status: BulkStatus::End,
            }],
            t(52),
            &mut out,
        );
        assert!(tab.is_stale(&StateId { creator: 2, id: 3 }), "{name}");
        assert!(!tab.is_stale(&StateId { creator: 1, id: 2 }), "{name}");
        assert_eq!(tab.next_deadline(), Some(t(82)), "{name}");
        tab.poll(t(81), &mut out);
        assert!(out.is_empty(), "{name}");
        tab.poll(t(82), &mut out);
        assert_eq!(out.len(), 1, "{name}");
        assert_eq!((out[0].id.id, out[0].reason), (3, EndReason::ForcedEnd));
        assert_eq!(tab.stats().stale_ended, 1, "{name}");
        out.clear();
        // the bound: 4 states; a fifth evicts the longest idle (1/2, last
        // seen at 51)
        send(
            &enc,
            &mut tab,
            &(10..14)
                .map(|i| Message::Insert(st(3, i, 0, [1, 0])))
                .collect::<Vec<_>>(),
            t(90),
            &mut out,
        );
        assert_eq!(out.len(), 1, "{name}");
        assert_eq!(
            (out[0].id, out[0].reason),
            (StateId { creator: 1, id: 2 }, EndReason::LackOfResources)
        );
        assert_eq!(out[0].state.packets, [80, 60], "{name}");
        out.clear();
        // clear creator 3 on em1: nothing; on all interfaces: all four
        send(
            &enc,
            &mut tab,
            &[Message::Clear {
                creator: 3,
                ifname: IfName::new("em1"),
            }],
            t(95),
            &mut out,
        );
        assert!(out.is_empty(), "{name}");
        send(
            &enc,
            &mut tab,
            &[Message::Insert(st(4, 1, 5, [9, 9]))],
            t(96),
            &mut out,
        );
        // over the bound again: 3/10 is now the longest idle
        assert_eq!(out.len(), 1, "{name}");
        assert_eq!(out[0].id, StateId { creator: 3, id: 10 }, "{name}");
        out.clear();
        // restart: save, load into a fresh table, the states carry on
        let path = dir.join("states");
        assert_eq!(persist::save(&tab, &path).unwrap(), 4);
        let mut tab2 = StateTable::new(TableConfig::default());
        assert_eq!(persist::load_into(&path, &mut tab2, &mut out).unwrap(), 4);
        assert_eq!(
            tab2.iter().collect::<Vec<_>>(),
            tab.iter().collect::<Vec<_>>(),
            "{name}"
        );
        send(
            &enc,
            &mut tab2,
            &[Message::Clear {
                creator: 3,
                ifname: IfName::default(),
            }],
            t(200),
            &mut out,
        );
        assert_eq!(
            out.iter().map(|c| c.id.id).collect::<Vec<_>>(),
            [11, 12, 13],
            "{name}"
        );
        out.clear();
        send(
            &enc,
            &mut tab2,
            &[Message::DeleteCompressed { id: 1, creator: 4 }],
            t(300),
            &mut out,
        );
        assert_eq!(
            (out[0].state.first, out[0].state.last, out[0].state.packets),
            (t(91), t(96), [9, 9]),
            "{name}"
        );
        assert!(tab2.is_empty(), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn legacy_full_delete_carries_the_final_counters() {
    for v in [Legacy::V2, Legacy::V3, Legacy::V4] {
        let enc = Encoding::Legacy(v);
        let mut tab = StateTable::new(TableConfig::default());
        let mut out = vec![];
        send(
            &enc,
            &mut tab,
            &[Message::Insert(st(1, 1, 0, [1, 0]))],
            t(0),
            &mut out,
        );
        send(
            &enc,
            &mut tab,
            &[Message::Delete(st(1, 1, 30, [500, 400]))],
            t(30),
            &mut out,
        );
        assert_eq!(out[0].state.packets, [500, 400]);
        assert_eq!(out[0].state.bytes, [50_000, 40_000]);
        assert_eq!((out[0].state.first, out[0].state.last), (t(0), t(30)));
    }
}
