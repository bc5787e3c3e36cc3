//! X1 messages against the independent material in ../shared/x1x2x3: every reference
//! example is accepted, the invalid one and the XML-external-entity one are refused, and
//! every request and response tapline writes validates against the ETSI schema with
//! `xmllint --schema X1All.xsd` and reads back to the same message.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tapline::x1::*;
use tapline::x2x3::Xid;

fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/x1x2x3");
    if dir.join("x1-examples").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("../shared/x1x2x3 required under CI but absent");
    }
    eprintln!("SKIP: ../shared/x1x2x3 absent");
    None
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("x1-examples").join(name)).expect("example")
}

#[test]
fn accepts_every_reference_example() {
    let Some(dir) = shared() else { return };
    let activate = parse_request(&read(&dir, "ActivateTaskRequest_example.xml")).expect("ActivateTaskRequest");
    let (h, r) = &activate.messages[0];
    assert_eq!(h.admf_identifier, "admfID");
    assert_eq!(h.ne_identifier, "neID");
    assert_eq!(h.timestamp, "2017-10-06T18:46:21.247432Z");
    assert_eq!(h.version, "v1.6.1");
    assert_eq!(h.transaction_id.to_string(), "3741800e-971b-4aa9-85f4-466d2b1adc7f");
    let Request::ActivateTask(t) = r else { panic!("not ActivateTask: {r:?}") };
    assert_eq!(t.xid.to_string(), "29f28e1c-f230-486a-a860-f5a784ab9172");
    assert_eq!(t.targets, vec![TargetIdentifier::E164Number("447700900000".into())]);
    assert_eq!(t.delivery_type, DeliveryType::X2AndX3);
    assert_eq!(t.destinations.iter().map(|d| d.to_string()).collect::<Vec<_>>(), ["19867c20-8c94-473e-b9cd-8b72b7b05fd4"]);

    let ping = parse_request(&read(&dir, "PingRequest_example.xml")).expect("PingRequest");
    assert_eq!(ping.messages.len(), 1);
    assert_eq!(ping.messages[0].1, Request::Ping);
    let multi = parse_request(&read(&dir, "MultiRequest_example.xml")).expect("MultiRequest");
    assert_eq!(multi.messages.iter().map(|m| &m.1).collect::<Vec<_>>(), [&Request::Ping, &Request::Ping]);

    let ok = |name: &str, request: RequestKind, n: usize| {
        let X1Response::Responses(r) = parse_response(&read(&dir, name)).unwrap_or_else(|e| panic!("{name}: {e}")) else {
            panic!("{name}: not a response container")
        };
        assert_eq!(r.len(), n, "{name}");
        for (_, m) in r {
            assert_eq!(m, Response::Ok { request, ok: OkStatus::AcknowledgedAndCompleted }, "{name}");
        }
    };
    ok("ActivateTaskResponse_example.xml", RequestKind::ActivateTask, 1);
    ok("PingResponse_example.xml", RequestKind::Ping, 1);
    ok("MultipleResponses_example.xml", RequestKind::Ping, 2);
    let X1Response::Responses(err) = parse_response(&read(&dir, "ErrorResponse_example.xml")).expect("ErrorResponse") else {
        panic!("not a container")
    };
    assert_eq!(
        err[0].1,
        Response::Error { request_type: "Ping".into(), error: ErrorInformation { code: 1000, description: "generic error".into() } }
    );
    let top = parse_response(&read(&dir, "TopLevelErrorResponse_example.xml")).expect("TopLevelErrorResponse");
    assert!(matches!(top, X1Response::TopLevelError { ref admf_identifier, .. } if admf_identifier == "admfID"));
}

#[test]
fn refuses_the_invalid_example_and_the_external_entity_safely() {
    let Some(dir) = shared() else { return };
    assert_eq!(parse_response(&read(&dir, "NoResponsesInResponseContainer_example.xml")), Err(X1Error::Empty));
    let xxe = read(&dir, "xxe.xml");
    assert!(xxe.contains("<!ENTITY xxe SYSTEM"), "the attack is in the file");
    let refused = parse_response(&xxe).expect_err("a DTD is refused");
    assert!(matches!(refused, X1Error::Xml(_)), "{refused:?}");
    // Nothing of the entity's target (file:///tmp) can appear: the document never parsed.
    assert!(!refused.to_string().contains("/tmp"));
    // An internal entity (billion laughs) is refused the same way.
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY l \"lol\"><!ENTITY l2 \"&l;&l;&l;&l;\">]>\
        <x1:X1Request xmlns:x1=\"http://uri.etsi.org/03221/X1/2017/10\">&l2;</x1:X1Request>";
    assert!(matches!(parse_request(laughs), Err(X1Error::Xml(_))));
}

fn uuid(n: u8) -> Xid {
    Xid([n, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, n])
}

fn header(n: u8) -> MessageHeader {
    MessageHeader {
        admf_identifier: "mf-01".into(),
        ne_identifier: "poi-edge-01".into(),
        timestamp: "2026-12-03T06:00:00.123456Z".into(),
        version: VERSION.into(),
        transaction_id: uuid(n),
    }
}

fn task(delivery_type: DeliveryType) -> TaskDetails {
    TaskDetails {
        xid: uuid(0xa1),
        targets: vec![
            TargetIdentifier::E164Number("13035550142".into()),
            TargetIdentifier::SipUri("sip:+13035550142@example.net".into()),
            TargetIdentifier::TelUri("tel:+13035550142".into()),
        ],
        delivery_type,
        destinations: vec![uuid(0xd1), uuid(0xd2)],
        correlation_id: Some(42),
        implicit_deactivation_allowed: Some(false),
    }
}

