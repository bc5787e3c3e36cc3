//! The `tapline` binary as an operator meets it when something is wrong: the message on
//! stderr and the exit status (3: ran to its end but left something undone; 1: could not run).

mod common;

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

#[test]
fn version_names_the_commit_and_the_features() {
    let out = tapline().arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with(&format!("tapline {} (commit ", env!("CARGO_PKG_VERSION"))), "{v}");
    let features = if cfg!(feature = "live") { "live" } else { "none" };
    assert!(v.contains(&format!("features: {features})")), "{v}");
    assert!(!v.contains("commit unknown") || std::env::var("CI").is_err(), "CI builds from git: {v}");
}

#[test]
fn decode_of_a_pcap_says_it_is_a_pcap() {
    let out = tapline().arg("decode").arg(format!("{ROOT}/fixtures/demo.pcap")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this is a pcap capture, not a handover stream"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn decode_into_a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    assert_eq!(replay(Path::new(&format!("{ROOT}/fixtures/demo.pcap")), &out_dir).status.code(), Some(0));
    let mut child = tapline()
        .arg("decode")
        .arg(out_dir.join("dea-phoenix/hi3.ber"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe (as `| head -1` does).
    let mut first = [0u8; 64];
    use std::io::Read;
    let n = child.stdout.as_mut().unwrap().read(&mut first).unwrap();
    assert!(n > 0);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {err}", out.status);
    assert!(err.is_empty(), "nothing on stderr: {err}");
}

#[test]
fn renamed_flags_keep_their_old_names_hidden() {
    let help = tapline().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--metrics-listen <HOST:PORT>") && help.contains("--api-listen <HOST:PORT>"), "{help}");
    assert!(!help.contains("--metrics <") && !help.contains("--api <"), "old names hidden: {help}");
    // The old names still parse (an error about the missing capture, not about the flag).
    let old = tapline()
        .args(["run", "--warrants", "w", "--spool", "s", "--cert", "c", "--key", "k", "--metrics", "127.0.0.1:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(!err.contains("unexpected argument"), "{err}");
}

#[test]
fn man_pages_and_completions_are_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline().arg("man").arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for page in ["tapline.1", "tapline-run.1", "tapline-warrant-check.1", "tapline-lemf.1"] {
        let text = fs::read_to_string(tmp.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is a man page");
    }
    assert!(!tmp.path().join("tapline-man.1").exists(), "hidden subcommands get no page");
    let bash = tapline().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success());
    assert!(String::from_utf8_lossy(&bash.stdout).contains("--metrics-listen"));
}

#[test]
fn lemf_says_where_it_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    assert!(tapline().args(["certs", "--out"]).arg(&pki).output().unwrap().status.success());
    let child = common::lemf::command(&pki.join("fbi-denver.pem"), &pki.join("fbi-denver.key"), &pki.join("ca.pem"), &tmp.path().join("lemf"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listening") && err.contains("127.0.0.1:"), "{err}");
}
