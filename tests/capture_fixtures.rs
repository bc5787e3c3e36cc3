//! Replays the external SIP/RTP captures (MANIFEST.md) through the file reader and decoder,
//! and reads small pcapng files built here byte by byte.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tapline::capture::{FileReader, LinkType};
use tapline::wire::{DecodeStats, Decoded, Decoder, FlowKey, TcpStream, Transport};

const FIXTURES: &str = "../shared/fixtures-external";

/// Frame counts from MANIFEST.md.
const MANIFEST_COUNTS: [(&str, u64); 11] = [
    ("SIP_CALL_RTP_G711.pcap", 4269),
    ("SIP_DTMF2.pcap", 1360),
    ("DTMFsipinfo.pcap", 32),
    ("sip-rtp-g711.pcap", 852),
    ("sip_ipv6_udp.pcap", 6),
    ("sip_ipv4_tcp.pcap", 84),
    ("sip_tcp_websocket.pcap", 61),
    ("sip_sctp.pcap", 5),
    ("sipp-dtmf_2833_1.pcap", 10),
    ("derived-SIP_DTMF2-vlan100.pcap", 1360),
    ("sipp-builtin-uac_pcap-uas.pcap", 1494),
];

fn fixture(name: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURES);
    if !dir.is_dir() {
        eprintln!("skipping: fixture directory {} is absent", dir.display());
        return None;
    }
    Some(dir.join(name))
}

/// One decoded datagram, copied out of the reader's buffer.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    link: LinkType,
    flow: FlowKey,
    transport: Transport,
    payload: Vec<u8>,
    vlan: Option<u16>,
}

/// Reads and decodes a whole file; returns the datagrams and the decoder's counters.
fn replay(path: &Path) -> (Vec<Owned>, DecodeStats, u64) {
    let mut reader = FileReader::open(path).expect("capture opens");
    let mut decoder = Decoder::new();
    let mut datagrams = Vec::new();
    while let Some(frame) = reader.next_frame().expect("capture reads cleanly") {
        if let Decoded::Datagram(d) = decoder.decode(&frame) {
            datagrams.push(Owned {
                link: frame.link,
                flow: d.flow,
                transport: d.transport,
                payload: d.payload.to_vec(),
                vlan: d.vlan,
            });
        }
    }
    assert_eq!(reader.stats().truncated_records, 0);
    (datagrams, decoder.stats().clone(), reader.stats().frames)
}

fn count_starting(datagrams: &[Owned], prefix: &[u8]) -> usize {
    datagrams
        .iter()
        .filter(|d| d.payload.starts_with(prefix))
        .count()
}

#[test]
fn every_fixture_has_its_manifest_frame_count_and_decodes_cleanly() {
    for (name, expected) in MANIFEST_COUNTS {
        let Some(path) = fixture(name) else { return };
        let (_, stats, frames) = replay(&path);
        assert_eq!(frames, expected, "{name}: frames read");
        assert_eq!(stats.frames, expected, "{name}: frames decoded");
        assert_eq!(stats.malformed, 0, "{name}: malformed frames");
        assert_eq!(
            stats.datagrams + stats.skipped_non_ip + stats.skipped_other_transport,
            expected,
            "{name}: every frame accounted for"
        );
    }
}

#[test]
fn classic_call_separates_ip_from_other_frames() {
    let Some(path) = fixture("SIP_CALL_RTP_G711.pcap") else {
        return;
    };
    let (datagrams, stats, _) = replay(&path);
    // 2 ARP and 162 IEEE 802.3 (LLC) frames carry no IP.
    assert_eq!(stats.skipped_non_ip, 164);
    assert_eq!(stats.datagrams, 4105);
    assert_eq!(count_starting(&datagrams, b"INVITE "), 2);
    assert_eq!(count_starting(&datagrams, b"REGISTER "), 3);
    assert!(datagrams.iter().filter(|d| d.flow.proto == 6).count() >= 522);
}

#[test]
fn sctp_over_linux_cooked_is_skipped_as_other_transport() {
    let Some(path) = fixture("sip_sctp.pcap") else {
        return;
    };
    let mut reader = FileReader::open(&path).expect("opens");
    let mut decoder = Decoder::new();
    while let Some(frame) = reader.next_frame().expect("reads") {
        assert_eq!(frame.link, LinkType::LinuxSll);
        assert!(matches!(
            decoder.decode(&frame),
            Decoded::Skipped(tapline::wire::SkipReason::OtherTransport(132))
        ));
    }
    assert_eq!(decoder.stats().skipped_other_transport, 5);
    assert_eq!(decoder.stats().datagrams, 0);
}

#[test]
fn vlan_derivative_decodes_like_the_original() {
    let (Some(original), Some(tagged)) = (
        fixture("SIP_DTMF2.pcap"),
        fixture("derived-SIP_DTMF2-vlan100.pcap"),
    ) else {
        return;
    };
    let (plain, _, _) = replay(&original);
    let (vlan, stats, _) = replay(&tagged);
    assert_eq!(stats.datagrams, 1360);
    assert!(vlan.iter().all(|d| d.vlan == Some(100)));
    assert!(plain.iter().all(|d| d.vlan.is_none()));
    let strip = |d: &Owned| (d.flow, d.transport, d.payload.clone());
    assert_eq!(
        vlan.iter().map(strip).collect::<Vec<_>>(),
        plain.iter().map(strip).collect::<Vec<_>>()
    );
}

