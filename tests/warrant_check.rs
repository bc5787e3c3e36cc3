//! `warrant check` and store loading on real files: one valid warrant and one file per kind
//! of error in a temporary store, plus the shipped `warrants/` demo store.

use std::fs;
use std::path::{Path, PathBuf};

use tapline::warrant::{check_paths, OrderKind, Store, WarrantError, WarrantTable};
use tapline::Timestamp;

const AGENCIES: &str = r#"
[appliance]
operator_id = "EXAMPLE-TEL"
network_element_id = "MED-01"
country = "US"

[[agency]]
id = "fbi-denver"
country = "US"
profile = "etsi"
hi2 = "tls://127.0.0.1:6100"
hi3 = "tls://127.0.0.1:6101"
"#;

const VALID: &str = r#"
liid = "DEN-2026-0042"
kind = "pen-register"
agency = "fbi-denver"
targets = ["tel:+13035550142", "sip:alice@example.net"]
valid_from = 2026-11-01T00:00:00Z
valid_until = 2027-01-30T00:00:00Z
court_order = "1:26-mj-00042"
issuing_authority = "Hon. Jane Doe, D. Colo."
"#;

/// `VALID` under LIID `liid`, with the `key = …` line replaced by `line` (removed if empty,
/// appended if absent).
fn variant(liid: &str, key: &str, line: &str) -> String {
    let prefix = format!("{key} =");
    let mut lines: Vec<String> = VALID
        .replace("\"DEN-2026-0042\"", &format!("\"{liid}\""))
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    if !line.is_empty() {
        lines.push(line.to_owned());
    }
    lines.join("\n") + "\n"
}

/// Each bad file: name, contents, the key reported, a substring of the reason.
fn bad_files() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        (
            "b-kind.toml",
            variant("T-b-kind", "kind", "kind = \"wiretap\""),
            "kind",
            "unknown kind",
        ),
        (
            "c-liid-long.toml",
            variant(
                "T-c-liid-long",
                "liid",
                "liid = \"ABCDEFGHIJKLMNOPQRSTUVWXYZ\"",
            ),
            "liid",
            "at most 25",
        ),
        (
            "d-liid-empty.toml",
            variant("T-d-liid-empty", "liid", "liid = \"\""),
            "liid",
            "LIID is empty",
        ),
        (
            "e-liid-space.toml",
            variant("T-e-liid-space", "liid", "liid = \"DEN 42\""),
            "liid",
            "not visible ASCII",
        ),
        // Same LIID as a-valid.toml, which sorts first.
        (
            "f-duplicate.toml",
            VALID.to_owned(),
            "liid",
            "already used by",
        ),
        (
            "g-agency.toml",
            variant("T-g-agency", "agency", "agency = \"cia\""),
            "agency",
            "unknown agency `cia`",
        ),
        (
            "h-window.toml",
            variant(
                "T-h-window",
                "valid_until",
                "valid_until = 2026-10-01T00:00:00Z",
            ),
            "valid_until",
            "must be after valid_from",
        ),
        (
            "i-date.toml",
            variant("T-i-date", "valid_from", "valid_from = 2026-11-01"),
            "valid_from",
            "not a full offset datetime",
        ),
        (
            "j-target.toml",
            variant(
                "T-j-target",
                "targets",
                "targets = [\"mailto:x@example.net\"]",
            ),
            "targets",
            "entry 1: not a tel:",
        ),
        (
            "k-no-targets.toml",
            variant("T-k-no-targets", "targets", "targets = []"),
            "targets",
            "at least one target",
        ),
        (
            "l-unknown-key.toml",
            variant("T-l-unknown-key", "judge", "judge = \"Doe\""),
            "judge",
            "unknown key",
        ),
        (
            "m-missing.toml",
            variant("T-m-missing", "issuing_authority", ""),
            "issuing_authority",
            "missing required key",
        ),
        (
            "n-type.toml",
            variant("T-n-type", "targets", "targets = \"tel:+13035550142\""),
            "targets",
            "wrong type: expected an array, found a string",
        ),
    ]
}

fn write_store(dir: &Path) {
    fs::write(dir.join("agencies.toml"), AGENCIES).unwrap();
    fs::write(dir.join("a-valid.toml"), VALID).unwrap();
    for (name, text, _, _) in bad_files() {
        fs::write(dir.join(name), text).unwrap();
    }
    fs::write(
        dir.join("o-syntax.toml"),
        "liid = \"X\"\nkind = pen-register\n",
    )
    .unwrap();
    // Not warrant files: ignored.
    fs::write(dir.join("notes.txt"), "liid = 1").unwrap();
    fs::write(dir.join(".draft.toml"), "liid = 1").unwrap();
}

fn find<'e>(errors: &'e [WarrantError], file: &str) -> Vec<&'e WarrantError> {
    errors
        .iter()
        .filter(|e| e.file.file_name().is_some_and(|n| n == file))
        .collect()
}

