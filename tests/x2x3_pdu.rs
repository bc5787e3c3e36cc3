//! X2/X3 PDUs against independent material: the lippycat golden vectors, the real X2 PDU of
//! sipgate's capture (read with tapline's pcap reader and TCP reassembly), and tshark's
//! `5gli` dissector decoding the PDUs tapline writes.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use tapline::capture::FileReader;
use tapline::gen::{frame, Endpoint, FrameBuilder, PcapWriter, Resolution};
use tapline::wire::{Decoded, Decoder, FlowKey, TcpStream, Transport};
use tapline::x2x3::{Direction, Framer, PayloadFormat, PduRepr, PduType, Xid};
use tapline::Timestamp;

/// `../shared/x1x2x3/x2x3`, or None (printing SKIP; a panic under CI).
fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/x1x2x3/x2x3");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("../shared/x1x2x3/x2x3 required under CI but absent");
    }
    eprintln!("SKIP: ../shared/x1x2x3/x2x3 absent");
    None
}

fn hex_vector(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("read vector");
    let hex: String = text.lines().filter(|l| !l.starts_with('#')).collect::<String>().split_whitespace().collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn decodes_every_lippycat_vector() {
    let Some(dir) = shared() else { return };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("lippycat-") && n.ends_with(".hex")))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "the five lippycat vectors");
    for path in names {
        let bytes = hex_vector(&path);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let pdu = PduRepr::parse_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pdu.version, 0x0500, "{name}: lippycat writes 05 00");
        let total = tapline::x2x3::Packet::new_checked(&bytes[..]).expect("view").total_len();
        assert_eq!(total, bytes.len(), "{name}: header and payload lengths cover the vector exactly");
        if name.contains("keepalive") {
            assert_eq!(pdu.pdu_type, PduType::Keepalive);
            assert!(pdu.payload.is_empty());
            continue;
        }
        let xid: Xid = "00112233-4455-6677-8899-aabbccddeeff".parse().expect("xid");
        assert_eq!(pdu.xid, xid, "{name}");
        assert_eq!(pdu.correlation_id, 0x1111_1111_1111_1111, "{name}");
        // The 12-octet timestamp: 1700000000 s.
        assert_eq!(pdu.timestamp, Some(Timestamp::from_nanos(1_700_000_000_000_000_000)), "{name}");
        assert_eq!(pdu.src_addr, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))), "{name}");
        assert_eq!(pdu.dst_addr, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))), "{name}");
        assert_eq!((pdu.src_port, pdu.dst_port), (Some(5060), Some(5060)), "{name}");
        assert_eq!(pdu.matched_targets, vec![&b"sip:alice@example.com"[..]], "{name}");
        let kinds: Vec<u16> = pdu.other.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![6, 7], "{name}: network function and interception point ids kept raw");
        assert_eq!(pdu.other[0].value, b"proc-01");
        if name.contains("x3_rtp") {
            assert_eq!(pdu.pdu_type, PduType::X3);
            assert_eq!(pdu.payload_format, PayloadFormat::Rtp);
            assert_eq!(pdu.sequence, Some(4));
            assert_eq!(pdu.payload.len(), 16);
            assert_eq!(pdu.payload[0], 0x80, "RTP version 2");
        } else {
            assert_eq!(pdu.pdu_type, PduType::X2, "{name}");
            assert_eq!(pdu.payload_format, PayloadFormat::Sip, "{name}");
            let method = if name.contains("invite") { "INVITE " } else if name.contains("bye") { "BYE " } else { "MESSAGE " };
            assert!(pdu.payload.starts_with(method.as_bytes()), "{name}");
        }
        // Re-emitted: the same PDU, with version 00 05 and the 8-octet timestamp.
        let again = pdu.to_vec();
        assert_eq!(&again[0..2], &[0x00, 0x05]);
        assert_eq!(again.len(), bytes.len() - 4, "{name}: the timestamp shrinks from 12 to 8 octets");
        let mut back = PduRepr::parse_bytes(&again).expect("re-parses");
        back.version = pdu.version;
        assert_eq!(back, pdu, "{name}");
    }
}

/// The bytes of each TCP direction of a capture, keyed by flow, reassembled in order.
fn tcp_streams(path: &Path) -> HashMap<FlowKey, Vec<u8>> {
    let mut reader = FileReader::open(path).expect("open capture");
    let mut decoder = Decoder::new();
    let mut streams: HashMap<FlowKey, (TcpStream, Vec<u8>)> = HashMap::new();
    while let Some(frame) = reader.next_frame().expect("read frame") {
        if let Decoded::Datagram(dg) = decoder.decode(&frame) {
            if let Transport::Tcp { seq, flags, .. } = dg.transport {
                let (stream, out) = streams.entry(dg.flow).or_insert_with(|| (TcpStream::new(), Vec::new()));
                stream.push(seq, flags, dg.payload, out);
            }
        }
    }
    streams.into_iter().map(|(k, (_, bytes))| (k, bytes)).collect()
}

