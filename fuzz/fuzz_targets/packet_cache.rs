//! Parser plus flow cache on arbitrary frames with arbitrary clocks: no
//! panic, and every packet accounted is in exactly one exported record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stateflowd::capture::{CacheConfig, FlowCache, Timeouts};
use stateflowd::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut cache = FlowCache::new(CacheConfig {
        timeouts: Timeouts {
            expint: 0,
            ..Timeouts::default()
        },
        max_flows: 4,
        ..CacheConfig::default()
    });
    let mut out = Vec::new();
    let mut accounted = 0u64;
    // Records: [len u8][dt u8][frame bytes...]
    let mut rest = data;
    let mut now = Timestamp::from_secs(1_700_000_000);
    while rest.len() >= 2 {
        let (len, dt) = (rest[0] as usize, rest[1]);
        rest = &rest[2..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        now = now.saturating_add_micros(u64::from(dt) * 1_000_000);
        cache.poll(now, &mut out);
        if let Ok(p) = stateflowd::packet::parse(1, frame) {
            cache.packet(&p, now, &mut out);
            accounted += 1;
        }
    }
    cache.drain(&mut out);
    assert!(cache.is_empty());
    assert_eq!(out.iter().map(|f| f.packets).sum::<u64>(), accounted);
});
