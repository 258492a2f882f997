use super::*;
use crate::packet::ParsedPacket;

const T0: u64 = 1_700_000_000; // a multiple of 60? 1_700_000_000 / 60 = 28_333_333.33

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0; 16];
    x[..4].copy_from_slice(&a);
    x
}

fn pkt(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    sp: u16,
    dp: u16,
    flags: u8,
    len: u32,
) -> ParsedPacket {
    ParsedPacket {
        version: 4,
        src: v4(src),
        dst: v4(dst),
        protocol: proto,
        src_port: sp,
        dst_port: dp,
        tcp_flags: flags,
        tos: 0,
        octets: len,
        vlan: 0,
        frag: Frag::None,
    }
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs(T0 + s)
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];

fn exact() -> CacheConfig {
    CacheConfig {
        timeouts: Timeouts {
            expint: 0,
            ..Timeouts::default()
        },
        ..CacheConfig::default()
    }
}

#[test]
fn a_conversation_gives_one_record_per_direction() {
    let mut c = FlowCache::new(exact());
    let mut out = Vec::new();
    // Reply first from the "higher" side to check canonical keying.
    c.packet(&pkt(B, A, 6, 80, 1234, 0x12, 44), at(1), &mut out);
    c.packet(&pkt(A, B, 6, 1234, 80, 0x02, 60), at(0), &mut out);
    c.packet(&pkt(A, B, 6, 1234, 80, 0x10, 40), at(2), &mut out);
    assert_eq!(c.len(), 1);
    c.drain(&mut out);
    assert_eq!(out.len(), 2);
    let fwd = out.iter().find(|f| f.src_port == 1234).unwrap();
    let rev = out.iter().find(|f| f.src_port == 80).unwrap();
    assert_eq!((fwd.packets, fwd.octets, fwd.tcp_flags), (2, 100, 0x12));
    assert_eq!((rev.packets, rev.octets, rev.tcp_flags), (1, 44, 0x12));
    assert_eq!(fwd.first, at(0));
    assert_eq!(fwd.last, at(2));
    assert_eq!(rev.dst.to_string(), "10.0.0.1");
    assert_eq!(fwd.end_reason, EndReason::ForcedEnd);
}

#[test]
fn fin_both_ways_expires_after_tcp_fin_and_rst_after_tcp_rst() {
    let mut c = FlowCache::new(exact());
    let mut out = Vec::new();
    c.packet(&pkt(A, B, 6, 1, 2, 0x11, 40), at(0), &mut out);
    c.packet(&pkt(B, A, 6, 2, 1, 0x11, 40), at(5), &mut out);
    c.packet(&pkt(A, B, 6, 3, 4, 0x04, 40), at(5), &mut out);
    c.poll(at(5 + 119), &mut out);
    assert!(out.is_empty());
    c.poll(at(5 + 120), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].src_port, out[0].end_reason),
        (3, EndReason::EndOfFlow)
    );
    c.poll(at(5 + 299), &mut out);
    assert_eq!(out.len(), 1);
    c.poll(at(5 + 300), &mut out);
    assert_eq!(out.len(), 3);
    assert!(c.is_empty());
    let s = c.stats();
    assert_eq!((s.expired_tcp_end, s.records), (2, 3));
}

#[test]
fn idle_timeouts_per_protocol_and_lazy_rescheduling() {
    let mut c = FlowCache::new(exact());
    let mut out = Vec::new();
    c.packet(&pkt(A, B, 17, 53, 53, 0, 50), at(0), &mut out);
    c.packet(&pkt(A, B, 1, 0, 0x0800, 0, 84), at(0), &mut out);
    c.packet(&pkt(A, B, 6, 9, 9, 0x10, 40), at(0), &mut out);
    c.packet(&pkt(A, B, 47, 0, 0, 0, 100), at(0), &mut out);
    // UDP refreshed at 200: expires at 500, not 300.
    c.packet(&pkt(A, B, 17, 53, 53, 0, 50), at(200), &mut out);
    c.poll(at(300), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].protocol, 1);
    c.poll(at(499), &mut out);
    assert_eq!(out.len(), 1);
    c.poll(at(500), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!((out[1].protocol, out[1].packets), (17, 2));
    c.poll(at(3600), &mut out);
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|f| f.end_reason == EndReason::IdleTimeout));
}

#[test]
fn expint_rounds_deadlines_up() {
    let mut c = FlowCache::new(CacheConfig::default());
    let mut out = Vec::new();
    // T0 + 10 + 300 = 1_700_000_310; next multiple of 60 is 1_700_000_340.
    c.packet(&pkt(A, B, 17, 1, 1, 0, 50), at(10), &mut out);
    c.poll(Timestamp::from_secs(1_700_000_339), &mut out);
    assert!(out.is_empty());
    c.poll(Timestamp::from_secs(1_700_000_340), &mut out);
    assert_eq!(out.len(), 1);
}

