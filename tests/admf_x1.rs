//! The mediation function as ADMF over real mutual TLS on loopback: `tapline run --pois`
//! tasks two `tapline poi` processes with the warrants in force, and every change of the
//! warrant directory reaches both (add, amend, revoke, expiry); a POI SIGKILLed and
//! restarted empty is re-tasked; an ADMF whose certificate is not the one a POI accepts is
//! refused and changes nothing. What each POI holds is read back over X1 as the ADMF.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::poi::{held, kinds, pois_toml, wait_for_tasks as wait_for, Proc};
use tapline::admf::{xid_of, PoiState, PoisConfig};
use tapline::delivery::pki::{create_dev_pki, issue_client_cert, loopback_hosts, DevPki};
use tapline::warrant::Liid;
use tapline::x1::DeliveryType;
use tapline::x2x3::Xid;
use tapline::Timestamp;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// `tapline poi` with no capture on `addr` (port 0: any); its process and X1 address.
fn start_poi(dir: &Path, pki: &DevPki, ne: &str, addr: SocketAddr, spool: &Path) -> (Proc, SocketAddr) {
    let poi = common::poi::start::<&str>(dir, pki, ne, addr, spool, &[]);
    (poi.proc, poi.x1)
}

fn xid(liid: &str) -> Xid {
    xid_of(&Liid::new(liid).expect("liid"))
}

fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_secs();
    Timestamp::from_nanos(secs * 1_000_000_000).to_rfc3339().replace(".000000Z", "Z")
}

fn warrant(dir: &Path, liid: &str, kind: &str, target: &str, until: &str) {
    let text = format!(
        "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"a\"\ntargets = [\"{target}\"]\n\
         valid_from = 2026-01-01T00:00:00Z\nvalid_until = {until}\n\
         court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n"
    );
    std::fs::write(dir.join(format!("{liid}.toml")), text).expect("warrant file");
}

#[test]
fn warrant_changes_reach_every_poi_and_a_restarted_poi_is_re_tasked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = create_dev_pki(&tmp.path().join("pki"), &["poi".to_string()], &loopback_hosts()).expect("PKI");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (p1, a1) = start_poi(tmp.path(), &pki, "poi-1", any, &tmp.path().join("spool-1"));
    let (p2, a2) = start_poi(tmp.path(), &pki, "poi-2", any, &tmp.path().join("spool-2"));
    let warrants = tmp.path().join("warrants");
    std::fs::create_dir_all(&warrants).expect("dir");
    std::fs::write(
        warrants.join("agencies.toml"),
        format!(
            "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\n\
             [[agency]]\nid = \"a\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:{}\"\nhi3 = \"tls://127.0.0.1:{}\"\nca = \"{}\"\n",
            free_port(),
            free_port(),
            pki.ca.display()
        ),
    )
    .expect("agencies.toml");
    warrant(&warrants, "PEN-1", "pen-register", "tel:+13035550142", "2027-12-31T00:00:00Z");
    warrant(&warrants, "T3-1", "title-iii", "sip:bob@x.example", "2027-12-31T00:00:00Z");
    // Ends while the run goes on: its task must then leave every POI.
    let soon = rfc3339(SystemTime::now() + Duration::from_secs(20));
    warrant(&warrants, "SOON-1", "trap-and-trace", "tel:+13035550143", &soon);
    let x2x3: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let pois = pois_toml(tmp.path(), &pki, "appliance", &[(a1, "poi-1"), (a2, "poi-2")], x2x3);
    let config = PoisConfig::load(&pois).expect("pois.toml");
    let server = pki.server("poi").expect("cert");
    let _mf = Proc(
        Command::new(env!("CARGO_BIN_EXE_tapline"))
            .arg("run")
            .arg("--warrants")
            .arg(&warrants)
            .arg("--spool")
            .arg(tmp.path().join("spool"))
            .arg("--cert")
            .arg(&pki.appliance.cert)
            .arg("--key")
            .arg(&pki.appliance.key)
            .args(["--x2x3-listen", &x2x3.to_string(), "--x2x3-cert"])
            .arg(&server.cert)
            .arg("--x2x3-key")
            .arg(&server.key)
            .arg("--x2x3-client-ca")
            .arg(&pki.ca)
            .arg("--pois")
            .arg(&pois)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tapline run"),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let mut want = BTreeMap::from([
        (xid("PEN-1"), DeliveryType::X2Only),
        (xid("T3-1"), DeliveryType::X2AndX3),
        (xid("SOON-1"), DeliveryType::X2Only),
    ]);
    wait_for(&rt, &config, &want, "at start");
    let tasks = held(&rt, &config, 0).expect("POI 1");
    let t3 = &tasks[&xid("T3-1")];
    assert_eq!(t3.targets, [tapline::x1::TargetIdentifier::SipUri("sip:bob@x.example".into())]);
    assert_eq!(tasks[&xid("PEN-1")].targets, [tapline::x1::TargetIdentifier::E164Number("13035550142".into())]);
    assert_eq!(t3.destinations, [tapline::admf::did_of(&config.pois[0].deliver_to)]);

    // Amend: the pen register becomes a Title III order, so content is now tasked too.
    warrant(&warrants, "PEN-1", "title-iii", "tel:+13035550142", "2027-12-31T00:00:00Z");
    want.insert(xid("PEN-1"), DeliveryType::X2AndX3);
    wait_for(&rt, &config, &want, "after the amendment");

    // Revoke.
    std::fs::remove_file(warrants.join("T3-1.toml")).expect("revoke");
    want.remove(&xid("T3-1"));
    wait_for(&rt, &config, &want, "after the revocation");

    // Expiry.
    want.remove(&xid("SOON-1"));
    wait_for(&rt, &config, &want, "after the expiry");

    // POI 2 SIGKILLed and restarted empty on the same port: the next reconciliation re-tasks it.
    drop(p2);
    let (_p2, again) = start_poi(tmp.path(), &pki, "poi-2", a2, &tmp.path().join("spool-2-again"));
    assert_eq!(again, a2);
    wait_for(&rt, &config, &want, "after POI 2 restarted");
    drop(p1);

    let audit = tmp.path().join("spool").join("audit");
    let acts: Vec<(String, String)> = tapline::audit::entries_of_liid(&audit, "T3-1")
        .expect("audit")
        .into_iter()
        .filter_map(|e| match e.event {
            tapline::audit::Event::Provisioning(a) if a.who == "admf" => Some((a.action, a.client)),
            _ => None,
        })
        .collect();
    for poi in ["p1", "p2"] {
        assert!(acts.contains(&("x1-activate".into(), poi.into())), "{acts:?}");
    }
}

