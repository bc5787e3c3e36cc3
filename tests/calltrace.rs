//! End-to-end Call Trace (`*57`) tests: captures made by `tapline::gen` are written as pcap
//! files, replayed with the bundled `calltrace/` configuration, and the Call Identification
//! Center, billing and subscriber outputs are checked record by record.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tapline::gen::{demo_scenario, CallSpec, Outcome, Scenario, Transport};
use tapline::replay::{replay_with, ReplayOptions, Summary};
use tapline::Timestamp;

const START: Timestamp = Timestamp::from_secs_micros(1_793_628_000, 0); // 2026-11-02T14:00Z
/// Charge of the demo config's area `denver-303` (every 303 subscriber).
const CHARGE: u64 = 650;


fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("calltrace/calltrace.toml")
}

fn call(caller: &str, callee: &str, outcome: Outcome, at_s: u64) -> CallSpec {
    CallSpec::new(caller, callee, outcome, Timestamp::from_nanos(START.as_nanos() + at_s * 1_000_000_000))
}

fn answered(secs: u64) -> Outcome {
    Outcome::Answered { talk: Duration::from_secs(secs) }
}

fn rang(secs: u64) -> Outcome {
    Outcome::RangNoAnswer { ring: Duration::from_secs(secs) }
}

/// `subscriber` dials `*57` (an announcement answers for two seconds).
fn star57(subscriber: &str, at_s: u64) -> CallSpec {
    call(subscriber, "*57", answered(2), at_s)
}

struct Out {
    summary: Summary,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Out {
    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    fn lines(&self, rel: &str) -> Vec<Value> {
        self.read(rel).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }

    /// Trace records per subscriber, in order.
    fn traces(&self) -> BTreeMap<String, Vec<Value>> {
        let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in self.lines("cic/traces.jsonl") {
            m.entry(r["subscriber"].as_str().unwrap().to_owned()).or_default().push(r);
        }
        m
    }
}

fn run_in(tmp: tempfile::TempDir, scenario: &Scenario, state: Option<&Path>) -> Out {
    let capture = tmp.path().join("capture.pcap");
    scenario.write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let wdir = tmp.path().join("warrants");
    fs::create_dir_all(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi")])).unwrap();
    let dir = tmp.path().join("out");
    let options = ReplayOptions { calltrace: Some(config()), calltrace_state: state.map(Path::to_owned), ..Default::default() };
    let (summary, refused) = replay_with(&capture, &wdir, &dir, &options).expect("replay");
    assert!(refused.is_empty());
    Out { summary, dir, _tmp: tmp }
}

fn run(scenario: &Scenario) -> Out {
    run_in(tempfile::tempdir().unwrap(), scenario, None)
}

/// Every case of the service, one subscriber each.
fn cases() -> Scenario {
    let mut s = Scenario::new(57);
    // Answered call from a listed subscriber; the *57 goes over TCP.
    s.call(call("+13035550177", "+13035550142", answered(5), 0));
    let mut over_tcp = star57("+13035550142", 30);
    over_tcp.transport = Transport::Tcp;
    s.call(over_tcp);
    // Rang, not answered; the caller is not the carrier's subscriber.
    s.call(call("+17205550101", "+13035550199", rang(6), 0));
    s.call(star57("+13035550199", 30));
    // Forwarded from 0188 to 0121 (Diversion, History-Info): both may trace it.
    let fw = Outcome::ForwardedDiversion { to: "+13035550121".into(), talk: Duration::from_secs(4) };
    s.call(call("+13035550111", "+13035550188", fw, 0));
    s.call(star57("+13035550188", 40));
    s.call(star57("+13035550121", 45));
    // "Private" (Privacy: id, P-Asserted-Identity): traceable.
    let mut private = call("+13035550177", "+13035550131", rang(5), 0);
    private.caller_private = true;
    s.call(private);
    s.call(star57("+13035550131", 30));
    // Anonymous, unavailable: no identity to trace.
    let mut anonymous = call("+13035550177", "+13035550132", answered(3), 0);
    anonymous.caller_anonymous_unavailable = true;
    s.call(anonymous);
    s.call(star57("+13035550132", 30));
    // Call waiting: a second call rings during an answered one and is the one traced.
    s.call(call("+17205550102", "+13035550133", answered(30), 0));
    s.call(call("+17205550103", "+13035550133", rang(5), 10));
    s.call(star57("+13035550133", 60));
    // No incoming call at all; dialled escaped.
    s.call(call("+13035550134", "%2A57", answered(2), 30));
    // Busy: the phone never rang.
    s.call(call("+17205550104", "+13035550135", Outcome::Rejected { status: 486 }, 0));
    s.call(star57("+13035550135", 30));
    // Three calls from the same number, each traced.
    for i in 0..3 {
        s.call(call("+17205550105", "+13035550136", answered(3), i * 100));
        s.call(star57("+13035550136", i * 100 + 30));
    }
    s
}

fn only<'a>(traces: &'a BTreeMap<String, Vec<Value>>, subscriber: &str) -> &'a Value {
    let v = &traces[subscriber];
    assert_eq!(v.len(), 1, "{subscriber}: {v:?}");
    &v[0]
}

