//! End-to-end dialog tracking (issue 11, items 1, 2, 4, 5, 6): carrier call flows built
//! packet by packet into real pcap files (tests/common/capture.rs), replayed through
//! `tapline::replay` (threaded and single-threaded pipelines), the agencies' streams decoded
//! and checked by the independent ETSI oracle. Forked calls, retargeting, registered
//! contacts, long holds, session timers, moving media and unanswered BYEs.

mod common;
#[path = "common/capture.rs"]
mod capture;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use capture::{sdp, Capture, Dialog, Ep};
use tapline::handover::{decode_pdu, split_stream, Payload, Pdu};
use tapline::mediation::MediatorConfig;
use tapline::pipeline::PipelineConfig;
use tapline::replay::{replay_with, ReplayOptions, Summary};
use tapline::Timestamp;

const START: Timestamp = Timestamp::from_secs_micros(1_793_628_000, 0); // 2026-11-02T14:00Z
const ALICE: &str = "+13035550142";
const BOB: &str = "+13035550199";
const CAROL: &str = "+13035550177";

const A_SIG: Ep = ("10.1.0.1", 5060);
const A_RTP: Ep = ("10.1.0.1", 40000);
const PROXY: Ep = ("10.1.0.254", 5060);
const D1_SIG: Ep = ("10.2.0.1", 5060);
const D1_RTP: Ep = ("10.2.0.1", 50000);
const D2_SIG: Ep = ("10.2.0.2", 5060);
const D2_RTP: Ep = ("10.2.0.2", 52000);
const VM_SIG: Ep = ("10.3.0.1", 5060);
const VM_RTP: Ep = ("10.3.0.1", 54000);
const STRANGER: Ep = ("10.9.9.9", 60000);

fn uri(number: &str) -> String {
    format!("sip:{number}@carrier.example")
}

fn via(ep: Ep, branch: &str) -> String {
    format!("{}:{};branch=z9hG4bK-{branch}", ep.0, ep.1)
}

/// One warrant: (LIID, kind, agency, target number).
type W = (&'static str, &'static str, &'static str, &'static str);

struct Out {
    summary: Summary,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

/// An IRI record: (CIN, IRI type, SIP bytes).
type Iri = (u32, u32, Vec<u8>);

impl Out {
    fn pdus(&self, agency: &str, file: &str) -> Vec<Pdu> {
        let Ok(bytes) = fs::read(self.dir.join(agency).join(file)) else { return Vec::new() };
        split_stream(&bytes).map(|c| decode_pdu(c.expect("framing")).expect("decodes")).collect()
    }

    fn iri(&self, agency: &str) -> Vec<Iri> {
        let mut v = Vec::new();
        for p in self.pdus(agency, "hi2.ber") {
            let Payload::Iri(records) = &p.payload else { panic!("hi2 carries IRI only") };
            for r in records {
                v.push((p.header.cin.expect("cin"), r.iri_type.expect("type"), r.bytes.clone()));
            }
        }
        v
    }

    /// (CIN, direction 0 from / 1 to the target, RTP bytes) of every CC record.
    fn cc(&self, agency: &str) -> Vec<(u32, u32, Vec<u8>)> {
        let mut v = Vec::new();
        for p in self.pdus(agency, "hi3.ber") {
            let Payload::Cc(records) = &p.payload else { panic!("hi3 carries CC only") };
            for r in records {
                v.push((p.header.cin.expect("cin"), r.direction.expect("direction"), r.contents.clone()));
            }
        }
        v
    }

    fn dialog_cins(&self, agency: &str) -> BTreeSet<u32> {
        self.iri(agency).iter().filter(|r| first_line(&r.2).starts_with("INVITE")).map(|r| r.0).collect()
    }

