//! The desk's HTTPS API over real mutual TLS on loopback, on the records database a replay
//! wrote (SQLite, and a real PostgreSQL server): every action for every role, allowed or
//! refused as the authorisation table says; clients without a certificate or with one from
//! another CA refused at the handshake; a subpoena entered by an analyst, decided by a
//! supervisor and produced by the analyst; a customer's request under a non-disclosure
//! order that reveals nothing of the demand; every step and refusal in the audit trail
//! with the certificate's name, which verifies.

mod common;
mod desk_support;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use desk_support::world::{at, customer_doc, doc, world, World, A, B, C, D, PASSWORD};
use serde_json::{json, Value};
use tapline::audit::{verify_dir, Event};
use tapline::delivery::pki::{create_dev_pki, issue_client_cert, loopback_hosts, DevPki};
use tapline::desk::{allowed, api, DeskAction, DeskRole, Instrument, RequesterKind};
use tapline::provision::https::{percent_encode, TlsListen};
use tapline::provision::ApiClient;

struct Setup {
    world: World,
    pki: DevPki,
    rt: tokio::runtime::Runtime,
    api: api::DeskApi,
}

impl Setup {
    fn client_of(&self, ca: &Path, dir: &Path, name: &str) -> ApiClient {
        let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        ApiClient::new(&self.api.addr.to_string(), ca, &cert, &key).unwrap()
    }
    fn client(&self, name: &str) -> ApiClient {
        self.client_of(&self.pki.ca, &self.world.tmp.path().join("pki"), name)
    }
    fn call(&self, c: &ApiClient, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let r = self.rt.block_on(c.request(method, path, body)).unwrap();
        (r.status, r.body)
    }
    fn bytes(&self, c: &ApiClient, path: &str) -> (u16, Vec<u8>) {
        let (s, b) = self.rt.block_on(c.request_bytes("GET", path, None)).unwrap();
        (s, b.to_vec())
    }
}

fn setup(spec: String) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = tmp.path().join("pki");
    let pki = create_dev_pki(&pki_dir, &[], &loopback_hosts()).unwrap();
    for role in DeskRole::ALL {
        let name = format!("{}-1", role.unit().trim_start_matches("desk-"));
        issue_client_cert(&pki_dir, &name, role.unit()).unwrap();
    }
    let world = world(spec, tmp);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tls = TlsListen {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: pki.provision_api().cert.clone(),
        key: pki.provision_api().key.clone(),
        client_ca: pki.ca.clone(),
    };
    let desk = world.desk();
    let api = rt.block_on(api::start(&tls, desk, &world.out())).unwrap();
    Setup { world, pki, rt, api }
}

/// A request for each action that names nothing existing, so an allowed one changes
/// nothing (it fails with 400/404/422, or reads).
fn probe(action: DeskAction) -> (&'static str, String, Option<Value>) {
    use DeskAction as X;
    let line = percent_encode(&format!("+{B}"));
    match action {
        X::ListDemands => ("GET", "/demands".into(), None),
        X::ShowDemand => ("GET", "/demands/D-999999".into(), None),
        X::EnterDemand => ("POST", "/demands".into(), Some(json!({}))),
        X::ValidateDemand => ("POST", "/demands/D-999999/validate".into(), None),
        X::DecideDemand => ("POST", "/demands/D-999999/decide".into(), None),
        X::QueryCalls => ("GET", "/demands/D-999999/calls".into(), None),
        X::ProducePackage => ("POST", "/demands/D-999999/produce".into(), None),
        X::FetchPackage => ("GET", "/demands/D-999999/package".into(), None),
        X::DeliverPackage => ("POST", "/demands/D-999999/deliver".into(), Some(json!({ "to": "nobody" }))),
        X::ReproducePackage => ("POST", "/demands/D-999999/reproduce".into(), None),
        X::ReadAudit => ("GET", "/audit".into(), None),
        X::VerifyAudit => ("GET", "/audit/verify".into(), None),
        X::ShowCases => ("GET", format!("/lines/{line}/cases"), None),
        X::SetTraceBlock => ("PUT", format!("/lines/{line}/trace-block"), Some(json!({ "blocked": false }))),
        X::SetCpniPassword => ("PUT", format!("/lines/{line}/cpni-password"), Some(json!({ "password": "short" }))),
        X::OverrideCase => ("POST", "/cases/NO-SUCH-CASE/override".into(), Some(json!({ "reason": "threats" }))),
        X::HandOffCase => ("POST", "/cases/NO-SUCH-CASE/hand-off".into(), None),
    }
}

