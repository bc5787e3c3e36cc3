//! The agency's call view end to end: `tapline run` replays the bundled capture over mutual
//! TLS to two reference LEMFs that know the agencies' warrants; each LEMF's `calls.jsonl`
//! is checked line by line, `tapline decode hi2.ber --calls` prints the same lines, and
//! tshark reads `calls.pcap`: the calls' SIP, and RTP at the addresses, ports and times of
//! the original capture, associated with the calls by their SDP.

mod common;
mod delivery_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use delivery_support::*;
use serde_json::{json, Value};
use tapline::lemf::Lemf;

const PHX: &str = "dea-phoenix";
const DEN: &str = "fbi-denver";

fn demo_pcap() -> PathBuf {
    crate_root().join("fixtures/demo.pcap")
}

/// Replays the demo capture to both agencies' LEMFs (started with `--warrants`); returns the
/// directory holding each agency's LEMF output.
fn deliver(dir: &Path) -> PathBuf {
    let pki = pki(&dir.join("pki"), &AGENCIES);
    let addrs: Vec<Vec<SocketAddr>> = AGENCIES.iter().map(|_| vec![reserved_port(), reserved_port()]).collect();
    let warrants = bundled_warrants(dir, Some(&pki.ca), &addrs);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = dir.join("lemf");
    let lemfs: Vec<Lemf> = AGENCIES
        .iter()
        .zip(&addrs)
        .map(|(a, listen)| {
            let mut config = lemf_config(&pki, a, listen.clone(), &out.join(a));
            config.warrants = Some(warrants.clone());
            start_lemf(&rt, &config)
        })
        .collect();
    let options = run_options(&warrants, &dir.join("spool"), &pki, demo_pcap(), None);
    let summary = tapline::run::run(&options, Arc::new(AtomicBool::new(false))).unwrap();
    assert!(summary.interfaces.iter().all(|i| i.unconfirmed == 0), "{:?}", summary.interfaces);
    for l in lemfs {
        let stats = rt.block_on(l.stop()).unwrap();
        assert_eq!(stats.calls_pcap_skipped, 0);
    }
    out
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn call(liid: &str, cin: u32, parties: (&str, &str, Option<&str>), times: (&str, Option<&str>, &str), outcome: (u64, &str, u64)) -> Value {
    json!({
        "liid": liid, "cin": cin,
        "caller": parties.0, "callee": parties.1, "forwarded_from": parties.2,
        "start": times.0, "answer": times.1, "end": times.2,
        "duration_s": outcome.0, "disposition": outcome.1, "content_packets": outcome.2,
        "open": false,
    })
}

fn expected_phoenix() -> Vec<Value> {
    let liid = "PHX-2026-T3-0007";
    vec![
        call(
            liid,
            1,
            ("13035550142", "13035550199", None),
            ("2026-11-02T14:00:00.000000Z", Some("2026-11-02T14:00:04.247946Z"), "2026-11-02T14:00:10.314892Z"),
            (6, "answered", 608),
        ),
        call(
            liid,
            2,
            ("13035550177", "13035550142", None),
            ("2026-11-02T14:00:20.000000Z", None, "2026-11-02T14:00:28.122832Z"),
            (0, "cancelled", 0),
        ),
        call(
            liid,
            3,
            ("13035550111", "13035550142", Some("13035550188")),
            ("2026-11-02T14:00:35.000000Z", Some("2026-11-02T14:00:39.296201Z"), "2026-11-02T14:00:44.344402Z"),
            (5, "answered", 500),
        ),
    ]
}

fn expected_denver() -> Vec<Value> {
    vec![call(
        "DEN-2026-0042",
        1,
        ("13035550142", "13035550199", None),
        ("2026-11-02T14:00:00.000000Z", Some("2026-11-02T14:00:04.247946Z"), "2026-11-02T14:00:10.314892Z"),
        (6, "answered", 0),
    )]
}

type RtpAt = (i64, String, String, String, String);

/// (SSRC, RTP sequence) → (time in µs, src, sport, dst, dport) of every RTP packet tshark
/// decodes as RTP from the SDP of a call (`rtp.setup-frame` set); a list, as RFC 4733 end
/// packets are sent three times with one sequence number.
fn rtp_packets(capture: &Path) -> BTreeMap<(String, String), Vec<RtpAt>> {
    let rows = common::tshark::fields(
        capture,
        "rtp && rtp.setup-frame",
        &["rtp.ssrc", "rtp.seq", "frame.time_epoch", "ip.src", "udp.srcport", "ip.dst", "udp.dstport"],
    );
    let mut packets: BTreeMap<(String, String), Vec<RtpAt>> = BTreeMap::new();
    for r in rows {
        let micros = (r[2].parse::<f64>().unwrap() * 1e6).round() as i64;
        packets.entry((r[0].clone(), r[1].clone())).or_default().push((micros, r[3].clone(), r[4].clone(), r[5].clone(), r[6].clone()));
    }
    packets.values_mut().for_each(|v| v.sort());
    packets
}

#[test]
fn lemf_writes_one_line_per_call_and_a_capture_wireshark_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = deliver(dir.path());
    let read = |agency: &str, name: &str| std::fs::read_to_string(out.join(agency).join(name)).unwrap();
    assert_eq!(lines(&read(PHX, "calls.jsonl")), expected_phoenix());
    assert_eq!(lines(&read(DEN, "calls.jsonl")), expected_denver());

    // `decode --calls` prints the LEMF's lines from its files.
    for agency in [PHX, DEN] {
        let decoded = Command::new(env!("CARGO_BIN_EXE_tapline"))
            .args(["decode", "--calls"])
            .arg(out.join(agency).join("hi2.ber"))
            .output()
            .unwrap();
        assert_eq!(decoded.status.code(), Some(0), "{}", String::from_utf8_lossy(&decoded.stderr));
        assert_eq!(String::from_utf8_lossy(&decoded.stdout), read(agency, "calls.jsonl"), "{agency}");
    }

    if !common::tshark::available() {
        return;
    }
    let phx = out.join(PHX).join("calls.pcap");
    let den = out.join(DEN).join("calls.pcap");
    let invites = |capture: &Path| -> BTreeSet<String> {
        common::tshark::fields(capture, "sip.Method == \"INVITE\" && !sip.to.tag", &["sip.Call-ID"]).into_iter().map(|r| r[0].clone()).collect()
    };
    let calls = invites(&phx);
    assert_eq!(calls.len(), 3, "one INVITE dialog per call: {calls:?}");
    assert_eq!(invites(&den).len(), 1);
    // Wireshark's VoIP Calls statistic, where this tshark has it (4.2 and later).
    for (capture, n) in [(&phx, 3), (&den, 1)] {
        match common::tshark::statistic(capture, "voip,calls") {
            Some(table) => assert_eq!(table.lines().filter(|l| l.contains("SIP")).count(), n, "{table}"),
            None => eprintln!("SKIP: this tshark has no -z voip,calls; the calls were checked by their INVITEs"),
        }
    }
    let sip_stat = common::tshark::statistic(&phx, "sip,stat").unwrap();
    assert!(sip_stat.contains("INVITE          :     3 Packets"), "{sip_stat}");

    // Every content packet is RTP of a call's SDP, at the original capture's addresses,
    // ports and times.
    let delivered = rtp_packets(&phx);
    assert_eq!(delivered.values().map(Vec::len).sum::<usize>(), 608 + 500, "every CC packet is RTP set up by a call's SDP");
    let original = rtp_packets(&demo_pcap());
    for (key, at) in &delivered {
        assert_eq!(original.get(key), Some(at), "RTP {key:?} as captured");
    }
    assert!(rtp_packets(&den).is_empty(), "a pen register gets no content");
}