    /// Every stream written passes the oracle's `--check`, and our decoder agrees.
    fn check_oracle(&self) {
        if !common::oracle::require_oracle() {
            return;
        }
        for agency in fs::read_dir(&self.dir).unwrap().flatten().filter(|e| e.path().is_dir()) {
            for f in fs::read_dir(agency.path()).unwrap().flatten() {
                common::oracle::assert_passes_check_and_decoder_agrees(&f.path());
            }
        }
    }
}

fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).lines().next().unwrap_or_default().to_owned()
}

fn from_to(cc: &[(u32, u32, Vec<u8>)]) -> (usize, usize) {
    (cc.iter().filter(|c| c.1 == 0).count(), cc.iter().filter(|c| c.1 == 1).count())
}

fn run_opts(cap: &Capture, warrants: &[W], options: &ReplayOptions) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("capture.pcap");
    cap.write(&capture);
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi"), ("b", "US", "etsi")])).unwrap();
    for (liid, kind, agency, target) in warrants {
        let text = format!(
            "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"tel:{target}\"]\n\
             valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
             court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\npost_cut_through_digits = false\n"
        );
        fs::write(wdir.join(format!("{liid}.toml")), text).unwrap();
    }
    let dir = tmp.path().join("out");
    let (summary, refused) = replay_with(&capture, &wdir, &dir, options).expect("replay");
    assert!(refused.is_empty(), "{refused:?}");
    Out { summary, dir, _tmp: tmp }
}

/// Replays threaded (the default) and single-threaded; both must write the same bytes.
fn run(cap: &Capture, warrants: &[W]) -> Out {
    let threaded = run_opts(cap, warrants, &ReplayOptions::default());
    let single = ReplayOptions { pipeline: PipelineConfig::single_threaded(), ..ReplayOptions::default() };
    let reference = run_opts(cap, warrants, &single);
    for agency in ["a", "b"] {
        for file in ["hi2.ber", "hi3.ber"] {
            let got = fs::read(threaded.dir.join(agency).join(file)).ok();
            let want = fs::read(reference.dir.join(agency).join(file)).ok();
            assert!(got == want, "{agency}/{file}: the threaded pipeline differs from the single-threaded one");
        }
    }
    threaded
}

