//! Decode + state-table throughput and memory per state at a million live
//! states (issue: every pfsync dialect, production-grade state table).
//!
//! ```text
//! cargo bench --bench state_table            # 1,000,000 states, 4,000,000 messages
//! cargo bench --bench state_table -- 200000 1000000   # STATES MESSAGES
//! ```
//!
//! Memory: a counting global allocator measures the bytes the table holds
//! after being filled with STATES inserts (slab, index, interned names),
//! divided by STATES.
//!
//! Throughput: a mixed OpenBSD v6 stream as a busy firewall sends it —
//! per state lifetime one INS, six UPD_C and one DEL_C (12.5 % / 75 % /
//! 12.5 %), UPD_C and DEL_C on states picked uniformly at random among the
//! live ones (the worst case for caches), frames filled up to a 1500-byte
//! MTU. Frames are built outside the timed region in batches; the timed
//! loop is `parse_frame` → `messages()` → `StateTable::apply` on one core.

use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PfDirection, PfState, StateKey, parse_frame};
use stateflowd::state::{StateTable, TableConfig};
use stateflowd::testgen::Rng;
use stateflowd::time::Timestamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n, Ordering::Relaxed);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn state(id: u64, creator: u32) -> PfState {
    let mut keys = [StateKey::default(); 2];
    let n = id as u32;
    keys[0].addr[0][..4].copy_from_slice(&n.to_be_bytes());
    keys[0].addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
    keys[0].port = [(n as u16) | 1024, 443];
    keys[1] = keys[0];
    PfState {
        id,
        creator,
        ifname: IfName::new(if id % 2 == 0 { "em0" } else { "em1" }),
        keys,
        family: Family::Inet,
        proto: 6,
        direction: PfDirection::In,
        rule: 3,
        packets: [1, 0],
        bytes: [60, 0],
        flags_known: true,
        ..Default::default()
    }
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let states = args.first().copied().unwrap_or(1_000_000) as usize;
    let messages = args.get(1).copied().unwrap_or(4_000_000) as usize;
    let creators = [0x0a0b_0c0d, 0x1122_3344];
    let creator_of = |id: u64| creators[(id & 1) as usize];

    // ---- memory ------------------------------------------------------
    let before = LIVE.load(Ordering::Relaxed);
    let mut tab = StateTable::new(TableConfig {
        max_states: states + states / 2,
    });
    let mut out = Vec::new();
    let t0 = Timestamp::from_secs(1_764_000_000);
    for id in 0..states as u64 {
        tab.apply(&Message::Insert(state(id, creator_of(id))), t0, &mut out);
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "memory: {} states hold {} bytes = {:.1} bytes/state (slab + index + names)",
        tab.len(),
        held,
        held as f64 / states as f64
    );
    // Machine-readable lines for bench/run.sh.
    println!("result table_states {}", tab.len());
    println!(
        "result table_bytes_per_state {:.1}",
        held as f64 / states as f64
    );

    // ---- throughput ---------------------------------------------------
    let mut rng = Rng::new(7);
    let mut live: Vec<u64> = (0..states as u64).collect();
    let mut next_id = states as u64;
    let batch = 200_000usize;
    let (mut done, mut n_ins, mut n_updc, mut n_delc) = (0usize, 0u64, 0u64, 0u64);
    let mut timed = std::time::Duration::ZERO;
    let mut bytes = 0usize;
    let mut now = t0;
    while done < messages {
        // build a batch of frames
        let mut frames = Vec::new();
        let mut b = V6FrameBuilder::new();
        for _ in 0..batch.min(messages - done) {
            let r = rng.range(0, 8);
            let m = if r == 0 {
                let id = next_id;
                next_id += 1;
                live.push(id);
                n_ins += 1;
                Message::Insert(state(id, creator_of(id)))
            } else if r == 1 && !live.is_empty() {
                let k = rng.range(0, live.len() as u64) as usize;
                let id = live.swap_remove(k);
                n_delc += 1;
                Message::DeleteCompressed {
                    id,
                    creator: creator_of(id),
                }
            } else {
                let id = live[rng.range(0, live.len() as u64) as usize];
                n_updc += 1;
                Message::UpdateCompressed {
                    id,
                    creator: creator_of(id),
                    peer_state: [4, 4],
                    timeout: 2,
                }
            };
            let size = match m {
                Message::Insert(_) => 268,
                Message::UpdateCompressed { .. } => 88,
                _ => 16,
            };
            if b.len() + size > 1480 {
                frames.push(std::mem::take(&mut b).finish());
            }
            b.push(&m);
        }
        frames.push(b.finish());
        done += batch.min(messages - done);
        bytes += frames.iter().map(Vec::len).sum::<usize>();
        now = now.saturating_add_micros(1_000_000);

        let start = Instant::now();
        let mut msgs = Vec::with_capacity(64);
        for f in &frames {
            let Ok(fr) = parse_frame(f) else { continue };
            msgs.clear();
            msgs.extend(fr.messages().flatten());
            tab.apply_all(&msgs, now, &mut out);
            out.clear();
        }
        timed += start.elapsed();
    }
    let secs = timed.as_secs_f64();
    println!(
        "stream: {done} messages (INS {n_ins}, UPD_C {n_updc}, DEL_C {n_delc}), {:.1} MB of frames",
        bytes as f64 / 1e6
    );
    println!(
        "decode + apply: {:.3} s = {:.0} messages/s ({:.0} ns/message) with {} live states at the end",
        secs,
        done as f64 / secs,
        secs * 1e9 / done as f64,
        tab.len()
    );
    let st = tab.stats();
    println!(
        "table: unknown_updates {} unknown_deletes {} evicted {}",
        st.unknown_updates, st.unknown_deletes, st.evicted
    );
    println!("result decode_track_msgs_per_s {:.0}", done as f64 / secs);
}