fn assert_success(r: &Value, caller: &str) {
    assert_eq!(r["result"], "success", "{r}");
    assert_eq!(r["calling_number"], caller, "{r}");
    assert_eq!(r["charge_cents"], CHARGE);
    assert!(r.get("failure_reason").is_none());
}

fn assert_failure(r: &Value, reason: &str) {
    assert_eq!(r["result"], "failure", "{r}");
    assert_eq!(r["failure_reason"], reason);
    assert_eq!(r["charge_cents"], 0);
    assert_eq!(r["calling_number"], Value::Null);
    assert_eq!(r["successful_traces"], 0);
}

#[test]
fn every_case_through_replay() {
    let out = run(&cases());
    let t = out.traces();

    let r = only(&t, "13035550142");
    assert_success(r, "13035550177");
    assert_eq!(r["caller_name"], "Jordan Lee");
    assert_eq!(r["caller_address"], "2210 Blake St, Denver, CO 80205");
    assert_eq!(r["traced_call"]["time"], "2026-11-02T14:00:00.000000Z");
    assert_eq!((&r["successful_traces"], &r["threshold_reached"]), (&Value::from(1), &Value::from(false)));

    let r = only(&t, "13035550199");
    assert_success(r, "17205550101");
    assert_eq!(r["caller_name"], Value::Null, "not a subscriber: no directory listing");

    for forwarded in ["13035550188", "13035550121"] {
        let r = only(&t, forwarded);
        assert_success(r, "13035550111");
        assert_eq!(r["caller_name"], "Morgan Diaz");
        assert_eq!(r["traced_call"]["forwarded"], true);
    }
    assert_eq!(t["13035550188"][0]["traced_call"]["call_id"], t["13035550121"][0]["traced_call"]["call_id"]);

    let r = only(&t, "13035550131");
    assert_success(r, "13035550177");
    assert_eq!(r["traced_call"]["caller_private"], true);

    assert_failure(only(&t, "13035550132"), "caller_unavailable");

    let r = only(&t, "13035550133");
    assert_success(r, "17205550103");
    assert_eq!(r["traced_call"]["time"], "2026-11-02T14:00:10.000000Z", "the call-waiting call");

    let r = only(&t, "13035550134");
    assert_failure(r, "no_incoming_call");
    assert_eq!(r["traced_call"], Value::Null);

    let r = only(&t, "13035550135");
    assert_failure(r, "never_rang");
    assert_eq!(r["traced_call"]["time"], "2026-11-02T14:00:00.000000Z");

    let thrice = &t["13035550136"];
    let counts: Vec<(u64, bool)> = thrice
        .iter()
        .map(|r| (r["successful_traces"].as_u64().unwrap(), r["threshold_reached"].as_bool().unwrap()))
        .collect();
    assert_eq!(counts, [(1, false), (2, false), (3, true)]);
    for r in thrice {
        assert_success(r, "17205550105");
    }
    assert_eq!(t.values().map(Vec::len).sum::<usize>(), 12);

    // Billing: one charge per success, none for failures.
    let charges = out.lines("billing/charges.jsonl");
    let successes: Vec<&Value> = t.values().flatten().filter(|r| r["result"] == "success").collect();
    assert_eq!(charges.len(), successes.len());
    assert_eq!(charges.len(), 9);
    for c in &charges {
        assert_eq!((&c["charge_cents"], &c["area"], &c["service"]), (&CHARGE.into(), &"denver-303".into(), &"call_trace".into()));
        assert!(successes.iter().any(|s| s["trace_id"] == c["trace_id"]));
    }

    // The subscriber learns result and charge only.
    let outcomes = out.lines("subscriber/outcomes.jsonl");
    assert_eq!(outcomes.len(), 12);
    for o in &outcomes {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["charge_cents", "result", "subscriber", "time", "trace_id"]);
        let cic = t.values().flatten().find(|r| r["trace_id"] == o["trace_id"]).unwrap();
        assert_eq!((&o["result"], &o["charge_cents"]), (&cic["result"], &cic["charge_cents"]));
    }

    let ct = out.summary.calltrace.as_ref().expect("call trace counters");
    assert_eq!(ct.trace_requests, 12);
    assert_eq!(ct.traces_succeeded, 9);
    assert_eq!((ct.failed_no_incoming_call, ct.failed_never_rang, ct.failed_caller_unavailable), (1, 1, 1));
    assert_eq!(ct.thresholds_reached, 1);
    assert_eq!(ct.charged_cents, 9 * CHARGE);
}

