//! Unit tests of the call detail recorder (literal SIP messages) and the records database
//! on SQLite (the same suite runs on PostgreSQL end to end in tests/desk_e2e.rs).

use super::cdr::failure_disposition;
use super::*;
use crate::sip;
use crate::Timestamp;

fn at(s: u64) -> Timestamp {
    Timestamp::from_secs_micros(1_793_628_000 + s, 0)
}

fn invite(call_id: &str, extra: &str) -> String {
    format!(
        "INVITE sip:+13035550177@carrier.example;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
         From: <sip:+13035550142@carrier.example;user=phone>;tag=a\r\nTo: <sip:+13035550177@carrier.example;user=phone>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn response(call_id: &str, status: u16, method: &str) -> String {
    format!(
        "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn bye(call_id: &str) -> String {
    format!(
        "BYE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\n\
         Call-ID: {call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
}

fn feed(t: &mut CdrTracker, text: &str, s: u64) -> Option<CallRecord> {
    let msg = sip::parse(text.as_bytes()).expect("SIP");
    t.handle_sip(&msg, at(s), "udp")
}

#[test]
fn answered_call_has_parties_times_and_duration() {
    let mut t = CdrTracker::new();
    let pai = "P-Asserted-Identity: <tel:+13035550111>\r\nPrivacy: id\r\n";
    assert!(feed(&mut t, &invite("c1", pai), 0).is_none());
    assert!(feed(&mut t, &invite("c1", pai), 1).is_none(), "retransmission");
    assert!(feed(&mut t, &response("c1", 180, "INVITE"), 2).is_none());
    assert!(feed(&mut t, &response("c1", 200, "INVITE"), 5).is_none());
    let r = feed(&mut t, &bye("c1"), 65).expect("record at BYE");
    assert_eq!(r.caller.as_deref(), Some("13035550111"), "asserted identity, not From");
    assert_eq!(r.presentation.as_deref(), Some("13035550142"));
    assert!(r.privacy);
    assert_eq!(r.callee.as_deref(), Some("13035550177"));
    assert_eq!((r.disposition, r.duration_s()), (Disposition::Answered, 60));
    assert_eq!(t.open_calls(), 0);
    assert_eq!(t.stats().records_written, 1);
}

#[test]
fn forwarded_call_keeps_the_original_called_number() {
    let mut t = CdrTracker::new();
    feed(&mut t, &invite("c2", "Diversion: <sip:+13035550188@carrier.example;user=phone>;reason=no-answer\r\n"), 0);
    let r = feed(&mut t, &response("c2", 486, "INVITE"), 3).unwrap();
    assert_eq!(r.original_called.as_deref(), Some("13035550188"));
    assert_eq!(r.disposition, Disposition::Busy);
}

#[test]
fn failure_statuses_map_to_dispositions() {
    assert_eq!(failure_disposition(302, false), Disposition::Forwarded);
    assert_eq!(failure_disposition(486, false), Disposition::Busy);
    assert_eq!(failure_disposition(603, false), Disposition::Busy);
    assert_eq!(failure_disposition(480, false), Disposition::NoAnswer);
    assert_eq!(failure_disposition(487, false), Disposition::Cancelled);
    assert_eq!(failure_disposition(503, true), Disposition::Cancelled);
    assert_eq!(failure_disposition(404, false), Disposition::Failed);
}

#[test]
fn cancelled_and_unanswered_calls_end() {
    let mut t = CdrTracker::new();
    feed(&mut t, &invite("c3", ""), 0);
    let cancel = "CANCEL sip:+13035550177@carrier.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
                  From: <sip:a@b>;tag=a\r\nTo: <sip:c@d>\r\nCall-ID: c3\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
    assert!(feed(&mut t, cancel, 4).is_none());
    assert!(feed(&mut t, &response("c3", 200, "CANCEL"), 4).is_none(), "200 to CANCEL is not an answer");
    assert_eq!(feed(&mut t, &response("c3", 487, "INVITE"), 4).unwrap().disposition, Disposition::Cancelled);
    // No final response at all: no answer, after the set-up timeout or at the end.
    feed(&mut t, &invite("c4", ""), 10);
    let mut out = Vec::new();
    t.poll_timeout(at(10 + 301), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].disposition, Disposition::NoAnswer);
    assert_eq!(t.stats().calls_expired, 1);
}

#[test]
fn messages_of_unknown_calls_are_counted_not_recorded() {
    let mut t = CdrTracker::new();
    assert!(feed(&mut t, &bye("nope"), 0).is_none());
    assert!(feed(&mut t, &response("nope", 200, "INVITE"), 0).is_none());
    assert_eq!(t.stats().messages_without_call, 2);
    assert_eq!(t.stats().records_written, 0);
}

fn record(id: &str, caller: &str, callee: &str, s: i64) -> CallRecord {
    CallRecord {
        call_id: id.into(),
        caller: Some(caller.into()),
        presentation: Some(caller.into()),
        privacy: false,
        callee: Some(callee.into()),
        original_called: None,
        start_ns: s * 1_000_000_000,
        answer_ns: None,
        end_ns: s * 1_000_000_000,
        disposition: Disposition::NoAnswer,
        transport: "udp".into(),
        traced: false,
    }
}

#[test]
fn sqlite_queries_by_party_and_time_and_purge_spares_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = Db::open(&tmp.path().join("r.sqlite").display().to_string()).unwrap();
    db.insert_calls(&[record("a", "1", "2", 10), record("b", "2", "1", 20), record("c", "3", "4", 30), record("d", "1", "4", 5000)]).unwrap();
    let made: Vec<String> = db.calls_of("1", Direction::Made, 0, 1_000 * 1_000_000_000).unwrap().into_iter().map(|c| c.call_id).collect();
    assert_eq!(made, ["a"]);
    let got: Vec<String> = db.calls_of("1", Direction::Received, 0, i64::MAX).unwrap().into_iter().map(|c| c.call_id).collect();
    assert_eq!(got, ["b"]);
    assert!(db.mark_traced("b").unwrap());
    assert!(db.call_by_id("b").unwrap().unwrap().traced);
    db.add_hold(&Hold { id: "h".into(), demand_id: "D".into(), number: "1".into(), from_ns: 0, to_ns: 100 * 1_000_000_000, expires_ns: i64::MAX, renewals: 0 })
        .unwrap();
    assert!(db.renew_hold("h", 1).is_ok());
    assert!(db.renew_hold("h", 1).is_err(), "renewable once");
    let report = db.purge(10_000 * 1_000_000_000 + DAY_NS, 1).unwrap();
    assert_eq!((report.calls_deleted, report.calls_held), (2, 2));
    let left: Vec<String> = ["a", "b", "c", "d"].into_iter().filter(|id| db.call_by_id(id).unwrap().is_some()).map(str::to_owned).collect();
    assert_eq!(left, ["a", "b"], "the held calls of number 1 in [0, 100 s) stay");
}

#[test]
fn business_days_skip_weekends() {
    // 2026-11-06 is a Friday; 1 business day later is Monday 2026-11-09.
    let friday = 1_793_923_200i64 * 1_000_000_000; // 2026-11-06T00:00Z
    assert_eq!(cic::add_business_days(friday, 1), friday + 3 * DAY_NS);
    assert_eq!(cic::add_business_days(friday, 10), friday + 14 * DAY_NS);
}

/// The directory keys numbers under the appliance's number domains, as the recorder keys
/// the parties of calls (`sip:3035550142@carrier.net` is the number 13035550142 there);
/// its `trace_blocked` flag sets and lifts blocks, which the Call Trace directory carries.
#[test]
fn directory_import_keys_under_the_appliance_domains_and_sets_trace_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut db = Db::open(&tmp.path().join("r.sqlite").display().to_string()).unwrap();
    let toml = tmp.path().join("d.toml");
    std::fs::write(&toml, "[[subscriber]]\nnumber = \"sip:3035550142@carrier.net\"\nname = \"A\"\naddress = \"x\"\ntrace_blocked = true\n").unwrap();
    let carrier = crate::warrant::Numbering::new(["carrier.net"]);
    import_toml(&mut db, &toml, &carrier).unwrap();
    assert!(db.subscriber("13035550142").unwrap().is_some(), "keyed as the number");
    assert!(db.trace_blocked("13035550142").unwrap());
    let dir = db.directory().unwrap();
    assert!(dir.trace_blocked("13035550142") && dir.lookup(&crate::warrant::Identity::Tel("13035550142".into())).is_some());
    // Without the number domain the same URI is a SIP user, as mediation would read it.
    import_toml(&mut db, &toml, &crate::warrant::Numbering::default()).unwrap();
    assert!(db.subscriber("sip:3035550142@carrier.net").unwrap().is_some());
    let csv = tmp.path().join("d.csv");
    std::fs::write(&csv, "number,name,address,trace_blocked\n+13035550142,A,x,no\n").unwrap();
    import_csv(&mut db, &csv, &carrier).unwrap();
    assert!(!db.trace_blocked("13035550142").unwrap(), "`no` lifts the block");
    std::fs::write(&csv, "number,name,address,trace_blocked\n+13035550142,A,x,maybe\n").unwrap();
    let err = import_csv(&mut db, &csv, &carrier).unwrap_err().to_string();
    assert!(err.contains("subscriber[0].trace_blocked") && !err.contains("5550142"), "{err}");
}

/// The nice value of each thread named `name` in this process (field 19 of its stat).
fn nice_of_threads(name: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the parenthesised command name: state is field 3, nice field 19.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        if let Some(nice) = rest.split_whitespace().nth(16).and_then(|v| v.parse().ok()) {
            out.push(nice);
        }
    }
    out
}