#[test]
fn maxlife_cuts_long_flows_into_slices() {
    let mut cfg = exact();
    cfg.timeouts.maxlife = 100;
    let mut c = FlowCache::new(cfg);
    let mut out = Vec::new();
    for s in (0..=250).step_by(10) {
        // The driver's order: expire what is due, then account the packet.
        c.poll(at(s), &mut out);
        c.packet(&pkt(A, B, 17, 1, 1, 0, 10), at(s), &mut out);
    }
    c.drain(&mut out);
    // Slices [0..100) cut at start+100, [100..200), [200..250].
    let pk: Vec<u64> = out.iter().map(|f| f.packets).collect();
    assert_eq!(pk, vec![10, 10, 6]);
    assert_eq!(out[0].end_reason, EndReason::ActiveTimeout);
    assert_eq!(out.iter().map(|f| f.packets).sum::<u64>(), 26);
}

#[test]
fn max_flows_evicts_least_recently_active() {
    let mut cfg = exact();
    cfg.max_flows = 2;
    let mut c = FlowCache::new(cfg);
    let mut out = Vec::new();
    c.packet(&pkt(A, B, 17, 1, 1, 0, 10), at(0), &mut out);
    c.packet(&pkt(A, B, 17, 2, 2, 0, 10), at(1), &mut out);
    c.packet(&pkt(A, B, 17, 1, 1, 0, 10), at(2), &mut out); // 1 is fresh again
    c.packet(&pkt(A, B, 17, 3, 3, 0, 10), at(3), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].src_port, 2);
    assert_eq!(out[0].end_reason, EndReason::LackOfResources);
    assert_eq!(c.stats().evicted, 1);
    assert_eq!(c.len(), 2);
}

#[test]
fn later_fragments_join_their_first_fragments_flow() {
    let mut c = FlowCache::new(exact());
    let mut out = Vec::new();
    let mut first = pkt(A, B, 17, 5000, 6000, 0, 1500);
    first.frag = Frag::First(7);
    let mut later = pkt(A, B, 17, 0, 0, 0, 600);
    later.frag = Frag::Later(7);
    let mut orphan = later;
    orphan.frag = Frag::Later(8);
    c.packet(&first, at(0), &mut out);
    c.packet(&later, at(0), &mut out);
    c.packet(&orphan, at(0), &mut out);
    c.drain(&mut out);
    let f = out.iter().find(|f| f.src_port == 5000).unwrap();
    assert_eq!((f.packets, f.octets), (2, 2100));
    let o = out.iter().find(|f| f.src_port == 0).unwrap();
    assert_eq!(o.octets, 600);
    assert_eq!(c.stats().orphan_fragments, 1);
    assert_eq!(c.stats().fragments, 3);
}

#[test]
fn timeouts_parse_softflowd_syntax() {
    assert_eq!(parse_duration("1h30m"), Some(5400));
    assert_eq!(parse_duration("90"), Some(90));
    assert_eq!(parse_duration("2w"), Some(1_209_600));
    assert_eq!(parse_duration("m"), None);
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("5x"), None);
    let mut t = Timeouts::default();
    t.set("tcp.rst=10").unwrap();
    t.set("maxlife=1h").unwrap();
    assert_eq!((t.tcp_rst, t.maxlife, t.udp), (10, 3600, 300));
    assert!(t.set("bogus=1").is_err());
    assert!(t.set("udp").is_err());
}

#[test]
fn churn_keeps_every_packet_accounted_and_the_index_consistent() {
    // Many short UDP conversations over small address/port spaces (so the
    // open-addressing index sees collisions, growth and deletions), with a
    // table bound that forces evictions and timeouts that expire as we go.
    let mut cfg = exact();
    cfg.max_flows = 300;
    cfg.timeouts.udp = 2;
    let mut c = FlowCache::new(cfg);
    let mut out = Vec::new();
    let mut rng = 12345u64;
    let mut sent = 0u64;
    for step in 0..200_000u64 {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let r = rng >> 33;
        // First half: 100 µs apart (the bound evicts); second half: 20 ms
        // apart (idle timeouts expire).
        let us = if step < 100_000 {
            step * 100
        } else {
            10_000_000 + (step - 100_000) * 20_000
        };
        let now = Timestamp::from_secs(T0).saturating_add_micros(us);
        c.poll(now, &mut out);
        let (x, p) = ((r % 50) as u8, (r >> 8) as u16 % 8);
        if r & 1 == 0 {
            c.packet(&pkt([10, 0, 0, x], B, 17, p, 53, 0, 100), now, &mut out);
        } else {
            c.packet(&pkt(B, [10, 0, 0, x], 17, 53, p, 0, 100), now, &mut out);
        }
        sent += 1;
        assert!(c.len() <= 300);
    }
    let s = c.stats();
    assert!(s.evicted > 0 && s.expired_idle > 0, "{s:?}");
    c.drain(&mut out);
    assert!(c.is_empty());
    assert_eq!(out.iter().map(|f| f.packets).sum::<u64>(), sent);
    assert_eq!(out.iter().map(|f| f.octets).sum::<u64>(), sent * 100);
}