/// The desk's audit entries: (who, action, detail).
fn desk_entries(dir: &Path) -> Vec<(String, String, Value)> {
    let text = std::fs::read_to_string(dir.join(tapline::audit::LOG_FILE)).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(' ').and_then(|(_, j)| serde_json::from_str::<tapline::audit::Entry>(j).ok()))
        .filter_map(|e| match e.event {
            Event::Provisioning(a) => Some((a.who, a.action, a.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null))),
            Event::Interception { .. } => None,
        })
        .collect()
}

fn unzip(bytes: &[u8]) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut all = String::new();
    for i in 0..z.len() {
        z.by_index(i).unwrap().read_to_string(&mut all).unwrap();
    }
    all
}

/// Enters, validates, (supervisor) decides a demand; its id.
fn decided(s: &Setup, analyst: &ApiClient, supervisor: &ApiClient, d: &tapline::desk::DemandDoc) -> String {
    let (st, r) = s.call(analyst, "POST", "/demands", Some(&serde_json::to_value(d).unwrap()));
    assert_eq!(st, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    let (st, r) = s.call(analyst, "POST", &format!("/demands/{id}/validate"), None);
    assert_eq!((st, r["state"].clone()), (200, json!("validated")), "{r}");
    let (st, r) = s.call(supervisor, "POST", &format!("/demands/{id}/decide"), None);
    assert_eq!((st, r["state"].clone()), (200, json!("decided")), "{r}");
    id
}

fn suite(spec: String) {
    let s = setup(spec);
    let analyst = s.client("analyst-1");
    let supervisor = s.client("supervisor-1");
    let auditor = s.client("auditor-1");
    let clients = |r: DeskRole| match r {
        DeskRole::Analyst => &analyst,
        DeskRole::Supervisor => &supervisor,
        DeskRole::Auditor => &auditor,
    };

    // Handshake: no client certificate, or one from another CA, never reaches HTTP.
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        for c in tapline::delivery::tls::load_certs(&s.pki.ca).unwrap() {
            roots.add(c).unwrap();
        }
        roots
    };
    let no_cert = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let anonymous = ApiClient::with_config(&s.api.addr.to_string(), Arc::new(no_cert)).unwrap();
    assert!(s.rt.block_on(anonymous.request("GET", "/demands", None)).is_err(), "no certificate: refused");
    let other_dir = s.world.tmp.path().join("other-pki");
    create_dev_pki(&other_dir, &[], &loopback_hosts()).unwrap();
    issue_client_cert(&other_dir, "analyst-x", "desk-analyst").unwrap();
    let stranger = s.client_of(&s.pki.ca, &other_dir, "analyst-x");
    assert!(s.rt.block_on(stranger.request("GET", "/demands", None)).is_err(), "another CA's analyst: refused");
    let audit_len = |s: &Setup| desk_entries(&s.world.audit()).len();
    assert_eq!(audit_len(&s), 0, "nothing reached the desk");

    // A certificate of this CA without a desk role (the provisioning viewer): 403 to all.
    let viewer = s.client("viewer");
    for action in DeskAction::ALL {
        let (m, path, body) = probe(action);
        assert_eq!(s.call(&viewer, m, &path, body.as_ref()).0, 403, "{action:?}");
    }

    // Every role × action, over the wire, as the table says.
    let mut refused = 0;
    for action in DeskAction::ALL {
        for role in DeskRole::ALL {
            let (m, path, body) = probe(action);
            let (status, reply) = s.call(clients(role), m, &path, body.as_ref());
            if allowed(role, action) {
                assert_ne!(status, 403, "{role:?} may {action:?}: {reply}");
                assert!(status < 500, "{role:?} {action:?}: {status} {reply}");
            } else {
                assert_eq!(status, 403, "{role:?} may not {action:?}: {reply}");
                refused += 1;
            }
        }
    }
    // Independently of the table: the cells the brief fixes.
    assert_eq!(s.call(&analyst, "POST", "/demands/D-999999/decide", None).0, 403, "an analyst never decides");
    assert_eq!(s.bytes(&auditor, "/demands/D-999999/calls").0, 403, "an auditor never sees records");
    assert_eq!(s.bytes(&auditor, "/demands/D-999999/package").0, 403);
    assert_eq!(s.call(&supervisor, "POST", "/demands", Some(&json!({}))).0, 403, "a supervisor does not enter");
    refused += 4;

    // CPNI: the analyst sets A's password for the customer (too short first: refused).
    let line = format!("/lines/{}/cpni-password", percent_encode(&format!("+{A}")));
    assert_eq!(s.call(&analyst, "PUT", &line, Some(&json!({ "password": "larimer-street-1" }))).0, 422, "biographical");
    let (st, r) = s.call(&analyst, "PUT", &line, Some(&json!({ "password": PASSWORD })));
    assert_eq!(st, 200, "{r}");

    // A subpoena under a non-disclosure order, then one without: entered by the analyst,
    // decided by the supervisor, queried and produced by the analyst.
    let ndo = tapline::desk::DemandDoc { nondisclosure: true, case_number: Some("GJ-SECRET-77".into()), ..doc(Instrument::Subpoena, RequesterKind::Agency, &[A]) };
    let ndo_id = decided(&s, &analyst, &supervisor, &ndo);
    let open_id = decided(&s, &analyst, &supervisor, &doc(Instrument::Subpoena, RequesterKind::Agency, &[A]));
    let (st, csv) = s.bytes(&analyst, &format!("/demands/{open_id}/calls"));
    assert_eq!(st, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 1 + 5, "header + 3 made + 2 received in the hour: {csv}");
    assert!(csv.contains(&format!("received,{}", at(100).to_rfc3339())) && csv.contains(C) && csv.contains(D));
    assert_eq!(s.bytes(&analyst, &format!("/demands/{open_id}/package")).0, 409, "not produced yet");
    for id in [&ndo_id, &open_id] {
        let (st, r) = s.call(&analyst, "POST", &format!("/demands/{id}/produce"), None);
        assert_eq!((st, r["state"].clone()), (200, json!("produced")), "{r}");
        let (st, r) = s.call(&analyst, "POST", &format!("/demands/{id}/deliver"), Some(&json!({ "to": "Denver PD, secure portal" })));
        assert_eq!((st, r["state"].clone()), (200, json!("delivered")), "{r}");
    }
    let (st, zip) = s.bytes(&analyst, &format!("/demands/{open_id}/package"));
    assert_eq!(st, 200);
    let contents = unzip(&zip);
    assert!(contents.contains("Alex Rivera") && contents.contains("Certificate of authenticity"), "subscriber info and certificate");
    // Wrong order is a conflict, not a step.
    assert_eq!(s.call(&analyst, "POST", &format!("/demands/{open_id}/validate"), None).0, 409);

    // The customer's own request: only A's outgoing calls, and nothing of the NDO demand.
    let cust_id = decided(&s, &analyst, &supervisor, &customer_doc());
    let (_, csv) = s.bytes(&analyst, &format!("/demands/{cust_id}/calls"));
    let csv = String::from_utf8(csv).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "A's three calls made in the hour: {csv}");
    assert!(rows.iter().all(|r| r.starts_with("made,") && r.split(',').nth(5) == Some(A)), "{csv}");
    assert!(!csv.contains(D), "no incoming call, not the private one: {csv}");
    assert_eq!(s.call(&analyst, "POST", &format!("/demands/{cust_id}/produce"), None).0, 200);
    let (st, zip) = s.bytes(&analyst, &format!("/demands/{cust_id}/package"));
    assert_eq!(st, 200);
    let contents = unzip(&zip);
    assert!(!contents.contains(&ndo_id) && !contents.contains("GJ-SECRET-77"), "the NDO demand leaks to the customer");
    assert!(contents.contains(&open_id), "the demand without an order is disclosed");
    assert!(!contents.contains("traced_by_star57"), "no trace results to the subscriber");

    // An emergency disclosure: the supervisor approves it with the grant (none: refused).
    let emergency = tapline::desk::DemandDoc {
        justification: Some("caller threatens imminent harm".into()),
        ..doc(Instrument::EmergencyDisclosure, RequesterKind::Agency, &[A])
    };
    let (_, r) = s.call(&analyst, "POST", "/demands", Some(&serde_json::to_value(&emergency).unwrap()));
    let em_id = r["id"].as_str().unwrap().to_owned();
    let (st, r) = s.call(&analyst, "POST", &format!("/demands/{em_id}/validate"), None);
    assert_eq!((st, r["state"].clone()), (200, json!("validated")), "{r}");
    let grant = json!({ "subscriber_info": "name_address_length", "calls_made": "yes", "calls_received": false,
        "trace_results": false, "preserve": false, "analyst_decides": true });
    assert_eq!(s.call(&analyst, "POST", &format!("/demands/{em_id}/decide"), Some(&json!({ "grant": grant }))).0, 403);
    refused += 1;
    assert_eq!(s.call(&supervisor, "POST", &format!("/demands/{em_id}/decide"), None).0, 422, "needs the grant");
    let (st, r) = s.call(&supervisor, "POST", &format!("/demands/{em_id}/decide"), Some(&json!({ "grant": grant })));
    assert_eq!((st, r["follow_up"].clone(), r["release"]["calls_received"].clone()), (200, json!(true), json!(false)), "{r}");

    // The auditor: the demand list without numbers, the trail, a reproduced package.
    let (st, list) = s.call(&auditor, "GET", "/demands", None);
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(!list.to_string().contains("303555"), "no number in the auditor's list: {list}");
    let (st, r) = s.call(&auditor, "POST", &format!("/demands/{open_id}/reproduce"), None);
    assert_eq!((st, r["matches"].clone()), (200, json!(true)), "{r}");
    let (st, v) = s.call(&auditor, "GET", "/audit/verify", None);
    assert_eq!((st, v["intact"].clone()), (200, json!(true)), "{v}");
    let (st, trail) = s.call(&auditor, "GET", "/audit", None);
    assert_eq!(st, 200);
    assert!(trail.as_array().unwrap().len() > 20);

    // The trail on disk: every step with the certificate's name, every refusal too.
    assert!(verify_dir(&s.world.audit()).unwrap().is_ok(), "audit verify");
    let entries = desk_entries(&s.world.audit());
    let steps: Vec<(&str, &str)> =
        entries.iter().filter(|e| e.2["demand"] == json!(open_id)).map(|e| (e.0.as_str(), e.1.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("analyst-1", "demand-entered"),
            ("analyst-1", "demand-validated"),
            ("supervisor-1", "demand-decided"),
            ("analyst-1", "demand-queried"),
            ("analyst-1", "demand-produced"),
            ("analyst-1", "demand-delivered"),
            ("analyst-1", "package-fetched"),
            ("auditor-1", "demand-reproduced"),
        ]
    );
    let refusals: Vec<&(String, String, Value)> = entries.iter().filter(|e| e.1 == "desk-refused").collect();
    assert_eq!(refusals.len(), DeskAction::ALL.len() + refused, "the viewer's and the roles' refusals");
    assert!(refusals.iter().any(|e| e.0 == "viewer" && e.2["role"].is_null()));
    assert!(refusals.iter().any(|e| e.0 == "analyst-1" && e.2["action"] == "decide-demand" && e.2["role"] == "analyst"));
    assert!(refusals.iter().all(|e| e.2["certificate_sha256"].as_str().is_some_and(|f| f.len() == 64)));
    assert!(entries.iter().any(|e| e.1 == "desk-failed" && e.2["action"] == "set-cpni-password"), "a failed step is logged");
    assert!(entries.iter().any(|e| e.0 == "analyst-1" && e.1 == "cpni-password-set"));
    let log = std::fs::read_to_string(s.world.audit().join(tapline::audit::LOG_FILE)).unwrap();
    assert!(!log.contains(PASSWORD), "the CPNI password is never logged");
    s.api.stop();
}