/// Replays the demo capture with `tapline replay` for an `etsi` agency `e` and a `laes`
/// agency `l`, each with a Title III warrant on +13035550142; returns the output directory.
fn replay_both_profiles(dir: &Path) -> PathBuf {
    let w = dir.join("warrants");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("agencies.toml"), common::warrants::agencies_toml(&[("e", "US", "etsi"), ("l", "US", "laes")])).unwrap();
    for agency in ["e", "l"] {
        let text = format!(
            "liid = \"CASE-{agency}\"\nkind = \"title-iii\"\nagency = \"{agency}\"\ntargets = [\"tel:+13035550142\"]\n\
             valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-12-31T00:00:00Z\n\
             court_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n"
        );
        std::fs::write(w.join(format!("CASE-{agency}.toml")), text).unwrap();
    }
    let out = dir.join("out");
    let replay = Command::new(env!("CARGO_BIN_EXE_tapline")).arg("replay").arg(demo_pcap()).arg("--warrants").arg(&w).arg("--out").arg(&out).output().unwrap();
    assert_eq!(replay.status.code(), Some(0), "{}", String::from_utf8_lossy(&replay.stderr));
    out
}

/// Every value under a key naming a time (`time`, `event_time`, `time_stamp`, ...).
fn times(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(s) if k == "time" || k.ends_with("_time") || k == "time_stamp" => out.push(s.to_owned()),
                    _ => times(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| times(v, out)),
        _ => {}
    }
}