/// A proxy at PROXY forks Alice's call to Bob's two devices: D1 fails at once with
/// `failure`, D2 answers; 100 RTP packets each way, then Alice hangs up.
fn forked_call(cap: &mut Capture, failure: &str) {
    let d = Dialog::new("fork-1@test", &uri(ALICE), &uri(BOB));
    let ruri = format!("{};user=phone", uri(BOB));
    let (va, vp1, vp2) = (via(A_SIG, "a1"), via(PROXY, "p1"), via(PROXY, "p2"));
    let offer = sdp(&[A_RTP]);
    cap.udp(A_SIG, PROXY, &d.request("INVITE", &ruri, &[&va], None, 1, &["Contact: <sip:alice@10.1.0.1>"], Some(&offer)));
    cap.udp(PROXY, D1_SIG, &d.request("INVITE", "sip:bob@10.2.0.1", &[&vp1, &va], None, 1, &[], Some(&offer)));
    cap.udp(PROXY, D2_SIG, &d.request("INVITE", "sip:bob@10.2.0.2", &[&vp2, &va], None, 1, &[], Some(&offer)));
    cap.udp(D1_SIG, PROXY, &d.response("180 Ringing", &[&vp1, &va], Some("t1"), 1, "INVITE", &[], None));
    cap.udp(D2_SIG, PROXY, &d.response("180 Ringing", &[&vp2, &va], Some("t2"), 1, "INVITE", &[], None));
    cap.udp(PROXY, A_SIG, &d.response("180 Ringing", &[&va], Some("t1"), 1, "INVITE", &[], None));
    cap.udp(PROXY, A_SIG, &d.response("180 Ringing", &[&va], Some("t2"), 1, "INVITE", &[], None));
    // D1 fails; the proxy absorbs it (RFC 3261 §16.7) and acknowledges it hop by hop
    cap.udp(D1_SIG, PROXY, &d.response(failure, &[&vp1, &va], Some("t1"), 1, "INVITE", &[], None));
    cap.udp(PROXY, D1_SIG, &d.request("ACK", "sip:bob@10.2.0.1", &[&vp1], Some("t1"), 1, &[], None));
    cap.wait(2);
    let answer = sdp(&[D2_RTP]);
    cap.udp(D2_SIG, PROXY, &d.response("200 OK", &[&vp2, &va], Some("t2"), 1, "INVITE", &["Contact: <sip:bob@10.2.0.2>"], Some(&answer)));
    cap.udp(PROXY, A_SIG, &d.response("200 OK", &[&va], Some("t2"), 1, "INVITE", &["Contact: <sip:bob@10.2.0.2>"], Some(&answer)));
    cap.udp(A_SIG, PROXY, &d.request("ACK", "sip:bob@10.2.0.2", &[&via(A_SIG, "a2")], Some("t2"), 1, &[], None));
    cap.udp(PROXY, D2_SIG, &d.request("ACK", "sip:bob@10.2.0.2", &[&via(PROXY, "p3"), &via(A_SIG, "a2")], Some("t2"), 1, &[], None));
    cap.talk(A_RTP, D2_RTP, 100, 1);
    let (va3, vp4) = (via(A_SIG, "a3"), via(PROXY, "p4"));
    cap.udp(A_SIG, PROXY, &d.request("BYE", "sip:bob@10.2.0.2", &[&va3], Some("t2"), 2, &[], None));
    cap.udp(PROXY, D2_SIG, &d.request("BYE", "sip:bob@10.2.0.2", &[&vp4, &va3], Some("t2"), 2, &[], None));
    cap.udp(D2_SIG, PROXY, &d.response("200 OK", &[&vp4, &va3], Some("t2"), 2, "BYE", &[], None));
    cap.udp(PROXY, A_SIG, &d.response("200 OK", &[&va3], Some("t2"), 2, "BYE", &[], None));
}

#[test]
fn a_forked_call_where_one_branch_fails_is_followed_to_its_release() {
    for failure in ["486 Busy Here", "603 Decline"] {
        let mut cap = Capture::new(START);
        forked_call(&mut cap, failure);
        let out = run(&cap, &[("T3", "title-iii", "a", BOB), ("PEN", "pen-register", "b", ALICE)]);
        for agency in ["a", "b"] {
            let iri = out.iri(agency);
            let cins: BTreeSet<u32> = iri.iter().map(|r| r.0).collect();
            assert_eq!(cins.len(), 1, "{failure}: one communication");
            assert!(iri.iter().any(|r| first_line(&r.2) == format!("SIP/2.0 {failure}")), "the failure is reported");
            assert!(iri.iter().any(|r| first_line(&r.2).starts_with("BYE")), "{failure}: the BYE is delivered");
            assert_eq!(iri.first().map(|r| r.1), Some(1), "IRI-Begin");
            assert_eq!(iri.last().map(|r| r.1), Some(2), "{failure}: the call ends with the release");
            // only the release (BYE and its 200s) is IRI-End: the failed branch was not the end
            let ends: Vec<String> = iri.iter().filter(|r| r.1 == 2).map(|r| first_line(&r.2)).collect();
            assert!(ends.iter().all(|l| l.starts_with("BYE") || l.starts_with("SIP/2.0 200")), "{failure}: {ends:?}");
        }
        // Title III on the callee: all of the answered branch's media, both ways
        assert_eq!(from_to(&out.cc("a")), (100, 100), "{failure}");
        assert!(out.cc("b").is_empty(), "a pen register gets no content");
        assert_eq!(out.summary.mediation.calls_intercepted, 1);
        out.check_oracle();
    }
}

