//! Long-run churn: memory stays flat while far more states pass through the
//! pfsync pipeline than its state table may hold.
//!
//! ```text
//! cargo run --release --example churn -- --minutes 3              # 1,000,000-state bound
//! cargo run --example churn -- --max-states 20000 --phases 24     # what the test suite runs
//! ```
//!
//! Drives the whole [`PfsyncPipeline`] (decode → bounded `StateTable` with
//! LRU eviction → flow conversion and selection → two exporters, NetFlow v5
//! and IPFIX → counter refresher) with OpenBSD v6 frames as a busy firewall
//! sends them. The generator believes in twice as many live states as the
//! table may hold, so the table is always full and evicting: per eight
//! steps one new state (INS, plus a DEL_C of a random live one to keep the
//! population constant), one DEL_C of a random live state (plus an INS to
//! replace it) and six UPD_C on random live states. About half the UPD_C
//! and DEL_C therefore name a state the table already evicted (counted as
//! unknown). Datagrams and update requests are produced and thrown away.
//!
//! Phase 0 fills the generator's population (2 × bound INS); every later
//! phase churns `--phase-messages` messages (default 2 × bound). Phases
//! 0..=`--warmup` (default a third of them, at least 2; with `--minutes`,
//! those ending in the first third of the time) are warm-up: the
//! refresher's map of requested states grows towards its equilibrium there
//! (at most 65,536 entries, so at most 131,072 buckets of 25 bytes, 3.3 MB;
//! at a 1,000,000-state bound it gets there after ~12 phases).
//! `--no-refresh` leaves the refresher out, and then the heap is flat to
//! the kilobyte from phase 1 on. At the end of each phase the live heap bytes are read from a
//! counting global allocator (the frames of the last batch already freed,
//! the generator's own id list preallocated before the baseline), and RSS
//! from `/proc/self/statm` for information.
//!
//! Checked, with exit status 1 when one fails: the table never holds more
//! than the bound (after every frame); it evicted; every state that ended
//! is accounted for (deletes + evictions); flows were exported; the live
//! heap at the end of every phase after warm-up is within
//! `--tolerance-pct` (default 1 %, at least 256 KiB) of the heap at the end
//! of warm-up. RSS is reported but not judged: freed pages from the fill
//! phase's peak hide small leaks from it, while the allocator count does
//! not. The last lines are `result NAME VALUE`, for `bench/run.sh` and
//! `tests/it/longrun.rs`.

use stateflowd::export::{CollectorSpec, EncoderConfig, Format, Outgoing};
use stateflowd::ifindex::IfIndexMap;
use stateflowd::pfsync::encode::V6FrameBuilder;
use stateflowd::pfsync::{Family, IfName, Message, PFSTATE_PFLOW, PfDirection, PfState, StateKey};
use stateflowd::pipeline::{PfsyncPipeline, PipelineConfig};
use stateflowd::refresh::{RefreshConfig, Refresher};
use stateflowd::state::TableConfig;
use stateflowd::testgen::Rng;
use stateflowd::time::Timestamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        grew(n);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

struct Args {
    max_states: usize,
    phase_messages: usize,
    phases: usize,
    minutes: f64,
    tolerance_pct: f64,
    seed: u64,
    warmup: usize,
    refresh: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        max_states: 1_000_000,
        phase_messages: 0,
        phases: 0,
        minutes: 0.0,
        tolerance_pct: 1.0,
        seed: 1,
        warmup: 0,
        refresh: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut num = |what: &str| -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(&format!("{what} needs a number")))
        };
        match k.as_str() {
            "--max-states" => a.max_states = num("--max-states") as usize,
            "--phase-messages" => a.phase_messages = num("--phase-messages") as usize,
            "--phases" => a.phases = num("--phases") as usize,
            "--minutes" => a.minutes = num("--minutes"),
            "--tolerance-pct" => a.tolerance_pct = num("--tolerance-pct"),
            "--seed" => a.seed = num("--seed") as u64,
            "--warmup" => a.warmup = num("--warmup") as usize,
            "--no-refresh" => a.refresh = false,
            "-h" | "--help" => {
                println!(
                    "usage: churn [--max-states N] [--phase-messages N] [--phases N | --minutes M] [--warmup N] [--tolerance-pct P] [--no-refresh] [--seed N]"
                );
                std::process::exit(0);
            }
            _ => die(&format!("unknown argument {k}")),
        }
    }
    if a.max_states < 16 {
        die("--max-states must be at least 16");
    }
    if a.phase_messages == 0 {
        a.phase_messages = 2 * a.max_states;
    }
    if a.phases == 0 && a.minutes == 0.0 {
        a.phases = 12;
    }
    if a.warmup == 0 {
        a.warmup = (a.phases / 3).max(2);
    }
    a
}

