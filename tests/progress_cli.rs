//! Progress of long work as an operator sees it: on a terminal a redrawn status line
//! (packets, percent, rate, ETA); when stderr is not a terminal no progress escape codes at
//! all; in both cases one end line with the elapsed time and throughput.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn tapline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tapline"));
    c.env_remove("RUST_LOG").env_remove("TAPLINE_LOG_FORMAT");
    c
}

/// The end line: `tapline: WHAT: N packets in M:SS.s (R packets/s)`.
fn has_end_line(err: &str, what: &str, packets: u64) -> bool {
    err.lines().any(|l| {
        l.starts_with(&format!("tapline: {what}: {packets} packets in ")) && l.ends_with(" packets/s)")
    })
}

#[test]
fn replay_and_gen_without_a_terminal_print_only_the_end_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline()
        .arg("replay")
        .arg(format!("{ROOT}/fixtures/demo.pcap"))
        .args(["--warrants", &format!("{ROOT}/warrants"), "--out"])
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "no progress drawing when not a terminal: {err:?}");
    assert!(has_end_line(&err, "replay", 1647), "{err}");

    let pcap = tmp.path().join("gen.pcap");
    let out = tapline().args(["gen", "--calls", "20", "--out"]).arg(&pcap).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let frames: u64 = stdout.split(" frames").next().and_then(|s| s.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert!(has_end_line(&err, "gen", frames), "{err}");
}

/// `script` (util-linux) runs the command on a pseudo-terminal.
fn on_a_terminal(command: &str) -> Option<String> {
    let probe = Command::new("script").arg("--version").output();
    if probe.is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "`script` (util-linux) is needed under CI");
        eprintln!("skipped: `script` (util-linux) not installed");
        return None;
    }
    let out = Command::new("script").args(["-qec", command, "/dev/null"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn replay_on_a_terminal_draws_the_status_line_then_the_end_line() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_tapline");
    let out = tmp.path().join("out");
    let command = format!(
        "env -u RUST_LOG {bin} replay {ROOT}/fixtures/demo.pcap --warrants {ROOT}/warrants --out {} >/dev/null",
        out.display()
    );
    let Some(screen) = on_a_terminal(&command) else { return };
    assert!(screen.contains("\r\u{1b}[2Kreplay: "), "status line drawn: {screen:?}");
    assert!(screen.contains(" packets  ") && screen.contains(" %"), "packets and percent: {screen:?}");
    assert!(has_end_line(&screen.replace("\r\n", "\n").replace("\r\u{1b}[2K", "\n"), "replay", 1647), "{screen:?}");
    assert!(Path::new(&out).join("summary.json").exists());
}