#[test]
fn decodes_the_real_x2_pdu_of_the_sipgate_capture() {
    let Some(dir) = shared() else { return };
    let streams = tcp_streams(&dir.join("sipgate-x2-demo-01.pcap"));
    let bytes = streams.iter().find(|(k, _)| k.dst_port == 9999).map(|(_, b)| b.clone()).expect("stream to :9999");
    let mut framer = Framer::new(1 << 16);
    framer.push(&bytes).expect("push");
    let pdu_bytes = framer.next_pdu().expect("frames").expect("one whole PDU").to_vec();
    assert!(framer.next_pdu().expect("frames").is_none());
    assert_eq!(framer.buffered(), 0);
    let pdu = PduRepr::parse_bytes(&pdu_bytes).expect("parses");
    assert_eq!(pdu.version, 5);
    assert_eq!(pdu.pdu_type, PduType::X2);
    assert_eq!(pdu.header_len(), 81);
    assert_eq!(pdu.payload.len(), 539);
    assert_eq!(pdu.payload_format, PayloadFormat::Sip);
    assert_eq!(pdu.direction, Direction::FromTarget);
    assert_eq!(pdu.xid.to_string(), "8c292fa1-5831-46ec-86be-bd85f2083299");
    assert_eq!(pdu.correlation_id, 1);
    assert_eq!(pdu.matched_targets, vec![&b"<E164Number>494012345678</E164Number>"[..]]);
    assert!(pdu.payload.starts_with(b"REGISTER sip:sipgate.de SIP/2.0"));
    assert_eq!(pdu.to_vec(), pdu_bytes, "tapline writes the same bytes back");
}

const INVITE: &str = "INVITE sip:+17205550101@example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n\
From: <sip:+13035550142@example.net>;tag=a1\r\n\
To: <sip:+17205550101@example.net>\r\n\
Call-ID: x2x3-tshark-1@example.net\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:+13035550142@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

