//! End-to-end tests of the Law Enforcement Support desk on captures made by `tapline::gen`:
//! a replay writes the call detail records (and Call Trace's traces) into the records
//! database, then demands go through the desk: entered, validated, decided, produced,
//! delivered, each in the audit log. The same suite runs on SQLite and on a real
//! PostgreSQL server started by the test set-up.

mod common;
mod desk_support;

use desk_support::{A, B, C, D}; // A: the subscriber asked about (Alex Rivera)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tapline::desk::{cpni, CustomerAuth, DemandDoc, Desk, DeskConfig, Instrument, RequesterKind, State};
use tapline::gen::{CallSpec, Outcome, Scenario};
use tapline::records::{self, Db};
use tapline::replay::{replay_with, ReplayOptions};
use tapline::Timestamp;

const START_S: u64 = 1_793_628_000; // 2026-11-02T14:00Z
const PASSWORD: &str = "tangerine!Orbit#71";

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs_micros(START_S + s, 0)
}

fn call(from: &str, to: &str, outcome: Outcome, s: u64) -> CallSpec {
    CallSpec::new(&format!("+{from}"), &format!("+{to}"), outcome, at(s))
}

fn answered() -> Outcome {
    Outcome::Answered { talk: Duration::from_secs(20) }
}

/// The capture: A's outgoing calls at 0 s (answered), 300 s (busy) and 500 s (`*57`);
/// incoming at 100 s (from C) and 400 s (from D, private, which A traces); B→C at 200 s;
/// A→B at 7200 s, outside the asked hour.
fn scenario() -> Scenario {
    let mut s = Scenario::new(14);
    s.call(call(A, B, answered(), 0));
    s.call(call(C, A, answered(), 100));
    s.call(call(B, C, answered(), 200));
    s.call(call(A, C, Outcome::Rejected { status: 486 }, 300));
    let mut private = call(D, A, answered(), 400);
    private.caller_private = true;
    s.call(private);
    s.call(CallSpec::new(&format!("+{A}"), "*57", Outcome::Answered { talk: Duration::from_secs(2) }, at(500)));
    s.call(call(A, B, answered(), 7200));
    s
}

fn period() -> (String, String) {
    (at(0).to_rfc3339(), at(3600).to_rfc3339())
}

fn doc(instrument: Instrument, kind: RequesterKind, numbers: &[&str]) -> DemandDoc {
    let (from, to) = period();
    DemandDoc {
        instrument,
        requester_kind: kind,
        requester: match kind {
            RequesterKind::Customer => "Alex Rivera".into(),
            _ => "Denver Police Department".into(),
        },
        case_number: Some("DPD-2026-1182".into()),
        issuing_authority: Some("Denver County Court".into()),
        signed: true,
        addressed_to: DeskConfig::default().carrier,
        numbers: numbers.iter().map(|n| format!("+{n}")).collect(),
        from,
        to,
        received: "2026-12-01T09:00:00Z".into(),
        due: Some("2026-12-15T00:00:00Z".into()),
        nondisclosure: false,
        nondisclosure_until: None,
        customer_auth: None,
        justification: None,
    }
}

fn customer_doc() -> DemandDoc {
    DemandDoc {
        case_number: None,
        issuing_authority: None,
        signed: false,
        customer_auth: Some(CustomerAuth::Password { password: PASSWORD.into() }),
        ..doc(Instrument::CustomerRequest, RequesterKind::Customer, &[A])
    }
}

struct World {
    tmp: tempfile::TempDir,
    spec: String,
}

impl World {
    fn audit(&self) -> PathBuf {
        self.tmp.path().join("audit")
    }
    fn out(&self) -> PathBuf {
        self.tmp.path().join("packages")
    }
    fn desk(&self) -> Desk {
        Desk::open(Db::open(&self.spec).expect("open db"), &self.audit(), DeskConfig::default()).expect("desk")
    }
}

