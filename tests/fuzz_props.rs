//! Property tests over arbitrary bytes for every parser that takes bytes from outside: the
//! stable-toolchain stand-in for the coverage-guided targets in `fuzz/` (which need
//! nightly). Each property feeds either random bytes or a valid sample with random octets
//! overwritten, inserted or cut, and asserts only that the parser returns (no panic, no
//! hang) and that what it returns is self-consistent. The exercise of each parser is
//! `tapline::fuzzing`'s, shared with the fuzz targets. Case counts are fixed and small.

use std::path::Path;

use proptest::prelude::*;
use tapline::fuzzing::{self, LINKS};
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
        fuzzing::capture_file(&f, bytes.len());
    }

    /// pcapng blocks behind a valid section header.
    #[test]
    fn pcapng_files(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let shb: [u8; 28] = [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0];
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.pcapng");
        let file = [&shb[..], &body].concat();
        std::fs::write(&f, &file).unwrap();
        fuzzing::capture_file(&f, file.len());
    }

    /// L2–L4 decoding (every link type, IPv4/IPv6, fragments, UDP/TCP).
    #[test]
    fn l2_to_l4(bytes in input(demo_frame()), link in 0usize..LINKS.len(), more in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        fuzzing::l2_l4(LINKS[link], std::iter::once(&bytes).chain(&more).map(Vec::as_slice));
    }

    /// SIP messages: parse and every accessor, and the TCP framer.
    #[test]
    fn sip_messages(bytes in input(sip_sample())) {
        fuzzing::sip_message(&bytes, 97);
    }

    /// SDP bodies.
    #[test]
    fn sdp_bodies(bytes in input(SDP.to_vec())) {
        fuzzing::sdp(&bytes);
    }

    /// RTP and RTCP views.
    #[test]
    fn rtp_and_rtcp(bytes in input(vec![0x90, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xd5])) {
        fuzzing::rtp(&bytes);
    }

    /// ETSI PS-PDU streams: split, decode, JSON.
    #[test]
    fn etsi_ps_pdus(bytes in input(pdu_samples()), one in input(first_pdu())) {
        fuzzing::etsi_pdus(&bytes);
        fuzzing::etsi_pdus(&one);
    }

    /// laes records: CdcPdus, CCC frames, and a whole laes stream.
    #[test]
    fn laes_records(bytes in input([&[0x30u8, 0x3d, 0x80, 0x01, 0x04, 0xa1, 0x38, 0xa8, 0x36][..], &[0u8; 60]].concat())) {
        fuzzing::laes(&bytes);
    }

    /// The X.509 role reader of the provisioning API.
    #[test]
    fn x509_role_reader(bytes in input(cert_der())) {
        fuzzing::x509_role(&bytes);
    }

    /// TOML warrant files: refused with file, key and reason, or loaded; never a panic.
    #[test]
    fn toml_warrants(bytes in input(crate_file("warrants/DEN-2026-0042.toml")), agencies in input(AGENCIES.as_bytes().to_vec())) {
        let dir = tempfile::tempdir().unwrap();
        fuzzing::warrant_dir(dir.path(), &agencies, &bytes).unwrap();
    }
}
