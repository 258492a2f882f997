//! Writes a generated pfsync capture and the flows it must produce.
//!
//! ```text
//! cargo run --example pfsync_gen -- [--seed N] [--states N] [--link 246|18|121|1|101|228|0|108|113|276]
//!     [--dialect v2|v3|v4|openbsd45|freebsd1301|freebsd1400|freebsd1500|v6] [--full-delete] OUT.pcap
//! ```
//! `--full-delete` writes deletions as legacy pfsync0 does (full DEL with
//! final counters) instead of DEL_C.
//! writes OUT.pcap and OUT.expected.csv. The same seed always gives the
//! same bytes; `testdata/` holds captures made this way (see its README).

use stateflowd::pfsync::carrier::LinkType;
use stateflowd::testgen::{self, GenConfig};

fn main() {
    let mut cfg = GenConfig::default();
    let mut link = LinkType::PFSYNC;
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(&format!("{what} needs a number")))
        };
        match a.as_str() {
            "--seed" => cfg.seed = num("--seed"),
            "--states" => cfg.states = num("--states") as usize,
            "--ipv6-percent" => cfg.ipv6_percent = num("--ipv6-percent"),
            "--span" => cfg.span_secs = num("--span"),
            "--link" => link = LinkType(num("--link") as u32),
            "--no-clear" => cfg.clear_at_end = false,
            "--full-delete" => cfg.full_delete = true,
            "--dialect" => {
                let name = args.next().unwrap_or_default();
                cfg.encoding = testgen::encoding_by_name(&name).unwrap_or_else(|| {
                    let known: Vec<_> = testgen::DIALECTS.iter().map(|d| d.0).collect();
                    die(&format!("--dialect: want one of {}", known.join(", ")))
                });
            }
            "-h" | "--help" => {
                println!(
                    "usage: pfsync_gen [--seed N] [--states N] [--ipv6-percent P] [--span SECS] [--link 246|18|121|1|101|228|0|108|113|276] [--dialect NAME] [--full-delete] [--no-clear] OUT.pcap"
                );
                return;
            }
            _ if a.starts_with('-') => die(&format!("unknown option {a}")),
            _ => out = Some(a),
        }
    }
    let Some(out) = out else {
        die("no output file given")
    };
    let cap = testgen::generate(&cfg);
    let f = std::fs::File::create(&out).unwrap_or_else(|e| die(&format!("{out}: {e}")));
    testgen::write_pcap(&cap, link, std::io::BufWriter::new(f))
        .unwrap_or_else(|e| die(&format!("{out}: {e}")));
    let csv = out.strip_suffix(".pcap").unwrap_or(&out).to_string() + ".expected.csv";
    std::fs::write(&csv, testgen::expected_csv(&cap.expected))
        .unwrap_or_else(|e| die(&format!("{csv}: {e}")));
    eprintln!(
        "wrote {out} ({} frames, link type {}) and {csv} ({} flows)",
        cap.frames.len(),
        link.0,
        cap.expected.len()
    );
}

fn die(msg: &str) -> ! {
    eprintln!("pfsync_gen: {msg}");
    std::process::exit(2)
}
