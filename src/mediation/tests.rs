//! Scope and call-tracking tests of the mediation core, fed with hand-written SIP and RTP.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::warrant::parse_target;
use crate::warrant::{Liid, OrderKind, Target, Warrant, WarrantTable};
use crate::wire::{Datagram, FlowKey, Transport};
use crate::Timestamp;

const ALICE: &str = "+13035550142";
const BOB: &str = "+13035550199";
const T0: u64 = 1_793_000_000; // 2026-10-26, inside the test warrants' window

pub(super) fn warrant_of_kind(kind: OrderKind, digits: bool) -> Warrant {
    warrant("W-1", kind, ALICE, digits, T0 - 86_400, T0 + 86_400)
}

fn warrant(liid: &str, kind: OrderKind, target: &str, digits: bool, from: u64, until: u64) -> Warrant {
    let raw = format!("tel:{target}");
    Warrant {
        liid: Liid::new(liid).expect("valid liid"),
        kind,
        agency: "agency-a".into(),
        targets: vec![Target { identity: parse_target(&raw, &Default::default()).expect("valid target"), raw }],
        valid_from: Timestamp::from_secs_micros(from, 0),
        valid_until: Timestamp::from_secs_micros(until, 0),
        court_order: "1:26-mj-1".into(),
        issuing_authority: "Hon. Test".into(),
        post_cut_through_digits: digits,
        served_by: None,
        provisioned_by: None,
        source: "test.toml".into(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Collected records, owned.
#[derive(Debug, Clone)]
struct Got {
    liid: String,
    cin: u32,
    iri: Option<(IriType, IriEvent, IriForm)>,
    cc: Option<Direction>,
    bytes: Vec<u8>,
}

struct Harness {
    m: Mediator,
    got: Vec<Got>,
    t: u64,
}

const A_SIG: (&str, u16) = ("10.0.0.1", 5060);
const B_SIG: (&str, u16) = ("10.0.0.2", 5060);
const A_RTP: (&str, u16) = ("10.0.0.1", 40000);
const B_RTP: (&str, u16) = ("10.0.0.2", 50000);

impl Harness {
    fn new(warrants: Vec<Warrant>) -> Self {
        Harness { m: Mediator::new(Arc::new(WarrantTable::new(warrants))), got: Vec::new(), t: T0 * 1_000_000 }
    }

    fn udp(&mut self, src: (&str, u16), dst: (&str, u16), payload: &[u8]) {
        self.t += 20_000; // 20 ms
        let flow = FlowKey { src: ip(src.0), dst: ip(dst.0), src_port: src.1, dst_port: dst.1, proto: 17 };
        let dg = Datagram {
            ts: Timestamp::from_nanos(self.t * 1_000),
            flow,
            transport: Transport::Udp,
            payload,
            ip_packet: payload,
            vlan: None,
        };
        let got = &mut self.got;
        let mut sink = |r: &Record<'_>| {
            let (iri, cc, bytes) = match r.body {
                RecordBody::Iri { iri_type, event, form, bytes, .. } => (Some((iri_type, event, form)), None, bytes),
                RecordBody::Cc { direction, bytes, .. } => (None, Some(direction), bytes),
            };
            got.push(Got { liid: r.warrant.liid.as_str().into(), cin: r.cin, iri, cc, bytes: bytes.to_vec() });
        };
        self.m.handle(&dg, &mut sink);
    }

    fn sip(&mut self, src: (&str, u16), dst: (&str, u16), text: &str) {
        self.udp(src, dst, text.replace('\n', "\r\n").as_bytes());
    }

    fn iri(&self) -> Vec<&Got> {
        self.got.iter().filter(|g| g.iri.is_some()).collect()
    }

    fn cc(&self) -> Vec<&Got> {
        self.got.iter().filter(|g| g.cc.is_some()).collect()
    }
}

fn sdp(addr: &str, port: u16) -> String {
    format!(
        "v=0\no=- 1 1 IN IP4 {addr}\ns=-\nc=IN IP4 {addr}\nt=0 0\nm=audio {port} RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\n"
    )
}

/// A message with a body; written with bare LF, which `Harness::sip` turns into CRLF, so
/// Content-Length counts the CRLF form.
fn with_body(head: &str, ctype: &str, body: &str) -> String {
    let wire_len = body.replace('\n', "\r\n").len();
    format!("{head}Content-Type: {ctype}\nContent-Length: {wire_len}\n\n{body}")
}

fn invite(caller_hdrs: &str, callee: &str, extra: &str) -> String {
    with_body(
        &format!(
            "INVITE sip:{callee}@carrier.example;user=phone SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\nMax-Forwards: 70\n{caller_hdrs}\nTo: <sip:{callee}@carrier.example>\nCall-ID: call-1@test\nCSeq: 1 INVITE\nContact: <sip:10.0.0.1:5060>\n{extra}"
        ),
        "application/sdp",
        &sdp(A_RTP.0, A_RTP.1),
    )
}

fn from_alice() -> String {
    format!("From: <sip:{ALICE}@carrier.example>;tag=a1")
}

fn response(status: &str, cseq: &str, to_tag: bool, body: Option<String>) -> String {
    let tag = if to_tag { ";tag=b1" } else { "" };
    let head = format!(
        "SIP/2.0 {status}\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\nFrom: <sip:{ALICE}@carrier.example>;tag=a1\nTo: <sip:{BOB}@carrier.example>{tag}\nCall-ID: call-1@test\nCSeq: {cseq}\n"
    );
    match body {
        Some(b) => with_body(&head, "application/sdp", &b),
        None => format!("{head}Content-Length: 0\n\n"),
    }
}

fn in_dialog(method: &str, cseq: u32, extra: &str, body: Option<(&str, &str)>) -> String {
    let head = format!(
        "{method} sip:10.0.0.2:5060 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{method}{cseq}\nFrom: <sip:{ALICE}@carrier.example>;tag=a1\nTo: <sip:{BOB}@carrier.example>;tag=b1\nCall-ID: call-1@test\nCSeq: {cseq} {method}\n{extra}"
    );
    match body {
        Some((ct, b)) => with_body(&head, ct, b),
        None => format!("{head}Content-Length: 0\n\n"),
    }
}

fn rtp(pt: u8, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, pt, (seq >> 8) as u8, seq as u8, 0, 0, 0, 160, 1, 2, 3, 4];
    p.extend_from_slice(&[0xff; 160]);
    p
}

fn telephone_event(seq: u16) -> Vec<u8> {
    let mut p = rtp(101, seq);
    p.truncate(12);
    p.extend_from_slice(&[5, 0x0a, 0x00, 0xa0]);
    p
}

/// Alice calls Bob: answered, RTP both ways (2 each), one digit from Alice, BYE.
fn answered_call(h: &mut Harness, subject: bool) {
    let extra = if subject { "Subject: meet at noon\n" } else { "" };
    h.sip(A_SIG, B_SIG, &invite(&from_alice(), BOB, extra));
    h.sip(B_SIG, A_SIG, &response("180 Ringing", "1 INVITE", true, None));
    h.sip(B_SIG, A_SIG, &response("200 OK", "1 INVITE", true, Some(sdp(B_RTP.0, B_RTP.1))));
    h.sip(A_SIG, B_SIG, &in_dialog("ACK", 1, "", None));
    h.udp(A_RTP, B_RTP, &rtp(0, 1));
    h.udp(B_RTP, A_RTP, &rtp(0, 7));
    h.udp(A_RTP, B_RTP, &telephone_event(2));
    h.udp(A_RTP, B_RTP, &rtp(0, 3));
    h.udp(B_RTP, A_RTP, &rtp(0, 8));
    h.sip(A_SIG, B_SIG, &in_dialog("INFO", 2, "", Some(("application/dtmf-relay", "Signal=5\nDuration=160\n"))));
    h.sip(B_SIG, A_SIG, &response("200 OK", "2 INFO", true, None));
    h.sip(A_SIG, B_SIG, &in_dialog("BYE", 3, "", None));
    h.sip(B_SIG, A_SIG, &response("200 OK", "3 BYE", true, None));
    // media after the call ended is not the call's any more
    h.udp(A_RTP, B_RTP, &rtp(0, 4));
}

fn types(got: &[&Got]) -> Vec<IriType> {
    got.iter().filter_map(|g| g.iri.map(|i| i.0)).collect()
}

#[test]
fn pen_register_on_the_caller_gets_minimised_iri_and_no_content() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::PenRegister, false)]);
    answered_call(&mut h, true);
    let iri = h.iri();
    use IriType::*;
    assert_eq!(types(&iri), vec![Begin, Continue, Continue, Continue, Continue, Continue, End, End]);
    assert!(h.cc().is_empty(), "a pen register receives no content");
    for g in &iri {
        assert_eq!(g.iri.unwrap().2, IriForm::IriOnlySipMessage);
        let text = String::from_utf8_lossy(&g.bytes);
        assert!(!text.contains("Subject"), "free text removed: {text}");
        assert!(!text.contains("Signal=5"), "DTMF INFO body removed: {text}");
    }
    // The SDP stays: it is call-identifying signalling, not content.
    assert!(String::from_utf8_lossy(&iri[0].bytes).contains("m=audio 40000"));
    assert_eq!(iri[0].iri.unwrap().1, IriEvent::Origination);
    assert_eq!(iri[2].iri.unwrap().1, IriEvent::Answer);
    assert!(iri.iter().all(|g| g.cin == iri[0].cin));
}

