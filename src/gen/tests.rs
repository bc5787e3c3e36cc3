//! Scenario-level tests: exact counts, determinism, the bundled demo capture, tshark checks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::Timestamp;

const T0: Timestamp = Timestamp::from_secs_micros(1_793_628_000, 0);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn stats_of(specs: Vec<CallSpec>) -> ScenarioStats {
    let mut s = Scenario::new(1);
    for spec in specs {
        s.call(spec);
    }
    s.write_pcap(std::io::sink()).unwrap()
}

fn answered(talk: u64) -> CallSpec {
    CallSpec::new(
        "+13035550142",
        "+13035550199",
        Outcome::Answered { talk: secs(talk) },
        T0,
    )
}

fn stats(
    frames: u64,
    sip_messages: u64,
    rtp_packets: u64,
    rtcp_packets: u64,
    calls: u64,
) -> ScenarioStats {
    ScenarioStats {
        frames,
        sip_messages,
        rtp_packets,
        rtcp_packets,
        calls,
    }
}

/// (timestamp ns, frame bytes) of every record of a little-endian microsecond pcap.
fn records(pcap: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let word = |at: usize| u64::from(u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap()));
        let ts = word(pos) * 1_000_000_000 + word(pos + 4) * 1_000;
        let len = word(pos + 8) as usize;
        out.push((ts, &pcap[pos + 16..pos + 16 + len]));
        pos += 16 + len;
    }
    assert_eq!(pos, pcap.len());
    out
}

#[test]
fn answered_six_seconds_is_600_rtp_packets() {
    // INVITE 100 180 200 ACK BYE 200, 300 packets each way.
    assert_eq!(stats_of(vec![answered(6)]), stats(607, 7, 600, 0, 1));
}

#[test]
fn rang_rejected_and_never_ending_counts() {
    let rang = CallSpec::new("+1", "+2", Outcome::RangNoAnswer { ring: secs(8) }, T0);
    assert_eq!(stats_of(vec![rang]), stats(7, 7, 0, 0, 1));
    let busy = CallSpec::new("+1", "+2", Outcome::Rejected { status: 486 }, T0);
    assert_eq!(stats_of(vec![busy]), stats(4, 4, 0, 0, 1));
    let open = CallSpec::new("+1", "+2", Outcome::NeverEnds { talk: secs(2) }, T0);
    assert_eq!(stats_of(vec![open]), stats(205, 5, 200, 0, 1));
}

#[test]
fn forwarded_calls_counts() {
    let by3xx = CallSpec::new(
        "+1",
        "+2",
        Outcome::ForwardedBy3xx {
            to: "+3".into(),
            talk: secs(1),
        },
        T0,
    );
    // INVITE 100 302 ACK, then 7 messages of the answered INVITE to the new target.
    assert_eq!(stats_of(vec![by3xx]), stats(111, 11, 100, 0, 1));
    let diverted = CallSpec::new(
        "+1",
        "+2",
        Outcome::ForwardedDiversion {
            to: "+3".into(),
            talk: secs(1),
        },
        T0,
    );
    assert_eq!(stats_of(vec![diverted]), stats(107, 7, 100, 0, 1));
}

#[test]
fn digits_rtcp_and_retransmission_counts() {
    let mut call = answered(6);
    call.rfc4733_digits = Some("1234".into()); // each digit: 5 ticks carry 7 packets
    call.info_digits = Some("56".into()); // INFO + 200 each
    call.retransmit_invite = true;
    call.rtcp = true; // one SR each way at tick 250
    assert_eq!(
        stats_of(vec![call]),
        stats(8 + 4 + 608 + 2, 8 + 4, 608, 2, 1)
    );
    let mut long = answered(11);
    long.rtcp = true;
    assert_eq!(stats_of(vec![long]), stats(7 + 1100 + 4, 7, 1100, 4, 1));
}

#[test]
fn hold_stops_the_held_party_after_half_the_talk() {
    let mut call = answered(6);
    call.reinvite_hold = true;
    let st = stats_of(vec![call]);
    assert_eq!(st.sip_messages, 10);
    // the caller sends all 300; the callee stops within 150 + (rtt 10..50 ms + 2 ms) / 20 ms
    let callee = st.rtp_packets - 300;
    assert!((151..=153).contains(&callee), "callee sent {callee}");
    assert_eq!(st.frames, st.sip_messages + st.rtp_packets);
}

#[test]
fn tcp_call_frames_and_segments() {
    let mut call = answered(1);
    call.transport = Transport::Tcp;
    // handshake 3; INVITE in 2 segments + ACK; 100+180 in one segment + ACK; 200, ACK, BYE, 200
    // each with the peer's pure ACK.
    assert_eq!(stats_of(vec![call]), stats(16 + 100, 7, 100, 0, 1));
}

