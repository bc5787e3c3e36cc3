//! A POI reports its faults to the ADMF over X1, over real mutual TLS on loopback:
//! `tapline run --pois` tasks a real `tapline poi` whose destination (the MDF's X2/X3
//! listener) is down; the POI reports `ReportDestinationIssue` to the run's report endpoint,
//! which acknowledges and counts it; a task whose only destination has no TCP address gets
//! `ReportTaskIssue`. Meanwhile the POI keeps every PDU spooled, delivers them all once the
//! MDF comes up, and reports the destination clear again. The report texts the POI writes
//! validate against the ETSI X1 schema (`../shared/x1x2x3/xsd/X1All.xsd`).

mod delivery_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use delivery_support::*;
use tapline::delivery::pki::{issue_client_cert, DevPki};
use tapline::poi::faults::{Faults, LinkFault, NeCondition, Observation, TaskFault};
use tapline::warrant::Store;
use tapline::x1::report::report_container;
use tapline::x1::*;
use tapline::x2x3::{Listener, ListenerConfig, Xid};
use tapline::Timestamp;

/// A child killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `tapline poi` replaying `pcap` once `tasks` tasks are held, reporting to `report`; its
/// X1 address and log.
fn start_poi(dir: &Path, pki: &DevPki, client: &tapline::delivery::pki::CertFiles, report: SocketAddr, pcap: &Path, tasks: usize) -> (Proc, SocketAddr, PathBuf) {
    let x1 = pki.server("poi").expect("poi cert");
    let log = dir.join("poi.log");
    let child = Command::new(env!("CARGO_BIN_EXE_tapline"))
        .args(["poi", "--x1-listen", "127.0.0.1:0", "--ne-id", "poi-1", "--admf-id", "appliance", "--keepalive-secs", "1"])
        .arg("--cert").arg(&x1.cert).arg("--key").arg(&x1.key).arg("--client-ca").arg(&pki.ca)
        .arg("--spool").arg(dir.join("poi-spool"))
        .arg("--x2x3-cert").arg(&client.cert).arg("--x2x3-key").arg(&client.key).arg("--x2x3-ca").arg(&pki.ca)
        .args(["--admf-report", &format!("https://localhost:{}/X1/ADMF", report.port()), "--admf-report-holddown-secs", "1"])
        .args(["--wait-tasks", &tasks.to_string()])
        .arg("--pcap").arg(pcap)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("tapline poi starts");
    let mut addr = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            addr = log_of(&log).lines().find_map(|l| l.split_once("X1 endpoint on https://")).and_then(|(_, a)| a.trim().parse().ok());
            addr.is_some()
        }),
        "the POI serves X1: {}",
        log_of(&log)
    );
    (Proc(child), addr.expect("address"), log)
}

/// pois.toml: the ADMF (the appliance's certificate) with its report endpoint on `report`,
/// one POI at `x1`, delivering to `deliver_to`.
fn pois_toml(dir: &Path, pki: &DevPki, x1: SocketAddr, report: SocketAddr, deliver_to: SocketAddr) -> PathBuf {
    let mf = pki.server("mf").expect("mf cert");
    let text = format!(
        "[admf]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\ndeliver_to = \"{deliver_to}\"\nreconcile_secs = 1\n\
         report_listen = \"{report}\"\nreport_cert = \"{}\"\nreport_key = \"{}\"\n\n\
         [[poi]]\nid = \"p1\"\nx1 = \"https://localhost:{}/X1/NE\"\nne_identifier = \"poi-1\"\n",
        pki.appliance.cert.display(),
        pki.appliance.key.display(),
        pki.ca.display(),
        mf.cert.display(),
        mf.key.display(),
        x1.port()
    );
    let path = dir.join("pois.toml");
    std::fs::write(&path, text).expect("pois.toml");
    path
}