#[test]
fn pen_register_on_the_callee_gets_nothing() {
    let w = warrant("W-2", OrderKind::PenRegister, BOB, true, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![w]);
    answered_call(&mut h, false);
    assert!(h.got.is_empty(), "{:?}", h.got);
    assert_eq!(h.m.stats().calls_seen, 1);
    assert_eq!(h.m.stats().calls_intercepted, 0);
}

#[test]
fn trap_and_trace_on_the_callee_of_a_private_call_gets_the_asserted_caller() {
    let w = warrant("W-3", OrderKind::TrapAndTrace, BOB, false, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![w]);
    let hdrs = format!(
        "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=a1\nPrivacy: id\nP-Asserted-Identity: <sip:{ALICE}@carrier.example;user=phone>"
    );
    h.sip(A_SIG, B_SIG, &invite(&hdrs, BOB, ""));
    h.sip(B_SIG, A_SIG, &response("180 Ringing", "1 INVITE", true, None));
    let iri = h.iri();
    assert_eq!(iri.len(), 2);
    assert_eq!(iri[0].iri.unwrap().1, IriEvent::TerminationAttempt);
    let text = String::from_utf8_lossy(&iri[0].bytes);
    assert!(text.contains(&format!("P-Asserted-Identity: <sip:{ALICE}@")), "{text}");
}

