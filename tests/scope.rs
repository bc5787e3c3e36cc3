//! End-to-end scope tests: captures made by `tapline::gen` are written as real pcap files,
//! replayed against warrant files, and the agencies' `hi2.ber`/`hi3.ber` are decoded with
//! tapline's decoder to check that each order got exactly what it may receive.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use tapline::gen::{demo_scenario, CallSpec, MessageSpec, Outcome, Scenario, Transport};
use tapline::handover::{decode_pdu, split_stream, IriContentKind, Payload, Pdu};
use tapline::replay::{replay, Summary};
use tapline::Timestamp;

const START: Timestamp = Timestamp::from_secs_micros(1_793_628_000, 0); // 2026-11-02T14:00Z
const ALICE: &str = "+13035550142";
const BOB: &str = "+13035550199";
const CAROL: &str = "+13035550177";


struct W<'a> {
    liid: &'a str,
    kind: &'a str,
    agency: &'a str,
    target: &'a str,
    digits: bool,
    window: (&'a str, &'a str),
}

impl<'a> W<'a> {
    fn new(liid: &'a str, kind: &'a str, agency: &'a str, target: &'a str) -> Self {
        W { liid, kind, agency, target, digits: false, window: ("2026-01-01T00:00:00Z", "2027-12-31T00:00:00Z") }
    }
}

