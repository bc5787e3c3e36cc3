//! A directory given where a capture (or a handover stream) belongs is named as such, with
//! exit status 1, by every command that reads one: `replay` (tests/cli_ops.rs), `run --pcap`
//! and `decode`.

use std::process::Command;

fn tapline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.env_remove("RUST_LOG").env_remove("TAPLINE_LOG_FORMAT");
    c
}

#[test]
fn run_with_a_directory_as_pcap_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline()
        .args(["run", "--warrants", concat!(env!("CARGO_MANIFEST_DIR"), "/warrants"), "--pcap"])
        .arg(tmp.path())
        .arg("--spool")
        .arg(tmp.path().join("spool"))
        .args(["--cert", "unused.pem", "--key", "unused.key"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a directory, not a capture file"), "{err}");
    assert!(!tmp.path().join("spool").exists(), "refused before anything was started");
}

#[test]
fn decode_of_a_directory_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline().arg("decode").arg(tmp.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is a directory; give a handover stream file"), "{err}");
}
