//! The desk inside a running appliance, on captures made by `tapline::gen`: the daily
//! retention purge by packet time (held records survive, audited, counted), `*57` from a
//! line with Call Trace blocked (no case, nothing charged, audited), and the Center's alarm
//! on the Prometheus endpoint. The purge runs on SQLite and on a real PostgreSQL server.

mod common;
mod desk_support;

use desk_support::{A, B, C, D};

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tapline::gen::{CallSpec, Outcome, Scenario};
use tapline::records::{self, Db, Direction, Hold, Retention};
use tapline::run::{LifecycleOptions, RunOptions, RunSummary, Source};
use tapline::Timestamp;

const START_S: u64 = 1_709_560_800; // 2024-03-04T14:00Z, before any test machine's clock
const DAY_S: u64 = 86_400;

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs_micros(START_S + s, 0)
}

fn ns(s: u64) -> i64 {
    at(s).as_nanos() as i64
}

fn call(from: &str, to: &str, s: u64) -> CallSpec {
    CallSpec::new(&format!("+{from}"), &format!("+{to}"), Outcome::Answered { talk: Duration::from_secs(20) }, at(s))
}

fn star57(from: &str, s: u64) -> CallSpec {
    CallSpec::new(&format!("+{from}"), "*57", Outcome::Answered { talk: Duration::from_secs(2) }, at(s))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A warrant directory with one agency and no warrant: the run delivers nothing and
/// records every call.
fn warrants(dir: &Path) -> PathBuf {
    let w = dir.join("warrants");
    fs::create_dir_all(&w).unwrap();
    fs::write(w.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi")])).unwrap();
    w
}

/// `tapline run` over `scenario` with Call Trace and the records database `spec`,
/// auditing into DIR/audit.
fn run(dir: &Path, scenario: &Scenario, spec: &str, retention: Retention) -> RunSummary {
    let capture = dir.join("capture.pcap");
    scenario.write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let spool = dir.join("spool");
    let pki = tapline::delivery::pki::create_dev_pki(&dir.join("pki"), &["a".to_owned()], &tapline::delivery::pki::loopback_hosts())
        .expect("dev PKI");
    let options = RunOptions {
        warrants: warrants(dir),
        source: Source::Pcap { path: capture, rate: None },
        delivery: tapline::delivery::DeliveryOptions {
            spool,
            client_cert: pki.appliance.cert.clone(),
            client_key: pki.appliance.key.clone(),
            spool_limit: 64 << 20,
            sender: Default::default(),
        },
        drain: Duration::from_secs(1),
        ca_override: [("a".to_owned(), pki.ca.clone())].into(),
        calltrace: Some(root().join("calltrace/calltrace.toml")),
        pipeline: Default::default(),
        metrics: None,
        mediator: Default::default(),
        records_db: Some(spec.to_owned()),
        retention,
    };
    let lifecycle = LifecycleOptions { audit: Some(dir.join("audit")), poll: None, ..Default::default() };
    tapline::run::run_with(&options, Arc::new(AtomicBool::new(false)), &lifecycle).expect("run")
}

fn import(spec: &str, dir: &Path, csv_rows: &str) {
    let mut db = Db::open(spec).expect("open db");
    records::import_toml(&mut db, &root().join("calltrace/directory.toml"), &Default::default()).expect("import");
    let csv = dir.join("extra.csv");
    fs::write(&csv, format!("number,name,address,account_start,services,payment,trace_blocked\n{csv_rows}")).unwrap();
    records::import_csv(&mut db, &csv, &Default::default()).expect("import csv");
}

/// The audit entries' actions, after checking the chain verifies.
fn audit_actions(dir: &Path) -> Vec<(String, String)> {
    let audit = dir.join("audit");
    assert!(matches!(tapline::audit::verify_dir(&audit).unwrap(), Ok(_)), "audit verify");
    fs::read_to_string(audit.join(tapline::audit::LOG_FILE))
        .unwrap()
        .lines()
        .map(|l| {
            let entry: tapline::audit::Entry = serde_json::from_str(l.split_once(' ').unwrap().1).unwrap();
            match entry.event {
                tapline::audit::Event::Provisioning(act) => (act.action, act.detail.unwrap_or_default()),
                other => panic!("unexpected entry {other:?}"),
            }
        })
        .collect()
}

/// A's first hour on day 0 is held; the capture goes on to day 2. With one day of
/// retention the purge at day 2's first packet deletes day 0's other calls only.
fn purge_suite(spec: String, tmp: tempfile::TempDir) {
    let dir = tmp.path();
    import(&spec, dir, "");
    Db::open(&spec)
        .unwrap()
        .add_hold(&Hold { id: "H1".into(), demand_id: "D-000001".into(), number: A.into(), from_ns: ns(0), to_ns: ns(3600), expires_ns: i64::MAX / 2, renewals: 0 })
        .unwrap();
    let mut s = Scenario::new(21);
    s.call(call(A, B, 0)); // held (made by A)
    s.call(call(C, A, 100)); // held (received by A)
    s.call(call(B, C, 200)); // purged
    s.call(call(A, C, 7200)); // purged: outside the held hour
    s.call(call(B, D, 2 * DAY_S + 3600)); // kept: within retention
    let retention = Retention { call_days: 1, ..Retention::default() };
    let summary = run(dir, &s, &spec, retention);
    let stats = summary.records.expect("records stats");
    assert_eq!(stats.calls_inserted, 5, "{stats:?}");
    assert_eq!((stats.purges, stats.calls_purged, stats.calls_held), (2, 2, 2), "first packet, then day 2: {stats:?}");

    let mut db = Db::open(&spec).unwrap();
    assert_eq!(db.count_calls().unwrap(), 3);
    let made = db.calls_of(A, Direction::Made, 0, i64::MAX).unwrap();
    assert_eq!(made.iter().map(|c| c.callee.as_deref()).collect::<Vec<_>>(), [Some(B)], "A's held call only");
    assert_eq!(db.calls_of(A, Direction::Received, 0, i64::MAX).unwrap().len(), 1, "the held incoming call");
    assert!(db.calls_of(B, Direction::Made, 0, ns(DAY_S)).unwrap().is_empty(), "B's day-0 call is purged");
    assert_eq!(db.calls_of(B, Direction::Made, ns(DAY_S), i64::MAX).unwrap().len(), 1, "the day-2 call is kept");

    let purges: Vec<serde_json::Value> = audit_actions(dir)
        .into_iter()
        .filter(|(a, _)| a == "records-purged")
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect();
    assert_eq!(purges.len(), 2, "each purge audited: {purges:?}");
    assert_eq!(purges[1]["report"]["calls_deleted"], 2);
    assert_eq!(purges[1]["report"]["calls_held"], 2);
    assert_eq!(purges[1]["retention"]["call_days"], 1);
    assert_eq!(purges[1]["as_of"], at(2 * DAY_S + 3600).to_rfc3339(), "packet time");
}

#[test]
fn the_run_purges_daily_by_packet_time_and_spares_held_records_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    purge_suite(desk_support::sqlite_in(tmp.path()), tmp);
}

#[test]
fn the_run_purges_daily_by_packet_time_and_spares_held_records_on_postgresql() {
    let Some(pg) = desk_support::Pg::start() else { return };
    purge_suite(pg.new_db(), tempfile::tempdir().unwrap());
}

/// JSON lines of a Call Trace output file under the spool.
fn lines(dir: &Path, file: &str) -> Vec<serde_json::Value> {
    let text = fs::read_to_string(dir.join("spool/calltrace").join(file)).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn star57_from_a_blocked_line_makes_no_case_charges_nothing_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = desk_support::sqlite_in(dir);
    // A's line has Call Trace blocked by the directory import; B's does not.
    import(&spec, dir, &format!("+{A},Alex Rivera,\"1410 Larimer St, Denver, CO 80202\",,,,yes\n+{B},Jordan Lee,\"2210 Blake St\",,,,no\n"));
    let mut s = Scenario::new(22);
    s.call(call(C, A, 0));
    s.call(star57(A, 100));
    s.call(call(C, B, 200));
    s.call(star57(B, 300));
    let summary = run(dir, &s, &spec, Retention::default());
    let ct = summary.calltrace.expect("call trace stats");
    assert_eq!((ct.trace_requests, ct.requests_blocked, ct.traces_succeeded), (2, 1, 1), "{ct:?}");
    assert_eq!(summary.records.expect("records").traces_stored, 1);

    let mut db = Db::open(&spec).unwrap();
    assert!(db.cases_of(A).unwrap().is_empty() && db.traces_of(A).unwrap().is_empty(), "no case for the blocked line");
    assert_eq!(db.cases_of(B).unwrap().len(), 1, "the other line's trace makes its case");
    let to_a = db.calls_of(A, Direction::Received, 0, i64::MAX).unwrap();
    assert!(!to_a[0].traced, "the call to the blocked line is not flagged as traced");
    assert!(db.billing_of(A).unwrap().is_empty());

    let traces = lines(dir, "cic/traces.jsonl");
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0]["subscriber"], B);
    let charges = lines(dir, "billing/charges.jsonl");
    assert!(charges.iter().all(|c| c["subscriber"] == B), "nothing charged to the blocked line: {charges:?}");
    let outcomes = lines(dir, "subscriber/outcomes.jsonl");
    let of_a: Vec<_> = outcomes.iter().filter(|o| o["subscriber"] == A).collect();
    assert_eq!(of_a.len(), 1);
    assert_eq!((&of_a[0]["result"], &of_a[0]["charge_cents"]), (&"blocked".into(), &0.into()));
    assert!(!serde_json::to_string(&outcomes).unwrap().contains(C), "a subscriber never sees the caller");

    let refused: Vec<_> = audit_actions(dir).into_iter().filter(|(a, _)| a == "trace-refused-blocked").collect();
    assert_eq!(refused.len(), 1, "the blocked *57 is audited");
    assert!(refused[0].1.contains(of_a[0]["trace_id"].as_str().unwrap()) && !refused[0].1.contains(A), "{refused:?}");
}