/// Imports the directory, replays the capture with Call Trace into the database.
fn world(spec: String, tmp: tempfile::TempDir) -> World {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    {
        let mut db = Db::open(&spec).expect("open db");
        records::import_toml(&mut db, &root.join("calltrace/directory.toml"), &Default::default()).expect("import directory");
        let csv = tmp.path().join("extra.csv");
        fs::write(&csv, format!("number,name,address,account_start,services,payment\n+{A},Alex Rivera,\"1410 Larimer St, Denver, CO 80202\",2019-04-01,voice;voicemail,credit card ending 4242\n")).unwrap();
        records::import_csv(&mut db, &csv, &Default::default()).expect("import csv");
    }
    let capture = tmp.path().join("capture.pcap");
    scenario().write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let wdir = tmp.path().join("warrants");
    fs::create_dir_all(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi")])).unwrap();
    let options = ReplayOptions {
        calltrace: Some(root.join("calltrace/calltrace.toml")),
        records_db: Some(spec.clone()),
        ..Default::default()
    };
    let (summary, _) = replay_with(&capture, &wdir, &tmp.path().join("out"), &options).expect("replay");
    let stats = summary.records.expect("records stats");
    assert_eq!(stats.calls_inserted, 7, "every call of the capture: {stats:?}");
    assert_eq!((stats.calls_traced, stats.traces_stored), (1, 1));
    World { tmp, spec }
}

fn run_demand(desk: &mut Desk, d: DemandDoc, out: &Path) -> tapline::desk::DemandRecord {
    let r = desk.enter(d, "analyst-1").expect("enter");
    let r = desk.validate(&r.id, "analyst-1").expect("validate");
    assert_eq!(r.state, State::Validated, "{:?}", r.refusal);
    desk.decide(&r.id, "supervisor-1", None).expect("decide");
    desk.produce(&r.id, "analyst-1", out).expect("produce");
    desk.deliver(&r.id, "analyst-1", "Denver Police Department, by secure portal").expect("deliver")
}

fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records().map(|rec| headers.iter().map(str::to_owned).zip(rec.unwrap().iter().map(str::to_owned)).collect()).collect()
}

fn all_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in fs::read_dir(dir).unwrap() {
        s.push_str(&fs::read_to_string(e.unwrap().path()).unwrap());
    }
    s
}