#[test]
fn a_call_retargeted_on_busy_to_voicemail_with_the_same_call_id_continues() {
    // Only the terminating side is captured: the proxy's INVITE to Bob's phone fails 486,
    // the proxy retargets to voicemail (new branch, same Call-ID), which answers.
    let mut cap = Capture::new(START);
    let d = Dialog::new("busy-1@test", &uri(ALICE), &uri(BOB));
    let (va, vp1, vp2) = (via(A_SIG, "a1"), via(PROXY, "p1"), via(PROXY, "p2"));
    let offer = sdp(&[A_RTP]);
    cap.udp(PROXY, D1_SIG, &d.request("INVITE", "sip:bob@10.2.0.1", &[&vp1, &va], None, 1, &[], Some(&offer)));
    cap.udp(D1_SIG, PROXY, &d.response("486 Busy Here", &[&vp1, &va], Some("t1"), 1, "INVITE", &[], None));
    cap.udp(PROXY, D1_SIG, &d.request("ACK", "sip:bob@10.2.0.1", &[&vp1], Some("t1"), 1, &[], None));
    let diversion = format!("Diversion: <{}>;reason=user-busy", uri(BOB));
    cap.udp(PROXY, VM_SIG, &d.request("INVITE", "sip:vm@10.3.0.1", &[&vp2, &va], None, 1, &[&diversion], Some(&offer)));
    let answer = sdp(&[VM_RTP]);
    cap.udp(VM_SIG, PROXY, &d.response("200 OK", &[&vp2, &va], Some("vm"), 1, "INVITE", &[], Some(&answer)));
    cap.udp(PROXY, VM_SIG, &d.request("ACK", "sip:vm@10.3.0.1", &[&via(PROXY, "p3")], Some("vm"), 1, &[], None));
    cap.talk(A_RTP, VM_RTP, 50, 1);
    cap.udp(PROXY, VM_SIG, &d.request("BYE", "sip:vm@10.3.0.1", &[&via(PROXY, "p4")], Some("vm"), 2, &[], None));
    cap.udp(VM_SIG, PROXY, &d.response("200 OK", &[&via(PROXY, "p4")], Some("vm"), 2, "BYE", &[], None));
    let out = run(&cap, &[("T3", "title-iii", "a", BOB)]);
    let iri = out.iri("a");
    assert_eq!(iri.iter().map(|r| r.0).collect::<BTreeSet<_>>().len(), 1, "one communication");
    assert!(iri.iter().any(|r| first_line(&r.2).starts_with("INVITE sip:vm@")));
    assert!(iri.iter().any(|r| first_line(&r.2).starts_with("BYE")));
    assert_eq!(iri.last().map(|r| r.1), Some(2));
    assert_eq!(from_to(&out.cc("a")), (50, 50), "the voicemail leg's media is the call's");
    out.check_oracle();
}

/// Bob's phone registers its contact; returns the REGISTER's Dialog.
fn register(cap: &mut Capture, cseq: u32, contact: &str, ok_contact: Option<&str>) {
    const DEV: Ep = ("10.1.2.3", 5062);
    const REGISTRAR: Ep = ("10.0.0.10", 5060);
    let d = Dialog::new("reg-1@test", &uri(BOB), &uri(BOB));
    let v = via(DEV, &format!("r{cseq}"));
    cap.udp(DEV, REGISTRAR, &d.request("REGISTER", "sip:carrier.example", &[&v], None, cseq, &[contact], None));
    let ok: Vec<&str> = ok_contact.into_iter().collect();
    cap.udp(REGISTRAR, DEV, &d.response("200 OK", &[&v], Some("reg"), cseq, "REGISTER", &ok, None));
}

