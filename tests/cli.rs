//! The `tapline` binary as an operator runs it: `warrant check`, `replay`, `decode`.

use std::fs;
use std::process::Command;

fn tapline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tapline"))
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn warrant_check_accepts_the_bundled_warrants() {
    let out = tapline().args(["warrant", "check", &format!("{ROOT}/warrants")]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn warrant_check_names_file_key_and_reason_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(format!("{ROOT}/warrants/agencies.toml"), tmp.path().join("agencies.toml")).unwrap();
    let good = fs::read_to_string(format!("{ROOT}/warrants/DEN-2026-0042.toml")).unwrap();
    fs::write(tmp.path().join("good.toml"), &good).unwrap();
    fs::write(tmp.path().join("bad-kind.toml"), good.replace("DEN-2026-0042", "X-1").replace("pen-register", "wiretap")).unwrap();
    fs::write(tmp.path().join("bad-agency.toml"), good.replace("DEN-2026-0042", "X-2").replace("fbi-denver", "nsa")).unwrap();
    let out = tapline().args(["warrant", "check"]).arg(tmp.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-kind.toml") && err.contains("kind"), "{err}");
    assert!(err.contains("bad-agency.toml") && err.contains("agency"), "{err}");
    assert!(!err.contains("good.toml"), "{err}");
    assert!(!err.contains("3035550142"), "targets never appear in errors: {err}");
}

#[test]
fn replay_writes_streams_and_summary_and_decode_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = tapline()
        .args(["replay", &format!("{ROOT}/fixtures/demo.pcap"), "--warrants", &format!("{ROOT}/warrants"), "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("DEN-2026-0042") && stdout.contains("PHX-2026-T3-0007"), "{stdout}");
    assert!(!stdout.contains("3035550142"), "targets never appear in reports: {stdout}");
    let summary: serde_json::Value = serde_json::from_slice(&fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["packets_read"], 1647);
    assert_eq!(summary["calls_seen"], 4);
    assert_eq!(summary["liids"]["DEN-2026-0042"]["cc_records"], 0);
    assert!(summary["liids"]["PHX-2026-T3-0007"]["cc_records"].as_u64().unwrap() > 1000);
    assert!(!fs::read_to_string(out_dir.join("summary.json")).unwrap().contains("3035550142"));
    assert!(!out_dir.join("fbi-denver/hi3.ber").exists(), "a pen register gets no content stream");

    let dec = tapline().arg("decode").arg(out_dir.join("fbi-denver/hi2.ber")).output().unwrap();
    assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&dec.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len() as u64, summary["liids"]["DEN-2026-0042"]["iri_records"].as_u64().unwrap());
    assert!(lines[0].to_string().contains("DEN-2026-0042"));
}

#[test]
fn decode_reports_a_truncated_stream_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("cut.ber");
    fs::write(&f, [0x30, 0x82, 0x01, 0x00, 0xa1]).unwrap();
    let out = tapline().arg("decode").arg(&f).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cut.ber"));
}

#[test]
fn replay_of_a_missing_capture_fails_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline()
        .args(["replay", "/nonexistent/x.pcap", "--warrants", &format!("{ROOT}/warrants"), "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pcap"));
}
