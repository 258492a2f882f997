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
//! - [`pcap_file`]: the streaming pcap reader and the in-memory one agree
//!   on every record and on how the file ends, and the records they hand
//!   out account for the file's bytes exactly.
//! - [`control_request`]: a control-socket request is accepted only when
//!   it is a command word (whitespace around it aside) within the length
//!   bound, the word names the command it parsed to, and a refusal is
//!   short and printable whatever the bytes.
//! - [`cli_args`]: any argv (fuzz bytes split on NUL, not necessarily
//!   UTF-8) gives a clap error or matches; matches give a configuration or
//!   an error message, and an accepted configuration keeps the invariants
//!   the daemon relies on (something to read, somewhere to send). Argv
//!   naming a collector by host name is not turned into a configuration:
//!   that would resolve the name, and fuzzing sends no traffic.

use stateflowd::cli;
use stateflowd::daemon::control::{self, Command, MAX_REQUEST};
use stateflowd::pfsync::carrier::{LinkType, extract};
use stateflowd::pfsync::encode::{Encoding, FrameBuilder, V5Options, representable_msg};
use stateflowd::pfsync::legacy::Legacy;
use stateflowd::pfsync::{BulkStatus, IfName, Message, PfState, parse_frame};
use stateflowd::source::pcap_file::{MAX_RECORD, PcapError, PcapReader, PcapSlice};
use stateflowd::state::persist;
use stateflowd::state::{StateId, StateTable, TableConfig};
use stateflowd::time::Timestamp;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

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

pub fn control_request(data: &[u8]) {
    match control::parse_request(data) {
        Ok(c) => {
            assert!(data.len() <= MAX_REQUEST);
            let word = data.trim_ascii();
            assert!(word == c.name().as_bytes() || (c == Command::Statistics && word == b"stats"));
            assert_eq!(control::parse_request(c.name().as_bytes()), Ok(c));
        }
        Err(e) => {
            assert!(e.len() <= 200, "refusal of {} bytes", e.len());
            assert!(
                e.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "unprintable refusal {e:?}"
            );
            assert!(!Command::ALL.iter().any(|c| {
                data.len() <= MAX_REQUEST && data.trim_ascii() == c.name().as_bytes()
            }));
        }
    }
}

/// True when `spec` (a `-n` value) names its host by an IP literal, or is
/// refused before any name lookup; false when `config_from` would resolve it.
fn collector_needs_no_lookup(spec: &str) -> bool {
    let addr = spec.rsplit_once('/').map_or(spec, |(a, _)| a);
    let Some((host, _port)) = addr.rsplit_once(':') else {
        return true;
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.is_empty() || host.parse::<std::net::IpAddr>().is_ok()
}

pub fn cli_args(data: &[u8]) {
    static CMD: OnceLock<clap::Command> = OnceLock::new();
    let cmd = CMD.get_or_init(cli::command);
    let mut argv = vec![OsString::from("stateflowd")];
    if !data.is_empty() {
        argv.extend(
            data.split(|&b| b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }
    let m = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            // help and version are reported as errors too; all render
            assert!(!e.to_string().is_empty(), "{:?} without text", e.kind());
            return;
        }
    };
    let specs: Vec<&String> = m
        .get_many::<String>("collector")
        .into_iter()
        .flatten()
        .collect();
    if !specs.iter().all(|s| collector_needs_no_lookup(s)) {
        return;
    }
    match cli::config_from(&m) {
        Ok(c) if c.decode.is_some() => assert!(c.collectors.is_empty() && c.read.is_none()),
        Ok(c) => {
            assert!(c.dump || !c.collectors.is_empty());
            assert_eq!(c.collectors.len(), specs.len());
            assert!(c.read.is_some() || c.interface.is_some() || c.syncdev.is_some());
            assert!(c.capture.max_flows >= 1);
            if c.capture.filter.is_some() {
                assert_eq!(c.mode, cli::Mode::Capture);
            }
            if let Some(src) = c.source {
                assert!(
                    c.collectors
                        .iter()
                        .all(|k| k.addr.is_ipv4() == src.is_ipv4())
                );
            }
        }
        Err(e) => assert!(!e.is_empty()),
    }
}

pub fn pcap_file(data: &[u8]) {
    fn kind(e: &PcapError) -> String {
        match e {
            PcapError::Io(e) => format!("io {:?}", e.kind()),
            other => other.to_string(),
        }
    }
    let (mut r, mut s) = match (PcapReader::new(data), PcapSlice::new(data)) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(a), Err(b)) => {
            assert_eq!(kind(&a), kind(&b));
            return;
        }
        (a, b) => panic!(
            "readers disagree on the header: {:?} / {:?}",
            a.err(),
            b.err()
        ),
    };
    assert_eq!(r.link_type, s.link_type);
    let mut buf = Vec::new();
    let mut used = 24usize;
    loop {
        match (r.next_packet(&mut buf), s.next_packet()) {
            (Ok(Some(m)), Ok(Some((n, pkt)))) => {
                assert_eq!(m, n);
                assert_eq!(buf, pkt);
                assert!(pkt.len() <= MAX_RECORD as usize);
                used += 16 + pkt.len();
                assert_eq!(used, s.position());
            }
            (Ok(None), Ok(None)) => {
                assert_eq!(used, data.len(), "clean end before the last byte");
                return;
            }
            (Err(a), Err(b)) => {
                assert_eq!(kind(&a), kind(&b));
                assert!(used < data.len(), "an error with nothing left");
                return;
            }
            (a, b) => panic!("readers disagree: {a:?} / {:?}", b.map(|x| x.map(|y| y.0))),
        }
    }
}
