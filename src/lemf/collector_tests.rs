//! Tests of the collector: records, duplicates, gaps, CDC/CCC streams and HI1 lines.

use super::*;
use crate::handover::laes::{ccc_pair, encode_cdc, write_frame, CallId, Common, Message};
use crate::handover::{encode_cc, encode_iri, encode_keepalive, Direction, IriContent, IriType, PduHeader};
use std::net::{IpAddr, Ipv4Addr};

fn header(cin: u32, sequence: u32) -> PduHeader<'static> {
    PduHeader {
        liid: "LIID-1",
        authorization_country: "US",
        operator_id: "OP",
        network_element_id: "NE",
        cin,
        delivery_country: "US",
        sequence,
        ts: Timestamp::from_secs_micros(1_790_000_000, 7),
    }
}

fn iri(cin: u32, seq: u32) -> Vec<u8> {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let sip = b"BYE sip:b@x SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n\r\n";
    let mut out = Vec::new();
    encode_iri(&mut out, &header(cin, seq), IriType::End, &IriContent::SipMessage { src: ip, dst: ip, sip });
    out
}

fn cc(cin: u32, seq: u32) -> Vec<u8> {
    let mut out = Vec::new();
    encode_cc(&mut out, &header(cin, seq), Direction::ToTarget, &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
    out
}

#[test]
fn duplicates_are_flagged_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    let (a, b) = (iri(5, 0), cc(5, 0));
    assert!(matches!(c.receive(&a).unwrap(), Received::Record { duplicate: false }));
    assert!(matches!(c.receive(&b).unwrap(), Received::Record { duplicate: false }));
    assert!(matches!(c.receive(&a).unwrap(), Received::Record { duplicate: true }));
    c.flush().unwrap();
    assert_eq!(fs::read(dir.path().join("hi2.ber")).unwrap(), a);
    assert_eq!(fs::read(dir.path().join("hi3.ber")).unwrap(), b);
    let lines = fs::read_to_string(dir.path().join("records.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["sip"], "BYE");
    assert_eq!(first["caller"], "sip:a@x");
    assert_eq!(first["callee"], "sip:b@x");
    assert_eq!(first["iri_type"], "END");
    assert_eq!((first["cin"].as_u64(), first["duplicate"].as_bool()), (Some(5), Some(false)));
    assert_eq!(lines.lines().count(), 3);
    let s = c.stats();
    assert_eq!((s.records, s.duplicates, s.gaps), (2, 1, 0));
    let pcap_len = fs::metadata(dir.path().join("content.pcap")).unwrap().len();
    assert_eq!(pcap_len, 24 + 16 + 42 + 12);
}

#[test]
fn hi1_notifications_get_a_line_and_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    let mut pdu = Vec::new();
    crate::handover::etsi::encode_hi1_notification(&mut pdu, &header(0, 0), Hi1Notification::Activated);
    assert!(matches!(c.receive(&pdu).unwrap(), Received::Other));
    pdu.clear();
    crate::handover::etsi::encode_hi1_notification(&mut pdu, &header(0, 0), Hi1Notification::Deactivated);
    c.receive(&pdu).unwrap();
    c.flush().unwrap();
    let lines: Vec<serde_json::Value> = fs::read_to_string(dir.path().join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["kind"].as_str(), lines[0]["notification"].as_str()), (Some("hi1"), Some("activated")));
    assert_eq!(lines[1]["notification"], "deactivated");
    assert_eq!(lines[1]["liid"], "LIID-1");
    assert_eq!(lines[1]["timestamp"], Timestamp::from_secs_micros(1_790_000_000, 7).to_rfc3339());
    let s = c.stats();
    assert_eq!((s.hi1_notifications, s.records, s.undecodable), (2, 0, 0));
    assert_eq!(fs::metadata(dir.path().join("hi2.ber")).unwrap().len(), 0, "not a record");
}

#[test]
fn gaps_count_missing_sequence_numbers_until_filled() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    c.receive(&iri(1, 0)).unwrap();
    c.receive(&iri(1, 3)).unwrap();
    assert_eq!(c.stats().gaps, 2);
    c.receive(&iri(1, 1)).unwrap();
    c.receive(&iri(1, 2)).unwrap();
    assert_eq!(c.stats().gaps, 0);
}

