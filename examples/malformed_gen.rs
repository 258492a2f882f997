//! Writes the hostile-input corpus in `testdata/malformed/`: pfsync frames
//! that are wrong in one way each, and the statistics counter each must
//! raise (listed in `testdata/malformed/MANIFEST`).
//!
//! ```text
//! cargo run --example malformed_gen -- testdata/malformed
//! ```

use std::fmt::Write as _;

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
    let mut manifest = String::from(
        "# file counter description\n# Each frame must raise the named decode-error counter by one and nothing else.\n",
    );
    for (name, counter, what, bytes) in &cases {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("write");
        let _ = writeln!(manifest, "{name} {counter} {what}");
    }
    std::fs::write(format!("{dir}/MANIFEST"), manifest).expect("write manifest");
    eprintln!("wrote {} cases to {dir}", cases.len());
}
