//! A simulated pfsync firewall, for the namespace tests and the demo.
//!
//! It speaks OpenBSD pfsync v6 on a sync interface (IP protocol 240 to
//! 224.0.0.240, TTL 255 unless told otherwise), and answers requests as the
//! kernel does: UPD_REQ for a state → that state in full (UPD); UPD_REQ with
//! id 0 / creator 0 → a bulk transfer (BUS start, every state as UPD, BUS
//! end). Like the kernel, it drops a packet whose TTL is not 255 unread
//! (a request that crossed a router could come from anywhere) and counts
//! it.
//!
//! Script: K states exist before it starts (announced only by a bulk
//! transfer); it inserts N new states, then for R rounds adds traffic to
//! every state and sends UPD_C for it, waits, and deletes every state with
//! DEL_C. Counters grow by 10 packets / 1000 bytes forward and 5 / 400
//! back per round. At the end it prints `requests=… bulk=… bad_ttl=…` on
//! stderr: the per-state requests and bulk requests it answered, and the
//! packets it dropped for their TTL.
//!
//! ```text
//! pfsync_peer --iface IF [--states N] [--preexisting K] [--rounds R]
//!             [--round-ms MS] [--hold-ms MS] [--wait-ms MS] [--ttl T]
//!             [--creator HEX] [--syncpeer ADDR]
//! pfsync_peer --iface IF --flood N [--flood-gap-us US] [--wait-ms MS]
//! ```
//! `--wait-ms`: how long it serves requests before inserting (so a
//! receiver started meanwhile can ask for its bulk transfer); it prints
//! each state's final counters (`id pkts0 bytes0 pkts1 bytes1`, hex id) on
//! stdout. `--syncpeer`: send to ADDR by unicast instead of the group (and
//! do not join it), as `ifconfig pfsync0 syncpeer ADDR` does. `--flood`:
//! see [`flood`].

use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{
    self, BulkStatus, Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey,
};
use stateflowd::source::rawsock::RawSocket;
use std::time::{Duration, Instant};

struct Opts {
    iface: String,
    states: u32,
    preexisting: u32,
    rounds: u32,
    round_ms: u64,
    hold_ms: u64,
    wait_ms: u64,
    flood: u32,
    flood_gap_us: u64,
    ttl: u8,
    creator: u32,
    syncpeer: Option<std::net::Ipv4Addr>,
}

fn state(creator: u32, i: u32) -> PfState {
    let mut key = StateKey::default();
    key.addr[0][..4].copy_from_slice(&[198, 51, 100, (i % 250) as u8 + 1]);
    key.addr[1][..4].copy_from_slice(&[192, 0, 2, (i / 250 % 250) as u8 + 1]);
    key.port = [40_000u16.wrapping_add(i as u16), 443];
    PfState {
        id: 0x1000 + u64::from(i),
        creator,
        ifname: IfName::new("em0"),
        keys: [key, key],
        family: Family::Inet,
        proto: 6,
        direction: PfDirection::In,
        rule: 1,
        anchor: u32::MAX,
        packets: [1, 0],
        bytes: [60, 0],
        state_flags: PFSTATE_PFLOW,
        flags_known: true,
        ..Default::default()
    }
}

fn send(sock: &RawSocket, msgs: &[Message]) {
    // One frame per 5 full states keeps frames under 1500 bytes.
    for chunk in msgs.chunks(5) {
        let mut b = V6FrameBuilder::new();
        for m in chunk {
            b.push(m);
        }
        if let Err(e) = sock.send(&b.finish()) {
            eprintln!("pfsync_peer: send: {e}");
        }
    }
}

/// DEL_C messages in one flood frame: 121 × 12 bytes after the IPv4
/// (20), pfsync (20) and subheader (4) bytes make 1496, within a
/// 1500-byte MTU.
const DELETIONS_PER_FRAME: usize = 121;

