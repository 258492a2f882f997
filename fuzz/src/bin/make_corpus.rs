//! Writes the seed corpus of every fuzz target from the capture generator:
//! frames of every dialect, packets on every carrier, a state file.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_corpus` (from the
//! repository root; scripts/fuzz runs it).

use stateflowd::pfsync::carrier::LinkType;
use stateflowd::state::{StateTable, TableConfig, persist};
use stateflowd::testgen::{self, GenConfig};
use std::fs;
use std::path::Path;

fn main() {
    let root = Path::new("fuzz/corpus");
    for t in ["pfsync_frame", "carrier", "state_table", "state_file"] {
        fs::create_dir_all(root.join(t)).unwrap();
    }
    let links = [0u32, 1, 18, 101, 108, 113, 121, 228, 246, 276];
    let mut tab = StateTable::new(TableConfig::default());
    let mut done = Vec::new();
    for (k, (name, _)) in testgen::DIALECTS.iter().enumerate().take(8) {
        for full_delete in [false, true] {
            let cap = testgen::generate(&GenConfig {
                seed: 100 + k as u64,
                states: 12,
                encoding: testgen::encoding_by_name(name).unwrap(),
                full_delete,
                ..Default::default()
            });
            // a handful of frames per dialect: first, middle, last
            let n = cap.frames.len();
            for (j, i) in [0, n / 2, n.saturating_sub(1)].into_iter().enumerate() {
                let Some((t, f)) = cap.frames.get(i) else {
                    continue;
                };
                let tag = format!("{name}-{}-{j}", u8::from(full_delete));
                fs::write(root.join("pfsync_frame").join(&tag), f).unwrap();
                let li = (k + j) % links.len();
                let mut pkt = vec![li as u8];
                pkt.extend_from_slice(&testgen::wrap(LinkType(links[li]), f, [192, 0, 2, 1]));
                fs::write(root.join("carrier").join(&tag), pkt).unwrap();
                if let Ok(fr) = stateflowd::pfsync::parse_frame(f) {
                    let msgs: Vec<_> = fr.messages().flatten().collect();
                    tab.apply_all(&msgs, *t, &mut done);
                }
            }
        }
    }
    let p = root.join("state_file").join("generated");
    persist::save(&tab, &p).unwrap();
    // state_table: (max, then op/id pairs)
    fs::write(
        root.join("state_table").join("lifecycle"),
        [
            4u8, 0, 1, 0, 2, 2, 1, 0, 3, 5, 1, 1, 1, 5, 129, 3, 1, 4, 2, 6, 0, 0, 5,
        ],
    )
    .unwrap();
    eprintln!("corpus written under {}", root.display());
}