fn suite(spec: String, tmp: tempfile::TempDir) {
    let w = world(spec, tmp);
    let out = w.out();
    let mut desk = w.desk();
    let now = tapline::desk::package::sha256_hex(b""); // (keeps the import used)
    let _ = now;

    // Every call is recorded, with its disposition and the *57 flag on the traced call.
    let all_made = desk.db.calls_of(A, records::Direction::Made, 0, i64::MAX).unwrap();
    assert_eq!(all_made.len(), 4, "A made 4 calls (B, C busy, *57, B later)");
    let received = desk.db.calls_of(A, records::Direction::Received, 0, i64::MAX).unwrap();
    assert_eq!(received.len(), 2);
    let private = received.iter().find(|c| c.caller.as_deref() == Some(D)).expect("D's call");
    assert!(private.privacy && private.traced, "the private call from D is traced: {private:?}");
    assert_eq!(private.presentation, None, "presented anonymous");
    let busy = all_made.iter().find(|c| c.callee.as_deref() == Some(C)).unwrap();
    assert_eq!(busy.disposition, records::Disposition::Busy);

    // CPNI: the password is checked against biographical data; setting it notifies.
    assert!(cpni::set_password(&mut desk.db, A, "larimer-street-1", 0).is_err(), "address-derived password refused");
    cpni::set_password(&mut desk.db, A, PASSWORD, 0).expect("password");
    assert_eq!(cpni::notices(&mut desk.db, A).unwrap(), [("password_created".to_owned(), "1410 Larimer St, Denver, CO 80202".to_owned())]);

    // A subpoena with a non-disclosure order, before the customer asks.
    let ndo = DemandDoc { nondisclosure: true, case_number: Some("GJ-SECRET-77".into()), ..doc(Instrument::Subpoena, RequesterKind::Agency, &[A]) };
    let ndo = run_demand(&mut desk, ndo, &out);
    // And one without, which the customer may see.
    let open = run_demand(&mut desk, doc(Instrument::Subpoena, RequesterKind::Agency, &[A]), &out);

    // 1. Customer request: exactly A's outgoing calls of the asked hour.
    let cust = run_demand(&mut desk, customer_doc(), &out);
    let dir = out.join(&cust.id);
    let rows = csv_rows(&dir.join("calls.csv"));
    let starts: BTreeSet<String> = rows.iter().map(|r| r["start_utc"].clone()).collect();
    let expected: BTreeSet<String> = [0, 300, 500].iter().map(|s| at(*s).to_rfc3339()).collect();
    assert_eq!(starts, expected, "only A's calls made in the hour");
    assert!(rows.iter().all(|r| r["direction"] == "made" && r["caller"] == A), "{rows:?}");
    assert!(!dir.join("traces.csv").exists(), "no trace results to the subscriber");
    assert!(!rows[0].contains_key("traced_by_star57"));
    assert_eq!(desk.db.billing_of(A).unwrap().len(), 1, "a fee billing record");
    // ... and under the non-disclosure order it reveals nothing of that demand, while
    // the demand without one is listed.
    let text = all_text(&dir);
    assert!(!text.contains(&ndo.id) && !text.contains("GJ-SECRET-77"), "the NDO demand leaks into the customer's package");
    assert!(text.contains(&open.id), "the demand without an NDO is disclosed to the customer");
    let view: Vec<String> = desk.customer_view(A, i64::MAX - 1).unwrap().into_iter().map(|d| d.id).collect();
    assert!(!view.contains(&ndo.id) && view.contains(&open.id));

    // 2. Subpoena: both directions and subscriber info, and the trace.
    let dir = out.join(&open.id);
    let rows = csv_rows(&dir.join("calls.csv"));
    let dirs: BTreeSet<&str> = rows.iter().map(|r| r["direction"].as_str()).collect();
    assert_eq!(dirs, BTreeSet::from(["made", "received"]));
    assert_eq!(rows.len(), 5, "3 made + 2 received in the hour");
    assert!(rows.iter().all(|r| r["caller"] == A || r["callee"] == A), "no call of other numbers");
    let sub: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("subscriber.json")).unwrap()).unwrap();
    assert_eq!(sub[0]["name"], "Alex Rivera");
    assert_eq!(sub[0]["payment"], "credit card ending 4242");
    let traces = csv_rows(&dir.join("traces.csv"));
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0]["caller"], D);
    assert_eq!(traces[0]["caller_type"], "private");
    assert_eq!(traces[0]["answered"], "yes");
    assert_eq!(traces[0]["caller_name"], "Casey Nguyen");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    for f in manifest["files"].as_array().unwrap() {
        let bytes = fs::read(dir.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], tapline::desk::package::sha256_hex(&bytes));
    }
    assert!(out.join(format!("{}.zip", open.id)).exists());
    let cert = fs::read_to_string(dir.join("certificate.html")).unwrap();
    assert!(cert.contains("Certificate of authenticity") && cert.contains("902(11)"));

    // 3. NSL: toll records both ways, no trace results, no payment.
    let nsl = run_demand(&mut desk, doc(Instrument::NationalSecurityLetter, RequesterKind::Agency, &[A]), &out);
    let dir = out.join(&nsl.id);
    assert!(!dir.join("traces.csv").exists(), "an NSL gets no trace results");
    let rows = csv_rows(&dir.join("calls.csv"));
    assert_eq!(rows.len(), 5);
    assert!(!rows[0].contains_key("traced_by_star57"), "not even the traced flag");
    let sub: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("subscriber.json")).unwrap()).unwrap();
    assert!(sub[0].get("payment").is_none() && sub[0]["account_start"] == "2019-04-01");

    // Refusals, with their reasons.
    let wrong = DemandDoc { addressed_to: "Other Telco LLC".into(), ..doc(Instrument::Subpoena, RequesterKind::Agency, &[A]) };
    let r = desk.enter(wrong, "analyst-1").unwrap();
    assert_eq!(desk.validate(&r.id, "analyst-1").unwrap().state, State::Rejected);
    let unsigned = DemandDoc { signed: false, ..doc(Instrument::CourtOrder, RequesterKind::Agency, &[A]) };
    let r = desk.enter(unsigned, "analyst-1").unwrap();
    assert_eq!(desk.validate(&r.id, "analyst-1").unwrap().state, State::ReturnedForClarification);
    let old = DemandDoc { from: "2020-01-01T00:00:00Z".into(), to: "2020-02-01T00:00:00Z".into(), ..doc(Instrument::Subpoena, RequesterKind::Agency, &[A]) };
    let r = desk.enter(old, "analyst-1").unwrap();
    let r = desk.validate(&r.id, "analyst-1").unwrap();
    assert_eq!((r.state, r.refusal), (State::Rejected, Some(tapline::desk::Refusal::BeyondRetention)));
    let wrong_pw = DemandDoc { customer_auth: Some(CustomerAuth::Password { password: "not-the-password".into() }), ..customer_doc() };
    let r = desk.enter(wrong_pw, "analyst-1").unwrap();
    assert_eq!(desk.validate(&r.id, "analyst-1").unwrap().state, State::Rejected);

    // Every step is in the audit log, which verifies; a package is reproducible from it.
    let log = fs::read_to_string(w.audit().join(tapline::audit::LOG_FILE)).unwrap();
    for action in ["demand-entered", "demand-validated", "demand-decided", "demand-produced", "demand-delivered", "demand-rejected", "demand-returned"] {
        assert!(log.contains(&format!("\"action\":\"{action}\"")), "{action} missing from the audit log");
    }
    let steps = log.lines().filter(|l| l.contains(&format!("\\\"demand\\\":\\\"{}\\\"", open.id))).count();
    assert_eq!(steps, 5, "five steps of the subpoena");
    assert!(matches!(tapline::audit::verify_dir(&w.audit()).unwrap(), Ok(_)), "audit verify");
    let again = desk.reproduce(&open.id, &w.tmp.path().join("reproduced")).expect("reproduce");
    assert_eq!(Some(again.manifest_sha256), desk.get(&open.id).unwrap().produced.map(|p| p.manifest_sha256));

    // 4. A preservation hold survives a purge that removes everything else of that age.
    let pres = doc(Instrument::PreservationRequest, RequesterKind::Agency, &[A]);
    let pres = desk.enter(pres, "analyst-1").unwrap();
    desk.validate(&pres.id, "analyst-1").unwrap();
    desk.decide(&pres.id, "supervisor-1", None).unwrap();
    let before = desk.db.count_calls().unwrap();
    let report = desk.db.purge(at(30 * 86_400).as_nanos() as i64, 1).unwrap();
    let kept = desk.db.calls_of(A, records::Direction::Made, 0, i64::MAX).unwrap().len()
        + desk.db.calls_of(A, records::Direction::Received, 0, i64::MAX).unwrap().len();
    assert_eq!(kept, 5, "A's calls of the held hour survive; the 7200 s call is outside the hold");
    assert_eq!(report.calls_held, 5);
    assert_eq!(desk.db.count_calls().unwrap(), 5, "everything else was purged (from {before})");
    assert!(matches!(tapline::audit::verify_dir(&w.audit()).unwrap(), Ok(_)));
}

#[test]
fn desk_suite_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = desk_support::sqlite_in(tmp.path());
    suite(spec, tmp);
}

#[test]
fn desk_suite_on_postgresql() {
    let Some(pg) = desk_support::Pg::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    suite(pg.new_db(), tmp);
}