#[test]
fn ipv6_capture_yields_udp_sip_on_5060() {
    let Some(path) = fixture("sip_ipv6_udp.pcap") else {
        return;
    };
    let (datagrams, _, _) = replay(&path);
    assert_eq!(datagrams.len(), 6);
    for d in &datagrams {
        assert!(matches!(d.flow.src, IpAddr::V6(_)) && matches!(d.flow.dst, IpAddr::V6(_)));
        assert_eq!(d.transport, Transport::Udp);
        assert!(
            d.flow.src_port == 5060 || d.flow.dst_port == 5060,
            "{:?}",
            d.flow
        );
    }
    assert_eq!(count_starting(&datagrams, b"INVITE sip:"), 1);
    assert_eq!(count_starting(&datagrams, b"BYE sip:"), 1);
}

#[test]
fn sip_info_over_pppoe_is_decoded() {
    let Some(path) = fixture("DTMFsipinfo.pcap") else {
        return;
    };
    let (datagrams, stats, _) = replay(&path);
    assert_eq!(stats.datagrams, 32);
    assert_eq!(count_starting(&datagrams, b"INFO sip:"), 4);
    assert_eq!(count_starting(&datagrams, b"CANCEL sip:"), 2);
}

#[test]
fn sip_over_tcp_reassembles_into_messages() {
    let Some(path) = fixture("sip_ipv4_tcp.pcap") else {
        return;
    };
    let (datagrams, _, _) = replay(&path);
    let mut streams: HashMap<FlowKey, (TcpStream, Vec<u8>)> = HashMap::new();
    for d in &datagrams {
        if let Transport::Tcp { seq, flags, .. } = d.transport {
            let (stream, bytes) = streams
                .entry(d.flow)
                .or_insert_with(|| (TcpStream::new(), Vec::new()));
            stream.push(seq, flags, &d.payload, bytes);
        }
    }
    let text: Vec<String> = streams
        .values()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    let count = |needle: &str| {
        text.iter()
            .map(|t| t.matches(needle).count())
            .sum::<usize>()
    };
    assert_eq!(count("INVITE sip:"), 1);
    assert_eq!(count("BYE sip:"), 1);
    assert_eq!(count("SIP/2.0 180 "), 1);
    assert_eq!(count("SIP/2.0 200 "), 2);
}

fn ng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut padded = body.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let total = (padded.len() + 12) as u32;
    let mut out = block_type.to_le_bytes().to_vec();
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&padded);
    out.extend_from_slice(&total.to_le_bytes());
    out
}

/// A pcapng file with one Ethernet interface at nanosecond resolution (`if_tsresol` = 9).
fn pcapng_ns(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = ng_block(0x0A0D_0D0A, &shb);
    let mut idb = vec![1, 0, 0, 0, 0, 0, 0, 0];
    idb.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(ng_block(1, &idb));
    for (ts, data) in frames {
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(*ts as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        out.extend(ng_block(6, &epb));
    }
    out
}

/// Ethernet + IPv4 (10.1.1.1 → 10.1.1.2) with the given id, flags/offset field and body.
fn ipv4_frame(ident: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&((body.len() + 20) as u16).to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, 17, 0, 0, 10, 1, 1, 1, 10, 1, 1, 2]);
    out.extend_from_slice(body);
    out
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x13, 0xc4, 0x13, 0xc4];
    out.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write");
    file
}

#[test]
fn pcapng_nanosecond_timestamps_are_exact() {
    let frames = vec![
        (
            1_763_805_600_000_000_001u64,
            ipv4_frame(1, 0, &udp(b"OPTIONS")),
        ),
        (
            1_763_805_600_999_999_999u64,
            ipv4_frame(2, 0, &udp(b"SIP/2.0 200 OK")),
        ),
    ];
    let file = write_temp(&pcapng_ns(&frames));
    let mut reader = FileReader::open(file.path()).expect("opens");
    let mut decoder = Decoder::new();
    let mut seen = Vec::new();
    while let Some(frame) = reader.next_frame().expect("reads") {
        assert_eq!(frame.link, LinkType::Ethernet);
        match decoder.decode(&frame) {
            Decoded::Datagram(d) => seen.push((d.ts.as_nanos(), d.payload.to_vec())),
            other => panic!("expected a datagram, got {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            (1_763_805_600_000_000_001, b"OPTIONS".to_vec()),
            (1_763_805_600_999_999_999, b"SIP/2.0 200 OK".to_vec()),
        ]
    );
    assert_eq!(reader.stats().frames, 2);
}

#[test]
fn fragmented_udp_in_a_capture_reassembles_out_of_order() {
    let payload: Vec<u8> =
        b"INVITE sip:carol@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1\r\n\r\n".to_vec();
    let body = udp(&payload);
    // First fragment: 40 bytes at offset 0 with More Fragments; second: the rest at offset 40.
    let first = ipv4_frame(0x4242, 0x2000, &body[..40]);
    let second = ipv4_frame(0x4242, 40 / 8, &body[40..]);
    let file = write_temp(&pcapng_ns(&[(2_000, second), (3_000, first)]));
    let mut reader = FileReader::open(file.path()).expect("opens");
    let mut decoder = Decoder::new();
    let mut results = Vec::new();
    while let Some(frame) = reader.next_frame().expect("reads") {
        results.push(match decoder.decode(&frame) {
            Decoded::Datagram(d) => Some((d.ts.as_nanos(), d.payload.to_vec(), d.ip_packet.len())),
            Decoded::Skipped(_) => None,
            Decoded::Malformed(reason) => panic!("malformed: {reason}"),
        });
    }
    assert_eq!(
        results,
        vec![None, Some((3_000, payload.clone(), 20 + body.len()))]
    );
    assert_eq!(decoder.stats().fragments, 2);
    assert_eq!(decoder.stats().reassembled, 1);
}
