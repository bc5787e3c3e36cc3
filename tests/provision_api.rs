//! The provisioning API over real mutual TLS on loopback: every route, the write-through to
//! the warrant store, the audit trail, and the refusals (no client certificate, a client
//! without a role, a viewer, an invalid warrant, an unknown LIID); and the CLI client.

use std::sync::Arc;

use serde_json::json;
use tapline::audit::{entries_of_liid, verify_dir, Event};
use tapline::provision::ApiClient;
use tapline::warrant::Store;

mod common;
use common::provision::{setup, text, warrant_json, warrant_toml, TARGET};

#[test]
fn every_route_and_refusal() {
    let s = setup();
    let prov = s.client(&s.pki.provisioner().cert, &s.pki.provisioner().key);
    let viewer = s.client(&s.pki.viewer().cert, &s.pki.viewer().key);
    let appliance = s.client(&s.pki.appliance.cert, &s.pki.appliance.key);

    // Create, then the same LIID again.
    let (status, body) = s.call(&prov, "POST", "/warrants", Some(&warrant_json("DEN-1", "2027-01-01T00:00:00Z")));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["targets"], json!([TARGET]));
    assert!(s.warrants().join("DEN-1.toml").is_file());
    let (store, errors) = Store::load_dir(&s.warrants()).unwrap();
    assert!(errors.is_empty());
    assert_eq!(store.warrants.len(), 1);
    assert_eq!(store.warrants[0].valid_until.to_rfc3339(), "2027-01-01T00:00:00.000000Z");
    assert_eq!(s.call(&prov, "POST", "/warrants", Some(&warrant_json("DEN-1", "2027-01-01T00:00:00Z"))).0, 409);

    // Invalid: named key and reason, as `warrant check` would say; nothing written.
    let mut bad = warrant_json("DEN-2", "2027-01-01T00:00:00Z");
    bad["kind"] = json!("wiretap");
    let (status, body) = s.call(&prov, "POST", "/warrants", Some(&bad));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["key"], json!("kind"));
    assert_eq!(body["errors"][0]["file"], json!("DEN-2.toml"));
    assert!(!s.warrants().join("DEN-2.toml").exists());
    assert_eq!(std::fs::read_dir(s.warrants()).unwrap().count(), 2, "no temporary file left");
    assert_eq!(s.call(&prov, "POST", "/warrants", Some(&json!(["not", "an", "object"]))).0, 400);

    // List and show: targets to the provisioner only.
    let (status, body) = s.call(&prov, "GET", "/warrants", None);
    assert_eq!(status, 200);
    assert_eq!(body[0]["liid"], json!("DEN-1"));
    assert_eq!(body[0]["targets"], json!([TARGET]));
    let (status, body) = s.call(&viewer, "GET", "/warrants", None);
    assert_eq!(status, 200);
    assert_eq!((body[0]["liid"].clone(), body[0]["kind"].clone()), (json!("DEN-1"), json!("pen-register")));
    assert_eq!(body[0]["agency"], json!("fbi-denver"));
    assert_eq!(body[0]["valid_until"], json!("2027-01-01T00:00:00.000000Z"));
    assert!(!body.to_string().contains("303555"), "viewer saw a target: {body}");
    let (status, body) = s.call(&viewer, "GET", "/warrants/DEN-1", None);
    assert_eq!(status, 200);
    assert!(body.get("targets").is_none());
    assert_eq!(s.call(&viewer, "GET", "/warrants/NOPE", None).0, 404);

    // The viewer and a certificate without a role may not change anything.
    assert_eq!(s.call(&viewer, "POST", "/warrants", Some(&warrant_json("DEN-3", "2027-01-01T00:00:00Z"))).0, 403);
    assert_eq!(s.call(&viewer, "DELETE", "/warrants/DEN-1", None).0, 403);
    assert_eq!(s.call(&appliance, "GET", "/warrants", None).0, 403);

    // No client certificate: the TLS handshake is refused.
    let no_cert = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            for c in tapline::delivery::tls::load_certs(&s.pki.ca).unwrap() {
                roots.add(c).unwrap();
            }
            roots
        })
        .with_no_client_auth();
    let anonymous = ApiClient::with_config(&s.server.addr.to_string(), Arc::new(no_cert)).unwrap();
    assert!(s.rt.block_on(anonymous.request("GET", "/warrants", None)).is_err());

    // Amend: unknown LIID, a changed LIID, then a valid change.
    assert_eq!(s.call(&prov, "PUT", "/warrants/NOPE", Some(&warrant_json("NOPE", "2027-01-01T00:00:00Z"))).0, 404);
    let (status, body) = s.call(&prov, "PUT", "/warrants/DEN-1", Some(&warrant_json("DEN-9", "2027-01-01T00:00:00Z")));
    assert_eq!((status, body["errors"][0]["key"].clone()), (422, json!("liid")));
    let (status, body) = s.call(&prov, "PUT", "/warrants/DEN-1", Some(&warrant_json("DEN-1", "2026-06-30T00:00:00Z")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid_until"], json!("2026-06-30T00:00:00.000000Z"));
    let (store, _) = Store::load_dir(&s.warrants()).unwrap();
    assert_eq!(store.warrants[0].valid_until.to_rfc3339(), "2026-06-30T00:00:00.000000Z");

    // Revoke, then it is gone; again is unknown.
    assert_eq!(s.call(&prov, "DELETE", "/warrants/DEN-1", None).0, 200);
    assert_eq!(s.call(&prov, "GET", "/warrants/DEN-1", None).0, 404);
    assert_eq!(s.call(&prov, "DELETE", "/warrants/DEN-1", None).0, 404);
    assert!(Store::load_dir(&s.warrants()).unwrap().0.warrants.is_empty());
    assert_eq!(std::fs::read_dir(s.warrants().join("revoked")).unwrap().count(), 1);

    // The audit trail: intact; who, what, from where.
    assert!(verify_dir(&s.audit()).unwrap().is_ok());
    let acts: Vec<(String, String, String)> = entries_of_liid(&s.audit(), "DEN-1")
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            Event::Provisioning(a) => Some((a.who, a.action, a.client)),
            Event::Interception { .. } => None,
        })
        .collect();
    let actions: Vec<&str> = acts.iter().map(|a| a.1.as_str()).collect();
    assert_eq!(actions, ["create", "refused", "refused", "refused", "amend", "revoke", "refused"]);
    assert!(acts.iter().all(|a| a.2.starts_with("127.0.0.1:")));
    assert_eq!(acts[0].0, "provisioner");
    assert_eq!(acts[2].0, "viewer");
    s.server.stop();
}

#[test]
fn command_line_client() {
    let s = setup();
    let file = s.dir.path().join("PHX-7.toml");
    std::fs::write(&file, warrant_toml("PHX-7", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", &[TARGET])).unwrap();
    let out = s.cli("provisioner", &["warrant", "add", file.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = s.cli("viewer", &["warrant", "list"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("PHX-7") && !stdout.contains("303555"), "{stdout}");
    let out = s.cli("provisioner", &["warrant", "show", "PHX-7"]);
    assert!(out.status.success() && text(&out).0.contains(TARGET), "{:?}", text(&out));
    assert!(!s.cli("viewer", &["warrant", "revoke", "PHX-7", "--reason", "order vacated"]).status.success());
    assert!(s.cli("provisioner", &["warrant", "revoke", "PHX-7", "--reason", "order vacated"]).status.success());
    assert!(!s.cli("provisioner", &["warrant", "show", "PHX-7"]).status.success());
}
