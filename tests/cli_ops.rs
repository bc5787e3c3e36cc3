//! The `tapline` binary as an operator meets it when something is wrong: the message on
//! stderr and the exit status (3: ran to its end but left something undone; 1: could not run).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn tapline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.env_remove("RUST_LOG").env_remove("TAPLINE_LOG_FORMAT");
    c
}

fn replay(capture: &Path, out: &Path) -> std::process::Output {
    tapline()
        .arg("replay")
        .arg(capture)
        .args(["--warrants", &format!("{ROOT}/warrants"), "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_directory_given_as_capture_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = replay(tmp.path(), &tmp.path().join("out"));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a directory, not a capture file"), "{err}");
}

#[test]
fn a_truncated_capture_is_reported_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.pcap");
    fs::write(&cut, &fs::read(format!("{ROOT}/fixtures/demo.pcap")).unwrap()[..5000]).unwrap();
    let out = replay(&cut, &tmp.path().join("out"));
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tapline: capture incomplete") && err.contains("truncated record"), "{err}");
    assert!(err.contains("cut.pcap"), "{err}");
    // What could be read was still handled and written.
    assert!(tmp.path().join("out/summary.json").exists());
}

#[test]
fn an_unsupported_link_type_is_named_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = fs::read(format!("{ROOT}/fixtures/demo.pcap")).unwrap();
    // Classic pcap header: the link type is the last 4 bytes of the 24-byte header.
    bytes[20..24].copy_from_slice(&105u32.to_le_bytes());
    let wifi = tmp.path().join("wifi.pcap");
    fs::write(&wifi, bytes).unwrap();
    let out = replay(&wifi, &tmp.path().join("out"));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported link type 105 (LINKTYPE_IEEE802_11"), "{err}");
    assert!(err.contains("1647 of 1647 frames skipped"), "{err}");
}

#[test]
fn a_clean_replay_exits_0_and_logs_nothing_alarming() {
    let tmp = tempfile::tempdir().unwrap();
    let out = replay(Path::new(&format!("{ROOT}/fixtures/demo.pcap")), &tmp.path().join("out"));
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("WARN") && !err.contains("ERROR"), "{err}");
}

/// A development PKI and the bundled warrants pointing at loopback ports nobody listens on.
fn unreachable_agencies(dir: &Path) -> (PathBuf, PathBuf) {
    let pki = dir.join("pki");
    let certs = tapline().args(["certs", "--out"]).arg(&pki).output().unwrap();
    assert!(certs.status.success());
    let w = dir.join("warrants");
    fs::create_dir_all(&w).unwrap();
    for name in ["DEN-2026-0042.toml", "PHX-2026-T3-0007.toml"] {
        fs::copy(format!("{ROOT}/warrants/{name}"), w.join(name)).unwrap();
    }
    let closed = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut toml =
        String::from("[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n");
    for id in ["fbi-denver", "dea-phoenix"] {
        toml += &format!(
            "\n[[agency]]\nid = \"{id}\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://{}\"\nhi3 = \"tls://{}\"\nca = \"{}\"\n",
            closed(),
            closed(),
            pki.join("ca.pem").display()
        );
    }
    fs::write(w.join("agencies.toml"), toml).unwrap();
    (w, pki)
}

#[test]
fn run_with_no_agency_reachable_says_so_at_default_level_and_exits_3() {
    let tmp = tempfile::tempdir().unwrap();
    let (warrants, pki) = unreachable_agencies(tmp.path());
    let child = tapline()
        .arg("run")
        .arg("--warrants")
        .arg(&warrants)
        .args(["--pcap", &format!("{ROOT}/fixtures/demo.pcap"), "--rate", "400", "--drain-secs", "1", "--spool"])
        .arg(tmp.path().join("spool"))
        .arg("--cert")
        .arg(pki.join("appliance.pem"))
        .arg("--key")
        .arg(pki.join("appliance.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A malformed warrant dropped into the running store is refused with a line naming it.
    std::thread::sleep(Duration::from_millis(1500));
    let bad = fs::read_to_string(format!("{ROOT}/warrants/DEN-2026-0042.toml"))
        .unwrap()
        .replace("DEN-2026-0042", "DEN-BAD-1")
        .replace("pen-register", "wiretap");
    fs::write(warrants.join("bad-kind.toml"), bad).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains('\u{1b}'), "no ANSI colour when stderr is not a terminal: {err}");
    assert!(err.contains("INFO") && err.contains("warrants loaded"), "{err}");
    assert!(err.contains("WARN") && err.contains("cannot deliver"), "{err}");
    assert!(err.contains("bad-kind.toml") && err.contains("kind"), "{err}");
    assert!(err.contains("left undelivered in") && err.contains("agency dea-phoenix (hi3)"), "{err}");
    assert!(!err.contains("3035550142") && !err.contains("6025550"), "no targets in logs: {err}");
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (warrants, pki) = unreachable_agencies(tmp.path());
    let out = tapline()
        .args(["--log-format", "json", "run", "--warrants"])
        .arg(&warrants)
        .args(["--pcap", &format!("{ROOT}/fixtures/demo.pcap"), "--drain-secs", "1", "--spool"])
        .arg(tmp.path().join("spool"))
        .arg("--cert")
        .arg(pki.join("appliance.pem"))
        .arg("--key")
        .arg(pki.join("appliance.key"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let logs: Vec<serde_json::Value> =
        err.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("JSON log line")).collect();
    assert!(logs.iter().any(|l| l["level"] == "INFO" && l["fields"]["message"] == "warrants loaded"), "{err}");
    assert!(logs.iter().any(|l| l["level"] == "WARN" && l["fields"]["message"] == "cannot deliver"), "{err}");
    // Only the final verdict lines are not JSON.
    assert!(err.lines().all(|l| l.starts_with('{') || l.starts_with("tapline: ")), "{err}");
}