/// The counter of one sample of the run's `/metrics`, 0 when absent.
fn metric(at: SocketAddr, sample: &str) -> u64 {
    let Ok(mut s) = std::net::TcpStream::connect(at) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return 0;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().find_map(|l| l.strip_prefix(sample)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn schema() -> Option<PathBuf> {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/x1x2x3/xsd/X1All.xsd");
    let ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
    if !xsd.is_file() {
        assert!(!ci, "../shared/x1x2x3 required under CI=true but absent");
        eprintln!("SKIP: ../shared/x1x2x3/xsd/X1All.xsd absent: the report schema check does not run");
        return None;
    }
    if !Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success()) {
        assert!(!ci, "xmllint (libxml2-utils) required under CI=true");
        eprintln!("SKIP: xmllint not installed: the report schema check does not run");
        return None;
    }
    Some(xsd)
}

#[test]
fn every_report_the_poi_writes_validates_against_the_etsi_schema() {
    let Some(xsd) = schema() else { return };
    // Each state the POI's fault core can report, as the POI writes it to the ADMF.
    let (did, xid, t0) = (Xid([0xd0; 16]), Xid([0x10; 16]), Instant::now());
    let mut faults = Faults::new(Duration::ZERO);
    let mut step = 0;
    let mut at = || {
        step += 1;
        t0 + Duration::from_secs(step)
    };
    let observations = [
        Observation::Destination { did, fault: Some(LinkFault::ConnectFailed) },
        Observation::Destination { did, fault: Some(LinkFault::NoAck) },
        Observation::Destination { did, fault: None },
        Observation::Tasks(vec![(xid, Some(TaskFault::NoUsableDestination))]),
        Observation::Tasks(vec![(xid, None)]),
        Observation::Ne { condition: NeCondition::SpoolFull, active: true },
        Observation::Ne { condition: NeCondition::SpoolFull, active: false },
        Observation::Ne { condition: NeCondition::SpoolUnwritable, active: true },
        Observation::Ne { condition: NeCondition::UnconfirmedAtStop, active: true },
    ];
    for o in observations {
        faults.observe(at(), o);
    }
    let reports: Vec<IssueReport> = std::iter::from_fn(|| faults.poll_report()).collect();
    assert_eq!(reports.len(), 9, "{reports:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, r) in reports.into_iter().enumerate() {
        let text = report_container("appliance", "poi-1", r.clone(), Timestamp::wall_now());
        let read = parse_reports(&text).expect("reads back");
        assert_eq!(read.messages.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), [r]);
        let path = dir.path().join(format!("report-{i}.xml"));
        std::fs::write(&path, text).expect("write");
        files.push(path);
    }
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).args(&files).output().expect("xmllint runs");
    assert!(run.status.success(), "xmllint refused a report the POI writes:\n{}", String::from_utf8_lossy(&run.stderr));
    // The check can fail: a report type outside the schema's enumeration is refused.
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, std::fs::read_to_string(&files[0]).expect("read").replace("NonTerminatingFault", "Fine")).expect("write");
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(&bad).output().expect("xmllint runs");
    assert!(!run.status.success(), "xmllint accepts an invalid report type");
}

