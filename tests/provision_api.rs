//! The provisioning API over real mutual TLS on loopback: every route, the write-through to
//! the warrant store, the audit trail, and the refusals (no client certificate, a client
//! without a role, a viewer, an invalid warrant, an unknown LIID); and the CLI client.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};
use tapline::audit::{entries_of_liid, verify_dir, Event};
use tapline::delivery::pki::{create_dev_pki, loopback_hosts, DevPki};
use tapline::provision::{start, ApiClient, ProvisionConfig, ProvisionServer};
use tapline::warrant::Store;

const AGENCIES: &str = "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\n[[agency]]\nid = \"fbi-denver\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n";

const TARGET: &str = "tel:+13035550142";

fn warrant_json(liid: &str, until: &str) -> Value {
    json!({
        "liid": liid,
        "kind": "pen-register",
        "agency": "fbi-denver",
        "targets": [TARGET],
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": until,
        "court_order": "1:26-mj-00042",
        "issuing_authority": "Hon. Jane Doe",
        "post_cut_through_digits": false,
        "served_by": "SA R. Alvarez",
        "provisioned_by": "K. Osei"
    })
}

struct Setup {
    dir: tempfile::TempDir,
    pki: DevPki,
    rt: tokio::runtime::Runtime,
    server: ProvisionServer,
}

impl Setup {
    fn warrants(&self) -> std::path::PathBuf {
        self.dir.path().join("warrants")
    }
    fn audit(&self) -> std::path::PathBuf {
        self.dir.path().join("audit")
    }
    fn client(&self, cert: &Path, key: &Path) -> ApiClient {
        ApiClient::new(&self.server.addr.to_string(), &self.pki.ca, cert, key).unwrap()
    }
    fn call(&self, client: &ApiClient, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let r = self.rt.block_on(client.request(method, path, body)).unwrap();
        (r.status, r.body)
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = create_dev_pki(&dir.path().join("pki"), &[], &loopback_hosts()).unwrap();
    let warrants = dir.path().join("warrants");
    std::fs::create_dir_all(&warrants).unwrap();
    std::fs::write(warrants.join("agencies.toml"), AGENCIES).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = ProvisionConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: pki.provision_api().cert.clone(),
        key: pki.provision_api().key.clone(),
        client_ca: pki.ca.clone(),
        warrants,
        audit: Some(dir.path().join("audit")),
    };
    let server = rt.block_on(start(&config)).unwrap();
    Setup { dir, pki, rt, server }
}

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
    let json_file = s.dir.path().join("w.json");
    std::fs::write(&json_file, warrant_json("PHX-7", "2027-01-01T00:00:00Z").to_string()).unwrap();
    let addr = s.server.addr.to_string();
    let run = |args: &[&str], cert: &str| {
        let pki = s.dir.path().join("pki");
        let out = Command::new(env!("CARGO_BIN_EXE_tapline"))
            .args(args)
            .args(["--api", &addr, "--ca"])
            .arg(pki.join("ca.pem"))
            .arg("--cert")
            .arg(pki.join(format!("{cert}.pem")))
            .arg("--key")
            .arg(pki.join(format!("{cert}.key")))
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, out) = run(&["warrant", "add", json_file.to_str().unwrap()], "provisioner");
    assert!(ok, "{out}");
    let (ok, out) = run(&["warrant", "list"], "viewer");
    assert!(ok);
    assert!(out.contains("PHX-7") && !out.contains("303555"), "{out}");
    let (ok, out) = run(&["warrant", "show", "PHX-7"], "provisioner");
    assert!(ok && out.contains(TARGET), "{out}");
    let (ok, _) = run(&["warrant", "revoke", "PHX-7"], "viewer");
    assert!(!ok);
    let (ok, _) = run(&["warrant", "revoke", "PHX-7"], "provisioner");
    assert!(ok);
    let (ok, _) = run(&["warrant", "show", "PHX-7"], "provisioner");
    assert!(!ok);
}