#[test]
fn check_reports_every_bad_file_with_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let errors = check_paths(&[dir.path().to_path_buf()]);
    let bad = bad_files();
    assert_eq!(errors.len(), bad.len() + 1, "{errors:#?}");
    let syntax = find(&errors, "o-syntax.toml");
    assert_eq!(syntax.len(), 1, "{errors:#?}");
    assert_eq!(syntax[0].key, None);
    assert!(
        syntax[0]
            .reason
            .starts_with("TOML syntax error at line 2, column 8"),
        "{}",
        syntax[0]
    );
    assert!(find(&errors, "a-valid.toml").is_empty());
    for (name, _, key, reason) in bad {
        let found = find(&errors, name);
        assert_eq!(found.len(), 1, "{name}: {errors:#?}");
        let e = found[0];
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.reason.contains(reason), "{name}: {e}");
        let shown = e.to_string();
        assert!(
            shown.contains(name) && shown.contains(&format!("key `{key}`")),
            "{shown}"
        );
        assert!(!shown.contains("3035550142"), "target leaked: {shown}");
    }
    let duplicate = find(&errors, "f-duplicate.toml")[0];
    assert!(duplicate.reason.contains("a-valid.toml"), "{duplicate}");
}

#[test]
fn check_single_files_uses_agencies_beside_them() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let errors = check_paths(&[
        dir.path().join("a-valid.toml"),
        dir.path().join("g-agency.toml"),
    ]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].key.as_deref(), Some("agency"));
    // The same file named twice is checked once (no self-duplicate LIID).
    let valid = dir.path().join("a-valid.toml");
    assert!(check_paths(&[valid.clone(), valid, dir.path().join("agencies.toml")]).is_empty());
}

#[test]
fn check_reports_missing_paths_and_agencies() {
    let dir = tempfile::tempdir().unwrap();
    let warrant = dir.path().join("w.toml");
    fs::write(&warrant, variant("W-1", "agency", "agency = \"cia\"")).unwrap();
    let missing = dir.path().join("nope.toml");
    let errors = check_paths(&[warrant, missing.clone()]);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert_eq!(errors[0].file, missing);
    assert!(errors[0].reason.contains("no such file"));
    // agencies.toml is missing: reported, and the agency check is skipped.
    assert_eq!(errors[1].file, dir.path().join("agencies.toml"));
    assert!(errors[1].reason.starts_with("cannot read"), "{}", errors[1]);
}

#[test]
fn load_dir_keeps_the_valid_warrants() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    fs::write(
        dir.path().join("z-second.toml"),
        variant("DEN-2026-0043", "", ""),
    )
    .unwrap();
    let (store, errors) = Store::load_dir(dir.path()).unwrap();
    assert_eq!(errors.len(), bad_files().len() + 1);
    let liids: Vec<_> = store.warrants.iter().map(|w| w.liid.as_str()).collect();
    assert_eq!(liids, ["DEN-2026-0042", "DEN-2026-0043"]);
    assert_eq!(store.warrants[0].source, dir.path().join("a-valid.toml"));
    assert_eq!(store.appliance.operator_id, "EXAMPLE-TEL");
    assert_eq!(store.agency("fbi-denver").map(|a| a.hi3.port), Some(6101));
    assert!(store.agency("cia").is_none());
}

#[test]
fn load_dir_fails_without_good_agencies() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a-valid.toml"), VALID).unwrap();
    let err = Store::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.file, dir.path().join("agencies.toml"));
    fs::write(
        dir.path().join("agencies.toml"),
        AGENCIES.replace("6101", "0"),
    )
    .unwrap();
    let err = Store::load_dir(dir.path()).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("agency[1].hi3"));
    assert!(err.reason.contains("bad endpoint URL"), "{err}");
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("warrants")
}

#[test]
fn shipped_store_loads_cleanly() {
    assert_eq!(check_paths(&[shipped()]), Vec::new());
    let (store, errors) = Store::load_dir(&shipped()).unwrap();
    assert_eq!(errors, Vec::new());
    let ids: Vec<_> = store.agencies.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["fbi-denver", "dea-phoenix"]);
    let dea = store.agency("dea-phoenix").unwrap();
    assert_eq!(
        (dea.hi2.to_string(), dea.hi3.to_string()),
        ("tls://127.0.0.1:6200".into(), "tls://127.0.0.1:6201".into())
    );

    // Both demo warrants match the demo caller, each for its own agency.
    let table = WarrantTable::with_numbering(store.warrants, store.appliance.numbering.clone());
    let caller = table.identity("\"Caller\" <sip:+13035550142@192.0.2.10;user=phone>;tag=a").unwrap();
    let demo_time = Timestamp::from_nanos(1_793_491_200 * 1_000_000_000); // 2026-11-01
    let matched: Vec<_> = table
        .matching(&caller, demo_time)
        .map(|w| (w.liid.as_str(), w.kind, w.agency.as_str()))
        .collect();
    assert_eq!(
        matched,
        [
            ("DEN-2026-0042", OrderKind::PenRegister, "fbi-denver"),
            ("PHX-2026-T3-0007", OrderKind::TitleIii, "dea-phoenix"),
        ]
    );
    let other = table.identity("sip:3035550143@192.0.2.10").unwrap();
    assert_eq!(table.matching(&other, demo_time).count(), 0);
}

