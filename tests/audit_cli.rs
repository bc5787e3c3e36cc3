//! `tapline audit verify|show` on a real log: intact, then with an entry edited or removed.

use std::process::Command;

use tapline::audit::{AuditLog, Event, ProvisioningAct, LOG_FILE};

fn act(action: &str, liid: &str) -> Event {
    Event::Provisioning(ProvisioningAct {
        who: "CN=provisioner".into(),
        action: action.into(),
        liid: Some(liid.into()),
        client: "127.0.0.1:5000".into(),
        detail: None,
    })
}

fn tapline(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tapline")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn verify_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = AuditLog::open(dir.path()).unwrap();
    for (action, liid) in [("create", "A-1"), ("create", "B-1"), ("amend", "A-1"), ("revoke", "B-1")] {
        log.append(act(action, liid)).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let (ok, out, _) = tapline(&["audit", "verify", d]);
    assert!(ok);
    assert!(out.starts_with("ok: 4 entries"), "{out}");

    let (ok, out, _) = tapline(&["audit", "show", "--liid", "A-1", "--dir", d]);
    assert!(ok);
    assert_eq!(out.matches("\"liid\": \"A-1\"").count(), 2, "{out}");
    assert!(out.contains("\"action\": \"amend\""));
    assert!(!out.contains("B-1"));
    let (ok, _, err) = tapline(&["audit", "show", "--liid", "C-9", "--dir", d]);
    assert!(!ok);
    assert!(err.contains("no audit entry"), "{err}");

    let path = dir.path().join(LOG_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("amend", "ament", 1)).unwrap();
    let (ok, _, err) = tapline(&["audit", "verify", d]);
    assert!(!ok);
    assert!(err.contains("entry 3: altered"), "{err}");

    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3])).unwrap();
    let (ok, _, err) = tapline(&["audit", "verify", d]);
    assert!(!ok);
    assert!(err.contains("entry 2: out of place"), "{err}");
}