#[test]
fn a_poi_refuses_an_admf_it_does_not_know_and_keeps_its_tasks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = create_dev_pki(&tmp.path().join("pki"), &["poi".to_string()], &loopback_hosts()).expect("PKI");
    issue_client_cert(pki.ca.parent().expect("dir"), "intruder", "admf").expect("intruder cert");
    let (_p1, a1) = start_poi(tmp.path(), &pki, "poi-1", "127.0.0.1:0".parse().expect("addr"), &tmp.path().join("spool-1"));
    let deliver_to: SocketAddr = "127.0.0.1:24000".parse().expect("addr");
    let good = PoisConfig::load(&pois_toml(tmp.path(), &pki, "appliance", &[(a1, "poi-1")], deliver_to)).expect("pois");
    let bad = PoisConfig::load(&pois_toml(tmp.path(), &pki, "intruder", &[(a1, "poi-1")], deliver_to)).expect("pois");
    assert_eq!(bad.admf_identifier, "intruder");
    let w = tapline::warrant::load_file(&write_one(tmp.path()), &Default::default()).expect("warrant");
    let context = |metrics: &Arc<tapline::metrics::Metrics>| tapline::admf::AdmfContext {
        clock: Arc::new(tapline::time::RunClock::wall()),
        audit: None,
        metrics: Arc::clone(metrics),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let metrics = Arc::new(tapline::metrics::Metrics::new());
    let admf = tapline::admf::Admf::start(&good, vec![w.clone()], context(&metrics)).expect("ADMF");
    let want = BTreeMap::from([(xid("PEN-9"), DeliveryType::X2Only)]);
    wait_for(&rt, &good, &want, "tasked by the ADMF");
    drop(admf);

    let metrics = Arc::new(tapline::metrics::Metrics::new());
    let intruder = tapline::admf::Admf::start(&bad, vec![], context(&metrics)).expect("ADMF");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !metrics.x1(tapline::metrics::X1Family::Requests).iter().any(|(p, o, n)| p == "p1" && *o == "refused" && *n > 0) {
        assert!(Instant::now() < deadline, "the intruder was never refused: {:?}", metrics.x1(tapline::metrics::X1Family::Requests));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(intruder.states()["p1"], PoiState::InStep);
    drop(intruder);
    assert_eq!(held(&rt, &good, 0).map(|t| kinds(&t)), Some(want), "the intruder's deactivation changed nothing");
}

fn write_one(dir: &Path) -> PathBuf {
    let path = dir.join("PEN-9.toml");
    std::fs::write(
        &path,
        "liid = \"PEN-9\"\nkind = \"pen-register\"\nagency = \"a\"\ntargets = [\"tel:+13035550142\"]\n\
         valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
         court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n",
    )
    .expect("warrant");
    path
}

#[test]
fn issue_reports_are_acknowledged_from_a_known_poi_and_refused_from_anyone_else() {
    use tapline::x1::report::{ReportError, Reporter};
    use tapline::x1::{IssueReport, NeIssueType, ReportType};
    let tmp = tempfile::tempdir().expect("tempdir");
    let pki = create_dev_pki(&tmp.path().join("pki"), &["poi".to_string(), "mf".to_string()], &loopback_hosts()).expect("PKI");
    let pki_dir = pki.ca.parent().expect("dir").to_owned();
    let poi_cert = issue_client_cert(&pki_dir, "poi-1", "poi").expect("POI client cert");
    let stranger = issue_client_cert(&pki_dir, "poi-9", "poi").expect("stranger cert");
    let mf = pki.server("mf").expect("mf cert");
    let path = pois_toml(tmp.path(), &pki, "appliance", &[("127.0.0.1:9".parse().expect("addr"), "poi-1")], "127.0.0.1:24000".parse().expect("addr"));
    let mut text = std::fs::read_to_string(&path).expect("pois.toml");
    text = text.replacen(
        "reconcile_secs = 1\n",
        &format!("reconcile_secs = 1\nreport_listen = \"127.0.0.1:0\"\nreport_cert = \"{}\"\nreport_key = \"{}\"\n", mf.cert.display(), mf.key.display()),
        1,
    );
    std::fs::write(&path, text).expect("pois.toml");
    let config = PoisConfig::load(&path).expect("pois.toml");
    let metrics = Arc::new(tapline::metrics::Metrics::new());
    let context = tapline::admf::AdmfContext { clock: Arc::new(tapline::time::RunClock::wall()), audit: None, metrics: Arc::clone(&metrics) };
    let admf = tapline::admf::Admf::start(&config, vec![], context).expect("ADMF");
    let addr = admf.report_addr().expect("report endpoint");
    let url = tapline::x1::client::X1Url::parse(&format!("https://localhost:{}/X1/ADMF", addr.port())).expect("url");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let now = Timestamp::wall_now();

    let poi = Reporter::new(&url, &pki.ca, &poi_cert.cert, &poi_cert.key, "appliance", "poi-1").expect("reporter");
    let outage = IssueReport::Ne { kind: NeIssueType::FaultReport, description: "MDF unreachable".into(), code: Some(1) };
    rt.block_on(poi.send(outage.clone(), now)).expect("acknowledged");
    let task = IssueReport::Task { xid: xid("PEN-1"), kind: ReportType::NonTerminatingFault, code: None, details: None };
    rt.block_on(poi.send(task, now)).expect("acknowledged");

    // A certificate of the right CA but not a POI of pois.toml; and a POI claiming to be another.
    let other = Reporter::new(&url, &pki.ca, &stranger.cert, &stranger.key, "appliance", "poi-9").expect("reporter");
    assert!(matches!(rt.block_on(other.send(outage.clone(), now)), Err(ReportError::Refused { code: 1000 })));
    let impostor = Reporter::new(&url, &pki.ca, &stranger.cert, &stranger.key, "appliance", "poi-1").expect("reporter");
    assert!(matches!(rt.block_on(impostor.send(outage.clone(), now)), Err(ReportError::Refused { code: 1000 })));
    // The report endpoint wants a client certificate: the server's own is no client.
    let no_client = Reporter::new(&url, &pki.ca, &mf.cert, &mf.key, "appliance", "poi-1").expect("reporter");
    assert!(rt.block_on(no_client.send(outage, now)).is_err());

    let mut counted = metrics.x1(tapline::metrics::X1Family::Reports);
    counted.sort();
    assert_eq!(counted, [("p1".to_string(), "FaultReport", 1), ("p1".to_string(), "NonTerminatingFault", 1)]);
    let text = tapline::metrics::render_prometheus(&metrics);
    assert!(text.contains("tapline_x1_reports_total{poi=\"p1\",kind=\"FaultReport\"} 1"), "{text}");
}