#[test]
fn a_poi_whose_mdf_is_down_reports_it_keeps_its_pdus_and_delivers_them_once_the_mdf_is_up() {
    let w = single_box(13, &["mf", "poi"]);
    let dir = w.dir.path();
    let client = issue_client_cert(w.pki.ca.parent().expect("pki dir"), "poi-1", "poi").expect("POI client certificate");
    let (store, _) = Store::load_dir(&w.warrants).expect("warrants");
    let targets: Vec<String> = store.warrants.iter().flat_map(|w| w.targets.iter().map(|t| t.raw.clone())).collect();
    let report_at = reserved_port();
    let mdf_at = reserved_port();
    let (mut poi, x1_at, poi_log) = start_poi(dir, &w.pki, &client, report_at, &w.pcap, store.warrants.len());

    // The mediation function as ADMF; its X2/X3 listener is elsewhere: the POI's
    // destination (mdf_at) is down.
    let pois = pois_toml(dir, &w.pki, x1_at, report_at, mdf_at);
    let metrics_at = reserved_port();
    let unused = reserved_port();
    let mf = w.pki.server("mf").expect("mf cert");
    let run_log = dir.join("run.log");
    let run_out = dir.join("run.out");
    let mut run = Proc(
        Command::new(env!("CARGO_BIN_EXE_tapline"))
            .arg("run")
            .arg("--warrants").arg(&w.warrants)
            .arg("--spool").arg(dir.join("run-spool"))
            .arg("--cert").arg(&w.pki.appliance.cert)
            .arg("--key").arg(&w.pki.appliance.key)
            .args(["--x2x3-listen", &unused.to_string(), "--x2x3-cert"]).arg(&mf.cert)
            .arg("--x2x3-key").arg(&mf.key)
            .arg("--x2x3-client-ca").arg(&w.pki.ca)
            .arg("--pois").arg(&pois)
            .args(["--metrics-listen", &metrics_at.to_string()])
            .stdout(std::fs::File::create(&run_out).expect("out"))
            .stderr(std::fs::File::create(&run_log).expect("log"))
            .spawn()
            .expect("tapline run starts"),
    );
    let dest_fault = "tapline_x1_report_messages_total{poi=\"p1\",message=\"ReportDestinationIssue\"} ";
    assert!(
        wait_until(Duration::from_secs(120), || metric(metrics_at, dest_fault) >= 1),
        "the ADMF acknowledges a ReportDestinationIssue from the POI\nPOI:\n{}\nrun:\n{}",
        log_of(&poi_log),
        log_of(&run_log)
    );
    assert!(metric(metrics_at, "tapline_x1_reports_total{poi=\"p1\",kind=\"NonTerminatingFault\"} ") >= 1);
    assert!(
        wait_until(Duration::from_secs(60), || log_of(&poi_log).contains("poi: capture done ")),
        "the capture is processed while the MDF is down: {}",
        log_of(&poi_log)
    );
    let poi_text = log_of(&poi_log);
    assert!(poi_text.contains("X1 issue report acknowledged by the ADMF") && poi_text.contains("ReportDestinationIssue"), "{poi_text}");
    assert!(poi.0.try_wait().expect("wait").is_none(), "the POI waits for its MDF, it does not give up: {poi_text}");
    let done: serde_json::Value = poi_text
        .lines()
        .find_map(|l| l.strip_prefix("poi: capture done "))
        .and_then(|j| serde_json::from_str(j.trim()).ok())
        .expect("capture summary");
    let pdus = done["pdus"]["x2_pdus"].as_u64().expect("x2") + done["pdus"]["x3_pdus"].as_u64().expect("x3");
    assert!(pdus > 0, "{done}");

    // A task whose only destination has no TCP address cannot be served: ReportTaskIssue.
    w.rt.block_on(unusable_task(x1_at, &w.pki));
    let task_fault = "tapline_x1_report_messages_total{poi=\"p1\",message=\"ReportTaskIssue\"} ";
    assert!(
        wait_until(Duration::from_secs(60), || metric(metrics_at, task_fault) >= 1),
        "the ADMF acknowledges a ReportTaskIssue\nPOI:\n{}",
        log_of(&poi_log)
    );

    // The MDF comes up where the POI delivers: every spooled PDU arrives, the POI ends
    // with nothing unconfirmed and reports the destination clear.
    let config = ListenerConfig::new(vec![mdf_at], mf.cert.clone(), mf.key.clone(), w.pki.ca.clone());
    let (listener, feed) = Listener::start(&config).expect("MDF X2/X3 listener");
    // The MDF holds the warrants the ADMF tasked; it keeps nothing, so it confirms at once.
    feed.xids.hold(&store.warrants);
    let drain = std::thread::spawn(move || feed.take_all());
    let status = wait_exit(&mut poi.0, &poi_log);
    let text = log_of(&poi_log);
    assert!(status.success(), "the POI exits 0 once everything is confirmed: {text}");
    let summary: serde_json::Value =
        text.lines().rev().find_map(|l| l.strip_prefix("poi: ")).and_then(|j| serde_json::from_str(j).ok()).expect("POI summary");
    assert_eq!(summary["unconfirmed"], 0, "{summary}");
    assert!(summary["x1_reports"]["sent"].as_u64().expect("sent") >= 3, "fault, task fault, all clear: {summary}");
    let counters = listener.stop();
    let _ = drain.join();
    assert_eq!(counters.x2_pdus + counters.x3_pdus, pdus, "every PDU spooled while the MDF was down arrives: {counters:?}");
    assert!(
        wait_until(Duration::from_secs(30), || metric(metrics_at, "tapline_x1_reports_total{poi=\"p1\",kind=\"AllClear\"} ") >= 1),
        "the ADMF hears the destination is clear again: {text}"
    );
    // No target in what the POI or the ADMF logged.
    let run_text = log_of(&run_log);
    assert!(run_text.contains("X1 issue reported by a POI"), "the ADMF logs each report: {run_text}");
    for t in &targets {
        let bare = t.trim_start_matches("tel:").trim_start_matches("sip:");
        assert!(!text.contains(bare) && !run_text.contains(bare), "a target in the logs");
    }
    // The run's summary names the reports by POI and message.
    let stopped = Command::new("kill").args(["-TERM", &run.0.id().to_string()]).status().expect("kill");
    assert!(stopped.success());
    let _ = wait_exit(&mut run.0, &run_log);
    let out = log_of(&run_out);
    let line = out.lines().find(|l| l.starts_with("x1 reports")).unwrap_or_else(|| panic!("no x1 reports line in the run's summary:\n{out}"));
    assert!(line.contains("p1 ReportDestinationIssue") && line.contains("p1 ReportTaskIssue"), "{line}");
}

