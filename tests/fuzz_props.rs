//! Property tests over arbitrary bytes for every parser that takes bytes from outside: the
//! stable-toolchain stand-in for the coverage-guided targets in `fuzz/` (which need
//! nightly). Each property feeds either random bytes or a valid sample with random octets
//! overwritten, inserted or cut, and asserts only that the parser returns (no panic, no
//! hang) and that what it returns is self-consistent. Case counts are fixed and small.

use std::path::Path;

use proptest::prelude::*;
use tapline::capture::{FileReader, Frame, LinkType};
use tapline::Timestamp;

const CASES: u32 = 256;

/// `PROPTEST_CASES` for a long run (operators), else the fixed CI count.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES)
}

/// A valid sample with up to 8 random edits (overwrite, insert, cut).
fn mutated(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..8);
    (Just(sample), edits, any::<usize>()).prop_map(|(mut s, edits, cut)| {
        for (kind, at, byte) in edits {
            if s.is_empty() {
                s.push(byte);
                continue;
            }
            let at = at % s.len();
            match kind % 3 {
                0 => s[at] = byte,
                1 => s.insert(at, byte),
                _ => {
                    s.remove(at);
                }
            }
        }
        if cut % 4 == 0 && !s.is_empty() {
            let keep = cut % s.len();
            s.truncate(keep);
        }
        s
    })
}

/// Random bytes, or a mutated sample.
fn input(sample: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..600), mutated(sample)]
}

fn crate_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap_or_default()
}

const SIP: &[u8] = b"INVITE sip:+13035550142@example.com;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: \"A\" <sip:alice@example.com>;tag=1\r\nTo: <tel:+13035550142>\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+17205550101@example.com>\r\nDiversion: <sip:+13035550100@example.com>;reason=unconditional\r\nContent-Type: application/sdp\r\nContent-Length: 129\r\n\r\n";
const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 96\r\n";

fn sip_sample() -> Vec<u8> {
    [SIP, SDP].concat()
}

fn pdu_samples() -> Vec<u8> {
    use std::net::{IpAddr, Ipv4Addr};
    use tapline::handover::{encode_cc, encode_iri, encode_keepalive, Direction, IriContent, IriType, PduHeader};
    let h = PduHeader {
        liid: "LIID-1",
        authorization_country: "US",
        operator_id: "OP",
        network_element_id: "NE",
        cin: 7,
        delivery_country: "US",
        sequence: 3,
        ts: Timestamp::from_secs_micros(1_790_000_000, 5),
    };
    let (src, dst) = (IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    let mut out = Vec::new();
    encode_iri(&mut out, &h, IriType::Begin, &IriContent::SipMessage { src, dst, sip: SIP });
    encode_cc(&mut out, &h, Direction::ToTarget, &[0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xd5, 0xd5]);
    encode_keepalive(&mut out, &h);
    out
}

fn first_pdu() -> Vec<u8> {
    let all = pdu_samples();
    let first = tapline::handover::split_stream(&all).next().and_then(Result::ok).map(<[u8]>::to_vec);
    first.unwrap_or_default()
}

const LINKS: [LinkType; 9] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Other(147),
];

/// The first frame of the demo capture (Ethernet), for mutation.
fn demo_frame() -> Vec<u8> {
    let bytes = crate_file("fixtures/demo.pcap");
    // Classic pcap: 24-byte global header, 16-byte record header.
    let len = bytes.get(32..36).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    bytes.get(40..40 + len).map(<[u8]>::to_vec).unwrap_or_default()
}

fn cert_der() -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let dir = tempfile::tempdir().unwrap();
    let pki = tapline::delivery::pki::create_dev_pki(dir.path(), &["fbi-denver".to_owned()], &tapline::delivery::pki::loopback_hosts())
        .unwrap();
    CertificateDer::from_pem_file(&pki.appliance.cert).unwrap().to_vec()
}