#[test]
fn desk_api_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = desk_support::sqlite_in(tmp.path());
    suite(spec);
    drop(tmp);
}

#[test]
fn desk_api_on_postgresql() {
    let Some(pg) = desk_support::Pg::start() else { return };
    suite(pg.new_db());
}

/// `tapline certs --desk-user` issues from the CA already there; `tapline desk serve`
/// serves those certificates' roles.
#[test]
fn command_line_certs_and_serve() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    let tapline = || Command::new(env!("CARGO_BIN_EXE_tapline"));
    assert!(tapline().args(["certs", "--out"]).arg(&pki).output().unwrap().status.success());
    let ca = std::fs::read(pki.join("ca.pem")).unwrap();
    let out = tapline().args(["certs", "--out"]).arg(&pki).args(["--desk-user", "alice:analyst", "--desk-user", "sam:supervisor"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(pki.join("ca.pem")).unwrap(), ca, "the CA is kept");
    let bad = tapline().args(["certs", "--out"]).arg(&pki).args(["--desk-user", "eve:admin"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("analyst, supervisor or auditor"));

    let mut child = tapline()
        .args(["desk", "serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(tmp.path().join("records.sqlite"))
        .arg("--audit")
        .arg(tmp.path().join("audit"))
        .arg("--packages")
        .arg(tmp.path().join("packages"))
        .arg("--cert")
        .arg(pki.join("provision-api.pem"))
        .arg("--key")
        .arg(pki.join("provision-api.key"))
        .arg("--client-ca")
        .arg(pki.join("ca.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("desk API on ").unwrap_or_else(|| panic!("{line}")).to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let as_ = |name: &str| ApiClient::new(&addr, &pki.join("ca.pem"), &pki.join(format!("{name}.pem")), &pki.join(format!("{name}.key"))).unwrap();
    let entered = rt.block_on(as_("alice").request("POST", "/demands", Some(&serde_json::to_value(doc(Instrument::Subpoena, RequesterKind::Agency, &[A])).unwrap())));
    let refused = rt.block_on(as_("sam").request("POST", "/demands/D-000001/validate", None));
    let _ = child.kill();
    let _ = child.wait();
    let entered = entered.unwrap();
    assert_eq!((entered.status, entered.body["id"].clone()), (201, json!("D-000001")), "{}", entered.body);
    assert_eq!(refused.unwrap().status, 403);
    // The command line's line operations are the same audited desk operations.
    let blocked = tapline()
        .args(["desk", "block-trace", &format!("+{A}"), "--db"])
        .arg(tmp.path().join("records.sqlite"))
        .arg("--audit")
        .arg(tmp.path().join("audit"))
        .args(["--as", "carol"])
        .output()
        .unwrap();
    assert!(blocked.status.success(), "{}", String::from_utf8_lossy(&blocked.stderr));
    let who: Vec<(String, String)> = desk_entries(&tmp.path().join("audit")).into_iter().map(|e| (e.0, e.1)).collect();
    let expected = [("alice", "demand-entered"), ("sam", "desk-refused"), ("carol", "trace-blocked")];
    assert_eq!(who, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    assert!(verify_dir(&tmp.path().join("audit")).unwrap().is_ok());
}