#[test]
fn oversized_invite_is_fragmented() {
    let mut call = CallSpec::new("+1", "+2", Outcome::Rejected { status: 603 }, T0);
    call.subject = Some("x".repeat(1600));
    assert_eq!(stats_of(vec![call]), stats(5, 4, 0, 0, 1)); // the INVITE in two fragments
}

#[test]
fn message_is_two_frames() {
    let mut s = Scenario::new(3);
    s.sip_message(MessageSpec::new("+1", "+2", "hi", T0));
    let (bytes, st) = write(&s);
    assert_eq!(st, stats(2, 2, 0, 0, 0));
    let frames = records(&bytes);
    let text = String::from_utf8_lossy(frames[0].1);
    assert!(text.contains("MESSAGE sip:+2@carrier.example;user=phone SIP/2.0\r\n"));
    assert!(text.ends_with("Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"));
}

fn write(s: &Scenario) -> (Vec<u8>, ScenarioStats) {
    let mut out = Vec::new();
    let stats = s.write_pcap(&mut out).unwrap();
    (out, stats)
}

/// Every frame of one call spec exercising all options.
fn kitchen_sink(seed: u64) -> Scenario {
    let mut s = Scenario::new(seed);
    let mut a = answered(6);
    a.ipv6 = true;
    a.vlan = Some(100);
    a.rtcp = true;
    a.reinvite_hold = true;
    a.info_digits = Some("9".into());
    a.rfc4733_digits = Some("#1".into());
    s.call(a);
    let mut b = CallSpec::new(
        "+17205550101",
        "+17205550102",
        Outcome::ForwardedBy3xx {
            to: "+17205550103".into(),
            talk: secs(2),
        },
        T0,
    );
    b.transport = Transport::Tcp;
    b.caller_anonymous_unavailable = true;
    b.retransmit_invite = true;
    s.call(b);
    let mut c = CallSpec::new(
        "+13035550177",
        "+13035550142",
        Outcome::Rejected { status: 486 },
        Timestamp::from_secs_micros(T0.secs() + 1, 0),
    );
    c.subject = Some("y".repeat(1600));
    c.caller_private = true;
    c.retransmit_invite = true;
    s.call(c);
    let mut d = CallSpec::new(
        "+1",
        "+2",
        Outcome::ForwardedDiversion {
            to: "+3".into(),
            talk: secs(1),
        },
        T0,
    );
    d.ipv6 = true;
    d.transport = Transport::Tcp;
    s.call(d);
    s.sip_message(MessageSpec::new("+1", "+2", "hello", T0));
    s
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, sa) = write(&kitchen_sink(5));
    let (b, sb) = write(&kitchen_sink(5));
    let (c, _) = write(&kitchen_sink(6));
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert_ne!(a, c);
}