const AGENCIES: &str = "[appliance]\noperator_id = \"EXAMPLE-TEL\"\nnetwork_element_id = \"MED-01\"\ncountry = \"US\"\n\n[[agency]]\nid = \"fbi-denver\"\ncountry = \"US\"\nprofile = \"etsi\"\nhi2 = \"tls://127.0.0.1:6100\"\nhi3 = \"tls://127.0.0.1:6101\"\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// pcap and pcapng files: every frame read is within the file; errors end the read.
    #[test]
    fn capture_files(bytes in input(crate_file("fixtures/demo.pcap").into_iter().take(3000).collect())) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.pcap");
        std::fs::write(&f, &bytes).unwrap();
        if let Ok(mut r) = FileReader::open(&f) {
            let mut n = 0;
            while let Ok(Some(frame)) = r.next_frame() {
                prop_assert!(frame.data.len() <= bytes.len());
                n += 1;
                prop_assert!(n <= bytes.len());
            }
            let _ = r.stats();
        }
    }

    /// pcapng blocks behind a valid section header.
    #[test]
    fn pcapng_files(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let shb: [u8; 28] = [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0];
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.pcapng");
        std::fs::write(&f, [&shb[..], &body].concat()).unwrap();
        if let Ok(mut r) = FileReader::open(&f) {
            let mut n = 0;
            while let Ok(Some(_)) = r.next_frame() {
                n += 1;
                prop_assert!(n <= body.len());
            }
        }
    }

    /// L2–L4 decoding (every link type, IPv4/IPv6, fragments, UDP/TCP).
    #[test]
    fn l2_to_l4(bytes in input(demo_frame()), link in 0usize..LINKS.len(), more in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        let mut d = tapline::wire::Decoder::new();
        for (i, data) in std::iter::once(&bytes).chain(&more).enumerate() {
            let frame = Frame { ts: Timestamp::from_secs_micros(1_790_000_000 + i as u64, 0), link: LINKS[link], data, orig_len: data.len() as u32 };
            let _ = format!("{:?}", d.decode(&frame));
        }
        prop_assert!(d.stats().frames as usize == 1 + more.len());
    }

    /// SIP messages: parse and every accessor, and the TCP framer.
    #[test]
    fn sip_messages(bytes in input(sip_sample())) {
        if let Ok(m) = tapline::sip::parse(&bytes) {
            let _ = (m.method(), m.request_uri(), m.status(), m.call_id(), m.cseq(), m.from(), m.to(), m.contact(), m.via_branch());
            let _ = (m.p_asserted_identities().count(), m.privacy_id(), m.diversion().count(), m.history_info().count());
            let _ = (m.content_type(), m.content_length(), m.body_truncated(), m.headers().count());
            prop_assert!(m.body().len() <= bytes.len());
            if let Some(ct) = m.content_type() {
                let _ = tapline::sip::multipart::find_sdp(ct, m.body());
            }
        }
        let mut framer = tapline::sip::stream::Framer::with_limit(4096);
        for piece in bytes.chunks(97) {
            framer.push(piece);
            let mut n = 0;
            while let Some(m) = framer.next_message() {
                if let Ok(m) = m {
                    let _ = tapline::sip::parse(m);
                }
                n += 1;
                prop_assert!(n <= bytes.len() + 1);
            }
        }
    }

    /// SDP bodies.
    #[test]
    fn sdp_bodies(bytes in input(SDP.to_vec())) {
        if let Ok(s) = tapline::sip::sdp::parse(&bytes) {
            let _ = s.media_endpoints();
            let _: Vec<_> = s.media.iter().map(|m| m.payload_type_of("telephone-event")).collect();
        }
    }

    /// RTP and RTCP views.
    #[test]
    fn rtp_and_rtcp(bytes in input(vec![0x90, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xd5])) {
        if let Ok(p) = tapline::rtp::RtpPacket::new_checked(&bytes[..]) {
            let _ = (p.version(), p.padding(), p.marker(), p.payload_type(), p.sequence(), p.timestamp(), p.ssrc(), p.csrcs().count());
            prop_assert!(p.header_len() + p.payload().len() <= bytes.len());
        }
        if let Ok(p) = tapline::rtp::RtcpPacket::new_checked(&bytes[..]) {
            let _ = (p.version(), p.count(), p.packet_type(), p.length(), p.ssrc());
        }
    }

    /// ETSI PS-PDU streams: split, decode, JSON.
    #[test]
    fn etsi_ps_pdus(bytes in input(pdu_samples()), one in input(first_pdu())) {
        let mut taken = 0;
        for pdu in tapline::handover::split_stream(&bytes) {
            let Ok(pdu) = pdu else { break };
            taken += pdu.len();
            let _ = tapline::handover::decode_pdu(pdu);
        }
        prop_assert!(taken <= bytes.len());
        let _ = tapline::handover::decode_pdu(&one);
        let mut out = Vec::new();
        let _ = tapline::handover::decode_stream_jsonl(&bytes, &mut out);
    }

    /// laes records: CdcPdus, CCC frames, and a whole laes stream.
    #[test]
    fn laes_records(bytes in input([&[0x30u8, 0x3d, 0x80, 0x01, 0x04, 0xa1, 0x38, 0xa8, 0x36][..], &[0u8; 60]].concat())) {
        use tapline::handover::laes::decode::{decode_ccc, decode_cdc, decode_laes_jsonl, looks_like_cdc, udp_payload};
        let _ = (looks_like_cdc(&bytes), decode_cdc(&bytes), decode_ccc(&bytes), udp_payload(&bytes));
        let mut out = Vec::new();
        let _ = decode_laes_jsonl(&bytes, &mut out);
        let _ = tapline::handover::laes::ccc::split_ccc_stream(&bytes).take(64).count();
    }

    /// The X.509 role reader of the provisioning API.
    #[test]
    fn x509_role_reader(bytes in input(cert_der())) {
        let _ = tapline::provision::subject_of(&bytes);
    }

    /// TOML warrant files: refused with file, key and reason, or loaded; never a panic.
    #[test]
    fn toml_warrants(bytes in input(crate_file("warrants/DEN-2026-0042.toml")), agencies in input(AGENCIES.as_bytes().to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agencies.toml"), &agencies).unwrap();
        std::fs::write(dir.path().join("W-1.toml"), &bytes).unwrap();
        match tapline::warrant::Store::load_dir(dir.path()) {
            Ok((store, errors)) => prop_assert!(store.warrants.len() + errors.len() >= 1),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let errors = tapline::warrant::check_paths(&[dir.path().to_owned()]);
        prop_assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }
}
