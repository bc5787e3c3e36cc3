//! `tapline demo --scale-out`: the bundled demo through three points of interception and
//! one mediation function over mutual TLS on loopback gives the agencies' reference LEMFs
//! exactly what the single-box `tapline demo` gives them, and reports each POI's counts.

mod delivery_support;

use std::process::Command;

use delivery_support::{records_per_liid, AGENCIES};

/// `tapline demo [ARGS] --out DIR`: its stdout, after checking it exits 0.
fn demo(args: &[&str], out: &std::path::Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tapline"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("demo")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("tapline demo runs");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "tapline demo {args:?}: {stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    stdout
}

/// The report's lines of what the LEMFs received, output paths left out.
fn received(report: &str) -> Vec<String> {
    report
        .lines()
        .skip_while(|l| !l.starts_with("received by the reference LEMFs"))
        .take_while(|l| !l.starts_with("points of interception"))
        .filter(|l| !l.contains("records.jsonl"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_scaled_out_demo_delivers_what_the_single_box_demo_delivers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (single, scaled) = (tmp.path().join("single"), tmp.path().join("scaled"));
    let one = demo(&[], &single);
    let three = demo(&["--scale-out"], &scaled);
    assert_eq!(received(&three), received(&one), "{three}");
    assert!(received(&one).len() > 1, "{one}");
    for agency in AGENCIES {
        let want = records_per_liid(&single.join(agency));
        assert!(!want.is_empty(), "{agency} gets records from the single box");
        assert_eq!(records_per_liid(&scaled.join(agency)), want, "{agency}: the same records per LIID");
    }
    let pois: Vec<&str> = three.lines().filter(|l| l.trim_start().starts_with("poi-")).collect();
    assert_eq!(pois.len(), 3, "{three}");
    assert!(pois.iter().all(|l| l.ends_with("unconfirmed 0")), "{three}");
    let x3: Vec<u64> = pois
        .iter()
        .map(|l| l.split("X3").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()).expect("X3 count"))
        .collect();
    assert!(x3.iter().sum::<u64>() > 0, "content crosses X3: {three}");
    assert!(three.contains("resends dropped 0"), "{three}");
}