#[test]
fn the_records_writer_runs_below_the_interception_threads_priority() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("r.sqlite").display().to_string();
    let writer = super::writer::Writer::start(&spec, crate::warrant::Numbering::default(), Default::default()).unwrap();
    // The thread lowers its own priority first thing; give it the moment to start.
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = nice_of_threads("records-writer");
        if !seen.is_empty() && seen.iter().all(|&n| n == i64::from(super::writer::WRITER_NICE)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!seen.is_empty(), "a records-writer thread runs");
    assert!(seen.iter().all(|&n| n == i64::from(super::writer::WRITER_NICE)), "nice values {seen:?}");
    writer.finish().unwrap();
}

/// Calls in the database file itself, leaving out its write-ahead log: what checkpoints
/// have copied there (an immutable, read-only open reads the file alone).
fn calls_in_database_file(path: &std::path::Path) -> Option<i64> {
    use rusqlite::OpenFlags;
    let uri = format!("file:{}?immutable=1", path.display());
    let c = rusqlite::Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI).ok()?;
    c.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0)).ok()
}

#[test]
fn a_checkpoint_copies_the_committed_calls_into_the_database_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("r.sqlite");
    let mut db = Db::open(&path.display().to_string()).unwrap();
    db.insert_calls(&[record("a", "1", "2", 10), record("b", "2", "1", 20)]).unwrap();
    assert_eq!(db.count_calls().unwrap(), 2);
    // Not in the file yet (the schema itself may be in the log only: no table there).
    assert_eq!(calls_in_database_file(&path).unwrap_or(0), 0, "committed into the write-ahead log only");
    db.checkpoint().unwrap();
    assert_eq!(calls_in_database_file(&path), Some(2));
}

