//! The replay summary of a large warrant set as an operator reads it: the per-LIID table is
//! the top LIIDs by records plus a totals line unless `--verbose`, and `summary.json`'s
//! latencies carry their unit in every key.

use std::path::Path;
use std::process::{Command, Output};

fn tapline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.env_remove("RUST_LOG").env_remove("TAPLINE_LOG_FORMAT");
    c
}

/// 120 calls, half of them under one of 20 generated warrants.
fn many_warrants(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (pcap, warrants) = (dir.join("gen.pcap"), dir.join("warrants"));
    let out = tapline()
        .args(["gen", "--calls", "120", "--concurrent", "20", "--target-share", "50", "--out"])
        .arg(&pcap)
        .arg("--warrants")
        .arg(&warrants)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (pcap, warrants)
}

fn replay(pcap: &Path, warrants: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = tapline().arg("replay").arg(pcap).arg("--warrants").arg(warrants).arg("--out").arg(out).args(extra).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The LIID rows of the report's per-LIID table.
fn liid_rows(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .skip_while(|l| !l.starts_with("records per LIID"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_large_warrant_set_is_summarised_unless_verbose() {
    let tmp = tempfile::tempdir().unwrap();
    let (pcap, warrants) = many_warrants(tmp.path());
    let liids = std::fs::read_dir(&warrants).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "agencies.toml").count();
    assert_eq!(liids, 20);

    let rows = liid_rows(&replay(&pcap, &warrants, &tmp.path().join("a"), &[]).stdout);
    assert_eq!(rows.len(), 10 + 3, "top 10, the rest, the total, the hint: {rows:#?}");
    assert!(rows[10].starts_with("  … and 10 more LIIDs"), "{rows:#?}");
    assert!(rows[11].starts_with("  total of 20 LIIDs"), "{rows:#?}");
    let records = |row: &str| -> u64 {
        let n = |key: &str| row.split(key).nth(1).and_then(|s| s.split_whitespace().next()).unwrap().parse::<u64>().unwrap();
        n(" IRI ") + n(" CC ")
    };
    assert!(rows[..10].windows(2).all(|w| records(&w[0]) >= records(&w[1])), "most records first: {rows:#?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("a/summary.json")).unwrap()).unwrap();
    let all: u64 = summary["liids"].as_object().unwrap().values().map(|c| c["iri_records"].as_u64().unwrap() + c["cc_records"].as_u64().unwrap()).sum();
    assert_eq!(records(&rows[11]), all, "the total line totals every LIID");
    assert_eq!(records(&rows[10]) + rows[..10].iter().map(|r| records(r)).sum::<u64>(), all);

    let rows = liid_rows(&replay(&pcap, &warrants, &tmp.path().join("b"), &["--verbose"]).stdout);
    assert_eq!(rows.len(), 20, "--verbose lists every LIID: {rows:#?}");
    assert!(!rows.iter().any(|r| r.contains("more LIIDs")));
}

#[test]
fn summary_json_latencies_name_their_unit() {
    let tmp = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tmp.path().join("out");
    replay(Path::new(&format!("{root}/fixtures/demo.pcap")), Path::new(&format!("{root}/warrants")), &out, &[]);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let latency = summary["latency"].as_object().unwrap();
    assert!(!latency.is_empty());
    for (stage, p) in latency {
        let Some(p) = p.as_object() else { continue };
        let mut keys: Vec<&str> = p.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["count", "max_us", "p50_us", "p999_us", "p99_us", "sum_us"], "{stage}");
        assert!(p["p50_us"].as_f64().unwrap() <= p["max_us"].as_f64().unwrap(), "{stage}: {p:?}");
    }
    assert!(latency.values().any(|p| p.is_object()), "{latency:?}");
}
