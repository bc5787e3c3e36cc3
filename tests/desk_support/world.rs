//! The desk suites' world: a capture made by `tapline::gen` (the subscriber A's calls both
//! ways, a `*57` trace, other numbers' calls) replayed with Call Trace into a records
//! database that holds the subscriber directory; demands about A.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tapline::desk::{CustomerAuth, DemandDoc, Desk, DeskConfig, Instrument, RequesterKind};
use tapline::gen::{CallSpec, Outcome, Scenario};
use tapline::records::{self, Db};
use tapline::replay::{replay_with, ReplayOptions};
use tapline::Timestamp;

use crate::common;

pub const START_S: u64 = 1_793_628_000; // 2026-11-02T14:00Z
pub use super::{A, B, C, D}; // A: the subscriber asked about (Alex Rivera)
pub const PASSWORD: &str = "tangerine!Orbit#71";

pub fn at(s: u64) -> Timestamp {
    Timestamp::from_secs_micros(START_S + s, 0)
}

pub fn call(from: &str, to: &str, outcome: Outcome, s: u64) -> CallSpec {
    CallSpec::new(&format!("+{from}"), &format!("+{to}"), outcome, at(s))
}

pub fn answered() -> Outcome {
    Outcome::Answered { talk: Duration::from_secs(20) }
}

/// The capture: A's outgoing calls at 0 s (answered), 300 s (busy) and 500 s (`*57`);
/// incoming at 100 s (from C) and 400 s (from D, private, which A traces); B→C at 200 s;
/// A→B at 7200 s, outside the asked hour.
pub fn scenario() -> Scenario {
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

pub fn period() -> (String, String) {
    (at(0).to_rfc3339(), at(3600).to_rfc3339())
}

pub fn doc(instrument: Instrument, kind: RequesterKind, numbers: &[&str]) -> DemandDoc {
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

pub fn customer_doc() -> DemandDoc {
    DemandDoc {
        case_number: None,
        issuing_authority: None,
        signed: false,
        customer_auth: Some(CustomerAuth::Password { password: PASSWORD.into() }),
        ..doc(Instrument::CustomerRequest, RequesterKind::Customer, &[A])
    }
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub spec: String,
}

impl World {
    pub fn audit(&self) -> PathBuf {
        self.tmp.path().join("audit")
    }
    pub fn out(&self) -> PathBuf {
        self.tmp.path().join("packages")
    }
    pub fn desk(&self) -> Desk {
        Desk::open(Db::open(&self.spec).expect("open db"), &self.audit(), DeskConfig::default()).expect("desk")
    }
}

/// Imports the directory, replays the capture with Call Trace into the database.
pub fn world(spec: String, tmp: tempfile::TempDir) -> World {
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

pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records().map(|rec| headers.iter().map(str::to_owned).zip(rec.unwrap().iter().map(str::to_owned)).collect()).collect()
}

pub fn all_text(dir: &Path) -> String {
    let mut s = String::new();
    for e in fs::read_dir(dir).unwrap() {
        s.push_str(&fs::read_to_string(e.unwrap().path()).unwrap());
    }
    s
}

