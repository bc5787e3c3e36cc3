//! tshark as an independent check: whether it is installed (a test skips with a message
//! when not, and fails under `CI=true`), and per-frame fields.

use std::path::Path;
use std::process::Command;

/// True when tshark runs; otherwise prints SKIP (panics under CI).
pub fn available() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "tshark required under CI=true but not installed");
    eprintln!("SKIP: tshark not installed (apt-get install tshark)");
    false
}

/// One row per frame matching `filter`: the fields asked for.
pub fn fields(capture: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(capture).args(["-Y", filter, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]);
    for field in fields {
        cmd.args(["-e", field]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('|').map(str::to_owned).collect()).collect()
}

/// The output of `tshark -q -z STAT`, or None when this tshark has no such statistic.
pub fn statistic(capture: &Path, stat: &str) -> Option<String> {
    let out = Command::new("tshark").args(["-n", "-q", "-z", stat, "-r"]).arg(capture).output().expect("tshark runs");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