/// Carol calls the contact `sip:abc@10.1.2.3:5062` (Request-URI only; To names a pilot
/// number that is not the target): answered, 20 packets each way, released.
fn call_contact(cap: &mut Capture, call_id: &str) {
    const DEV_RTP: Ep = ("10.1.2.3", 30000);
    let d = Dialog::new(call_id, &uri(CAROL), &uri("+17205550100"));
    let v = via(PROXY, call_id);
    let ruri = "sip:abc@10.1.2.3:5062";
    cap.udp(PROXY, ("10.1.2.3", 5062), &d.request("INVITE", ruri, &[&v], None, 1, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(("10.1.2.3", 5062), PROXY, &d.response("200 OK", &[&v], Some("dev"), 1, "INVITE", &[], Some(&sdp(&[DEV_RTP]))));
    cap.udp(PROXY, ("10.1.2.3", 5062), &d.request("ACK", ruri, &[&via(PROXY, "ack")], Some("dev"), 1, &[], None));
    cap.talk(A_RTP, DEV_RTP, 20, 1);
    cap.udp(PROXY, ("10.1.2.3", 5062), &d.request("BYE", ruri, &[&via(PROXY, "bye")], Some("dev"), 2, &[], None));
    cap.udp(("10.1.2.3", 5062), PROXY, &d.response("200 OK", &[&via(PROXY, "bye")], Some("dev"), 2, "BYE", &[], None));
}

#[test]
fn a_call_to_a_registered_contact_of_the_target_reaches_the_target() {
    let mut cap = Capture::new(START);
    register(&mut cap, 1, "Contact: <sip:abc@10.1.2.3:5062>", Some("Contact: <sip:abc@10.1.2.3:5062>;expires=3600"));
    call_contact(&mut cap, "c1@test"); // intercepted
    // de-registration (Contact: *): the 2xx lists no binding any more
    register(&mut cap, 2, "Contact: *\r\nExpires: 0", None);
    call_contact(&mut cap, "c2@test"); // not intercepted
    // registered again for 60 s, not refreshed: expired by the time of the call
    register(&mut cap, 3, "Contact: <sip:abc@10.1.2.3:5062>", Some("Contact: <sip:abc@10.1.2.3:5062>;expires=60"));
    cap.wait(120);
    call_contact(&mut cap, "c3@test"); // not intercepted
    // refreshed: the binding holds again
    register(&mut cap, 4, "Contact: <sip:abc@10.1.2.3:5062>", Some("Contact: <sip:abc@10.1.2.3:5062>;expires=3600"));
    call_contact(&mut cap, "c4@test"); // intercepted
    let out = run(&cap, &[("TT", "trap-and-trace", "a", BOB), ("T3", "title-iii", "b", BOB)]);
    let iri = out.iri("a");
    let cins: BTreeSet<u32> = iri.iter().map(|r| r.0).collect();
    assert_eq!(cins.len(), 2, "calls 1 and 4 reach the target through its contact");
    assert!(iri.iter().all(|r| !String::from_utf8_lossy(&r.2).contains("c2@test") && !String::from_utf8_lossy(&r.2).contains("c3@test")));
    assert!(iri.iter().any(|r| first_line(&r.2) == "INVITE sip:abc@10.1.2.3:5062 SIP/2.0"));
    assert_eq!(out.dialog_cins("b").len(), 2);
    assert_eq!(from_to(&out.cc("b")), (40, 40), "content of calls 1 and 4 only");
    assert!(out.summary.mediation.bindings_expired >= 1, "the 60 s registration expired");
    out.check_oracle();
}

/// Alice calls Bob directly: answered, 50 packets each way, on hold (no media) for `hold`
/// seconds, resumed, 50 more each way, released.
fn held_call(cap: &mut Capture, hold: u64) {
    let d = Dialog::new("hold-1@test", &uri(ALICE), &uri(BOB));
    let ruri = uri(BOB);
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", &ruri, &[&via(A_SIG, "h1")], None, 1, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "h1")], Some("b"), 1, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", "sip:bob@10.2.0.1", &[&via(A_SIG, "h2")], Some("b"), 1, &[], None));
    cap.talk(A_RTP, D1_RTP, 50, 1);
    let hold_sdp = sdp(&[A_RTP]).replace("a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:0 PCMU/8000\r\na=inactive\r\n");
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", "sip:bob@10.2.0.1", &[&via(A_SIG, "h3")], Some("b"), 2, &[], Some(&hold_sdp)));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "h3")], Some("b"), 2, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", "sip:bob@10.2.0.1", &[&via(A_SIG, "h4")], Some("b"), 2, &[], None));
    cap.wait(hold);
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", "sip:bob@10.2.0.1", &[&via(A_SIG, "h5")], Some("b"), 3, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "h5")], Some("b"), 3, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", "sip:bob@10.2.0.1", &[&via(A_SIG, "h6")], Some("b"), 3, &[], None));
    cap.talk(A_RTP, D1_RTP, 50, 100);
    cap.udp(A_SIG, D1_SIG, &d.request("BYE", "sip:bob@10.2.0.1", &[&via(A_SIG, "h7")], Some("b"), 4, &[], None));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "h7")], Some("b"), 4, "BYE", &[], None));
}