#[test]
fn trap_and_trace_does_not_see_calls_the_target_makes() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::TrapAndTrace, true)]);
    answered_call(&mut h, false);
    assert!(h.got.is_empty());
}

#[test]
fn title_iii_gets_full_signalling_and_content_of_both_directions() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::TitleIii, false)]);
    answered_call(&mut h, true);
    let iri = h.iri();
    assert_eq!(iri.len(), 8);
    assert!(iri.iter().all(|g| g.iri.unwrap().2 == IriForm::SipMessage));
    assert!(String::from_utf8_lossy(&iri[0].bytes).contains("Subject: meet at noon"));
    assert!(iri.iter().any(|g| String::from_utf8_lossy(&g.bytes).contains("Signal=5")));
    let dirs: Vec<Direction> = h.cc().iter().map(|g| g.cc.unwrap()).collect();
    use Direction::*;
    assert_eq!(dirs, vec![FromTarget, ToTarget, FromTarget, FromTarget, ToTarget]);
    // the RTP packet goes out as captured
    assert_eq!(h.cc()[0].bytes, rtp(0, 1));
    // RTP and RTCP endpoints of the offer and of the answer
    assert_eq!(h.m.stats().taps_installed, 4);
}

#[test]
fn title_iii_on_the_callee_sees_directions_from_the_callee() {
    let w = warrant("W-4", OrderKind::TitleIii, BOB, false, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![w]);
    answered_call(&mut h, false);
    let dirs: Vec<Direction> = h.cc().iter().map(|g| g.cc.unwrap()).collect();
    use Direction::*;
    assert_eq!(dirs, vec![ToTarget, FromTarget, ToTarget, ToTarget, FromTarget]);
}