/// Flood mode: insert `n` states at a pace a receiver can follow, then
/// delete them all as fast as the link takes frames of
/// [`DELETIONS_PER_FRAME`] DEL_C each (or with `--flood-gap-us` between
/// frames). Prints `deletions=N frames=F per_frame=P seconds=S rate=R` on
/// stderr.
fn flood(sock: &RawSocket, o: &Opts) {
    let n = o.flood;
    let states: Vec<PfState> = (0..n)
        .map(|i| {
            let mut s = state(o.creator, i);
            s.keys[0].addr[1][..4].copy_from_slice(&(0x0a00_0000u32 + i).to_be_bytes());
            s.keys[1] = s.keys[0];
            s
        })
        .collect();
    let ins: Vec<Message> = states.iter().map(|s| Message::Insert(*s)).collect();
    for (k, chunk) in ins.chunks(5).enumerate() {
        send(sock, chunk);
        if k % 40 == 39 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    std::thread::sleep(Duration::from_millis(o.wait_ms));
    let frames: Vec<Vec<u8>> = states
        .chunks(DELETIONS_PER_FRAME)
        .map(|c| {
            let mut b = V6FrameBuilder::new();
            for s in c {
                b.push(&Message::DeleteCompressed {
                    id: s.id,
                    creator: s.creator,
                });
            }
            b.finish()
        })
        .collect();
    let t0 = Instant::now();
    for f in &frames {
        while let Err(e) = sock.send(f) {
            if e.raw_os_error() != Some(libc::ENOBUFS) && e.kind() != std::io::ErrorKind::WouldBlock
            {
                eprintln!("pfsync_peer: send: {e}");
                break;
            }
            std::thread::yield_now();
        }
        if o.flood_gap_us > 0 {
            std::thread::sleep(Duration::from_micros(o.flood_gap_us));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "deletions={n} frames={} per_frame={DELETIONS_PER_FRAME} seconds={secs:.3} rate={:.0}",
        frames.len(),
        f64::from(n) / secs
    );
}

/// What the peer did with what it received.
#[derive(Default)]
struct Served {
    /// UPD_REQ for one state, answered with it.
    requests: u32,
    /// UPD_REQ 0/0, answered with a bulk transfer.
    bulks: u32,
    /// Packets dropped unread because their TTL was not 255.
    bad_ttl: u32,
}

fn main() {
    let mut o = Opts {
        iface: String::new(),
        states: 20,
        preexisting: 0,
        rounds: 3,
        round_ms: 300,
        hold_ms: 500,
        wait_ms: 200,
        flood: 0,
        flood_gap_us: 0,
        ttl: 255,
        creator: 0x5eed_0001,
        syncpeer: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        let n = || v.parse::<u64>().unwrap_or(0);
        match a.as_str() {
            "--iface" => o.iface = v.clone(),
            "--states" => o.states = n() as u32,
            "--preexisting" => o.preexisting = n() as u32,
            "--rounds" => o.rounds = n() as u32,
            "--round-ms" => o.round_ms = n(),
            "--hold-ms" => o.hold_ms = n(),
            "--wait-ms" => o.wait_ms = n(),
            "--flood" => o.flood = n() as u32,
            "--flood-gap-us" => o.flood_gap_us = n(),
            "--ttl" => o.ttl = n() as u8,
            "--creator" => o.creator = u32::from_str_radix(&v, 16).unwrap_or(1),
            "--syncpeer" => {
                o.syncpeer = Some(v.parse().unwrap_or_else(|_| {
                    eprintln!("pfsync_peer: --syncpeer needs an IPv4 address");
                    std::process::exit(64)
                }))
            }
            _ => {
                eprintln!("pfsync_peer: unknown option {a}");
                std::process::exit(64);
            }
        }
    }
    let sock = RawSocket::open(&o.iface, o.syncpeer).unwrap_or_else(|e| {
        eprintln!("pfsync_peer: {e}");
        std::process::exit(1)
    });
    sock.set_ttl(o.ttl).unwrap_or_else(|e| {
        eprintln!("pfsync_peer: {e}");
        std::process::exit(1)
    });
    // States the firewall holds: pre-existing ones first (ids from 0).
    if o.flood > 0 {
        flood(&sock, &o);
        return;
    }
    let mut states: Vec<PfState> = (0..o.preexisting)
        .map(|i| {
            let mut s = state(o.creator, 10_000 + i);
            s.creation = 100;
            s.packets = [500, 400];
            s.bytes = [50_000, 40_000];
            s
        })
        .collect();
    let mut served = Served::default();
    let mut buf = vec![0u8; 65_536];

    // Answers requests until `until`.
    let mut serve = |states: &mut Vec<PfState>, until: Instant, served: &mut Served| {
        while Instant::now() < until {
            match sock.recv(&mut buf) {
                Ok(Some(n)) => {
                    let Ok(c) = pfsync::carrier::extract(
                        pfsync::carrier::LinkType::RAW,
                        buf.get(..n).unwrap_or_default(),
                    ) else {
                        continue;
                    };
                    // The kernel's check: pfsync never crosses a router.
                    if c.ip.is_none_or(|ip| ip.ttl != 255) {
                        served.bad_ttl += 1;
                        continue;
                    }
                    let Ok(frame) = pfsync::parse_frame(c.frame) else {
                        continue;
                    };
                    for m in frame.messages().flatten() {
                        if let Message::UpdateRequest { id, creator } = m {
                            if id == 0 && creator == 0 {
                                served.bulks += 1;
                                let mut out = vec![Message::BulkStatus {
                                    creator: o.creator,
                                    endtime: 0,
                                    status: BulkStatus::Start,
                                }];
                                out.extend(states.iter().map(|s| Message::Update(*s)));
                                out.push(Message::BulkStatus {
                                    creator: o.creator,
                                    endtime: 0,
                                    status: BulkStatus::End,
                                });
                                send(&sock, &out);
                            } else if let Some(s) =
                                states.iter().find(|s| s.id == id && s.creator == creator)
                            {
                                served.requests += 1;
                                send(&sock, &[Message::Update(*s)]);
                            }
                        }
                    }
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    eprintln!("pfsync_peer: recv: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    };

    serve(
        &mut states,
        Instant::now() + Duration::from_millis(o.wait_ms),
        &mut served,
    );
    let new: Vec<PfState> = (0..o.states).map(|i| state(o.creator, i)).collect();
    send(
        &sock,
        &new.iter().map(|s| Message::Insert(*s)).collect::<Vec<_>>(),
    );
    states.extend(new);
    for _ in 0..o.rounds {
        serve(
            &mut states,
            Instant::now() + Duration::from_millis(o.round_ms),
            &mut served,
        );
        for s in states.iter_mut() {
            s.packets[0] += 10;
            s.bytes[0] += 1000;
            s.packets[1] += 5;
            s.bytes[1] += 400;
            s.creation += (o.round_ms / 1000) as u32;
        }
        let upd: Vec<Message> = states
            .iter()
            .map(|s| Message::UpdateCompressed {
                id: s.id,
                creator: s.creator,
                peer_state: [4, 4],
                timeout: 2,
            })
            .collect();
        for chunk in upd.chunks(15) {
            send(&sock, chunk);
        }
    }
    serve(
        &mut states,
        Instant::now() + Duration::from_millis(o.hold_ms),
        &mut served,
    );
    let del: Vec<Message> = states
        .iter()
        .map(|s| Message::DeleteCompressed {
            id: s.id,
            creator: s.creator,
        })
        .collect();
    for chunk in del.chunks(50) {
        send(&sock, chunk);
    }
    for s in &states {
        println!(
            "{:x} {} {} {} {}",
            s.id, s.packets[0], s.bytes[0], s.packets[1], s.bytes[1]
        );
    }
    eprintln!(
        "requests={} bulk={} bad_ttl={}",
        served.requests, served.bulks, served.bad_ttl
    );
}