fn check_cli(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tapline"))
        .args(["warrant", "check"])
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `VALID` as LIID `liid` ending at `until` (RFC 3339).
fn ending(liid: &str, until: &str) -> String {
    variant(liid, "valid_until", &format!("valid_until = {until}")).replace("valid_from = 2026-11-01T00:00:00Z", "valid_from = 2020-01-01T00:00:00Z")
}

#[test]
fn check_cli_reports_every_error_of_a_file_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("agencies.toml"), AGENCIES).unwrap();
    let text = variant("T-many", "agency", "agncy = \"fbi-denver\"")
        .replace("kind = \"pen-register\"", "kind = 3")
        .replace("court_order = \"1:26-mj-00042\"\n", "")
        .replace("liid = \"T-many\"", "liid = \"\"");
    let file = dir.path().join("many.toml");
    fs::write(&file, text).unwrap();
    let (code, _, err) = check_cli(&[file.as_os_str()]);
    assert_eq!(code, Some(1), "{err}");
    let f = file.display();
    for line in [
        format!("{f}: key `agncy`: unknown key, did you mean `agency`?"),
        format!("{f}: key `kind`: wrong type: expected a string, found an integer"),
        format!("{f}: key `agency`: missing required key"),
        format!("{f}: key `court_order`: missing required key"),
        format!("{f}: key `liid`: LIID is empty"),
    ] {
        assert!(err.lines().any(|l| l == line), "missing {line:?} in\n{err}");
    }
    assert!(err.contains("5 error(s)"), "{err}");
    assert!(!err.contains("3035550142"), "target leaked: {err}");
}

#[test]
fn check_cli_takes_the_agencies_file_to_check_against() {
    let dir = tempfile::tempdir().unwrap();
    let warrants = dir.path().join("incoming");
    fs::create_dir(&warrants).unwrap();
    let file = warrants.join("w.toml");
    fs::write(&file, VALID).unwrap();
    let good = dir.path().join("prod-agencies.toml");
    fs::write(&good, AGENCIES).unwrap();
    let other = dir.path().join("other-agencies.toml");
    fs::write(&other, AGENCIES.replace("fbi-denver", "fbi-denvr")).unwrap();

    let (code, out, err) = check_cli(&[file.as_os_str(), "--agencies".as_ref(), good.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("ok: 1 valid warrant(s), no errors"), "{out}");
    let (code, _, err) = check_cli(&[file.as_os_str(), "--agencies".as_ref(), other.as_os_str()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("key `agency`: unknown agency `fbi-denver`: not an [[agency]] id in agencies.toml (did you mean `fbi-denvr`? known: fbi-denvr)"),
        "{err}"
    );
    // Without --agencies, the agencies.toml beside the file (absent here).
    let (code, _, err) = check_cli(&[warrants.as_os_str()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("{}: cannot read", warrants.join("agencies.toml").display())), "{err}");
}

#[test]
fn check_cli_warns_of_expired_and_expiring_warrants_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("agencies.toml"), AGENCIES).unwrap();
    let now = tapline::audit::now().secs();
    let at = |secs: u64| Timestamp::from_nanos(secs * 1_000_000_000).to_rfc3339();
    let day = 24 * 3600;
    fs::write(dir.path().join("a-old.toml"), ending("OLD-1", &at(now - 3 * day - 600))).unwrap();
    fs::write(dir.path().join("b-soon.toml"), ending("SOON-1", &at(now + 3 * day + 5400))).unwrap();
    fs::write(dir.path().join("c-later.toml"), ending("LATER-1", &at(now + 30 * day))).unwrap();
    let d = dir.path().as_os_str();
    let (code, out, err) = check_cli(&[d]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("ok: 3 valid warrant(s), no errors, 2 warning(s)"), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("warning: ") && lines[0].contains("a-old.toml: warrant OLD-1 has expired"), "{err}");
    assert!(lines[0].ends_with("(ended 3d 0h ago)"), "{err}");
    assert!(lines[1].contains("b-soon.toml: warrant SOON-1 expires in 3d 1h: valid_until"), "{err}");
    let (code, out, err) = check_cli(&[d, "--expiring-within".as_ref(), "2".as_ref()]);
    assert_eq!((code, err.lines().count()), (Some(0), 1), "{err}");
    assert!(out.contains("1 warning(s)"), "{out}");
    let (code, _, err) = check_cli(&[d, "--expiring-within".as_ref(), "31".as_ref()]);
    assert_eq!((code, err.lines().count()), (Some(0), 3), "{err}");
    // Errors still fail the check; warnings come with them.
    fs::write(dir.path().join("d-bad.toml"), variant("BAD-1", "kind", "kind = \"wiretap\"")).unwrap();
    let (code, _, err) = check_cli(&[d]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 error(s), 2 warning(s); 3 valid warrant(s)"), "{err}");
}