/// No byte of what the subscriber or billing sees, nor the summary, names a caller.
#[test]
fn no_caller_identity_leaks_outside_the_center() {
    let out = run(&cases());
    let cic = out.read("cic/traces.jsonl");
    let mut secrets: Vec<String> = Vec::new();
    for number in ["13035550177", "17205550101", "13035550111", "17205550103", "17205550105"] {
        assert!(cic.contains(number), "the Center gets {number}");
        secrets.push(format!("+{number}"));
        secrets.push(number.to_owned());
        secrets.push(number[1..].to_owned()); // national
        secrets.push(number[4..].to_owned()); // local seven digits
        secrets.push(format!("{}-{}-{}", &number[1..4], &number[4..7], &number[7..]));
    }
    for listed in ["Jordan Lee", "2210 Blake St", "Morgan Diaz", "1701 Wynkoop St"] {
        assert!(cic.contains(listed));
        secrets.push(listed.to_owned());
    }
    for r in out.lines("cic/traces.jsonl") {
        if let Some(id) = r["traced_call"]["call_id"].as_str() {
            secrets.push(id.to_owned());
        }
    }
    let summary = fs::read(out.dir.join("summary.json")).unwrap();
    for (name, bytes) in [
        ("subscriber/outcomes.jsonl", out.read("subscriber/outcomes.jsonl").into_bytes()),
        ("billing/charges.jsonl", out.read("billing/charges.jsonl").into_bytes()),
        ("summary.json", summary),
    ] {
        assert!(!bytes.is_empty());
        for s in &secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{name} leaks a caller identity ({} bytes long)",
                s.len()
            );
        }
    }
}

/// The running count survives a restart through the state file; trace ids continue.
#[test]
fn third_trace_counted_across_runs_with_state_file() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("calltrace-state.json");
    let mut first = Scenario::new(1);
    for i in 0..2 {
        first.call(call("+17205550105", "+13035550136", rang(4), i * 100));
        first.call(star57("+13035550136", i * 100 + 30));
    }
    let out = run_in(tmp, &first, Some(&state));
    let counts: Vec<u64> =
        out.lines("cic/traces.jsonl").iter().map(|r| r["successful_traces"].as_u64().unwrap()).collect();
    assert_eq!(counts, [1, 2]);
    let saved = fs::read_to_string(&state).unwrap();
    assert!(saved.contains("\"successes\": 2"), "{saved}");

    let tmp2 = tempfile::tempdir().unwrap();
    let mut second = Scenario::new(2);
    second.call(call("+17205550105", "+13035550136", rang(4), 1000));
    second.call(star57("+13035550136", 1030));
    let out2 = run_in(tmp2, &second, Some(&state));
    let r = &out2.lines("cic/traces.jsonl")[0];
    assert_eq!(r["trace_id"], "CT-00000003");
    assert_eq!((&r["successful_traces"], &r["threshold_reached"]), (&Value::from(3), &Value::from(true)));
    drop(out);
}

/// Without `--calltrace` nothing changes: no counters, no call trace files. With it, the
/// demo capture (no `*57`) gives counters and empty record files.
#[test]
fn demo_capture_with_and_without_call_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("demo.pcap");
    demo_scenario().write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let wdir = Path::new(env!("CARGO_MANIFEST_DIR")).join("warrants");
    let plain = tmp.path().join("plain");
    let (summary, _) = replay_with(&capture, &wdir, &plain, &ReplayOptions::default()).unwrap();
    assert!(summary.calltrace.is_none());
    assert!(!plain.join("cic").exists());
    assert!(!fs::read_to_string(plain.join("summary.json")).unwrap().contains("calltrace"));

    let traced = tmp.path().join("traced");
    let options = ReplayOptions { calltrace: Some(config()), calltrace_state: None, ..Default::default() };
    let (with, _) = replay_with(&capture, &wdir, &traced, &options).unwrap();
    let ct = with.calltrace.unwrap();
    // 0199 (lunch), 0142 (private), 0188 and 0142 (forwarded; 0142 again).
    assert_eq!(ct.incoming_calls, 4);
    assert_eq!(ct.trace_requests, 0);
    assert_eq!(fs::read(traced.join("cic/traces.jsonl")).unwrap(), b"");
    // Mediation is unchanged by the observer.
    assert_eq!(serde_json::to_value(&with.mediation).unwrap(), serde_json::to_value(&summary.mediation).unwrap());
    assert_eq!(with.liids.len(), summary.liids.len());
}
