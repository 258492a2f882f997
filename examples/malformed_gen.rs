//! Writes the hostile-input corpus in `testdata/malformed/`: pfsync frames
//! of every dialect (legacy v2–v4, v5 as OpenBSD 4.5 and FreeBSD speak it,
//! OpenBSD v6) that are wrong in one way each, and the statistics counter
//! each must raise (listed in `testdata/malformed/MANIFEST`); and damaged
//! state files in `testdata/malformed/state/`, each with the error the
//! loader must give (its `MANIFEST`).
//!
//! ```text
//! cargo run --example malformed_gen -- testdata/malformed
//! ```

use stateflowd::pfsync::{Family, IfName, Message, PfDirection, PfState, StateKey};
use stateflowd::state::{StateTable, TableConfig, persist};
use stateflowd::time::Timestamp;
use std::fmt::Write as _;

/// A legacy frame: `version`, then (v3/v4) the 16-byte ruleset checksum,
/// `action`, `count` and `body` (the records actually present).
fn legacy(version: u8, action: u8, count: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![version, 2, action, count];
    if version != 2 {
        f.resize(20, 0);
    }
    f.extend_from_slice(body);
    f
}

/// A v6 frame with the given subheaders and `len` set to what was built
/// (or to `len_override`).
fn frame(parts: &[(u8, u8, u16, Vec<u8>)], len_override: Option<u16>) -> Vec<u8> {
    let mut f = vec![0u8; 20];
    f[0] = 6;
    for (act, words, count, body) in parts {
        f.extend_from_slice(&[*act, *words]);
        f.extend_from_slice(&count.to_be_bytes());
        f.extend_from_slice(body);
    }
    let len = len_override.unwrap_or(f.len() as u16);
    f[2..4].copy_from_slice(&len.to_be_bytes());
    f
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/malformed".into());
    std::fs::create_dir_all(&dir).expect("create dir");
    let del_c = vec![0u8; 12];
    let cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        ("empty.bin", "runt", "zero bytes", vec![]),
        ("runt-header.bin", "runt", "version 6 but only 10 bytes", {
            let mut v = vec![0u8; 10];
            v[0] = 6;
            v
        }),
        (
            "unknown-version.bin",
            "unsupported_version",
            "version byte 9",
            {
                let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                v[0] = 9;
                v
            },
        ),
        (
            "len-past-capture.bin",
            "short_frame",
            "len 65535, 36 bytes captured",
            frame(&[(7, 3, 1, del_c.clone())], Some(65535)),
        ),
        (
            "len-below-header.bin",
            "bad_length",
            "len 8 < 20-byte header",
            frame(&[(7, 3, 1, del_c.clone())], Some(8)),
        ),
        ("len-zero.bin", "bad_length", "len 0", frame(&[], Some(0))),
        (
            "subheader-zero-len.bin",
            "bad_subheader",
            "DEL_C x5 announced with a length of 0 words",
            frame(&[(7, 0, 5, del_c.clone())], None),
        ),
        (
            "count-past-frame.bin",
            "truncated",
            "65535 DEL_C announced, one present",
            frame(&[(7, 3, 65535, del_c.clone())], None),
        ),
        (
            "count-times-len-overflow.bin",
            "truncated",
            "255 words x 65535 messages (16.7 MB) in a 40-byte frame",
            frame(&[(13, 255, 65535, vec![0u8; 16])], None),
        ),
        (
            "del-c-too-small.bin",
            "message_too_small",
            "DEL_C of 2 words (8 bytes < 12)",
            frame(&[(7, 2, 1, vec![0u8; 8])], None),
        ),
        (
            "upd-c-too-small.bin",
            "message_too_small",
            "UPD_C of 10 words (40 bytes < 84)",
            frame(&[(4, 10, 1, vec![0u8; 40])], None),
        ),
        (
            "clr-too-small.bin",
            "message_too_small",
            "CLR of 4 words (16 bytes < 20)",
            frame(&[(0, 4, 1, vec![0u8; 16])], None),
        ),
        (
            "ins-unknown-layout.bin",
            "unknown_state_layout",
            "INS of 60 words (240 bytes): no such v6 layout",
            frame(&[(13, 60, 1, vec![0u8; 240])], None),
        ),
    ];
    // The same framing checks, in the other dialects.
    let cases: Vec<_> = cases
        .into_iter()
        .chain(vec![
            (
                "unknown-version-1.bin",
                "unsupported_version",
                "version 1 (OpenBSD up to 3.4; not decoded)",
                {
                    let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                    v[0] = 1;
                    v
                },
            ),
            (
                "unknown-version-7.bin",
                "unsupported_version",
                "version 7 (none yet)",
                {
                    let mut v = frame(&[(7, 3, 1, del_c.clone())], None);
                    v[0] = 7;
                    v
                },
            ),
            (
                "legacy-v2-runt.bin",
                "runt",
                "v2, 3 bytes < 4-byte header",
                vec![2, 2, 1],
            ),
            (
                "legacy-v3-runt-header.bin",
                "runt",
                "v3, 12 bytes < 20-byte header",
                {
                    let mut v = legacy(3, 5, 1, &[]);
                    v.truncate(12);
                    v
                },
            ),
            (
                "legacy-v2-count-past-capture.bin",
                "short_frame",
                "v2 INS x255 (57124 bytes) with one 224-byte state present",
                legacy(2, 1, 255, &[0u8; 224]),
            ),
            (
                "legacy-v4-count-past-capture.bin",
                "short_frame",
                "v4 DEL_C x200 with two 16-byte records present",
                legacy(4, 5, 200, &[0u8; 32]),
            ),
            (
                "legacy-v3-zero-length-capture.bin",
                "short_frame",
                "v3 UPD x1 with a bare header: zero bytes of the 240-byte state",
                legacy(3, 2, 1, &[]),
            ),
            (
                "legacy-v3-unknown-action.bin",
                "unwalkable_action",
                "v3 action 11: no record size, the frame cannot be walked",
                legacy(3, 11, 1, &[0u8; 16]),
            ),
            (
                "legacy-v2-tdb-action.bin",
                "unwalkable_action",
                "v2 action 10 (TDB_UPD came with v3)",
                legacy(2, 10, 1, &[0u8; 48]),
            ),
            (
                "v5-runt-header.bin",
                "runt",
                "v5, 12 bytes < 20-byte header",
                {
                    let mut v = frame(&[], None);
                    v[0] = 5;
                    v.truncate(12);
                    v
                },
            ),
            ("v5-len-zero.bin", "bad_length", "v5 len 0", {
                let mut v = frame(&[(12, 0, 1, vec![])], Some(0));
                v[0] = 5;
                v
            }),
            (
                "v5-len-past-capture.bin",
                "short_frame",
                "v5 len 4000, 36 bytes captured",
                {
                    let mut v = frame(&[(7, 0, 1, del_c.clone())], Some(4000));
                    v[0] = 5;
                    v
                },
            ),
            (
                "v5-unknown-action.bin",
                "unwalkable_action",
                "v5 action 99 x1: no size known, the frame cannot be walked",
                {
                    let mut v = frame(&[(99, 0, 1, vec![0u8; 12])], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "v5-count-past-frame.bin",
                "truncated",
                "v5 DEL_C x65535 announced, one present",
                {
                    let mut v = frame(&[(7, 0, 65535, del_c.clone())], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "freebsd-count-times-size-overflow.bin",
                "truncated",
                "FreeBSD 1500 INS x65535 (23.6 MB) in a 48-byte frame, EOF after",
                {
                    let mut v = frame(&[(15, 0, 65535, vec![0u8; 24]), (12, 0, 1, vec![])], None);
                    v[0] = 5;
                    v
                },
            ),
            (
                "freebsd-1400-state-cut.bin",
                "truncated",
                "FreeBSD 1400 UPD x1 with 200 of its 277 bytes",
                {
                    let mut v = frame(&[(14, 0, 1, vec![0u8; 200])], None);
                    v[0] = 5;
                    v
                },
            ),
        ])
        .collect();
    let mut manifest = String::from(
        "# file counter description\n# Each frame must raise the named decode-error counter by one and nothing else.\n",
    );
    for (name, counter, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {counter} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), &manifest).expect("write manifest");
    let n = manifest.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!("wrote {n} frames to {dir}");
    state_files(&format!("{dir}/state"));
}

/// A state table of three states, as the daemon would save it.
fn table() -> StateTable {
    let mut tab = StateTable::new(TableConfig::default());
    let mut out = Vec::new();
    for id in 1..=3u64 {
        let mut k = StateKey::default();
        k.addr[0][..4].copy_from_slice(&[198, 51, 100, id as u8]);
        k.addr[1][..4].copy_from_slice(&[192, 0, 2, 1]);
        k.port = [40000 + id as u16, 443];
        let s = PfState {
            id,
            creator: 0x0a0b_0c0d,
            ifname: IfName::new("em0"),
            keys: [k, k],
            family: Family::Inet,
            proto: 6,
            direction: PfDirection::Out,
            packets: [10 * id, 9 * id],
            bytes: [1000 * id, 900 * id],
            ..Default::default()
        };
        let t = Timestamp::from_secs(1_700_000_000 + id);
        tab.apply(&Message::Insert(s), t, &mut out);
    }
    tab
}

/// State files: a good one and the ways a file goes wrong (a crash
/// mid-copy, another version, bit rot, a count that would need exabytes).
fn state_files(dir: &str) {
    std::fs::create_dir_all(dir).expect("create dir");
    let good_path = format!("{dir}/good.state");
    persist::save(&table(), std::path::Path::new(&good_path)).expect("save");
    let good = std::fs::read(&good_path).expect("read back");
    let n = good.len();
    let with = |off: usize, bytes: &[u8]| {
        let mut v = good.clone();
        v[off..off + bytes.len()].copy_from_slice(bytes);
        v
    };
    let cases: Vec<(&str, String, &str, Vec<u8>)> = vec![
        (
            "cut-in-half.state",
            format!("bad_length {} {n}", n / 2),
            "the first half of good.state",
            good[..n / 2].to_vec(),
        ),
        (
            "cut-in-header.state",
            "bad_length 20 -".into(),
            "20 bytes: the header itself is cut",
            good[..20].to_vec(),
        ),
        (
            "count-overflow.state",
            format!("bad_length {n} -"),
            "record count 2^64-1: count x 133 overflows",
            with(16, &u64::MAX.to_be_bytes()),
        ),
        (
            "count-huge.state",
            format!("bad_length {n} {}", (1u64 << 40) * 133 + 32),
            "record count 2^40 (146 TB) in a small file",
            with(16, &(1u64 << 40).to_be_bytes()),
        ),
        (
            "count-zero.state",
            format!("bad_length {n} 32"),
            "record count 0 with three records present",
            with(16, &0u64.to_be_bytes()),
        ),
        (
            "record-size.state",
            format!("bad_length {n} {n}"),
            "record size 134 in the header",
            with(12, &134u32.to_be_bytes()),
        ),
        (
            "wrong-version.state",
            "wrong_version 2".into(),
            "format version 2",
            with(8, &2u32.to_be_bytes()),
        ),
        (
            "bit-flip.state",
            "bad_checksum".into(),
            "one bit flipped in the second record",
            {
                let mut v = good.clone();
                v[24 + 133 + 40] ^= 0x10;
                v
            },
        ),
        (
            "bad-magic.state",
            "bad_magic".into(),
            "a pcap file's first bytes",
            with(0, &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]),
        ),
        ("empty.state", "bad_magic".into(), "zero bytes", vec![]),
    ];
    let mut manifest = String::from(
        "# file error [file-length expected-length|-] description\n\
         # What persist::parse must answer for each file; good.state holds 3 states.\n\
         good.state ok 3 three states, as save writes them\n",
    );
    for (name, error, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {error} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), manifest).expect("write manifest");
    eprintln!("wrote {} state files to {dir}", cases.len() + 1);
}
