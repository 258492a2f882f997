//! Benchmark capture generator for capture mode (`bench/capture.sh`).
//!
//! Writes a classic pcap of N conversations (default 1,200,000, about 11M
//! packets) with a realistic mix: TCP with handshake, data and FIN teardown
//! (one in ten reset), UDP request/response, ICMP/ICMPv6 echo; one in five
//! conversations IPv6. Frames are captured with a 96-byte snap length (as
//! softflowd's default) so the file stays small while IP lengths and the
//! original length say the real size. Conversations start evenly over the
//! span and overlap; packets are written in time order. Deterministic.
//!
//! usage: capgen OUT.pcap [CONVERSATIONS] [SPAN_SECONDS]
//! Prints `packets P conversations C records R` on stdout.

use stateflowd::packet::build::{self, L4, Spec};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const SNAP: usize = 96;
const BASE_S: u64 = 1_709_251_200;

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Client, server, the packets still to send, start time.
type Conversation = (IpAddr, IpAddr, Vec<Pkt>, u64);

/// One packet of a conversation, to be written at `t` (µs).
#[derive(Clone, Copy)]
struct Pkt {
    fwd: bool,
    l4: L4,
    payload: usize,
}

fn script(rng: &mut Rng, kind: u64, cp: u16, sp: u16, v6: bool) -> Vec<Pkt> {
    let mut v = Vec::new();
    let tcp = |fwd: bool, flags: u8, payload: usize| Pkt {
        fwd,
        l4: if fwd {
            L4::Tcp {
                sport: cp,
                dport: sp,
                flags,
            }
        } else {
            L4::Tcp {
                sport: sp,
                dport: cp,
                flags,
            }
        },
        payload,
    };
    match kind {
        0..=5 => {
            v.push(tcp(true, 0x02, 0));
            v.push(tcp(false, 0x12, 0));
            v.push(tcp(true, 0x10, 0));
            for _ in 0..rng.next(7) {
                v.push(tcp(true, 0x18, rng.next(600) as usize));
                v.push(tcp(false, 0x18, 200 + rng.next(1200) as usize));
            }
            if rng.next(10) == 0 {
                v.push(tcp(false, 0x04, 0));
            } else {
                v.push(tcp(true, 0x11, 0));
                v.push(tcp(false, 0x11, 0));
                v.push(tcp(true, 0x10, 0));
            }
        }
        6..=8 => {
            for _ in 0..=rng.next(4) {
                v.push(Pkt {
                    fwd: true,
                    l4: L4::Udp {
                        sport: cp,
                        dport: sp,
                    },
                    payload: 20 + rng.next(60) as usize,
                });
                v.push(Pkt {
                    fwd: false,
                    l4: L4::Udp {
                        sport: sp,
                        dport: cp,
                    },
                    payload: 40 + rng.next(500) as usize,
                });
            }
        }
        _ => {
            let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
            for _ in 0..=rng.next(4) {
                v.push(Pkt {
                    fwd: true,
                    l4: L4::Icmp { typ: req, code: 0 },
                    payload: 56,
                });
                v.push(Pkt {
                    fwd: false,
                    l4: L4::Icmp { typ: rep, code: 0 },
                    payload: 56,
                });
            }
        }
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: capgen OUT.pcap [CONVERSATIONS] [SPAN_SECONDS]");
        std::process::exit(64);
    };
    let n: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_200_000);
    let span_us: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(600) * 1_000_000;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).expect("create"));
    // Classic pcap header: µs, little-endian, snaplen, Ethernet.
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&(SNAP as u32).to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    w.write_all(&h).expect("write");

    let mut rng = Rng(0xbe_4c4);
    // (next time, conversation index, packet index)
    let mut heap: BinaryHeap<Reverse<(u64, u32, u16)>> = BinaryHeap::new();
    let mut convs: Vec<Option<Conversation>> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let (mut packets, mut records) = (0u64, 0u64);
    let mut frame = Vec::with_capacity(2048);
    let mut next_conv = 0u64;
    loop {
        let start_next = if next_conv < n {
            Some(next_conv * span_us / n)
        } else {
            None
        };
        let head = heap.peek().map(|Reverse((t, _, _))| *t);
        // Start a conversation if it is due before the next queued packet.
        if let Some(ts) = start_next {
            if head.is_none_or(|h| ts <= h) {
                let i = next_conv;
                next_conv += 1;
                let v6 = i % 5 == 4;
                let kind = rng.next(10);
                let (c, s) = if v6 {
                    (
                        IpAddr::V6(Ipv6Addr::new(
                            0x2001,
                            0xdb8,
                            1,
                            0,
                            0,
                            0,
                            (i >> 16) as u16,
                            i as u16,
                        )),
                        IpAddr::V6(Ipv6Addr::new(
                            0x2001,
                            0xdb8,
                            2,
                            0,
                            0,
                            0,
                            0,
                            (i % 512) as u16 + 1,
                        )),
                    )
                } else {
                    (
                        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 & 0x00ff_ffff))),
                        IpAddr::V4(Ipv4Addr::new(192, 168, (i % 64) as u8, (i % 250) as u8 + 1)),
                    )
                };
                let cp = 1024 + (i % 60_000) as u16;
                let sp = [80, 443, 53, 22, 8080][(i % 5) as usize];
                let sp = if (6..=8).contains(&kind) { 53 } else { sp };
                let pk = script(&mut rng, kind, cp, sp, v6);
                // Every conversation gives two unidirectional records
                // (ICMP echo: a request flow and a reply flow).
                records += 2;
                let entry = Some((c, s, pk, ts));
                let slot = match free.pop() {
                    Some(x) => {
                        convs[x as usize] = entry;
                        x
                    }
                    None => {
                        convs.push(entry);
                        (convs.len() - 1) as u32
                    }
                };
                heap.push(Reverse((ts, slot, 0)));
                continue;
            }
        }
        let Some(Reverse((t, slot, k))) = heap.pop() else {
            break;
        };
        let Some((c, s, pk, _)) = &convs[slot as usize] else {
            continue;
        };
        let p = pk[usize::from(k)];
        let (src, dst) = if p.fwd { (*c, *s) } else { (*s, *c) };
        frame.clear();
        build::ethernet(&Spec::new(src, dst, p.l4, p.payload), &mut frame);
        let orig = frame.len();
        let incl = orig.min(SNAP);
        let ts = BASE_S * 1_000_000 + t;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(orig as u32).to_le_bytes());
        w.write_all(&rec).expect("write");
        w.write_all(&frame[..incl]).expect("write");
        packets += 1;
        if usize::from(k) + 1 < pk.len() {
            // 0.2–20 ms between packets of a conversation.
            let gap = 200 + rng.next(20_000);
            heap.push(Reverse((t + gap, slot, k + 1)));
        } else {
            convs[slot as usize] = None;
            free.push(slot);
        }
    }
    w.flush().expect("flush");
    println!("packets {packets} conversations {n} records {records}");
}
