//! Replays the public captures of `../shared/fixtures-external/` with warrants on their
//! parties; every stream must pass the independent ETSI oracle's `--check`, and tapline's
//! decoder must agree with the oracle on every field.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::oracle;
use tapline::handover::{decode_pdu, split_stream, Payload};
use tapline::replay::{replay, Summary};

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures-external");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: {} is absent (a fresh clone without ../shared); nothing to replay", dir.display());
        None
    }
}


fn warrant(liid: &str, kind: &str, agency: &str, target: &str, digits: bool) -> String {
    format!(
        "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"{agency}\"\ntargets = [\"{target}\"]\n\
         valid_from = 2000-01-01T00:00:00Z\nvalid_until = 2099-01-01T00:00:00Z\n\
         court_order = \"1:26-mj-00001\"\nissuing_authority = \"Hon. Test\"\npost_cut_through_digits = {digits}\n"
    )
}

/// Four warrants on the parties of a capture: pen/trap and Title III on the caller,
/// Title III and a pen register on the callee (the pen register must get nothing).
fn warrant_dir(dir: &Path, caller: &str, callee: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("agencies.toml"), common::warrants::agencies_toml(&[("caller-pt", "US", "etsi"), ("callee-t3", "US", "etsi"), ("callee-pen", "US", "etsi"), ("caller-t3", "US", "etsi")])).unwrap();
    fs::write(dir.join("pt.toml"), warrant("CALLER-PT", "pen-trap", "caller-pt", caller, true)).unwrap();
    fs::write(dir.join("t3c.toml"), warrant("CALLER-T3", "title-iii", "caller-t3", caller, false)).unwrap();
    fs::write(dir.join("t3.toml"), warrant("CALLEE-T3", "title-iii", "callee-t3", callee, false)).unwrap();
    fs::write(dir.join("pen.toml"), warrant("CALLEE-PEN", "pen-register", "callee-pen", callee, false)).unwrap();
}

struct Run {
    out: PathBuf,
    summary: Summary,
    _tmp: tempfile::TempDir,
}

fn run(capture: &str, caller: &str, callee: &str) -> Option<Run> {
    let fixtures = fixtures()?;
    let tmp = tempfile::tempdir().unwrap();
    let wdir = tmp.path().join("warrants");
    warrant_dir(&wdir, caller, callee);
    let out = tmp.path().join("out");
    let (summary, refused) = replay(&fixtures.join(capture), &wdir, &out).expect("replay runs");
    assert!(refused.is_empty(), "{refused:?}");
    Some(Run { out, summary, _tmp: tmp })
}

fn streams(out: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for agency in fs::read_dir(out).unwrap() {
        let agency = agency.unwrap().path();
        if agency.is_dir() {
            for f in fs::read_dir(&agency).unwrap() {
                v.push(f.unwrap().path());
            }
        }
    }
    v.sort();
    v
}

fn iri(r: &Run, liid: &str) -> u64 {
    r.summary.liids.get(liid).map_or(0, |c| c.iri_records)
}

fn cc(r: &Run, liid: &str) -> u64 {
    r.summary.liids.get(liid).map_or(0, |c| c.cc_records)
}

/// Every stream passes the oracle and tapline's decoder agrees with it field for field.
fn check_streams(r: &Run) {
    if !oracle::require_oracle() {
        return;
    }
    for s in streams(&r.out) {
        assert!(fs::metadata(&s).unwrap().len() > 0, "{} is empty", s.display());
        oracle::assert_passes_check_and_decoder_agrees(&s);
    }
}

/// A pen register on the callee covers only what the callee's own instrument sends outside
/// the call (its REGISTERs); it never sees the call itself, nor any content.
fn assert_pen_register_on_callee_gets_nothing(r: &Run) {
    assert_eq!(cc(r, "CALLEE-PEN"), 0);
    assert!(!r.out.join("callee-pen/hi3.ber").exists());
    let Ok(bytes) = fs::read(r.out.join("callee-pen/hi2.ber")) else { return };
    for chunk in split_stream(&bytes) {
        let pdu = decode_pdu(chunk.unwrap()).unwrap();
        let Payload::Iri(records) = pdu.payload else { panic!("IRI only") };
        for rec in records {
            let sip = String::from_utf8_lossy(&rec.bytes).into_owned();
            let cseq = sip.lines().find(|l| l.to_ascii_lowercase().starts_with("cseq:")).unwrap_or("");
            assert!(cseq.contains("REGISTER"), "pen register on the callee got a call record: {sip}");
        }
    }
}

#[test]
fn sip_call_rtp_g711() {
    let Some(r) = run("SIP_CALL_RTP_G711.pcap", "sip:5514540002@200.57.7.195;user=phone", "sip:francisco@bestel.com") else { return };
    assert_eq!(r.summary.packets_read, 4269);
    assert!(iri(&r, "CALLER-PT") >= 3, "INVITE, 100, 180 of the second call: {:?}", r.summary.liids);
    assert!(cc(&r, "CALLEE-T3") > 1000, "both directions of G.711: {:?}", r.summary.liids);
    assert_eq!(cc(&r, "CALLER-PT"), 0, "pen/trap gets no content");
    assert_pen_register_on_callee_gets_nothing(&r);
    check_streams(&r);
}