/// The PDUs tapline writes, on a TCP connection over loopback in a pcap, read by tshark's
/// `5gli` dissector (`li5g` in newer Wireshark), with the SIP and RTP inside dissected.
#[test]
fn tshark_decodes_the_pdus_tapline_writes() {
    if !common::tshark::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = 24_101;
    let poi = Endpoint::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 41_000);
    let mf = Endpoint::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port);
    let xid: Xid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8".parse().expect("xid");
    let mut rtp = vec![0x80u8, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef];
    rtp.resize(12 + 160, 0xd5);
    let at = |ms: u64| Timestamp::from_nanos(1_790_000_000_000_000_000 + ms * 1_000_000);
    let mut x2 = PduRepr::new(PduType::X2, PayloadFormat::Sip, Direction::FromTarget, xid, INVITE.as_bytes());
    x2.correlation_id = 7;
    x2.sequence = Some(0);
    x2.timestamp = Some(at(0));
    x2.src_addr = Some("192.0.2.10".parse().expect("ip"));
    x2.dst_addr = Some("198.51.100.20".parse().expect("ip"));
    x2.src_port = Some(5060);
    x2.dst_port = Some(5060);
    x2.matched_targets.push(b"<E164Number>13035550142</E164Number>");
    let mut x3 = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, xid, &rtp);
    x3.correlation_id = 7;
    x3.sequence = Some(1);
    x3.timestamp = Some(at(20));
    x3.src_addr = Some("198.51.100.20".parse().expect("ip"));
    x3.dst_addr = Some("192.0.2.10".parse().expect("ip"));
    x3.src_port = Some(30_000);
    x3.dst_port = Some(20_000);
    let keepalive = PduRepr::keepalive(PduType::Keepalive, 5);
    let ack = PduRepr::keepalive(PduType::KeepaliveAck, 5);

    let pcap = dir.path().join("x2x3.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&pcap).expect("create"), Resolution::Micro).expect("pcap");
    let mut fb = FrameBuilder::new(1);
    let (mut poi_seq, mut mf_seq) = (1000u32, 5000u32);
    let mut put = |ts: Timestamp, from_poi: bool, seq: u32, ack: u32, flags: u8, payload: &[u8], fb: &mut FrameBuilder| {
        let (s, d) = if from_poi { (poi, mf) } else { (mf, poi) };
        let mut f = Vec::new();
        fb.tcp_frame(&mut f, s, d, None, seq, ack, flags, payload);
        w.write_frame(ts, &f).expect("write");
    };
    put(at(0), true, poi_seq, 0, frame::SYN, &[], &mut fb);
    put(at(0), false, mf_seq, poi_seq + 1, frame::SYN | frame::ACK, &[], &mut fb);
    poi_seq += 1;
    mf_seq += 1;
    put(at(0), true, poi_seq, mf_seq, frame::ACK, &[], &mut fb);
    for (i, pdu) in [&x2, &x3, &keepalive].into_iter().enumerate() {
        let bytes = pdu.to_vec();
        put(at(i as u64 * 20 + 1), true, poi_seq, mf_seq, frame::PSH | frame::ACK, &bytes, &mut fb);
        poi_seq += bytes.len() as u32;
    }
    let bytes = ack.to_vec();
    put(at(60), false, mf_seq, poi_seq, frame::PSH | frame::ACK, &bytes, &mut fb);
    drop(put);
    drop(w);

    let fields = ["frame.protocols", "li5g.ver", "li5g.type", "li5g.pf", "li5g.pd", "li5g.xid", "li5g.sq", "li5g.srcip", "li5g.dstport", "sip.Method", "rtp.ssrc"];
    let run = |proto: &str| {
        let mut c = Command::new("tshark");
        c.arg("-r").arg(&pcap).args(["-d", &format!("tcp.port=={port},{proto}"), "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]);
        for f in fields {
            c.args(["-e", f]);
        }
        c.output().expect("tshark runs")
    };
    let mut out = run("5gli");
    if !out.status.success() {
        out = run("li5g");
    }
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().filter(|l| l.contains("5gli") || l.contains("li5g")).map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 4, "four PDUs dissected:\n{text}");
    let col = |row: &Vec<&str>, name: &str| row[fields.iter().position(|f| *f == name).expect("field")].to_owned();
    let types: Vec<String> = rows.iter().map(|r| col(r, "li5g.type")).collect();
    assert_eq!(types, vec!["1", "2", "3", "4"]);
    for r in &rows {
        assert_eq!(col(r, "li5g.ver"), "5");
    }
    let (x2row, x3row) = (&rows[0], &rows[1]);
    assert_eq!(col(x2row, "li5g.pf"), "9");
    assert_eq!(col(x2row, "li5g.pd"), "3");
    assert_eq!(col(x2row, "li5g.xid"), "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
    assert_eq!(col(x2row, "li5g.srcip"), "192.0.2.10");
    assert!(col(x2row, "frame.protocols").ends_with(":sip"), "SIP handed to tshark's SIP dissector: {x2row:?}");
    assert_eq!(col(x2row, "sip.Method"), "INVITE");
    assert_eq!(col(x3row, "li5g.pf"), "8");
    assert_eq!(col(x3row, "li5g.dstport"), "20000");
    assert!(col(x3row, "frame.protocols").contains(":rtp"), "RTP handed to tshark's RTP dissector: {x3row:?}");
    assert_eq!(col(x3row, "rtp.ssrc"), "0xdeadbeef");
    assert_eq!(col(&rows[2], "li5g.sq"), "5");
    assert_eq!(col(&rows[3], "li5g.sq"), "5");
}

/// `tapline decode` reads a stream of third-party X2/X3 PDUs (the five lippycat vectors
/// back to back) through the `x2x3` profile: found without `--profile`, one JSON line per
/// PDU, the matched target counted and never printed.
#[test]
fn decode_prints_a_stream_of_lippycat_pdus_through_the_x2x3_profile() {
    let Some(dir) = shared() else { return };
    let names = ["keepalive", "x2_sip_bye", "x2_sip_invite", "x2_sip_message", "x3_rtp"];
    let stream: Vec<u8> = names.iter().flat_map(|n| hex_vector(&dir.join(format!("lippycat-{n}.hex")))).collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("seg-0000000000000000.ber");
    std::fs::write(&file, &stream).expect("write stream");
    let tapline = || Command::new(env!("CARGO_BIN_EXE_tapline"));
    for args in [&["decode"][..], &["decode", "--profile", "x2x3"][..]] {
        let out = tapline().args(args).arg(&file).output().expect("tapline decode");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!stdout.contains("alice"), "{args:?}: a matched target was printed");
        let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
        let types: Vec<&str> = lines.iter().map(|l| l["pdu_type"].as_str().unwrap_or_default()).collect();
        assert_eq!(types, ["Keepalive", "X2", "X2", "X2", "X3"], "{args:?}");
        for l in &lines[1..] {
            assert_eq!(l["xid"], "00112233-4455-6677-8899-aabbccddeeff", "{args:?}");
            assert_eq!(l["correlation_id"], 0x1111_1111_1111_1111u64, "{args:?}");
            assert_eq!(l["matched_targets"], 1, "{args:?}");
        }
    }
    let out = tapline().args(["decode", "--profile", "x3"]).arg(&file).output().expect("tapline decode");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown profile `x3`") && err.contains("`etsi`, `laes` or `x2x3`"), "{err}");
}