fn destination(address: DeliveryAddress) -> DestinationDetails {
    DestinationDetails { did: uuid(0xd1), friendly_name: Some("MF <site A> & B".into()), delivery_type: DeliveryType::X2AndX3, address }
}

fn every_request() -> Vec<Request> {
    vec![
        Request::ActivateTask(task(DeliveryType::X2Only)),
        Request::ModifyTask(task(DeliveryType::X2AndX3)),
        Request::DeactivateTask { xid: uuid(0xa1) },
        Request::DeactivateAllTasks,
        Request::GetTaskDetails { xid: uuid(0xa1) },
        Request::ListAllDetails,
        Request::CreateDestination(destination(DeliveryAddress::IpAndPort {
            address: "127.0.0.1".parse::<IpAddr>().expect("ip"),
            port: Port::Tcp(24_100),
        })),
        Request::ModifyDestination(destination(DeliveryAddress::IpAndPort {
            address: "::1".parse::<IpAddr>().expect("ip"),
            port: Port::Udp(24_100),
        })),
        Request::RemoveDestination { did: uuid(0xd1) },
        Request::GetNeStatus,
        Request::Ping,
        Request::Keepalive,
    ]
}

fn every_response() -> Vec<X1Response> {
    let mut out: Vec<X1Response> = RequestKind::ALL
        .into_iter()
        .filter(|k| !matches!(k, RequestKind::GetTaskDetails | RequestKind::ListAllDetails | RequestKind::GetNeStatus))
        .map(|k| X1Response::Responses(vec![(header(1), Response::Ok { request: k, ok: OkStatus::AcknowledgedAndCompleted })]))
        .collect();
    out.push(X1Response::Responses(vec![(
        header(2),
        Response::GetTaskDetails {
            task: task(DeliveryType::X2AndX3),
            status: ProvisioningStatus::Complete,
            faults: vec![ErrorInformation { code: 1000, description: "MDF unreachable".into() }],
        },
    )]));
    out.push(X1Response::Responses(vec![(header(3), Response::ListAllDetails { xids: vec![uuid(1), uuid(2)], dids: vec![uuid(3)] })]));
    out.push(X1Response::Responses(vec![(header(4), Response::ListAllDetails { xids: vec![], dids: vec![] })]));
    out.push(X1Response::Responses(vec![(header(5), Response::GetNeStatus { ok: true, faults: vec![] })]));
    out.push(X1Response::Responses(vec![(
        header(6),
        Response::Error {
            request_type: "ActivateTask".into(),
            error: ErrorInformation { code: error_code::GENERIC, description: "XID already in use".into() },
        },
    )]));
    out.push(X1Response::Responses(vec![
        (header(7), Response::Ok { request: RequestKind::Ping, ok: OkStatus::Acknowledged }),
        (header(8), Response::Ok { request: RequestKind::Keepalive, ok: OkStatus::AcknowledgedAndCompleted }),
    ]));
    out.push(X1Response::TopLevelError {
        admf_identifier: "mf-01".into(),
        ne_identifier: "poi-edge-01".into(),
        timestamp: "2026-12-03T06:00:00.000001Z".into(),
        version: VERSION.into(),
    });
    out
}

#[test]
fn what_tapline_writes_reads_back_to_the_same_message() {
    for (i, r) in every_request().into_iter().enumerate() {
        let doc = X1Request { messages: vec![(header(i as u8), r)] };
        let xml = write_request(&doc);
        assert_eq!(parse_request(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}")), doc);
    }
    let all = X1Request { messages: every_request().into_iter().enumerate().map(|(i, r)| (header(i as u8), r)).collect() };
    assert_eq!(parse_request(&write_request(&all)).expect("multi"), all);
    for r in every_response() {
        let xml = write_response(&r);
        assert_eq!(parse_response(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}")), r);
    }
}

#[test]
fn everything_tapline_writes_validates_against_the_etsi_schema() {
    let Some(dir) = shared() else { return };
    if !Command::new("xmllint").arg("--version").output().is_ok_and(|o| o.status.success()) {
        if std::env::var_os("CI").is_some() {
            panic!("xmllint (libxml2-utils) required under CI");
        }
        eprintln!("SKIP: xmllint not installed");
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, r) in every_request().into_iter().enumerate() {
        let kind = r.kind().as_str();
        let path = out.path().join(format!("req-{i:02}-{kind}.xml"));
        std::fs::write(&path, write_request(&X1Request { messages: vec![(header(i as u8), r)] })).expect("write");
        files.push(path);
    }
    for (i, r) in every_response().into_iter().enumerate() {
        let path = out.path().join(format!("resp-{i:02}.xml"));
        std::fs::write(&path, write_response(&r)).expect("write");
        files.push(path);
    }
    let schema = dir.join("xsd/X1All.xsd");
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).args(&files).output().expect("xmllint runs");
    assert!(
        run.status.success(),
        "xmllint refused what tapline wrote:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The validator can fail: the schema refuses the empty container.
    let bad = out.path().join("empty.xml");
    std::fs::write(&bad, "<x1:X1Response xmlns:x1=\"http://uri.etsi.org/03221/X1/2017/10\"/>").expect("write");
    let run = Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&bad).output().expect("xmllint runs");
    assert!(!run.status.success(), "xmllint accepts an invalid document");
}