#[test]
fn post_cut_through_digits_reach_a_pen_register_only_when_ordered() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::PenRegister, true)]);
    answered_call(&mut h, false);
    let rtp_iri: Vec<_> = h.iri().into_iter().filter(|g| g.iri.unwrap().2 == IriForm::IriOnlyRtpPacket).collect();
    assert_eq!(rtp_iri.len(), 1);
    assert_eq!(rtp_iri[0].bytes, telephone_event(2));
    assert!(h.iri().iter().any(|g| String::from_utf8_lossy(&g.bytes).contains("Signal=5")));
    assert!(h.cc().is_empty());
}

#[test]
fn a_warrant_outside_its_window_gets_nothing() {
    let early = warrant("W-5", OrderKind::TitleIii, ALICE, true, T0 - 100_000, T0 - 50_000);
    let late = warrant("W-6", OrderKind::TitleIii, ALICE, true, T0 + 50_000, T0 + 100_000);
    let mut h = Harness::new(vec![early, late]);
    answered_call(&mut h, false);
    assert!(h.got.is_empty());
}

#[test]
fn retransmitted_invite_gets_one_record() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::PenRegister, false)]);
    let inv = invite(&from_alice(), BOB, "");
    h.sip(A_SIG, B_SIG, &inv);
    h.sip(A_SIG, B_SIG, &inv);
    assert_eq!(h.iri().len(), 1);
    assert_eq!(h.m.stats().sip_retransmissions, 1);
    assert_eq!(h.m.stats().calls_seen, 1);
}

#[test]
fn cancelled_call_ends_with_iri_end() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::PenRegister, false)]);
    h.sip(A_SIG, B_SIG, &invite(&from_alice(), BOB, ""));
    h.sip(B_SIG, A_SIG, &response("180 Ringing", "1 INVITE", true, None));
    let cancel = invite(&from_alice(), BOB, "").replacen("INVITE sip:", "CANCEL sip:", 1).replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    h.sip(A_SIG, B_SIG, &cancel);
    h.sip(B_SIG, A_SIG, &response("200 OK", "1 CANCEL", true, None));
    h.sip(B_SIG, A_SIG, &response("487 Request Terminated", "1 INVITE", true, None));
    h.sip(A_SIG, B_SIG, &in_dialog("ACK", 1, "", None));
    use IriType::*;
    assert_eq!(types(&h.iri()), vec![Begin, Continue, End, End, End, End]);
    assert!(h.m.active_calls() == 1, "kept to absorb retransmissions");
}

#[test]
fn a_call_forwarded_from_the_target_is_a_call_to_the_target() {
    let target = "+13035550177";
    let w = warrant("W-7", OrderKind::TrapAndTrace, target, false, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![w]);
    let extra = format!("Diversion: <sip:{target}@carrier.example>;reason=unconditional\n");
    h.sip(A_SIG, B_SIG, &invite(&from_alice(), BOB, &extra));
    assert_eq!(h.iri().len(), 1);
}

#[test]
fn message_bodies_reach_only_title_iii() {
    let pen = warrant("P", OrderKind::PenRegister, ALICE, true, T0 - 10, T0 + 86_400);
    let t3 = warrant("T", OrderKind::TitleIii, ALICE, false, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![pen, t3]);
    let msg = with_body(
        &format!("MESSAGE sip:{BOB}@carrier.example SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-m\n{}\nTo: <sip:{BOB}@carrier.example>\nCall-ID: msg-1@test\nCSeq: 1 MESSAGE\n", from_alice()),
        "text/plain",
        "the package is ready",
    );
    h.sip(A_SIG, B_SIG, &msg);
    let got = h.iri();
    assert_eq!(got.len(), 2);
    for g in got {
        let (t, _, form) = g.iri.unwrap();
        assert_eq!(t, IriType::Report);
        let has_text = String::from_utf8_lossy(&g.bytes).contains("the package is ready");
        match g.liid.as_str() {
            "P" => assert!(!has_text && form == IriForm::IriOnlySipMessage),
            _ => assert!(has_text && form == IriForm::SipMessage),
        }
    }
    assert_eq!(h.m.stats().transactions_intercepted, 1);
}

