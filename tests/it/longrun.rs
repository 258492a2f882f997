//! Steady memory under churn, reduced size: the `churn` example (the whole
//! pfsync pipeline with a 20,000-state bound, fed about 15 times as many
//! states as it may hold) run as its own process, so its counting allocator
//! sees only the pipeline and not the other tests of this binary.
//! `bench/run.sh --churn` runs the full size (1,000,000 states, minutes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// The example binary beside this test binary (`cargo test` builds the
/// examples); built on demand when only this test target was built.
fn churn_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/tests-HASH -> target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test binary under target/<profile>/deps");
    let bin = profile_dir.join("examples").join("churn");
    if !bin.exists() {
        let mut cmd = Command::new(option_env!("CARGO").unwrap_or("cargo"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "--example",
            "churn",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build --example churn");
        assert!(st.success(), "cargo build --example churn failed");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

#[test]
fn pipeline_memory_is_steady_under_churn_with_a_bounded_table() {
    let bound = 20_000u64;
    let phases = 24u64;
    let out = Command::new(churn_binary())
        .args([
            "--max-states",
            &bound.to_string(),
            "--phases",
            &phases.to_string(),
        ])
        .output()
        .expect("run churn");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "churn failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: BTreeMap<&str, i64> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("result ")?.split(' ');
            Some((w.next()?, w.next()?.parse().ok()?))
        })
        .collect();
    let get = |k: &str| *r.get(k).unwrap_or_else(|| panic!("no {k} in:\n{text}"));

    assert_eq!(get("churn_bound"), bound as i64);
    assert_eq!(get("churn_phases"), phases as i64);
    // Full, and never over.
    assert_eq!(get("churn_max_table_len"), bound as i64, "{text}");
    // Far more states passed through than the table holds, and the bound
    // forced many of them out.
    let inserted = get("churn_inserted");
    assert!(inserted > 10 * bound as i64, "{inserted} inserted");
    let evicted = get("churn_evicted");
    assert!(evicted > 3 * bound as i64, "{evicted} evicted");
    assert!(
        get("churn_flows") > inserted,
        "every state gives one or two flows"
    );
    // Steady: after warm-up (the first 8 phases) the live heap moved by
    // less than 256 KiB (about 5 % of the ~5 MB the pipeline holds) while
    // another ~130,000 states came and went.
    let base = get("churn_heap_baseline_bytes");
    assert!(
        (3_000_000..12_000_000).contains(&base),
        "heap after warm-up {base} bytes"
    );
    let growth = get("churn_heap_growth_bytes");
    assert!(growth <= 256 << 10, "heap grew {growth} bytes\n{text}");
    let rss_growth = get("churn_rss_growth_bytes");
    assert!(rss_growth <= 4 << 20, "RSS grew {rss_growth} bytes\n{text}");
}