struct Out {
    summary: Summary,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Out {
    fn pdus(&self, agency: &str, file: &str) -> Vec<Pdu> {
        let path = self.dir.join(agency).join(file);
        let Ok(bytes) = fs::read(&path) else { return Vec::new() };
        split_stream(&bytes)
            .map(|chunk| decode_pdu(chunk.expect("framing")).expect("decodes"))
            .collect()
    }

    /// (LIID, CIN, IRI type, content kind, SIP/RTP bytes) of every IRI record of an agency.
    fn iri(&self, agency: &str) -> Vec<(String, u32, u32, IriContentKind, Vec<u8>)> {
        let mut v = Vec::new();
        for p in self.pdus(agency, "hi2.ber") {
            let Payload::Iri(records) = &p.payload else { panic!("hi2 carries IRI only") };
            for r in records {
                let liid = String::from_utf8(p.header.liid.clone()).unwrap();
                v.push((liid, p.header.cin.unwrap(), r.iri_type.unwrap(), r.kind, r.bytes.clone()));
            }
        }
        v
    }

    /// (LIID, CIN, direction) of every CC record of an agency.
    fn cc(&self, agency: &str) -> Vec<(String, u32, u32)> {
        let mut v = Vec::new();
        for p in self.pdus(agency, "hi3.ber") {
            let Payload::Cc(records) = &p.payload else { panic!("hi3 carries CC only") };
            for r in records {
                let liid = String::from_utf8(p.header.liid.clone()).unwrap();
                v.push((liid, p.header.cin.unwrap(), r.direction.unwrap()));
            }
        }
        v
    }
}

fn run(scenario: &Scenario, warrants: &[W<'_>]) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("capture.pcap");
    scenario.write_pcap(fs::File::create(&capture).unwrap()).unwrap();
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi"), ("b", "DE", "etsi")])).unwrap();
    for w in warrants {
        let text = format!(
            "liid = \"{}\"\nkind = \"{}\"\nagency = \"{}\"\ntargets = [\"tel:{}\"]\nvalid_from = {}\nvalid_until = {}\n\
             court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\npost_cut_through_digits = {}\n",
            w.liid, w.kind, w.agency, w.target, w.window.0, w.window.1, w.digits
        );
        fs::write(wdir.join(format!("{}.toml", w.liid)), text).unwrap();
    }
    let dir = tmp.path().join("out");
    let (summary, refused) = replay(&capture, &wdir, &dir).expect("replay");
    assert!(refused.is_empty(), "{refused:?}");
    Out { summary, dir, _tmp: tmp }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn first_line(b: &[u8]) -> String {
    text(b).lines().next().unwrap_or_default().to_owned()
}

fn call(caller: &str, callee: &str, outcome: Outcome, at_s: u64) -> CallSpec {
    CallSpec::new(caller, callee, outcome, Timestamp::from_nanos(START.as_nanos() + at_s * 1_000_000_000))
}

fn answered(secs: u64) -> Outcome {
    Outcome::Answered { talk: Duration::from_secs(secs) }
}

/// Sequence numbers per (LIID, CIN) in one stream start at 0 and have no gap.
fn assert_gap_free(pdus: &[Pdu]) {
    let mut next: BTreeMap<(Vec<u8>, u32), u32> = BTreeMap::new();
    for p in pdus {
        let key = (p.header.liid.clone(), p.header.cin.unwrap());
        let want = next.entry(key).or_insert(0);
        assert_eq!(p.header.sequence, *want);
        *want += 1;
    }
}

#[test]
fn demo_pen_register_and_title_iii_on_the_same_subscriber() {
    let out = run(
        &demo_scenario(),
        &[W::new("PEN", "pen-register", "a", ALICE), W::new("T3", "title-iii", "b", ALICE)],
    );
    // Pen register: call 1 (Alice calls) and the MESSAGE she sends; not call 2 (to her)
    // nor call 4 (forwarded to her). Minimised signalling, no content.
    let pen = out.iri("a");
    let cins: std::collections::BTreeSet<u32> = pen.iter().map(|r| r.1).collect();
    assert_eq!(cins.len(), 2, "call 1 and the MESSAGE");
    assert!(pen.iter().all(|r| r.3 == IriContentKind::IriOnlySipMessage));
    assert!(pen.iter().all(|r| !text(&r.4).contains("Subject") && !text(&r.4).contains("soup")));
    assert_eq!(first_line(&pen[0].4), format!("INVITE sip:{BOB}@carrier.example;user=phone SIP/2.0"));
    assert_eq!(pen[0].2, 1, "IRI-Begin");
    assert!(pen.iter().any(|r| r.2 == 4 && first_line(&r.4).starts_with("MESSAGE")), "IRI-Report");
    assert!(!out.dir.join("a/hi3.ber").exists(), "a pen register gets no content stream");
    // Title III: calls 1, 2 and 4 and the MESSAGE, full signalling, content both ways.
    let t3 = out.iri("b");
    let cins: std::collections::BTreeSet<u32> = t3.iter().map(|r| r.1).collect();
    assert_eq!(cins.len(), 4);
    assert!(t3.iter().all(|r| r.3 == IriContentKind::SipMessage));
    assert!(t3.iter().any(|r| text(&r.4).contains("Subject: lunch?")));
    assert!(t3.iter().any(|r| text(&r.4).contains("order me the soup")));
    let cc = out.cc("b");
    let from_target = cc.iter().filter(|c| c.2 == 0).count();
    let to_target = cc.iter().filter(|c| c.2 == 1).count();
    // call 1: 308 from Alice (280 PCMU + 28 events), 300 to her; call 4: 250 each way
    assert_eq!((from_target, to_target), (308 + 250, 300 + 250));
    assert_gap_free(&out.pdus("a", "hi2.ber"));
    assert_gap_free(&out.pdus("b", "hi2.ber"));
    assert_gap_free(&out.pdus("b", "hi3.ber"));
    assert_eq!(out.summary.calls_seen, 4);
    assert_eq!(out.summary.liids["PEN"].cc_records, 0);
}

#[test]
fn a_pen_register_on_the_callee_gets_nothing() {
    let mut s = Scenario::new(1);
    s.call(call(ALICE, BOB, answered(3), 0));
    let out = run(&s, &[W::new("PEN-B", "pen-register", "a", BOB)]);
    assert!(out.iri("a").is_empty() && out.cc("a").is_empty());
    assert!(!out.dir.join("a").exists(), "an agency with no records gets no bytes");
    assert_eq!(out.summary.liids["PEN-B"].iri_records, 0);
}

#[test]
fn trap_and_trace_on_the_callee_of_a_private_call_gets_the_asserted_caller() {
    let mut s = Scenario::new(2);
    let mut c = call(CAROL, ALICE, Outcome::RangNoAnswer { ring: Duration::from_secs(5) }, 0);
    c.caller_private = true;
    s.call(c);
    let out = run(&s, &[W::new("TT", "trap-and-trace", "a", ALICE), W::new("PEN", "pen-register", "b", ALICE)]);
    let iri = out.iri("a");
    assert!(!iri.is_empty());
    let invite = text(&iri[0].4);
    assert!(invite.contains("Privacy: id"), "{invite}");
    assert!(invite.contains(&format!("P-Asserted-Identity: <sip:{CAROL}@")), "{invite}");
    // rang, then CANCEL: the communication ends with IRI-End records
    assert_eq!(iri.last().unwrap().2, 2);
    assert!(out.iri("b").is_empty(), "a pen register on the callee sees nothing");
}

#[test]
fn an_anonymous_caller_without_asserted_identity_cannot_match_a_caller_warrant() {
    let mut s = Scenario::new(3);
    let mut c = call(CAROL, ALICE, answered(2), 0);
    c.caller_anonymous_unavailable = true;
    s.call(c);
    let out = run(&s, &[W::new("PEN-C", "pen-register", "a", CAROL), W::new("TT", "trap-and-trace", "b", ALICE)]);
    assert!(out.iri("a").is_empty());
    let iri = out.iri("b");
    assert!(!iri.is_empty(), "the callee's trap and trace still sees the call");
    assert!(!text(&iri[0].4).contains(CAROL));
}

#[test]
fn title_iii_gets_rtp_of_both_directions_and_rtcp() {
    let mut s = Scenario::new(4);
    let mut c = call(ALICE, BOB, answered(4), 0);
    c.rtcp = true;
    s.call(c);
    let out = run(&s, &[W::new("T3", "title-iii", "a", BOB)]);
    let cc = out.cc("a");
    let from = cc.iter().filter(|c| c.2 == 0).count();
    let to = cc.iter().filter(|c| c.2 == 1).count();
    assert!(from >= 200 && to >= 200, "{from} from, {to} to the target");
    assert!(out.summary.liids["T3"].cc_records as usize == cc.len());
    assert_gap_free(&out.pdus("a", "hi3.ber"));
}

#[test]
fn no_order_but_title_iii_receives_bodies_free_text_or_content() {
    let mut s = Scenario::new(5);
    let mut c = call(ALICE, BOB, answered(3), 0);
    c.subject = Some("secret plans".into());
    c.info_digits = Some("42".into());
    c.rfc4733_digits = Some("9".into());
    s.call(c);
    s.sip_message(MessageSpec::new(ALICE, BOB, "meet me at the dock", Timestamp::from_nanos(START.as_nanos() + 20_000_000_000)));
    for kind in ["pen-register", "trap-and-trace", "pen-trap"] {
        for target in [ALICE, BOB] {
            let mut w = W::new("X", kind, "a", target);
            w.digits = false;
            let out = run(&s, &[w]);
            assert!(out.cc("a").is_empty(), "{kind}");
            for r in out.iri("a") {
                let t = text(&r.4);
                assert_eq!(r.3, IriContentKind::IriOnlySipMessage, "{kind}");
                assert!(!t.contains("secret plans") && !t.contains("dock") && !t.contains("Signal"), "{kind}: {t}");
            }
        }
    }
    let out = run(&s, &[W::new("X", "title-iii", "a", ALICE)]);
    let all: String = out.iri("a").iter().map(|r| text(&r.4)).collect();
    assert!(all.contains("secret plans") && all.contains("dock") && all.contains("Signal"));
    assert!(!out.cc("a").is_empty());
}

#[test]
fn post_cut_through_digits_follow_the_warrant_setting() {
    let mut s = Scenario::new(6);
    let mut c = call(ALICE, BOB, answered(4), 0);
    c.rfc4733_digits = Some("12".into());
    s.call(c);
    let mut allowed = W::new("PEN-D", "pen-register", "a", ALICE);
    allowed.digits = true;
    let out = run(&s, &[allowed, W::new("PEN-N", "pen-register", "b", ALICE)]);
    let events = |agency: &str| out.iri(agency).into_iter().filter(|r| r.3 == IriContentKind::IriOnlyRtpPacket).count();
    assert_eq!(events("a"), 2 * 7, "two digits, 4 event packets + 3 end packets each");
    assert_eq!(events("b"), 0);
    assert!(out.cc("a").is_empty());
}

#[test]
fn a_warrant_outside_its_validity_window_gets_nothing() {
    let mut s = Scenario::new(7);
    s.call(call(ALICE, BOB, answered(2), 0));
    let mut expired = W::new("OLD", "title-iii", "a", ALICE);
    expired.window = ("2025-01-01T00:00:00Z", "2026-11-02T13:59:59Z");
    let mut future = W::new("NEW", "title-iii", "b", ALICE);
    future.window = ("2026-11-02T14:00:30Z", "2027-01-01T00:00:00Z");
    let out = run(&s, &[expired, future]);
    assert!(out.iri("a").is_empty() && out.iri("b").is_empty() && out.cc("a").is_empty() && out.cc("b").is_empty());
}

#[test]
fn calls_over_tcp_ipv6_and_vlan_are_intercepted_alike() {
    let mut s = Scenario::new(8);
    let mut tcp = call(ALICE, BOB, answered(2), 0);
    tcp.transport = Transport::Tcp;
    let mut v6 = call(ALICE, BOB, answered(2), 10);
    v6.ipv6 = true;
    let mut vlan = call(ALICE, BOB, answered(2), 20);
    vlan.vlan = Some(100);
    vlan.retransmit_invite = true;
    s.call(tcp).call(v6).call(vlan);
    let out = run(&s, &[W::new("T3", "title-iii", "a", ALICE)]);
    let iri = out.iri("a");
    let cins: std::collections::BTreeSet<u32> = iri.iter().map(|r| r.1).collect();
    assert_eq!(cins.len(), 3);
    for cin in cins {
        let invites = iri.iter().filter(|r| r.1 == cin && first_line(&r.4).starts_with("INVITE")).count();
        assert_eq!(invites, 1, "one INVITE record per call, retransmissions dropped (CIN {cin})");
        assert!(out.cc("a").iter().filter(|c| c.1 == cin).count() >= 200);
    }
    assert!(out.summary.mediation.sip_retransmissions >= 1);
}

#[test]
fn forwarded_calls_count_as_calls_to_the_target() {
    let mut s = Scenario::new(9);
    s.call(call(BOB, CAROL, Outcome::ForwardedDiversion { to: ALICE.into(), talk: Duration::from_secs(2) }, 0));
    s.call(call(BOB, ALICE, Outcome::ForwardedBy3xx { to: CAROL.into(), talk: Duration::from_secs(2) }, 10));
    // trap and trace on Carol: the call forwarded from her (Diversion) is a call to her
    let out = run(&s, &[W::new("TT-C", "trap-and-trace", "a", CAROL), W::new("TT-A", "trap-and-trace", "b", ALICE)]);
    assert!(!out.iri("a").is_empty(), "Diversion from the target");
    // Alice's phone redirected the second call with 302: still a call to Alice
    let b = out.iri("b");
    assert!(b.iter().any(|r| first_line(&r.4).contains("302")), "the 3xx is delivered");
}

#[test]
fn rejected_and_never_ending_calls() {
    let mut s = Scenario::new(10);
    s.call(call(ALICE, BOB, Outcome::Rejected { status: 486 }, 0));
    s.call(call(ALICE, BOB, Outcome::NeverEnds { talk: Duration::from_secs(3) }, 10));
    let out = run(&s, &[W::new("PEN", "pen-register", "a", ALICE)]);
    let iri = out.iri("a");
    let mut by_cin: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for r in &iri {
        by_cin.entry(r.1).or_default().push(r.2);
    }
    let types: Vec<Vec<u32>> = by_cin.into_values().collect();
    assert_eq!(types.len(), 2);
    assert_eq!(types[0].first(), Some(&1));
    assert_eq!(types[0].last(), Some(&2), "a rejected call ends with IRI-End");
    assert!(types[1].iter().all(|t| *t != 2), "a call that never ends has no IRI-End");
}

#[test]
fn replay_output_passes_the_independent_oracle_and_our_decoder_agrees() {
    let out = run(
        &demo_scenario(),
        &[W::new("PEN", "pen-register", "a", ALICE), W::new("T3", "title-iii", "b", ALICE)],
    );
    if !common::oracle::require_oracle() {
        return;
    }
    for f in ["a/hi2.ber", "b/hi2.ber", "b/hi3.ber"] {
        common::oracle::assert_passes_check_and_decoder_agrees(&out.dir.join(f));
    }
}
