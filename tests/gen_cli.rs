//! `tapline gen` with `--warrants`: the capture and its warrant set, checked and replayed by
//! the same binary.

use std::process::Command;

fn tapline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tapline"))
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gen_writes_a_warrant_set_that_checks_and_replays() {
    let tmp = tempfile::tempdir().unwrap();
    let (pcap, warrants, out) = (
        tmp.path().join("gen.pcap"),
        tmp.path().join("w"),
        tmp.path().join("out"),
    );
    let printed = stdout_of(
        tapline()
            .args([
                "gen",
                "--calls",
                "80",
                "--concurrent",
                "10",
                "--seed",
                "3",
                "--target-share",
                "25",
                "--out",
            ])
            .arg(&pcap)
            .arg("--warrants")
            .arg(&warrants),
    );
    assert!(printed.contains(": 80 calls, "), "{printed}");
    assert!(
        printed.contains("8 warrants; 20 of 80 calls targeted (25 %)"),
        "{printed}"
    );
    for kind in ["pen-register", "trap-and-trace", "pen-trap", "title-iii"] {
        assert!(
            printed.contains(&format!("  {kind:<15}     2 warrants        5 calls")),
            "{printed}"
        );
    }
    let dialogs: u64 = printed
        .split(" dialogs to intercept")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    stdout_of(tapline().args(["warrant", "check"]).arg(&warrants));
    stdout_of(
        tapline()
            .arg("replay")
            .arg(&pcap)
            .arg("--warrants")
            .arg(&warrants)
            .arg("--out")
            .arg(&out),
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["calls_intercepted"], dialogs);
    assert_eq!(summary["warrants_refused"], 0);
    assert_eq!(summary["warrants_loaded"], 8);
}

#[test]
fn gen_refuses_a_share_above_100() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tapline()
        .args(["gen", "--calls", "1", "--target-share", "101", "--out"])
        .arg(tmp.path().join("x.pcap"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}