#[test]
fn two_warrants_on_one_call_get_their_own_cins_and_only_their_scope() {
    let pen = warrant("P", OrderKind::PenRegister, ALICE, false, T0 - 10, T0 + 86_400);
    let t3 = warrant("T", OrderKind::TitleIii, ALICE, false, T0 - 10, T0 + 86_400);
    let mut h = Harness::new(vec![pen, t3]);
    answered_call(&mut h, false);
    assert!(h.cc().iter().all(|g| g.liid == "T"));
    assert_eq!(h.got.iter().filter(|g| g.liid == "P").count(), 8);
    assert_eq!(h.got.iter().filter(|g| g.liid == "T").count(), 8 + 5);
}

#[test]
fn garbage_and_truncated_sip_are_counted_not_fatal() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::TitleIii, false)]);
    h.udp(A_SIG, B_SIG, b"INVITE sip:x SIP/2.0\r\nVia");
    h.udp(A_SIG, B_SIG, &[0xff; 40]);
    assert!(h.got.is_empty());
    assert!(h.m.stats().sip_malformed >= 1);
}

#[test]
fn cancelling_a_reinvite_does_not_end_the_call() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::TitleIii, false)]);
    h.sip(A_SIG, B_SIG, &invite(&from_alice(), BOB, ""));
    h.sip(B_SIG, A_SIG, &response("200 OK", "1 INVITE", true, Some(sdp(B_RTP.0, B_RTP.1))));
    h.sip(A_SIG, B_SIG, &in_dialog("ACK", 1, "", None));
    // re-INVITE moving Alice's media, then cancelled
    h.sip(A_SIG, B_SIG, &in_dialog("INVITE", 2, "", Some(("application/sdp", &sdp(A_RTP.0, 41000)))));
    h.sip(A_SIG, B_SIG, &in_dialog("CANCEL", 2, "", None));
    h.sip(B_SIG, A_SIG, &response("200 OK", "2 CANCEL", true, None));
    h.sip(B_SIG, A_SIG, &response("487 Request Terminated", "2 INVITE", true, None));
    h.udp((A_RTP.0, 41000), B_RTP, &rtp(0, 9));
    h.sip(A_SIG, B_SIG, &in_dialog("BYE", 3, "", None));
    use IriType::*;
    assert_eq!(types(&h.iri()), vec![Begin, Continue, Continue, Continue, Continue, Continue, Continue, End]);
    // the moved media endpoint is tapped
    assert_eq!(h.cc().len(), 1);
    assert_eq!(h.cc()[0].cc, Some(Direction::FromTarget));
}

#[test]
fn sip_is_recognised_by_content_on_any_port_and_in_compact_form() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::PenRegister, false)]);
    let compact = format!(
        "INVITE sip:{BOB}@carrier.example SIP/2.0\nv: SIP/2.0/UDP 10.0.0.1:7777;branch=z9hG4bK-c\nf: <sip:{ALICE}@carrier.example>;tag=a1\nt: <sip:{BOB}@carrier.example>\ni: compact-1@test\nCSeq: 1 INVITE\nl: 0\n\n"
    );
    h.sip(("10.0.0.1", 7777), ("10.0.0.2", 9999), &compact);
    let iri = h.iri();
    assert_eq!(iri.len(), 1);
    assert_eq!(iri[0].iri.unwrap().0, IriType::Begin);
}

#[test]
fn forked_early_dialogs_stay_one_communication() {
    let mut h = Harness::new(vec![warrant_of_kind(OrderKind::TitleIii, false)]);
    h.sip(A_SIG, B_SIG, &invite(&from_alice(), BOB, ""));
    // two branches ring (different To-tags), one answers
    h.sip(B_SIG, A_SIG, &response("180 Ringing", "1 INVITE", true, None));
    h.sip(B_SIG, A_SIG, &response("180 Ringing", "1 INVITE", true, None).replace("tag=b1", "tag=b2"));
    h.sip(B_SIG, A_SIG, &response("200 OK", "1 INVITE", true, Some(sdp(B_RTP.0, B_RTP.1))).replace("tag=b1", "tag=b2"));
    h.udp(B_RTP, A_RTP, &rtp(0, 1));
    let iri = h.iri();
    assert_eq!(iri.len(), 4);
    assert!(iri.iter().all(|g| g.cin == iri[0].cin));
    assert_eq!(iri[3].iri.unwrap().1, IriEvent::Answer);
    assert_eq!(h.cc().len(), 1);
    assert_eq!(h.m.stats().calls_seen, 1);
}