fn is_rfc3339_utc_micros(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

#[test]
fn laes_and_etsi_decodes_print_times_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let out = replay_both_profiles(dir.path());
    let mut first = Vec::new();
    for file in ["e/hi2.ber", "e/hi3.ber", "l/hi2.ber", "l/hi3.ccc"] {
        let decoded = Command::new(env!("CARGO_BIN_EXE_tapline")).arg("decode").arg(out.join(file)).output().unwrap();
        assert_eq!(decoded.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&decoded.stderr));
        let mut found = Vec::new();
        for line in lines(&String::from_utf8_lossy(&decoded.stdout)) {
            times(&line, &mut found);
        }
        assert!(!found.is_empty(), "{file} prints times");
        let odd: Vec<_> = found.iter().filter(|t| !is_rfc3339_utc_micros(t)).collect();
        assert!(odd.is_empty(), "{file}: not RFC 3339 UTC with microseconds: {odd:?}");
        first.push(found[0].clone());
    }
    assert_eq!(first[0], first[2], "the call's first IRI and first CDC record print the same instant");
    assert_eq!(first[1], first[3], "the first CC and the first CCC frame print the same instant");
}

#[test]
fn decode_calls_refuses_a_laes_stream_and_a_pcap() {
    let dir = tempfile::tempdir().unwrap();
    let out = replay_both_profiles(dir.path());
    let decode = |file: &Path| Command::new(env!("CARGO_BIN_EXE_tapline")).args(["decode", "--calls"]).arg(file).output().unwrap();
    let laes = decode(&out.join("l/hi2.ber"));
    assert_eq!(laes.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&laes.stderr).contains("--calls reads an etsi hi2.ber (PS-PDUs), this is a laes stream"), "{laes:?}");
    let pcap = decode(&demo_pcap());
    assert_eq!(pcap.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&pcap.stderr).contains("this is a pcap capture, not a handover stream"), "{pcap:?}");
    // From a replay's files (no LEMF): the same lines for the one etsi call.
    let etsi = decode(&out.join("e/hi2.ber"));
    assert_eq!(etsi.status.code(), Some(0));
    let got = lines(&String::from_utf8_lossy(&etsi.stdout));
    let cins: Vec<u64> = got.iter().map(|l| l["cin"].as_u64().unwrap()).collect();
    assert_eq!(cins, [1, 2, 3]);
    assert_eq!(got.iter().map(|l| l["content_packets"].as_u64().unwrap()).sum::<u64>(), 608 + 500);
}

#[test]
fn lemf_refuses_a_warrant_directory_it_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    assert!(Command::new(env!("CARGO_BIN_EXE_tapline")).args(["certs", "--out"]).arg(&pki).output().unwrap().status.success());
    let out = common::lemf::command(&pki.join("fbi-denver.pem"), &pki.join("fbi-denver.key"), &pki.join("ca.pem"), &tmp.path().join("lemf"))
        .arg("--warrants")
        .arg(tmp.path().join("no-such-dir"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A LEMF that started anyway would serve until signalled: stop it and fail.
    let mut child = out;
    let exited = wait_until(std::time::Duration::from_secs(60), || child.try_wait().is_ok_and(|s| s.is_some()));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "the LEMF started without the warrants it was given");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warrants for the call view") && err.contains("no-such-dir"), "{err}");
}
