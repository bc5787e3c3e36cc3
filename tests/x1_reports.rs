//! What the ADMF side writes validates against the ETSI X1 schema (`xmllint --schema
//! ../shared/x1x2x3/xsd/X1All.xsd`): issue reports of every type (ReportTaskIssue,
//! ReportDestinationIssue, ReportNEIssue) and their acknowledgements and refusals, and the
//! tasking requests an ADMF round sends for warrants of every order kind and target form;
//! each report reads back to the same message.

use std::path::{Path, PathBuf};
use std::process::Command;

use tapline::admf::envelope::{container, Parties};
use tapline::admf::Plan;
use tapline::warrant::{Liid, Numbering, OrderKind, Target, Warrant};
use tapline::x1::report::{acknowledge, ReportPolicy};
use tapline::x1::*;
use tapline::x2x3::Xid;
use tapline::Timestamp;

fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/x1x2x3");
    if dir.join("xsd/X1All.xsd").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("../shared/x1x2x3 required under CI but absent");
    }
    eprintln!("SKIP: ../shared/x1x2x3 absent");
    None
}

fn xmllint() -> bool {
    if Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("xmllint (libxml2-utils) required under CI");
    }
    eprintln!("SKIP: xmllint not installed");
    false
}

fn header(n: u8) -> MessageHeader {
    MessageHeader {
        admf_identifier: "mf".into(),
        ne_identifier: "poi-1".into(),
        timestamp: "2026-12-07T18:00:00.000000Z".into(),
        version: VERSION.into(),
        transaction_id: Xid([n, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, n]),
    }
}

fn every_report() -> Vec<IssueReport> {
    let mut out = Vec::new();
    for (i, kind) in ReportType::ALL.into_iter().enumerate() {
        let code = (i % 2 == 0).then_some(1000 + i as u32);
        let details = (i % 3 == 0).then(|| "queue <full> & retrying".to_owned());
        out.push(IssueReport::Task { xid: Xid([i as u8; 16]), kind, code, details: details.clone() });
        out.push(IssueReport::Destination { did: Xid([0x40 + i as u8; 16]), kind, code, details });
    }
    for (i, kind) in NeIssueType::ALL.into_iter().enumerate() {
        out.push(IssueReport::Ne { kind, description: "MDF unreachable".into(), code: (i % 2 == 1).then_some(7) });
    }
    out
}

fn warrant(liid: &str, kind: OrderKind, targets: &[&str]) -> Warrant {
    Warrant {
        liid: Liid::new(liid).expect("liid"),
        kind,
        agency: "a".into(),
        targets: targets.iter().map(|t| Target::parse(t, &Numbering::new(["carrier.net"])).expect("target")).collect(),
        valid_from: Timestamp::from_nanos(0),
        valid_until: Timestamp::from_nanos(u64::MAX),
        court_order: "c".into(),
        issuing_authority: "i".into(),
        post_cut_through_digits: true,
        served_by: None,
        provisioned_by: None,
        source: PathBuf::from("w.toml"),
    }
}

#[test]
fn reports_acknowledgements_and_admf_rounds_validate_against_the_etsi_schema() {
    let Some(dir) = shared() else { return };
    if !xmllint() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let mut save = |name: String, text: String| {
        let path = out.path().join(name);
        std::fs::write(&path, text).expect("write");
        files.push(path);
    };
    let reports = X1Reports { messages: every_report().into_iter().enumerate().map(|(i, r)| (header(i as u8), r)).collect() };
    let text = write_reports(&reports);
    assert_eq!(parse_reports(&text).expect("reads back"), reports);
    save("reports.xml".into(), text);
    for (i, (h, r)) in reports.messages.iter().enumerate() {
        save(format!("report-{i:02}.xml"), write_reports(&X1Reports { messages: vec![(h.clone(), r.clone())] }));
    }
    let known = ["poi-1".to_string()];
    let policy = ReportPolicy { admf_identifier: "mf", known: &known };
    let (ok, accepted) = acknowledge(&policy, "poi-1", &reports, Timestamp::from_nanos(1));
    assert_eq!(accepted.len(), reports.messages.len());
    save("acknowledged.xml".into(), write_response(&ok));
    let (refused, accepted) = acknowledge(&policy, "someone-else", &reports, Timestamp::from_nanos(1));
    assert!(accepted.is_empty());
    save("refused.xml".into(), write_response(&refused));

    // What an ADMF round sends for every order kind and target form.
    let ws: Vec<Warrant> = OrderKind::ALL
        .iter()
        .enumerate()
        .map(|(i, k)| warrant(&format!("L-{i}"), *k, &["tel:+13035550142", "sip:alice@example.com", "sip:3035550199@carrier.net", "1234567890123456789"]))
        .collect();
    let mf = DeliveryAddress::IpAndPort { address: "2001:db8::10".parse().expect("ip"), port: Port::Tcp(24_000) };
    let plan = Plan::new(&ws, Timestamp::from_nanos(1), &mf);
    let mut requests: Vec<Request> = vec![Request::CreateDestination(plan.destination.clone().expect("destination"))];
    requests.extend(plan.tasks.values().map(|p| Request::ActivateTask(p.details.clone())));
    requests.extend(plan.tasks.values().map(|p| Request::ModifyTask(p.details.clone())));
    requests.extend(plan.tasks.keys().map(|xid| Request::DeactivateTask { xid: *xid }));
    requests.push(Request::ListAllDetails);
    let parties = Parties { admf: "mf".into(), ne: "poi-1".into() };
    let round = container(&parties, &requests, Timestamp::from_nanos(1_733_594_400_000_000_000));
    let text = write_request(&round);
    assert_eq!(parse_request(&text).expect("reads back"), round);
    save("admf-round.xml".into(), text);

    let schema = dir.join("xsd/X1All.xsd");
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).args(&files).output().expect("xmllint runs");
    assert!(run.status.success(), "xmllint refused what tapline wrote:\n{}", String::from_utf8_lossy(&run.stderr));
    // The validator can fail: a report type outside the enumeration is refused.
    let bad = out.path().join("bad.xml");
    std::fs::write(&bad, write_reports(&X1Reports { messages: vec![(header(1), every_report().remove(0))] }).replace("AllClear", "Fine")).expect("write");
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&bad).output().expect("xmllint runs");
    assert!(!run.status.success(), "xmllint accepts an invalid report type");
}