/// As the ADMF: a destination with a UDP port (which the POI cannot deliver to) and a task
/// whose only destination it is.
async fn unusable_task(x1: SocketAddr, pki: &DevPki) {
    let did = Xid([0xe1; 16]);
    let dest = DestinationDetails {
        did,
        friendly_name: None,
        delivery_type: DeliveryType::X2Only,
        address: DeliveryAddress::IpAndPort { address: "127.0.0.1".parse().expect("ip"), port: Port::Udp(9) },
    };
    let task = TaskDetails {
        xid: Xid([0xe2; 16]),
        targets: vec![TargetIdentifier::SipUri("sip:nobody@unused.example".into())],
        delivery_type: DeliveryType::X2Only,
        destinations: vec![did],
        correlation_id: None,
        implicit_deactivation_allowed: None,
    };
    let header = |n: u8| MessageHeader {
        admf_identifier: "appliance".into(),
        ne_identifier: "poi-1".into(),
        timestamp: Timestamp::wall_now().to_rfc3339(),
        version: VERSION.into(),
        transaction_id: Xid([n; 16]),
    };
    let body = write_request(&X1Request { messages: vec![(header(0xa1), Request::CreateDestination(dest)), (header(0xa2), Request::ActivateTask(task))] });
    let answer = post(x1, pki, &body).await;
    let X1Response::Responses(v) = parse_response(&answer).expect("X1 answer") else { panic!("{answer}") };
    assert!(v.iter().all(|(_, r)| matches!(r, Response::Ok { .. })), "{v:?}");
}

/// POSTs an X1 request as the ADMF (the appliance's certificate); the response body.
async fn post(addr: SocketAddr, pki: &DevPki, body: &str) -> String {
    let client = tapline::x1::client::X1Client::new(
        &tapline::x1::client::X1Url { host: "localhost".into(), port: addr.port(), path: "/X1/NE".into() },
        &pki.ca,
        &pki.appliance.cert,
        &pki.appliance.key,
    )
    .expect("X1 client");
    client.post(body.to_owned()).await.expect("X1 round")
}

fn wait_exit(child: &mut Child, log: &Path) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(Instant::now() < end, "the process did not finish: {}", log_of(log));
        std::thread::sleep(Duration::from_millis(100));
    }
}