#[test]
fn deadlines_beyond_the_wheel_and_clock_jumps_expire_on_time() {
    let mut cfg = exact();
    cfg.timeouts.general = 10_000; // beyond one wheel turn (4096 s)
    let mut c = FlowCache::new(cfg);
    let mut out = Vec::new();
    c.packet(&pkt(A, B, 47, 0, 0, 0, 100), at(0), &mut out);
    c.packet(&pkt(A, B, 17, 1, 1, 0, 100), at(1), &mut out); // udp: 301
    c.poll(at(300), &mut out);
    assert!(out.is_empty());
    c.poll(at(301), &mut out);
    assert_eq!(out.len(), 1);
    c.poll(at(9_999), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(c.next_deadline(), Some(at(10_000)));
    c.poll(at(10_000), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].protocol, 47);
    // A day-long gap in the capture: everything due goes at once.
    for p in 0..100u16 {
        c.packet(&pkt(A, B, 17, p, 9, 0, 10), at(20_000), &mut out);
    }
    c.poll(at(20_000 + 86_400), &mut out);
    assert_eq!(out.len(), 102);
    assert!(c.is_empty());
    assert_eq!(c.next_deadline(), None);
}

#[test]
fn stale_deadlines_of_ended_conversations_are_swept() {
    // Every TCP conversation first gets the 3600 s idle deadline, then
    // FIN both ways moves it to 300 s: the first entry goes stale and,
    // unswept, would wait an hour. With thousands of short conversations
    // a second that is millions of entries; the wheel must stay near the
    // size of the table.
    let mut c = FlowCache::new(CacheConfig {
        max_flows: 1_000_000,
        ..exact()
    });
    let mut out = Vec::new();
    let mut worst = 0;
    for i in 0..200_000u32 {
        let now = Timestamp::from_secs(T0).saturating_add_micros(u64::from(i) * 10_000);
        c.poll(now, &mut out);
        let a = [172, 16 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        c.packet(&pkt(a, B, 6, 1000, 80, 0x02, 60), now, &mut out);
        c.packet(&pkt(a, B, 6, 1000, 80, 0x11, 40), now, &mut out);
        c.packet(&pkt(B, a, 6, 80, 1000, 0x11, 40), now, &mut out);
        worst = worst.max(c.wheel.len() as i64 - 2 * c.len() as i64);
    }
    assert!(c.stats().compactions > 0);
    assert!(
        worst <= STALE_SLACK as i64 + 1,
        "wheel exceeded its bound by {worst}"
    );
    // Nothing live was lost by sweeping: each conversation ends at its
    // FIN deadline, 300 s after its last packet.
    let end = Timestamp::from_secs(T0 + 2000 + 300);
    c.poll(end, &mut out);
    assert!(c.is_empty());
    assert_eq!(out.len(), 400_000);
    assert!(out.iter().all(|f| f.end_reason == EndReason::EndOfFlow));
    assert_eq!(out.iter().map(|f| f.packets).sum::<u64>(), 600_000);
}

#[test]
fn the_eviction_order_is_rebuilt_rather_than_left_to_grow() {
    // The bound is reached once (the eviction order is built); afterwards
    // conversations end by timeout below the bound, and each new one would
    // add an entry that no eviction ever pops.
    let mut cfg = exact();
    cfg.max_flows = 1000;
    cfg.timeouts.udp = 1;
    let mut c = FlowCache::new(cfg);
    let mut out = Vec::new();
    for p in 0..1001u16 {
        c.packet(&pkt(A, B, 17, p, 53, 0, 10), at(0), &mut out);
    }
    assert_eq!(c.stats().evicted, 1);
    let mut longest = 0;
    for i in 0..200_000u32 {
        let now = at(2).saturating_add_micros(u64::from(i) * 10_000);
        c.poll(now, &mut out);
        c.packet(&pkt(A, B, 17, i as u16, 54, 0, 10), now, &mut out);
        longest = longest.max(c.lru.as_ref().map_or(0, |h| h.len()));
    }
    assert!(
        longest <= 2 * 1000 + STALE_SLACK + 1,
        "eviction order held {longest}"
    );
    assert_eq!(c.stats().evicted, 1);
}

#[test]
fn polls_and_drains_hand_flows_on_in_chunks() {
    let mut c = FlowCache::new(CacheConfig {
        max_flows: 100_000,
        ..CacheConfig::default()
    });
    let mut out = Vec::new();
    // 10,000 UDP conversations that fall due at once (expint rounds their
    // deadlines to the same minute), then 5,000 that are drained.
    for i in 0..10_000u16 {
        c.packet(&pkt(A, B, 17, i, 53, 0, 10), at(1), &mut out);
        c.packet(&pkt(B, A, 17, 53, i, 0, 20), at(1), &mut out);
    }
    let mut chunks = Vec::new();
    c.poll_with(at(1000), &mut out, 256, |f| {
        chunks.push(f.len());
        f.clear();
    });
    assert!(chunks.iter().all(|&n| n == 256), "{chunks:?}");
    assert_eq!(chunks.iter().sum::<usize>() + out.len(), 20_000);
    out.clear();
    for i in 0..5_000u16 {
        c.packet(&pkt(A, B, 6, i, 80, 0x10, 40), at(2000), &mut out);
    }
    let mut drained = 0;
    c.drain_with(&mut out, 1000, |f| {
        assert_eq!(f.len(), 1000);
        drained += f.iter().map(|f| f.packets).sum::<u64>();
        f.clear();
    });
    drained += out.iter().map(|f| f.packets).sum::<u64>();
    assert_eq!(drained, 5_000);
    assert!(c.is_empty());
    // The table is usable again after a drain.
    c.packet(&pkt(A, B, 6, 1, 80, 0x02, 40), at(3000), &mut out);
    assert_eq!(c.len(), 1);
}

#[test]
fn prepared_packets_are_accounted_as_parsed_ones() {
    // The reader thread prepares, the table accounts: same flows as
    // packet() for both directions, VLAN keying and fragments.
    let cfg = CacheConfig {
        key_vlan: true,
        ..exact()
    };
    let mut a = FlowCache::new(cfg);
    let mut b = FlowCache::new(cfg);
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    let mut first = pkt(A, B, 17, 5000, 6000, 0, 1500);
    first.frag = Frag::First(9);
    let mut later = pkt(A, B, 17, 0, 0, 0, 600);
    later.frag = Frag::Later(9);
    let mut tagged = pkt(B, A, 6, 80, 1234, 0x12, 44);
    tagged.vlan = 7;
    let pkts = [pkt(A, B, 6, 1234, 80, 0x02, 60), tagged, first, later];
    for (i, p) in pkts.iter().enumerate() {
        a.packet(p, at(i as u64), &mut fa);
        b.account(&cfg.prepare(p), at(i as u64), &mut fb);
    }
    a.drain(&mut fa);
    b.drain(&mut fb);
    assert_eq!(fa, fb);
    assert_eq!(fa.len(), 3);
    assert!(fa.iter().any(|f| f.src_port == 5000 && f.packets == 2));
}

#[test]
fn a_prepared_packet_and_its_time_fill_one_cache_line() {
    // The reader thread writes batches of these and the table's thread
    // reads them: each spilling into a second line would cost a transfer.
    assert_eq!(std::mem::size_of::<(Timestamp, Prepared)>(), 64);
    assert_eq!(std::mem::size_of::<Conv>(), 112);
}

#[test]
fn chunks_made_elsewhere_are_used_and_change_no_flow() {
    // A replay's reader thread makes the table's memory; the table given
    // chunks must end exactly the flows of one that makes its own.
    let cfg = CacheConfig {
        max_flows: 200_000,
        ..exact()
    };
    let mut own = FlowCache::new(cfg);
    let mut given = FlowCache::new(cfg);
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    for i in 0..150_000u32 {
        let [_, x, y, z] = i.to_be_bytes();
        let p = pkt([10, x, y, z], B, 17, 4000, 53, 0, 80);
        let now = at(u64::from(i / 1000));
        if given.wants_chunk() {
            given.give_chunk(ConvChunk::new());
            assert!(!given.wants_chunk(), "a spare is held: no second one");
        }
        own.packet(&p, now, &mut fa);
        given.packet(&p, now, &mut fb);
    }
    // 150,000 conversations fill three chunks: all three were given (the
    // first before any packet, the others half a chunk ahead of need).
    assert_eq!(given.chunks_given(), 3);
    assert_eq!(given.slab.chunks.len(), 3);
    assert!(given.slab.spare.is_none());
    own.drain(&mut fa);
    given.drain(&mut fb);
    assert_eq!(fa.len(), 150_000);
    assert_eq!(fa, fb);

    // A table bounded below one chunk never asks for a second.
    let mut small = FlowCache::new(CacheConfig {
        max_flows: 1000,
        ..exact()
    });
    let mut out = Vec::new();
    small.packet(&pkt(A, B, 17, 1, 2, 0, 80), at(0), &mut out);
    assert!(!small.wants_chunk());
    small.give_chunk(ConvChunk::new());
    assert!(small.slab.spare.is_none(), "an unwanted chunk is dropped");
}