/// (status, body) of `GET path`.
fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
}

#[test]
fn each_new_trace_raises_the_alarm_on_the_metrics_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = desk_support::sqlite_in(dir);
    import(&spec, dir, "");
    let mut s = Scenario::new(23);
    s.call(call(C, A, 0));
    s.call(star57(A, 100)); // succeeds
    s.call(star57(B, 200)); // fails: no incoming call, still a trace at the Center
    let capture = dir.join("capture.pcap");
    s.write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let metrics = Arc::new(tapline::metrics::Metrics::new());
    let server = tapline::metrics::serve("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics)).unwrap();
    let options = tapline::replay::ReplayOptions {
        calltrace: Some(root().join("calltrace/calltrace.toml")),
        records_db: Some(spec.clone()),
        metrics: Some(metrics),
        ..Default::default()
    };
    tapline::replay::replay_with(&capture, &warrants(dir), &dir.join("out"), &options).expect("replay");
    let (status, body) = get(server.local_addr(), "/metrics");
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    for expected in [
        "# TYPE tapline_trace_alarms_total counter",
        "tapline_trace_alarms_total 2",
        "tapline_records_purges_total 1",
        "tapline_call_records_purged_total 0",
    ] {
        assert!(lines.contains(&expected), "missing {expected}\n{body}");
    }
    for n in [A, B, C, "5550142"] {
        assert!(!body.contains(n), "a number in the metrics");
    }
}

