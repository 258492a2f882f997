//! Export speed: flows encoded per second for NetFlow v5, v9 and IPFIX on
//! one core, the cost of one full v5 datagram, and datagrams per second
//! sent over loopback with `sendmmsg(2)` batching (equal-sized datagrams
//! go as UDP GSO runs, see `export::udp`) and with one `send(2)`
//! each.
//!
//! Run with `cargo bench --bench export` (release build). Each figure is
//! the best of a few rounds, to be robust on a shared machine.

use stateflowd::export::udp::UdpSink;
use stateflowd::export::{EncoderConfig, Format, Outgoing, new_encoder};
use stateflowd::flow::{Direction, Flow};
use stateflowd::time::Timestamp;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Instant;

fn flows(v6: bool, n: usize) -> Vec<Flow> {
    (0..n)
        .map(|i| {
            let (s, d) = if v6 {
                (
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16)),
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1)),
                )
            } else {
                (
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)),
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                )
            };
            let mut f = Flow::new(s, d, 6);
            f.src_port = 1024 + i as u16;
            f.dst_port = 443;
            f.packets = 10 + i as u64;
            f.octets = 1500 * (10 + i as u64);
            f.first = Timestamp::from_secs(1_700_000_000);
            f.last = Timestamp::from_secs(1_700_000_030);
            f.input_if = 1;
            f.output_if = 2;
            f.direction = Direction::Ingress;
            f
        })
        .collect()
}

/// Best flows/s over `rounds` rounds of `n` flows each.
fn encode_rate(format: Format, v6: bool, n: usize, rounds: usize) -> (f64, u64) {
    let input = flows(v6, 1024);
    let now = Timestamp::from_secs(1_700_000_031);
    let mut best = 0f64;
    let mut datagrams = 0;
    for _ in 0..rounds {
        let mut e = new_encoder(format, EncoderConfig::default(), false);
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(64);
        let t = Instant::now();
        for i in 0..n {
            e.push(&input[i & 1023], now, &mut out);
            if out.len() >= 32 {
                datagrams += out.len() as u64;
                black_box(&out);
                out.clear();
            }
        }
        e.flush(now, &mut out);
        black_box(&out);
        let rate = n as f64 / t.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    (best, datagrams / rounds as u64)
}

fn send_rate(batching: bool, total: usize) -> f64 {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sink = UdpSink::open(&[rx.local_addr().unwrap()], None).unwrap();
    sink.set_batching(batching);
    let payload = vec![0u8; 1464];
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let mut sent = 0;
        while sent < total {
            let mut out: Vec<Outgoing> = (0..64)
                .map(|_| Outgoing {
                    collector: 0,
                    bytes: payload.clone(),
                })
                .collect();
            sink.send_all(&mut out, |_, _| {});
            sent += 64;
            // The receiver never reads: once its buffer is full the kernel
            // drops there, and the sender's cost is what is measured.
        }
        best = best.max(total as f64 / t.elapsed().as_secs_f64());
    }
    let s = sink.collectors()[0].stats;
    assert_eq!(s.errors, 0);
    best
}

fn main() {
    // `cargo test --benches` runs this too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test" || a == "--quick");
    let (n, rounds, dgrams) = if quick {
        (100_000, 1, 6_400)
    } else {
        (20_000_000, 5, 200_000)
    };
    println!("export benchmark ({} flows per round, best of {rounds})", n);
    for (format, v6) in [
        (Format::V5, false),
        (Format::V9, false),
        (Format::V9, true),
        (Format::Ipfix, false),
        (Format::Ipfix, true),
    ] {
        let (rate, d) = encode_rate(format, v6, n, rounds);
        println!(
            "encode {:<5} {}: {:>6.1} M flows/s ({:.1} ns/flow, {} datagrams/round)",
            format.to_string(),
            if v6 { "IPv6" } else { "IPv4" },
            rate / 1e6,
            1e9 / rate,
            d
        );
        println!(
            "result encode_{}_{}_flows_per_s {:.0}",
            format.to_string().to_lowercase(),
            if v6 { "ipv6" } else { "ipv4" },
            rate
        );
    }
    let (v5, _) = encode_rate(Format::V5, false, n, rounds);
    println!("v5 datagram of 30 records: {:.0} ns", 30.0 * 1e9 / v5);
    for batching in [true, false] {
        let r = send_rate(batching, dgrams);
        println!(
            "loopback send, {}: {:.0} k datagrams/s (1464-byte datagrams)",
            if batching {
                "sendmmsg+GSO"
            } else {
                "send        "
            },
            r / 1e3
        );
        println!(
            "result send_{}_datagrams_per_s {:.0}",
            if batching { "sendmmsg" } else { "send" },
            r
        );
    }
}
