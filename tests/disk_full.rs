//! A spool whose file system fills up (a small tmpfs mounted by the test; needs root, as CI
//! runs): `tapline run` raises the alarm (log, SPOOL/metrics.json), holds the replay instead
//! of failing, still writes its audit trail (headroom), resumes by itself when space is
//! freed, exits 0, and every agency ends with exactly what replay writes.

mod delivery_support;
#[path = "chaos/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::*;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None (after printing why) when this process may not mount.
    fn mount(at: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mounted = root
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
                .arg("tmpfs")
                .arg(at)
                .status()
                .is_ok_and(|s| s.success());
        if mounted {
            return Some(Tmpfs(at.to_owned()));
        }
        assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to mount a tmpfs");
        eprintln!("SKIP: disk-full test needs root to mount a tmpfs (run as root, as CI does)");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn available(p: &Path) -> u64 {
    tapline::delivery::space::space_of(p).unwrap().available
}

/// Fills the file system of `dir` until `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let want = available(dir).saturating_sub(leave);
    std::fs::write(&filler, vec![0xa5u8; want as usize]).unwrap();
    filler
}

#[test]
fn a_full_disk_holds_the_replay_with_an_alarm_and_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("fs"), 8 << 20) else { return };
    let spool = fs.0.join("spool");
    let w = World::new(dir.path(), demo_pcap(), spool.clone());
    // 1 MiB of headroom on 8 MiB; leave 160 KiB above it: the demo's ~340 KB of records
    // fill it part way through the replay.
    let filler = fill(&fs.0, (1 << 20) + (160 << 10));
    let log = dir.path().join("run.log");
    let mut run = w.appliance(Some(4000), &log);
    let alarm = wait_until(Duration::from_secs(60), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("ALARM spool disk full"))
    });
    assert!(alarm, "alarm logged at the default level:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let metrics = spool.join("metrics.json");
    let flagged = wait_until(Duration::from_secs(15), || {
        std::fs::read(&metrics)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.as_array().is_some_and(|a| a.iter().any(|i| i["disk_full"] == true && i["disk_full_alarms"].as_u64() >= Some(1))))
    });
    assert!(flagged, "SPOOL/metrics.json shows the disk-full alarm");
    std::thread::sleep(Duration::from_secs(1));
    assert!(run.try_wait().unwrap().is_none(), "the run holds instead of exiting");

    // The headroom is left for the audit trail: a warrant added while held is audited.
    let extra = std::fs::read_to_string(w.warrants.join("DEN-2026-0042.toml"))
        .unwrap()
        .replace("DEN-2026-0042", "DEN-2026-0099")
        .replace("+13035550142", "+13035550999");
    std::fs::write(w.warrants.join("DEN-2026-0099.toml"), extra).unwrap();
    let audited = wait_until(Duration::from_secs(15), || {
        tapline::audit::entries_of_liid(&spool.join("audit"), "DEN-2026-0099").is_ok_and(|e| !e.is_empty())
    });
    assert!(audited, "the audit trail is still written on the full disk");
    assert!(run.try_wait().unwrap().is_none(), "still holding");

    std::fs::remove_file(&filler).unwrap();
    let done = wait_until(Duration::from_secs(120), || run.try_wait().unwrap().is_some());
    assert!(done, "the run resumed and finished once space returned");
    let status = run.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "a full disk is no failure of the run: {status}\n{text}");
    assert!(text.contains("pipeline resumes"), "resumption logged");
    std::fs::remove_file(w.warrants.join("DEN-2026-0099.toml")).unwrap();
    w.assert_delivered_as_replayed(1);
    assert!(tapline::audit::verify_dir(&spool.join("audit")).unwrap().is_ok(), "audit chain intact");
}