#[test]
fn frames_are_in_time_order() {
    let (bytes, st) = write(&kitchen_sink(5));
    let frames = records(&bytes);
    assert_eq!(frames.len() as u64, st.frames);
    assert!(frames.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn generator_is_deterministic_and_ordered() {
    let mut cfg = GenConfig::new(40, 8, 9);
    cfg.talk = secs(2);
    let mut a = Vec::new();
    let sa = generate(&cfg, &mut a).unwrap();
    let mut b = Vec::new();
    let sb = generate(&cfg, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert_eq!(sa.calls, 40);
    let frames = records(&a);
    assert_eq!(frames.len() as u64, sa.frames);
    assert!(frames.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(sa.sip_messages >= 40 * 4 && sa.rtp_packets > 0);
    cfg.seed = 10;
    let mut c = Vec::new();
    generate(&cfg, &mut c).unwrap();
    assert_ne!(a, c);
}

fn demo_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap")
}

#[test]
fn committed_demo_matches_a_fresh_build() {
    let (fresh, st) = write(&demo_scenario());
    assert_eq!(st, stats(1647, 30, 1608, 0, 4));
    let committed = std::fs::read(demo_path()).expect("fixtures/demo.pcap is committed");
    assert!(
        committed == fresh,
        "fixtures/demo.pcap differs from demo_scenario(); regenerate it"
    );
}

/// The parts of a partition of the demo's items hold exactly the whole capture's frames.
#[test]
fn parts_of_a_partition_merge_back_into_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let frames = |bytes: &[u8]| {
        let path = dir.path().join("part.pcap");
        std::fs::write(&path, bytes).unwrap();
        let mut r = crate::capture::FileReader::open(&path).unwrap();
        let mut v = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            v.push((f.ts, f.data.to_vec()));
        }
        v
    };
    let demo = demo_scenario();
    let (whole, _) = write(&demo);
    let mut merged = Vec::new();
    let mut calls = 0;
    for part in 0..3 {
        let mut bytes = Vec::new();
        calls += demo.write_pcap_part(&mut bytes, Resolution::Micro, |i| i % 3 == part).unwrap().calls;
        let got = frames(&bytes);
        assert!(!got.is_empty(), "part {part}");
        merged.extend(got);
    }
    let mut want = frames(&whole);
    merged.sort();
    want.sort();
    assert_eq!(merged, want);
    assert_eq!(calls, 4);
}

/// Rewrites fixtures/demo.pcap: `cargo test --lib gen::tests::regenerate_demo -- --ignored`.
#[test]
#[ignore]
fn regenerate_demo() {
    let (fresh, _) = write(&demo_scenario());
    std::fs::write(demo_path(), fresh).unwrap();
}

/// Runs tshark with checksum validation on `pcap`; `None` (after a message) without tshark.
fn tshark(pcap: &[u8], args: &[&str]) -> Option<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), pcap).unwrap();
    let output = Command::new("tshark")
        .args([
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-r",
        ])
        .arg(file.path())
        .args(args)
        .output();
    match output {
        Ok(out) => {
            assert!(
                out.status.success(),
                "tshark failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(e) => {
            println!("skipping tshark cross-check: tshark not runnable ({e})");
            None
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.replace('\t', "|")).collect()
}

const PROBLEMS: &str = "_ws.expert.severity >= 0x00600000 || _ws.malformed";

#[test]
fn tshark_reads_the_demo_flows() {
    let (demo, _) = write(&demo_scenario());
    let Some(out) = tshark(
        &demo,
        &[
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
        ],
    ) else {
        return;
    };
    let seen: Vec<String> = lines(&out).iter().map(|l| l.replace('|', "")).collect();
    let expected = [
        "INVITE", "100", "180", "200", "ACK", // call 1
        "INVITE",
        "100,180", // call 3 over TCP: split INVITE reassembled, 100+180 in one segment
        "BYE", "200", // call 1
        "200", "ACK", "BYE", "200", // call 3
        "INVITE", "100", "180", "CANCEL", "200", "487", "ACK", // call 2
        "INVITE", "100", "180", "200", "ACK", "BYE", "200", // call 4
        "MESSAGE", "200",
    ];
    assert_eq!(seen, expected);
    assert_eq!(tshark(&demo, &["-Y", PROBLEMS]).unwrap(), "");
    let invites = tshark(
        &demo,
        &[
            "-Y",
            "sip.Method == \"INVITE\"",
            "-T",
            "fields",
            "-e",
            "sip.from.user",
            "-e",
            "sip.to.user",
            "-e",
            "sip.Subject",
            "-e",
            "sip.Privacy",
            "-e",
            "sip.pai.user",
            "-e",
            "sip.Diversion",
            "-e",
            "tcp.segment.count",
        ],
    )
    .unwrap();
    assert_eq!(
        lines(&invites),
        [
            "+13035550142|+13035550199|lunch?||||",
            "+17205550101|+17205550102|||||2",
            "anonymous|+13035550142||id|+13035550177||",
            "+13035550111|+13035550188||||<sip:+13035550188@carrier.example;user=phone>;reason=unconditional;counter=1|",
        ]
    );
    let events = tshark(
        &demo,
        &["-Y", "rtpevent", "-T", "fields", "-e", "rtpevent.event_id"],
    )
    .unwrap();
    let expected_events: Vec<String> = (1..=4)
        .flat_map(|d| std::iter::repeat_n(d.to_string(), 7))
        .collect();
    assert_eq!(lines(&events), expected_events);
    let audio = tshark(&demo, &["-Y", "rtp.p_type == 0"]).unwrap();
    assert_eq!(audio.lines().count(), 1600 - 4 * 5); // event ticks carry no audio
    let text = tshark(
        &demo,
        &[
            "-Y",
            "sip.Method == \"MESSAGE\"",
            "-T",
            "fields",
            "-e",
            "text",
        ],
    )
    .unwrap();
    assert!(text.contains("running late, order me the soup"));
}

#[test]
fn tshark_accepts_every_option() {
    let (sink, st) = write(&kitchen_sink(5));
    let Some(problems) = tshark(&sink, &["-Y", PROBLEMS]) else {
        return;
    };
    assert_eq!(problems, "");
    let count = |filter: &str| tshark(&sink, &["-Y", filter]).unwrap().lines().count() as u64;
    assert_eq!(count("sip"), st.sip_messages - 2); // two TCP segments each carry 100 and 180
    assert_eq!(count("rtp"), st.rtp_packets);
    assert_eq!(count("rtcp.pt == 200"), st.rtcp_packets);
    assert_eq!(
        count("sip.Method == \"INVITE\" && ip.fragment.count == 2"),
        2
    );
    assert_eq!(count("vlan.id == 100 && ipv6 && rtp"), count("vlan && rtp"));
    assert!(count("vlan.id == 100 && ipv6 && rtp") > 400);
    assert_eq!(count("sip.Status-Code == 302"), 1);
    assert_eq!(count("sip.History-Info && sip.Diversion"), 1);
    assert_eq!(
        count("sip.Method == \"INFO\" && frame contains \"Signal=9\""),
        1
    );
    assert_eq!(count("sdp.media_attr == \"sendonly\""), 1);
    assert_eq!(count("frame"), st.frames);
}