fn tapline(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tapline")).args(args).output().unwrap()
}

#[test]
fn desk_block_trace_sets_and_lifts_the_block_under_the_appliance_domains_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = desk_support::sqlite_in(dir);
    let w = dir.join("warrants");
    fs::create_dir_all(&w).unwrap();
    let agencies = common::warrants::agencies_toml(&[("a", "US", "etsi")]).replace("[appliance]\n", "[appliance]\nnumber_domains = [\"carrier.net\"]\n");
    fs::write(w.join("agencies.toml"), agencies).unwrap();
    let audit = dir.join("audit");
    let (db, audit_s, w_s) = (spec.as_str(), audit.to_str().unwrap(), w.to_str().unwrap());
    let out = tapline(&["desk", "block-trace", "sip:3035550142@carrier.net", "--db", db, "--audit", audit_s, "--as", "analyst-7", "--warrants", w_s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(Db::open(&spec).unwrap().trace_blocked(A).unwrap(), "keyed as the number under the appliance's domain");
    let out = tapline(&["desk", "block-trace", "+13035550142", "--unblock", "--db", db, "--audit", audit_s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!Db::open(&spec).unwrap().trace_blocked(A).unwrap());
    let actions: Vec<String> = audit_actions(dir).into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["trace-blocked", "trace-unblocked"]);
    let out = tapline(&["desk", "purge", "--db", db, "--retention-days", "0"]);
    assert!(!out.status.success(), "a retention of 0 days would purge everything");
}
