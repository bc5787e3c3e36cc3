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