#[test]
fn a_long_silent_hold_keeps_the_call_and_the_idle_timeout_is_configurable() {
    let mut cap = Capture::new(START);
    held_call(&mut cap, 2 * 3600);
    let out = run(&cap, &[("T3", "title-iii", "a", ALICE)]);
    assert_eq!(from_to(&out.cc("a")), (100, 100), "media before and after the hold");
    let iri = out.iri("a");
    assert!(iri.iter().any(|r| first_line(&r.2).starts_with("BYE")), "the release is delivered");
    assert_eq!(iri.last().map(|r| r.1), Some(2));
    assert_eq!(out.summary.mediation.calls_expired_idle, 0);
    out.check_oracle();

    // With a confirmed-dialog idle timeout of 30 min the held call expires, and is counted.
    let mediator = MediatorConfig { idle_timeout_ns: 1800 * 1_000_000_000, ..MediatorConfig::default() };
    let out = run_opts(&cap, &[("T3", "title-iii", "a", ALICE)], &ReplayOptions { mediator, ..ReplayOptions::default() });
    assert_eq!(from_to(&out.cc("a")), (50, 50));
    assert_eq!((out.summary.mediation.calls_expired_idle, out.summary.mediation.calls_expired_unanswered), (1, 0));
}

#[test]
fn the_cli_sets_the_idle_timeouts() {
    let mut cap = Capture::new(START);
    held_call(&mut cap, 2 * 3600);
    let tmp = tempfile::tempdir().unwrap();
    let capture = tmp.path().join("hold.pcap");
    cap.write(&capture);
    let wdir = tmp.path().join("warrants");
    fs::create_dir(&wdir).unwrap();
    fs::write(wdir.join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi")])).unwrap();
    fs::write(
        wdir.join("T3.toml"),
        format!("liid = \"T3\"\nkind = \"title-iii\"\nagency = \"a\"\ntargets = [\"tel:{ALICE}\"]\nvalid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\ncourt_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n"),
    )
    .unwrap();
    let summary = |out: &str, extra: &[&str]| -> serde_json::Value {
        let out = tmp.path().join(out);
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_tapline"))
            .arg("replay")
            .arg(&capture)
            .arg("--warrants")
            .arg(&wdir)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        serde_json::from_slice(&fs::read(out.join("summary.json")).unwrap()).unwrap()
    };
    let default = summary("default", &[]);
    assert_eq!(default["mediation"]["calls_expired_idle"], 0);
    let short = summary("short", &["--idle-timeout-confirmed", "1800", "--idle-timeout-unanswered", "60"]);
    assert_eq!(short["mediation"]["calls_expired_idle"], 1);
}

#[test]
fn unanswered_calls_and_unrefreshed_session_timers_expire_and_are_counted() {
    let mut cap = Capture::new(START);
    // 1: rings, then nothing for 20 minutes (longer than the 15 min unanswered timeout)
    let u = Dialog::new("ring-1@test", &uri(ALICE), &uri(BOB));
    cap.udp(A_SIG, D1_SIG, &u.request("INVITE", &uri(BOB), &[&via(A_SIG, "u1")], None, 1, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(D1_SIG, A_SIG, &u.response("180 Ringing", &[&via(A_SIG, "u1")], Some("b"), 1, "INVITE", &[], None));
    // 2: a session timer of 90 s, refreshed once by UPDATE, then released
    let r = Dialog::new("timer-ok@test", &uri(ALICE), &uri(BOB));
    let se = "Session-Expires: 90;refresher=uac";
    cap.udp(A_SIG, D2_SIG, &r.request("INVITE", &uri(BOB), &[&via(A_SIG, "r1")], None, 1, &[se, "Supported: timer"], Some(&sdp(&[("10.1.0.1", 41000)]))));
    cap.udp(D2_SIG, A_SIG, &r.response("200 OK", &[&via(A_SIG, "r1")], Some("b"), 1, "INVITE", &[se, "Require: timer"], Some(&sdp(&[D2_RTP]))));
    cap.udp(A_SIG, D2_SIG, &r.request("ACK", "sip:bob@10.2.0.2", &[&via(A_SIG, "r2")], Some("b"), 1, &[], None));
    // 3: a session timer of 90 s never refreshed: the session is over after 90 s
    let n = Dialog::new("timer-lost@test", &uri(ALICE), &uri(BOB));
    cap.udp(A_SIG, VM_SIG, &n.request("INVITE", &uri(BOB), &[&via(A_SIG, "n1")], None, 1, &[se], Some(&sdp(&[("10.1.0.1", 42000)]))));
    cap.udp(VM_SIG, A_SIG, &n.response("200 OK", &[&via(A_SIG, "n1")], Some("b"), 1, "INVITE", &[se], Some(&sdp(&[VM_RTP]))));
    cap.udp(A_SIG, VM_SIG, &n.request("ACK", "sip:vm@10.3.0.1", &[&via(A_SIG, "n2")], Some("b"), 1, &[], None));
    cap.wait(60);
    cap.udp(A_SIG, D2_SIG, &r.request("UPDATE", "sip:bob@10.2.0.2", &[&via(A_SIG, "r3")], Some("b"), 2, &[se], None));
    cap.udp(D2_SIG, A_SIG, &r.response("200 OK", &[&via(A_SIG, "r3")], Some("b"), 2, "UPDATE", &[se], None));
    cap.wait(60);
    cap.udp(A_SIG, D2_SIG, &r.request("BYE", "sip:bob@10.2.0.2", &[&via(A_SIG, "r4")], Some("b"), 3, &[], None));
    cap.udp(A_SIG, VM_SIG, &n.request("BYE", "sip:vm@10.3.0.1", &[&via(A_SIG, "n3")], Some("b"), 2, &[], None));
    cap.wait(20 * 60);
    cap.udp(A_SIG, ("10.0.0.10", 5060), &Dialog::new("opt@test", &uri(CAROL), "sip:carrier.example").request("OPTIONS", "sip:carrier.example", &[&via(A_SIG, "o")], None, 1, &[], None));
    let out = run(&cap, &[("PEN", "pen-register", "a", ALICE)]);
    let m = &out.summary.mediation;
    assert_eq!((m.calls_expired_idle, m.calls_expired_unanswered, m.calls_expired_session_timer), (1, 1, 1));
    let iri = out.iri("a");
    let byes: Vec<&Iri> = iri.iter().filter(|r| first_line(&r.2).starts_with("BYE")).collect();
    assert_eq!(byes.len(), 1, "the refreshed call's BYE; the expired session's late BYE is not its");
    assert!(String::from_utf8_lossy(&byes[0].2).contains("timer-ok@test"));
    out.check_oracle();
}

#[test]
fn media_that_moves_or_is_removed_is_untapped_at_once() {
    let mut cap = Capture::new(START);
    let d = Dialog::new("move-1@test", &uri(ALICE), &uri(BOB));
    let b = "sip:bob@10.2.0.1";
    let moved: Ep = ("10.1.0.1", 40100);
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", &uri(BOB), &[&via(A_SIG, "m1")], None, 1, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "m1")], Some("b"), 1, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", b, &[&via(A_SIG, "m2")], Some("b"), 1, &[], None));
    cap.talk(A_RTP, D1_RTP, 20, 1);
    // Alice's media moves to port 40100 (a new relay port)
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", b, &[&via(A_SIG, "m3")], Some("b"), 2, &[], Some(&sdp(&[moved]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "m3")], Some("b"), 2, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", b, &[&via(A_SIG, "m4")], Some("b"), 2, &[], None));
    cap.talk(moved, D1_RTP, 20, 100);
    // the old relay port now carries an unrelated call's media
    cap.talk(A_RTP, STRANGER, 30, 500);
    // both sides remove the stream (port 0): nothing of the call is tapped any more
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", b, &[&via(A_SIG, "m5")], Some("b"), 3, &[], Some(&sdp(&[("10.1.0.1", 0)]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "m5")], Some("b"), 3, "INVITE", &[], Some(&sdp(&[("10.2.0.1", 0)]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", b, &[&via(A_SIG, "m6")], Some("b"), 3, &[], None));
    cap.talk(moved, STRANGER, 10, 700);
    cap.talk(D1_RTP, ("10.9.9.8", 60002), 10, 800);
    cap.udp(A_SIG, D1_SIG, &d.request("BYE", b, &[&via(A_SIG, "m7")], Some("b"), 4, &[], None));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "m7")], Some("b"), 4, "BYE", &[], None));
    let out = run(&cap, &[("T3", "title-iii", "a", ALICE)]);
    let cc = out.cc("a");
    assert_eq!(from_to(&cc), (40, 40), "the call's own media, before and after the move, nothing else");
    assert_eq!(out.summary.mediation.media_packets_tapped, 80);
    assert_eq!(out.iri("a").last().map(|r| r.1), Some(2));
    out.check_oracle();
}