/// The writer checkpoints in its idle time after a commit, not only when the database
/// closes at the end of the run (where the run would wait for it).
#[test]
fn the_records_writer_checkpoints_after_a_commit_while_the_run_goes_on() {
    use crate::mediation::{SignallingObserver, SipFacts};
    use crate::wire::{Datagram, FlowKey, Transport};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("r.sqlite");
    let writer = super::writer::Writer::start(&path.display().to_string(), crate::warrant::Numbering::default(), Default::default()).unwrap();
    let mut observer = writer.observer();
    let ip = "10.0.0.1".parse().unwrap();
    let flow = FlowKey { src: ip, dst: ip, src_port: 5060, dst_port: 5060, proto: 17 };
    for (text, s) in [(invite("w1", ""), 0), (response("w1", 200, "INVITE"), 1), (bye("w1"), 30)] {
        let msg = sip::parse(text.as_bytes()).unwrap();
        let facts = SipFacts::of(&msg).unwrap();
        let dg = Datagram { ts: at(s), flow, transport: Transport::Udp, payload: &[], ip_packet: &[], vlan: None };
        observer.on_sip(&msg, &facts, &dg);
    }
    observer.flush();
    // Committed within FLUSH_EVERY of the BYE, then checkpointed; wait for it (bounded).
    let mut in_file = None;
    for _ in 0..400 {
        in_file = calls_in_database_file(&path);
        if in_file == Some(1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(in_file, Some(1), "the call in the database file while the writer still runs");
    observer.finish();
    assert_eq!(writer.finish().unwrap().calls_inserted, 1);
}