fn die(msg: &str) -> ! {
    eprintln!("churn: {msg}");
    std::process::exit(2)
}

const CREATORS: [u32; 2] = [0x0a0b_0c0d, 0x1122_3344];
const IFNAMES: [&str; 4] = ["em0", "em1", "vlan10", "carp0"];

fn creator_of(id: u64) -> u32 {
    CREATORS[(id & 1) as usize]
}

/// A state as a firewall would insert it: one in five IPv6, TCP/UDP/ICMP,
/// seven in eight with the pflow flag (the rest are counted not selected).
fn state(id: u64) -> PfState {
    let mut k = StateKey::default();
    let n = (id >> 1) as u32;
    let family = if id % 5 == 0 {
        k.addr[0][..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        k.addr[0][12..].copy_from_slice(&n.to_be_bytes());
        k.addr[1][..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        k.addr[1][15] = 1;
        Family::Inet6
    } else {
        k.addr[0][..4].copy_from_slice(&(0x0a00_0000 | (n & 0x00ff_ffff)).to_be_bytes());
        k.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
        Family::Inet
    };
    let proto = [6u8, 6, 17, 1][(id % 4) as usize];
    k.port = [(n as u16) | 1024, 443];
    PfState {
        id,
        creator: creator_of(id),
        ifname: IfName::new(IFNAMES[(id % 4) as usize]),
        keys: [k, k],
        family,
        proto,
        direction: if id % 3 == 0 {
            PfDirection::Out
        } else {
            PfDirection::In
        },
        rule: (id % 7) as u32,
        packets: [1 + id % 100, id % 50],
        bytes: [60 + id % 10_000, id % 5_000],
        state_flags: if id % 8 == 0 { 0 } else { PFSTATE_PFLOW },
        flags_known: true,
        ..Default::default()
    }
}

/// Statm's resident pages, in bytes.
fn rss_bytes() -> usize {
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as usize;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |p| p * page)
}

struct Gen {
    rng: Rng,
    live: Vec<u64>,
    target: usize,
    next_id: u64,
}

impl Gen {
    fn new_state(&mut self) -> Message {
        let id = self.next_id;
        self.next_id += 1;
        self.live.push(id);
        Message::Insert(state(id))
    }
    fn delete_random(&mut self) -> Message {
        let k = self.rng.range(0, self.live.len() as u64) as usize;
        let id = self.live.swap_remove(k);
        Message::DeleteCompressed {
            id,
            creator: creator_of(id),
        }
    }
    /// The next one or two messages of the churn.
    fn step(&mut self, out: &mut Vec<Message>) {
        if self.live.len() < self.target {
            out.push(self.new_state());
            return;
        }
        match self.rng.range(0, 8) {
            0 => {
                out.push(self.new_state());
                out.push(self.delete_random());
            }
            1 => {
                out.push(self.delete_random());
                out.push(self.new_state());
            }
            _ => {
                let id = self.live[self.rng.range(0, self.live.len() as u64) as usize];
                out.push(Message::UpdateCompressed {
                    id,
                    creator: creator_of(id),
                    peer_state: [4, 4],
                    timeout: 2,
                });
            }
        }
    }
}

struct Run {
    pipe: PfsyncPipeline,
    out: Vec<Outgoing>,
    now: Timestamp,
    max_len: usize,
    datagrams: u64,
    requests: u64,
    messages: u64,
    frames: Vec<Vec<u8>>,
}

impl Run {
    /// Frames of up to 1500 bytes, as the sync interface's MTU bounds them.
    fn frames(&mut self, g: &mut Gen, n: usize) {
        let mut msgs = Vec::with_capacity(2);
        let mut b = V6FrameBuilder::new();
        let mut done = 0;
        while done < n {
            msgs.clear();
            g.step(&mut msgs);
            for m in &msgs {
                let size = match m {
                    Message::Insert(_) => 268,
                    Message::UpdateCompressed { .. } => 88,
                    _ => 16,
                };
                if b.len() + size > 1480 {
                    self.frames.push(std::mem::take(&mut b).finish());
                }
                b.push(m);
            }
            done += msgs.len();
        }
        if !b.is_empty() {
            self.frames.push(b.finish());
        }
        self.messages += done as u64;
    }

    /// Feeds the batch, 1 ms of capture time per frame.
    fn feed(&mut self, bound: usize) -> Result<(), String> {
        for f in self.frames.drain(..) {
            self.now = self.now.saturating_add_micros(1000);
            if let Some(e) = self.pipe.on_frame(&f, self.now, &mut self.out) {
                return Err(format!("generated frame refused: {e:?}"));
            }
            let len = self.pipe.table().len();
            self.max_len = self.max_len.max(len);
            if len > bound {
                return Err(format!("table holds {len} states, bound {bound}"));
            }
            if self.now.as_micros() % 1_000_000 == 0 {
                self.pipe.poll(self.now, &mut self.out);
            }
            self.datagrams += self.out.len() as u64;
            self.out.clear();
            self.requests += self.pipe.take_requests().len() as u64;
        }
        Ok(())
    }

    fn churn(&mut self, g: &mut Gen, messages: usize, bound: usize) -> Result<(), String> {
        let batch = 20_000;
        let mut done = 0;
        while done < messages {
            let n = batch.min(messages - done);
            self.frames(g, n);
            self.feed(bound)?;
            done += n;
        }
        Ok(())
    }
}

fn mb(b: f64) -> f64 {
    b / 1e6
}

fn main() {
    let a = parse_args();
    let bound = a.max_states;
    let t_start = Instant::now();
    let mut g = Gen {
        rng: Rng::new(a.seed),
        live: Vec::with_capacity(2 * bound + 4),
        target: 2 * bound,
        next_id: 1,
    };
    let collectors = [
        CollectorSpec {
            addr: "127.0.0.1:9995".parse().unwrap(),
            format: Format::V5,
        },
        CollectorSpec {
            addr: "127.0.0.1:4739".parse().unwrap(),
            format: Format::Ipfix,
        },
    ];
    let mut ifmap = IfIndexMap::explicit_only();
    for (i, n) in IFNAMES.iter().enumerate() {
        ifmap.insert(n, i as u32 + 1);
    }
    let mut pipe = PfsyncPipeline::new(
        PipelineConfig {
            table: TableConfig { max_states: bound },
            encoder: EncoderConfig::default(),
            ..Default::default()
        },
        &collectors,
        ifmap,
    );
    if a.refresh {
        pipe.set_refresher(Refresher::new(RefreshConfig {
            max_age_us: 10_000_000,
            max_per_sec: 1000,
            bulk_at_start: false,
        }));
    }
    let mut run = Run {
        pipe,
        out: Vec::with_capacity(256),
        now: Timestamp::from_secs(1_764_000_000),
        max_len: 0,
        datagrams: 0,
        requests: 0,
        messages: 0,
        frames: Vec::with_capacity(4096),
    };
    println!(
        "churn: bound {bound} states, generator population {}, {} messages per phase, {}",
        g.target,
        a.phase_messages,
        if a.minutes > 0.0 {
            format!("{} minutes", a.minutes)
        } else {
            format!("{} phases", a.phases)
        }
    );
    let mut failures: Vec<String> = Vec::new();
    // The phase whose end is the baseline (the last of warm-up).
    let mut base_phase: Option<usize> = None;
    let mut baseline = 0usize;
    let mut rss_baseline = 0usize;
    let mut worst_growth = 0isize;
    let mut worst_rss_growth = 0isize;
    let mut phase = 0usize;
    loop {
        let t = Instant::now();
        let r = if phase == 0 {
            let fill = g.target;
            run.churn(&mut g, fill, bound)
        } else {
            run.churn(&mut g, a.phase_messages, bound)
        };
        if let Err(e) = r {
            failures.push(e);
            break;
        }
        let heap = LIVE.load(Ordering::Relaxed);
        let rss = rss_bytes();
        if base_phase.is_none() {
            let warmed = if a.minutes > 0.0 {
                phase >= 2 && t_start.elapsed().as_secs_f64() >= a.minutes * 20.0
            } else {
                phase >= a.warmup
            };
            if warmed {
                base_phase = Some(phase);
                baseline = heap;
                rss_baseline = rss;
            }
        }
        let (growth, rss_growth) = if base_phase.is_some() {
            (
                heap as isize - baseline as isize,
                rss as isize - rss_baseline as isize,
            )
        } else {
            (0, 0)
        };
        let after_warmup = base_phase.is_some_and(|b| phase > b);
        if after_warmup {
            worst_growth = worst_growth.max(growth);
            worst_rss_growth = worst_rss_growth.max(rss_growth);
        }
        let ts = run.pipe.table().stats();
        println!(
            "phase {phase:>3}{}: {:>9} msgs in {:>5.2} s, heap {:>7.2} MB ({:+.3} MB), RSS {:>7.2} MB ({:+.3} MB), table {}/{bound}, evicted {}, unknown upd/del {}/{}",
            match phase {
                0 => " fill",
                _ if !after_warmup => " warm",
                _ => "     ",
            },
            run.messages,
            t.elapsed().as_secs_f64(),
            mb(heap as f64),
            mb(growth as f64),
            mb(rss as f64),
            mb(rss_growth as f64),
            run.pipe.table().len(),
            ts.evicted,
            ts.unknown_updates,
            ts.unknown_deletes
        );
        run.messages = 0;
        phase += 1;
        let done = if a.minutes > 0.0 {
            base_phase.is_some_and(|b| phase >= b + 2)
                && t_start.elapsed().as_secs_f64() >= a.minutes * 60.0
        } else {
            phase >= a.phases.max(a.warmup + 2)
        };
        if done {
            break;
        }
    }

    let ts = *run.pipe.table().stats();
    let ps = run.pipe.stats().clone();
    let tolerance = ((baseline as f64 * a.tolerance_pct / 100.0) as isize).max(256 << 10);
    if worst_growth > tolerance {
        failures.push(format!(
            "live heap grew {worst_growth} bytes after warm-up (tolerance {tolerance})"
        ));
    }
    if ts.evicted == 0 {
        failures.push("nothing was evicted".into());
    }
    let still = run.pipe.table().len() as u64;
    if ps.states_ended != ts.deletes - ts.unknown_deletes + ts.evicted
        || ts.inserts != ps.states_ended + still
    {
        failures.push(format!(
            "accounting: {} inserted, {} ended, {} deleted ({} unknown), {} evicted, {} still live",
            ts.inserts, ps.states_ended, ts.deletes, ts.unknown_deletes, ts.evicted, still
        ));
    }
    if ps.flows == 0 || run.datagrams == 0 {
        failures.push("no flows exported".into());
    }
    println!(
        "totals: {} states inserted, {} deleted, {} evicted, {} flows, {} datagrams, {} update requests, {:.0} s",
        ts.inserts,
        ts.deletes,
        ts.evicted,
        ps.flows,
        run.datagrams,
        run.requests,
        t_start.elapsed().as_secs_f64()
    );
    println!("result churn_bound {bound}");
    println!("result churn_phases {phase}");
    println!("result churn_max_table_len {}", run.max_len);
    println!("result churn_inserted {}", ts.inserts);
    println!("result churn_evicted {}", ts.evicted);
    println!("result churn_flows {}", ps.flows);
    println!(
        "result churn_warmup_phases {}",
        base_phase.map_or(0, |b| b + 1)
    );
    println!("result churn_heap_baseline_bytes {baseline}");
    println!("result churn_heap_growth_bytes {worst_growth}");
    println!("result churn_heap_tolerance_bytes {tolerance}");
    println!(
        "result churn_peak_heap_bytes {}",
        PEAK.load(Ordering::Relaxed)
    );
    println!("result churn_rss_baseline_bytes {rss_baseline}");
    println!("result churn_rss_growth_bytes {worst_rss_growth}");
    if failures.is_empty() {
        println!("churn: PASS");
    } else {
        for f in &failures {
            println!("churn: FAIL: {f}");
        }
        std::process::exit(1);
    }
}
