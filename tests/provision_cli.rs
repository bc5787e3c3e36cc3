//! The provisioning client as a provisioning engineer runs it, against a real API server
//! over mutual TLS: TOML warrant files for add and amend (the audit entry lists the keys
//! changed), revocation with an audited reason, the `list` table and JSON, and the client
//! settings from flags, environment and a settings file.

use std::fs;

use serde_json::{json, Value};
use tapline::audit::verify_dir;

mod common;
use common::provision::{setup, text, Setup, TARGET};
use common::provision::warrant_toml;

const OTHER: &str = "tel:+13035550199";

/// Writes the warrant file `NAME.toml` into the test directory and returns its path.
fn file(s: &Setup, name: &str, content: &str) -> String {
    let path = s.dir.path().join(format!("{name}.toml"));
    fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn add_and_amend_take_the_warrant_file_and_amend_audits_the_changed_keys() {
    let s = setup();
    let den = file(&s, "den", &warrant_toml("DEN-1", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &[TARGET]));
    let out = s.cli("provisioner", &["warrant", "add", &den]);
    assert!(out.status.success(), "{:?}", text(&out));
    let stored = fs::read_to_string(s.warrants().join("DEN-1.toml")).unwrap();
    assert!(stored.contains("valid_until = 2027-01-01T00:00:00Z"), "{stored}");

    // The JSON of the API is not a warrant file: refused locally, nothing sent.
    let json_file = s.dir.path().join("w.json");
    fs::write(&json_file, json!({"liid": "DEN-2"}).to_string()).unwrap();
    let out = s.cli("provisioner", &["warrant", "add", json_file.to_str().unwrap()]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("w.json: TOML syntax error at line 1"), "{err}");

    // Structural errors of the file: all of them, with the closest key, nothing sent.
    let bad = file(&s, "bad", &warrant_toml("DEN-3", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &[TARGET])
        .replace("agency =", "agncy =")
        .replace("issuing_authority = \"Hon. Jane Doe\"\n", ""));
    let out = s.cli("provisioner", &["warrant", "add", &bad]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{bad}: key `agncy`: unknown key, did you mean `agency`?")), "{err}");
    assert!(err.contains(&format!("{bad}: key `agency`: missing required key")), "{err}");
    assert!(err.contains(&format!("{bad}: key `issuing_authority`: missing required key")), "{err}");
    assert!(err.contains("3 error(s); nothing sent"), "{err}");
    assert!(s.acts("DEN-3").is_empty());

    // A file the store refuses: the server's errors against the local file.
    let wiretap = file(&s, "wiretap", &warrant_toml("DEN-4", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &[TARGET])
        .replace("pen-register", "wiretap"));
    let out = s.cli("provisioner", &["warrant", "add", &wiretap]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 422") && err.contains(&format!("{wiretap}: key `kind`: unknown kind")), "{err}");

    // Amend: new end, one target replaced, a court order corrected.
    let amended = warrant_toml("DEN-1", "2026-01-01T00:00:00Z", "2026-06-30T00:00:00Z", &["303-555-0142", OTHER, "sip:bob@example.net"])
        .replace("1:26-mj-00042", "1:26-mj-00043");
    let amended = file(&s, "den-amended", &amended);
    let out = s.cli("provisioner", &["warrant", "amend", "DEN-1", &amended]);
    assert!(out.status.success(), "{:?}", text(&out));
    let acts = s.acts("DEN-1");
    let amend = acts.iter().find(|a| a.action == "amend").expect("amend audited");
    assert_eq!(
        amend.detail.as_deref(),
        Some(
            "changed: targets: 2 added, 0 removed; valid_until: 2027-01-01T00:00:00.000000Z → \
             2026-06-30T00:00:00.000000Z; court_order: 1:26-mj-00042 → 1:26-mj-00043"
        )
    );
    let trail = fs::read_to_string(s.audit().join("audit.log")).unwrap();
    assert!(!trail.contains("5550142") && !trail.contains("5550199") && !trail.contains("bob@"), "a target reached the audit trail: {trail}");
    assert!(verify_dir(&s.audit()).unwrap().is_ok());
}

#[test]
fn revoke_needs_a_reason_audits_it_and_refuses_one_naming_a_target() {
    let s = setup();
    let den = file(&s, "den", &warrant_toml("DEN-1", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &[TARGET, "sip:alice@example.net"]));
    assert!(s.cli("provisioner", &["warrant", "add", &den]).status.success());

    let out = s.cli("provisioner", &["warrant", "revoke", "DEN-1"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--reason"), "{err}");

    for reason in ["number (303) 555-0142 ported out", "Alice@example.net left the carrier"] {
        let out = s.cli("provisioner", &["warrant", "revoke", "DEN-1", "--reason", reason]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("HTTP 400: the reason names a target of this warrant"), "{err}");
        assert!(!err.contains("555") && !err.contains("lice"), "{err}");
    }
    assert!(s.warrants().join("DEN-1.toml").is_file(), "refused revocation removed the warrant");

    let long = format!("order vacated\n\tby the court;  {}", "x".repeat(600));
    let out = s.cli("provisioner", &["warrant", "revoke", "DEN-1", "--reason", &long]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(!s.warrants().join("DEN-1.toml").exists());

    let acts = s.acts("DEN-1");
    let got: Vec<(&str, &str)> =
        acts.iter().map(|a| (a.action.as_str(), a.detail.as_deref().unwrap_or(""))).collect();
    let cap = tapline::provision::MAX_REASON;
    let kept: String = format!("order vacated by the court; {}", "x".repeat(600)).chars().take(cap).collect();
    let refused = "revoke: the reason names a target of this warrant; give it without identities";
    assert_eq!(got, [("create", ""), ("refused", refused), ("refused", refused), ("revoke", &*format!("reason: {kept}"))]);
    let trail = fs::read_to_string(s.audit().join("audit.log")).unwrap();
    assert!(!trail.contains("5550142") && !trail.contains("lice@"), "a target reached the audit trail");
}

#[test]
fn list_is_a_table_of_states_with_json_and_revoked_on_request() {
    let s = setup();
    let now = tapline::audit::now().secs();
    let at = |secs: u64| tapline::Timestamp::from_nanos(secs * 1_000_000_000).to_rfc3339();
    let day = 24 * 3600;
    for (liid, from, until) in [
        ("ACT-1", at(now - day), at(now + 30 * day + 5400)),
        ("PEND-1", at(now + day), at(now + 60 * day)),
        ("OLD-1", at(now - 60 * day), at(now - 2 * day - 60)),
        ("GONE-1", at(now - day), at(now + day)),
    ] {
        let f = file(&s, liid, &warrant_toml(liid, &from, &until, &[TARGET]));
        assert!(s.cli("provisioner", &["warrant", "add", &f]).status.success());
    }
    assert!(s.cli("provisioner", &["warrant", "revoke", "GONE-1", "--reason", "order vacated"]).status.success());

    let out = s.cli("viewer", &["warrant", "list"]);
    let (table, _) = text(&out);
    assert!(out.status.success());
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["LIID", "KIND", "AGENCY", "STATE", "EXPIRES"]);
    assert_eq!(rows[1], ["ACT-1", "pen-register", "fbi-denver", "active", "in", "30d", "1h"], "{table}");
    assert_eq!(rows[2], ["OLD-1", "pen-register", "fbi-denver", "expired", "ended", "2d", "0h", "ago"], "{table}");
    assert_eq!(rows[3][..4], ["PEND-1", "pen-register", "fbi-denver", "pending"], "{table}");
    assert_eq!(rows.len(), 4, "revoked listed by default: {table}");

    let out = s.cli("viewer", &["warrant", "list", "--all"]);
    let (table, _) = text(&out);
    assert!(table.lines().any(|l| l.starts_with("GONE-1 ") && l.contains(" revoked ")), "{table}");
    let out = s.cli("viewer", &["warrant", "list", "--state", "revoked", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!((list[0]["liid"].clone(), list[0]["state"].clone()), (json!("GONE-1"), json!("revoked")));
    assert!(list[0].get("targets").is_none(), "viewer saw targets");
    let out = s.cli("provisioner", &["warrant", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = list.as_array().unwrap().iter().filter_map(|w| w["state"].as_str()).collect();
    assert_eq!(states, ["active", "expired", "pending"]);
    assert_eq!(list[0]["targets"], json!([TARGET]));

    let out = s.cli("viewer", &["warrant", "list", "--state", "gone"]);
    assert_eq!(out.status.code(), Some(2));
    let prov = s.client(&s.pki.provisioner().cert, &s.pki.provisioner().key);
    assert_eq!(s.call(&prov, "GET", "/warrants?state=gone", None).0, 400);
    assert_eq!(s.call(&prov, "GET", "/warrants?sort=liid", None).0, 400);
}

#[test]
fn client_settings_from_environment_and_settings_file() {
    let s = setup();
    let flags = s.api_flags("viewer");
    let (api, ca, cert, key) = (&flags[1], &flags[3], &flags[5], &flags[7]);

    let out = s.tapline().args(["warrant", "list"]).env("TAPLINE_API", api).env("TAPLINE_CA", ca)
        .env("TAPLINE_CERT", cert).env("TAPLINE_KEY", key).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0.trim(), "no warrants");

    // The settings file, paths relative to it; the environment wins over it, a flag over both.
    let pki_dir = s.dir.path().join("pki");
    let settings = pki_dir.join("client.toml");
    fs::write(&settings, format!("api = \"{api}\"\nca = \"ca.pem\"\ncert = \"viewer.pem\"\nkey = \"viewer.key\"\n")).unwrap();
    let out = s.tapline().args(["warrant", "list", "--config"]).arg(&settings).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let out = s.tapline().args(["warrant", "list"]).env("TAPLINE_CONFIG", &settings)
        .env("TAPLINE_API", "127.0.0.1:1").output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "the environment must win over the file: {err}");
    assert!(err.contains("connect to 127.0.0.1:1"), "{err}");
    let out = s.tapline().args(["warrant", "list", "--api", api]).env("TAPLINE_CONFIG", &settings)
        .env("TAPLINE_API", "127.0.0.1:1").output().unwrap();
    assert!(out.status.success(), "the flag must win: {:?}", text(&out));

    let out = s.tapline().args(["warrant", "list"]).output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("no api: give --api, set TAPLINE_API, or put `api` in a settings file"), "{err}");
    fs::write(&settings, "api = \"x\"\nhost = \"y\"\n").unwrap();
    let out = s.tapline().args(["warrant", "list", "--config"]).arg(&settings).output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("client.toml: client settings: unknown field `host`"), "{err}");
}
