//! Tests of the call view: when a call's line is released, what it says, where its content
//! goes in `calls.pcap`.

use super::*;
use std::net::Ipv4Addr;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_790_000_000 * SEC;
const CALLER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const CALLEE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const RTP: [u8; 12] = [0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];

fn at(ms: u64) -> Timestamp {
    Timestamp::from_nanos(T0 + ms * 1_000_000)
}

fn key(cin: u32) -> CallKey {
    ("LIID-1".to_owned(), cin)
}

fn sdp(ip: IpAddr, port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
}

fn msg(start: &str, cseq: &str, to_tag: &str, body: Option<String>) -> Vec<u8> {
    let mut m = format!(
        "{start}\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:+13035550142@x.example>;tag=a\r\n\
         To: <sip:+17205550101@x.example>{to_tag}\r\nCall-ID: c1\r\nCSeq: {cseq}\r\n"
    );
    match body {
        Some(b) => m += &format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}", b.len()),
        None => m += "Content-Length: 0\r\n\r\n",
    }
    m.into_bytes()
}

fn invite() -> Vec<u8> {
    msg("INVITE sip:+17205550101@x.example SIP/2.0", "1 INVITE", "", Some(sdp(CALLER, 4000)))
}

fn ok() -> Vec<u8> {
    msg("SIP/2.0 200 OK", "1 INVITE", ";tag=b", Some(sdp(CALLEE, 5000)))
}

fn bye() -> Vec<u8> {
    msg("BYE sip:+13035550142@x.example SIP/2.0", "2 BYE", ";tag=b", None)
}

/// An answered call of CIN 1: INVITE at 0, 200 at 1 s, two content packets, BYE at 5 s.
fn answered_call(view: &mut CallView) -> Vec<CallLine> {
    let mut out = view.sip(key(1), at(0), (CALLER, CALLEE), &invite(), false);
    out.extend(view.sip(key(1), at(1000), (CALLEE, CALLER), &ok(), false));
    out.extend(view.content(key(1), at(1100), false, &RTP));
    out.extend(view.content(key(1), at(1120), true, &RTP));
    out.extend(view.sip(key(1), at(5000), (CALLEE, CALLER), &bye(), false));
    out
}

#[test]
fn an_ended_call_waits_until_content_has_moved_past_its_end() {
    let mut view = CallView::default();
    assert!(answered_call(&mut view).is_empty(), "IRI-End alone does not release: HI3 may lag");
    assert!(view.content(key(1), at(5500), true, &RTP).is_empty(), "its own late content still counts");
    assert!(view.content(key(2), at(6999), true, &RTP).is_empty());
    let released = view.content(key(2), at(7000), true, &RTP);
    assert_eq!(released.len(), 1, "content stamped 2 s after the end releases it");
    let line = released[0].to_json();
    assert_eq!(
        line,
        json!({
            "liid": "LIID-1", "cin": 1, "caller": "13035550142", "callee": "17205550101",
            "forwarded_from": null, "start": at(0).to_rfc3339(), "answer": at(1000).to_rfc3339(),
            "end": at(5000).to_rfc3339(), "duration_s": 4, "disposition": "answered",
            "content_packets": 3, "open": false,
        })
    );
    assert!(view.content(key(1), at(7100), true, &RTP).is_empty());
    assert_eq!(view.late_content(), 1, "content after the line is counted, not lost silently");
    assert!(view.finish().is_empty(), "CIN 2 never had a call: no line");
}

#[test]
fn a_late_iri_end_is_released_at_once_when_content_is_already_past_it() {
    let mut view = CallView::default();
    view.sip(key(1), at(0), (CALLER, CALLEE), &invite(), false);
    view.content(key(1), at(1100), false, &RTP);
    view.content(key(2), at(9000), false, &RTP);
    let released = view.sip(key(1), at(5000), (CALLEE, CALLER), &bye(), false);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].content_packets, 1);
}

#[test]
fn content_before_the_iri_begin_counts_and_shutdown_releases_open_calls() {
    let mut view = CallView::default();
    view.content(key(1), at(1100), false, &RTP);
    view.sip(key(1), at(0), (CALLER, CALLEE), &invite(), false);
    view.sip(key(1), at(1000), (CALLEE, CALLER), &ok(), false);
    assert_eq!(view.held(), 1);
    let lines = view.finish();
    assert_eq!(lines.len(), 1);
    let line = lines[0].to_json();
    assert_eq!((line["open"].as_bool(), line["content_packets"].as_u64()), (Some(true), Some(1)));
    assert_eq!((line["disposition"].as_str(), line["end"].as_str()), (Some("answered"), Some(at(1000).to_rfc3339().as_str())));
    assert_eq!(view.held(), 0);
}

#[test]
fn a_call_already_written_before_a_restart_is_not_written_again() {
    let mut view = CallView::default();
    view.already_written(key(1));
    assert!(answered_call(&mut view).is_empty());
    assert!(view.finish().is_empty());
}

#[test]
fn content_goes_to_the_sdp_endpoints_only_when_the_target_side_is_known() {
    let endpoints = |targets: HashMap<String, Vec<String>>| {
        let mut view = CallView::new(Numbering::default(), targets);
        answered_call(&mut view);
        let line = view.finish().pop().unwrap();
        line.datagrams().into_iter().map(|(ts, s, d, _)| (ts, s, d)).collect::<Vec<_>>()
    };
    let sip = |ip: IpAddr| Endpoint::new(ip, SIP_PORT);
    let (caller_rtp, callee_rtp) = (Endpoint::new(CALLER, 4000), Endpoint::new(CALLEE, 5000));
    let callee_is_target = HashMap::from([("LIID-1".to_owned(), vec!["17205550101".to_owned()])]);
    assert_eq!(
        endpoints(callee_is_target),
        vec![
            (at(0), sip(CALLER), sip(CALLEE)),
            (at(1000), sip(CALLEE), sip(CALLER)),
            (at(1100), callee_rtp, caller_rtp),
            (at(1120), caller_rtp, callee_rtp),
            (at(5000), sip(CALLEE), sip(CALLER)),
        ],
        "fromTarget content is sent by the target (the callee)"
    );
    let unknown = endpoints(HashMap::new());
    assert_eq!(unknown[2], (at(1100), super::super::pcap::synthetic_pair(1, false).0, super::super::pcap::synthetic_pair(1, false).1));
    assert_eq!(unknown[0], (at(0), sip(CALLER), sip(CALLEE)), "SIP stays at its real addresses");
}

#[test]
fn a_call_of_an_iri_only_warrant_is_released_at_its_end() {
    let mut view = CallView::default();
    assert!(view.sip(key(1), at(0), (CALLER, CALLEE), &invite(), true).is_empty());
    assert!(view.sip(key(1), at(1000), (CALLEE, CALLER), &ok(), true).is_empty());
    let released = view.sip(key(1), at(5000), (CALLEE, CALLER), &bye(), true);
    assert_eq!(released.len(), 1, "no content will come: no wait");
    assert_eq!((released[0].content_packets, released[0].open), (0, false));
}