#[test]
fn sip_dtmf2_b2bua_and_rfc4733_digits() {
    let Some(r) = run("SIP_DTMF2.pcap", "sip:2502@192.168.105.105", "sip:2504@192.168.105.105") else { return };
    assert!(cc(&r, "CALLER-T3") > 1000, "{:?}", r.summary.liids);
    // pen/trap with post-cut-through digits: the caller's 4733 events come as IRI
    assert!(iri(&r, "CALLER-PT") > iri(&r, "CALLEE-T3"), "{:?}", r.summary.liids);
    assert_pen_register_on_callee_gets_nothing(&r);
    check_streams(&r);
}

#[test]
fn derived_vlan_capture_gives_the_same_records_as_the_untagged_one() {
    let Some(tagged) = run("derived-SIP_DTMF2-vlan100.pcap", "sip:2502@192.168.105.105", "sip:2504@192.168.105.105") else { return };
    let Some(plain) = run("SIP_DTMF2.pcap", "sip:2502@192.168.105.105", "sip:2504@192.168.105.105") else { return };
    for liid in ["CALLER-PT", "CALLER-T3", "CALLEE-T3", "CALLEE-PEN"] {
        assert_eq!(iri(&tagged, liid), iri(&plain, liid), "{liid}");
        assert_eq!(cc(&tagged, liid), cc(&plain, liid), "{liid}");
    }
    check_streams(&tagged);
}

#[test]
fn dtmf_sip_info_reinvites_and_cancel() {
    let Some(r) = run("DTMFsipinfo.pcap", "sip:admind@178.45.73.241", "sip:echo@iptel.org") else { return };
    assert!(iri(&r, "CALLER-PT") >= 10, "{:?}", r.summary.liids);
    assert_eq!(iri(&r, "CALLER-PT"), iri(&r, "CALLER-T3"));
    assert_pen_register_on_callee_gets_nothing(&r);
    check_streams(&r);
}

#[test]
fn sip_rtp_g711_one_way_media() {
    let Some(r) = run("sip-rtp-g711.pcap", "sip:sipp@10.0.2.20", "sip:test@10.0.2.15") else { return };
    assert!(cc(&r, "CALLEE-T3") >= 800, "{:?}", r.summary.liids);
    assert_eq!(r.summary.calls_seen, 2);
    assert_pen_register_on_callee_gets_nothing(&r);
    check_streams(&r);
}

#[test]
fn sip_ipv6_udp() {
    let Some(r) = run("sip_ipv6_udp.pcap", "sip:9876@fe80:0:0:0:21a:a0ff:fe07:32e0", "sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c") else { return };
    // The capture's six timestamps lie years apart (2012 … 2092): by packet time the call
    // is idle for longer than the idle timeout after its INVITE and expires, so only the
    // INVITE is intercepted. It must still be decoded from IPv6 and matched on both sides.
    assert_eq!(iri(&r, "CALLER-PT"), 1, "{:?}", r.summary.liids);
    assert_eq!(iri(&r, "CALLEE-T3"), 1);
    assert_eq!(r.summary.mediation.calls_expired_idle, 1);
    assert_eq!(r.summary.sip_messages, 6);
    check_streams(&r);
}

#[test]
fn sip_ipv4_tcp() {
    let Some(r) = run("sip_ipv4_tcp.pcap", "sip:101@10.33.6.100", "sip:201@10.33.6.101;user=phone") else { return };
    assert_eq!(iri(&r, "CALLER-PT"), 7, "INVITE/100/180/200/ACK/BYE/200: {:?}", r.summary.liids);
    assert!(cc(&r, "CALLEE-T3") >= 60, "{:?}", r.summary.liids);
    assert_pen_register_on_callee_gets_nothing(&r);
    check_streams(&r);
}

#[test]
fn sip_tcp_websocket_bridge() {
    let Some(r) = run("sip_tcp_websocket.pcap", "tel:+12675941249", "tel:+12263382742") else { return };
    assert!(iri(&r, "CALLER-PT") > 0, "{:?}", r.summary.liids);
    check_streams(&r);
}

#[test]
fn sip_over_sctp_is_counted_not_intercepted() {
    let Some(r) = run("sip_sctp.pcap", "sip:9171969136@astrakhan.megafonvolga.ru", "sip:9275890000@VMSSM") else { return };
    assert_eq!(r.summary.packets_read, 5);
    assert_eq!(r.summary.decode.skipped_other_transport, 5);
    assert!(streams(&r.out).is_empty());
}

#[test]
fn sipp_builtin_three_calls_same_ssrc() {
    let Some(r) = run("sipp-builtin-uac_pcap-uas.pcap", "sip:sipp@127.0.0.1", "sip:service@127.0.0.2") else { return };
    assert_eq!(r.summary.calls_seen, 3);
    assert_eq!(r.summary.liids["CALLEE-T3"].communications, 3, "one CIN per call");
    assert!(cc(&r, "CALLEE-T3") > 1000, "{:?}", r.summary.liids);
    check_streams(&r);
}

#[test]
fn rtp_without_signalling_is_not_intercepted() {
    let Some(r) = run("sipp-dtmf_2833_1.pcap", "sip:sipp@127.0.0.1", "sip:service@127.0.0.2") else { return };
    assert_eq!(r.summary.packets_read, 10);
    assert!(streams(&r.out).is_empty());
}