#[test]
fn a_reopened_collector_remembers_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    c.receive(&iri(1, 0)).unwrap();
    c.flush().unwrap();
    drop(c);
    let mut f = OpenOptions::new().append(true).open(dir.path().join("hi2.ber")).unwrap();
    f.write_all(&iri(1, 1)[..10]).unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    assert!(matches!(c.receive(&iri(1, 0)).unwrap(), Received::Record { duplicate: true }));
    assert!(matches!(c.receive(&iri(1, 1)).unwrap(), Received::Record { duplicate: false }));
    c.flush().unwrap();
    assert_eq!(fs::read(dir.path().join("hi2.ber")).unwrap(), [iri(1, 0), iri(1, 1)].concat());
}

#[test]
fn keepalives_are_returned_for_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    let mut ka = Vec::new();
    encode_keepalive(&mut ka, &header(0, 42));
    match c.receive(&ka).unwrap() {
        Received::KeepAlive(h) => assert_eq!((h.sequence, h.liid), (42, b"LIID-1".to_vec())),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.receive(&[0x30, 0x01, 0x00]).unwrap(), Received::Other));
    assert_eq!(c.stats().undecodable, 1);
}

#[test]
fn laes_cdc_and_ccc_become_records_lines_and_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    let liid = "PHX-2026-T3-0007";
    let common = Common { case_id: liid, element_id: "MED-01", time: Timestamp::from_secs_micros(1_790_000_000, 770_000) };
    let call_id = CallId { sequence: "5,811C9DC5", system: "MED-01" };
    let mut cdc = Vec::new();
    encode_cdc(&mut cdc, &common, &Message::CcOpen { call_id, ccc: ccc_pair(5), subject: None, associate: None });
    assert!(matches!(c.receive(&cdc).unwrap(), Received::Record { duplicate: false }));
    let ip: [u8; 32] = [
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x0f, 0xa0, 0x13, 0x88, 0, 12, 0, 0,
        0x80, 0x00, 0x00, 0x01,
    ];
    let mut frame = Vec::new();
    write_frame(&mut frame, ccc_pair(5).recv, common.time, &case_id_field(liid), &ip);
    assert!(matches!(c.receive_ccc(&frame).unwrap(), Received::Record { duplicate: false }));
    c.flush().unwrap();
    let lines: Vec<serde_json::Value> = fs::read_to_string(dir.path().join("records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["event"], "ccopen");
    assert_eq!((lines[0]["liid"].as_str(), lines[0]["cin"].as_u64()), (Some(liid), Some(5)));
    assert_eq!(lines[0]["timestamp"], "2026-09-21T14:13:20.770000Z");
    assert_eq!((lines[1]["kind"].as_str(), lines[1]["direction"].as_str()), (Some("CC"), Some("toTarget")));
    assert_eq!((lines[1]["liid"].as_str(), lines[1]["cin"].as_u64()), (Some(liid), Some(5)));
    assert_eq!(lines[1]["content_size"], 4);
    assert_eq!(fs::read(dir.path().join("hi3.ccc")).unwrap(), frame);
    // 24-octet pcap header + 16-octet record header + 14 + 20 + 8 + 4 octets of frame.
    assert_eq!(fs::metadata(dir.path().join("content.pcap")).unwrap().len(), 24 + 16 + 46);
    assert_eq!(c.stats().iri_records + c.stats().cc_records, 2);
}

#[test]
fn generalized_time_to_rfc3339() {
    assert_eq!(rfc3339_of_generalized("20261102140000.77Z"), "2026-11-02T14:00:00.770000Z");
    assert_eq!(rfc3339_of_generalized("20261102140000Z"), "2026-11-02T14:00:00.000000Z");
    assert_eq!(rfc3339_of_generalized("garbage"), "garbage");
}


#[test]
fn seen_sequences_stay_small_in_order_and_catch_duplicates() {
    let mut seen = SeenSequences::default();
    for seq in 0..10_000 {
        assert!(seen.insert(seq));
    }
    assert_eq!((seen.len(), seen.ahead.len()), (10_000, 0));
    assert!(!seen.insert(17), "an old number is a duplicate");
    // a gap: 10_000 missing, later ones held ahead until it arrives
    assert!(seen.insert(10_002) && seen.insert(10_001));
    assert!(!seen.insert(10_002));
    assert_eq!((seen.len(), seen.ahead.len()), (10_002, 2));
    assert!(seen.insert(10_000));
    assert_eq!((seen.len(), seen.ahead.len(), seen.below), (10_003, 0, 10_003));
}

fn sip_iri(cin: u32, seq: u32, t: IriType, sip: &str) -> Vec<u8> {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut out = Vec::new();
    encode_iri(&mut out, &header(cin, seq), t, &IriContent::SipMessage { src: ip, dst: ip, sip: sip.as_bytes() });
    out
}

#[test]
fn a_restarted_collector_writes_each_call_once() {
    let dir = tempfile::tempdir().unwrap();
    let invite = "INVITE sip:+17205550101@x SIP/2.0\r\nFrom: <sip:+13035550142@x>;tag=a\r\nTo: <sip:+17205550101@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
    let ok = "SIP/2.0 200 OK\r\nFrom: <sip:+13035550142@x>;tag=a\r\nTo: <sip:+17205550101@x>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
    let calls = |dir: &Path| fs::read_to_string(dir.join("calls.jsonl")).unwrap_or_default();
    {
        let mut c = Collector::open(dir.path()).unwrap();
        c.receive(&sip_iri(1, 0, IriType::Begin, invite)).unwrap();
        c.receive(&cc(1, 0)).unwrap();
        c.flush().unwrap();
        // Stopped without finishing (a crash): the call is still open.
    }
    assert_eq!(calls(dir.path()), "");
    {
        let mut c = Collector::open(dir.path()).unwrap();
        c.receive(&sip_iri(1, 1, IriType::Continue, ok)).unwrap();
        c.finish_calls().unwrap();
        assert_eq!(c.stats().calls, 1);
    }
    let first = calls(dir.path());
    let line: serde_json::Value = serde_json::from_str(first.trim()).unwrap();
    assert_eq!((line["cin"].as_u64(), line["content_packets"].as_u64()), (Some(1), Some(1)), "rebuilt from hi2.ber/hi3.ber");
    assert_eq!((line["disposition"].as_str(), line["open"].as_bool()), (Some("answered"), Some(true)));
    let pcap_len = fs::metadata(dir.path().join("calls.pcap")).unwrap().len();
    let mut c = Collector::open(dir.path()).unwrap();
    c.finish_calls().unwrap();
    assert_eq!(calls(dir.path()), first, "its line is not written again");
    assert_eq!(fs::metadata(dir.path().join("calls.pcap")).unwrap().len(), pcap_len, "nor its frames");
}

#[test]
fn record_lines_are_byte_for_byte_what_a_json_map_writes() {
    // The lines are written from a struct, not a JSON tree; a JSON map (keys sorted) of
    // the same fields is the reference the format was defined by.
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::open(dir.path()).unwrap();
    c.receive(&iri(5, 0)).unwrap();
    c.receive(&cc(5, 0)).unwrap();
    c.receive(&cc(5, 0)).unwrap();
    c.flush().unwrap();
    let ts = "2026-09-21T14:13:20.000007Z";
    let expected = [
        serde_json::json!({
            "liid": "LIID-1", "cin": 5, "kind": "IRI", "sequence": 0, "timestamp": ts, "size": iri(5, 0).len(),
            "duplicate": false, "iri_type": "END", "content": "sIPMessage",
            "content_size": b"BYE sip:b@x SIP/2.0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\n\r\n".len(),
            "sip": "BYE", "caller": "sip:a@x", "callee": "sip:b@x",
        }),
        serde_json::json!({
            "liid": "LIID-1", "cin": 5, "kind": "CC", "sequence": 0, "timestamp": ts, "size": cc(5, 0).len(),
            "duplicate": false, "direction": "toTarget", "content_size": 12,
        }),
        serde_json::json!({
            "liid": "LIID-1", "cin": 5, "kind": "CC", "sequence": 0, "timestamp": ts, "size": cc(5, 0).len(),
            "duplicate": true, "direction": "toTarget", "content_size": 12,
        }),
    ];
    let lines = fs::read_to_string(dir.path().join("records.jsonl")).unwrap();
    let want: Vec<String> = expected.iter().map(|v| serde_json::to_string(v).unwrap()).collect();
    assert_eq!(lines.lines().collect::<Vec<_>>(), want);
}