#[test]
fn a_bye_that_is_never_answered_ends_content_when_sent() {
    let mut cap = Capture::new(START);
    let d = Dialog::new("bye-1@test", &uri(ALICE), &uri(BOB));
    let b = "sip:bob@10.2.0.1";
    cap.udp(A_SIG, D1_SIG, &d.request("INVITE", &uri(BOB), &[&via(A_SIG, "y1")], None, 1, &[], Some(&sdp(&[A_RTP]))));
    cap.udp(D1_SIG, A_SIG, &d.response("200 OK", &[&via(A_SIG, "y1")], Some("b"), 1, "INVITE", &[], Some(&sdp(&[D1_RTP]))));
    cap.udp(A_SIG, D1_SIG, &d.request("ACK", b, &[&via(A_SIG, "y2")], Some("b"), 1, &[], None));
    cap.talk(A_RTP, D1_RTP, 30, 1);
    let bye = d.request("BYE", b, &[&via(A_SIG, "y3")], Some("b"), 2, &[], None);
    cap.udp(A_SIG, D1_SIG, &bye);
    // Bob's phone keeps sending for a while and never answers the BYE (retransmitted)
    cap.rtp(D1_RTP, A_RTP, 20, 200);
    cap.udp(A_SIG, D1_SIG, &bye);
    cap.rtp(D1_RTP, A_RTP, 10, 300);
    let out = run(&cap, &[("T3", "title-iii", "a", ALICE)]);
    assert_eq!(from_to(&out.cc("a")), (30, 30), "no content after the BYE");
    let iri = out.iri("a");
    assert_eq!(iri.iter().filter(|r| first_line(&r.2).starts_with("BYE")).count(), 1, "retransmission dropped");
    assert_eq!(iri.last().map(|r| (r.1, first_line(&r.2).starts_with("BYE"))), Some((2, true)), "the BYE is the IRI-End");
    out.check_oracle();
}
