//! The X1 endpoint of a network element over real HTTPS with mutual TLS on loopback: the
//! ADMF creates a destination and activates, lists, reads and deactivates a task; a client
//! whose certificate is not the ADMF's is refused with an ErrorResponse, an XML external
//! entity gets a top-level error, and nothing of either changes the tasks.

mod common;

use std::sync::Arc;

use common::x1::post;
use tapline::delivery::pki::{create_dev_pki, loopback_hosts};
use tapline::x1::server::{start, X1ServerConfig};
use tapline::x1::*;
use tapline::x2x3::Xid;

fn xid(n: u8) -> Xid {
    Xid([n, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, n])
}

fn request(admf: &str, n: u8, r: Request) -> String {
    let h = MessageHeader {
        admf_identifier: admf.into(),
        ne_identifier: "poi-1".into(),
        timestamp: "2026-12-03T07:00:00.000000Z".into(),
        version: VERSION.into(),
        transaction_id: xid(n),
    };
    write_request(&X1Request { messages: vec![(h, r)] })
}

fn single(xml: &str) -> Response {
    match parse_response(xml).unwrap_or_else(|e| panic!("{e}\n{xml}")) {
        X1Response::Responses(mut v) if v.len() == 1 => v.remove(0).1,
        other => panic!("not one response: {other:?}"),
    }
}

#[test]
fn the_admf_tasks_the_poi_and_nobody_else_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = create_dev_pki(dir.path(), &["poi".to_string()], &loopback_hosts()).expect("PKI");
    let server_cert = pki.server("poi").expect("cert").clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = X1ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cert: server_cert.cert,
        key: server_cert.key,
        client_ca: pki.ca.clone(),
        ne: NeConfig { ne_identifier: "poi-1".into(), admf_identifier: "appliance".into() },
    };
    let (tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let server = rt.block_on(start(&config, tx)).expect("X1 endpoint");
    let addr = server.addr;
    let pki = Arc::new(pki);
    let done = RequestKind::CreateDestination;
    let dest = DestinationDetails {
        did: xid(0xd0),
        friendly_name: Some("MF".into()),
        delivery_type: DeliveryType::X2AndX3,
        address: DeliveryAddress::IpAndPort { address: "127.0.0.1".parse().expect("ip"), port: Port::Tcp(24_200) },
    };
    let task = TaskDetails {
        xid: xid(0xa0),
        targets: vec![TargetIdentifier::E164Number("13035550142".into())],
        delivery_type: DeliveryType::X2Only,
        destinations: vec![xid(0xd0)],
        correlation_id: None,
        implicit_deactivation_allowed: None,
    };
    rt.block_on(async {
        // Someone else's certificate, claiming to be the ADMF: refused, nothing changes.
        let r = single(&post(addr, &pki, "provisioner", &request("appliance", 1, Request::CreateDestination(dest.clone()))).await);
        assert!(matches!(r, Response::Error { ref request_type, .. } if request_type == "CreateDestination"), "{r:?}");
        // A document with a DTD: top-level error.
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
        let top = parse_response(&post(addr, &pki, "appliance", xxe).await).expect("parses");
        assert!(matches!(top, X1Response::TopLevelError { .. }), "{top:?}");

        let r = single(&post(addr, &pki, "appliance", &request("appliance", 2, Request::CreateDestination(dest.clone()))).await);
        assert_eq!(r, Response::Ok { request: done, ok: OkStatus::AcknowledgedAndCompleted });
        let r = single(&post(addr, &pki, "appliance", &request("appliance", 3, Request::ActivateTask(task.clone()))).await);
        assert_eq!(r, Response::Ok { request: RequestKind::ActivateTask, ok: OkStatus::AcknowledgedAndCompleted });
        let r = single(&post(addr, &pki, "appliance", &request("appliance", 4, Request::ListAllDetails)).await);
        assert_eq!(r, Response::ListAllDetails { xids: vec![xid(0xa0)], dids: vec![xid(0xd0)] });
        let r = single(&post(addr, &pki, "appliance", &request("appliance", 5, Request::GetTaskDetails { xid: xid(0xa0) })).await);
        assert!(matches!(r, Response::GetTaskDetails { task: ref t, .. } if *t == task), "{r:?}");
        let r = single(&post(addr, &pki, "appliance", &request("appliance", 6, Request::DeactivateTask { xid: xid(0xa0) })).await);
        assert_eq!(r, Response::Ok { request: RequestKind::DeactivateTask, ok: OkStatus::AcknowledgedAndCompleted });
    });
    assert!(server.tasks().is_empty());
    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        seen.push(c);
    }
    assert_eq!(
        seen,
        vec![Change::DestinationCreated(dest), Change::TaskActivated(task), Change::TaskDeactivated(xid(0xa0))],
        "only the ADMF's requests changed anything"
    );
    server.stop();
}
