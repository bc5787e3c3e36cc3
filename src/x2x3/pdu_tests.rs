use super::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;

/// An X2 PDU by hand: version 00 05, X2, header 40 + 8 (seq) + 12 (timestamp) + 8 (src v4)
/// = 68, payload "SIP/", format 9, from target, XID 00..0f, correlation 0x0102.
const X2: [u8; 72] = [
    0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x44, 0x00, 0x00, 0x00, 0x04, 0x00, 0x09, 0x00, 0x03, //
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, // correlation
    0x00, 0x08, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07, // sequence 7
    0x00, 0x09, 0x00, 0x08, 0x65, 0x53, 0xf1, 0x00, 0x00, 0x00, 0x01, 0xf4, // 1700000000 s, 500 ns
    0x00, 0x0a, 0x00, 0x04, 0xc0, 0x00, 0x02, 0x01, // source 192.0.2.1
    b'S', b'I', b'P', b'/',
];

fn xid() -> Xid {
    Xid([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
}

fn repr() -> PduRepr<'static> {
    let mut r = PduRepr::new(PduType::X2, PayloadFormat::Sip, Direction::FromTarget, xid(), b"SIP/");
    r.correlation_id = 0x0102;
    r.sequence = Some(7);
    r.timestamp = Some(Timestamp::from_nanos(1_700_000_000_000_000_500));
    r.src_addr = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    r
}

#[test]
fn view_reads_the_fixed_header() {
    let p = Packet::new_checked(&X2[..]).expect("valid");
    assert_eq!(p.version(), 5);
    assert_eq!(p.pdu_type(), Ok(PduType::X2));
    assert_eq!(p.header_len(), 68);
    assert_eq!(p.payload_len(), 4);
    assert_eq!(p.payload_format(), PayloadFormat::Sip);
    assert_eq!(p.direction(), Direction::FromTarget);
    assert_eq!(p.xid(), xid());
    assert_eq!(p.correlation_id(), 0x0102);
    assert_eq!(p.payload(), b"SIP/");
    assert_eq!(p.attributes().count(), 3);
}

#[test]
fn parses_the_vector() {
    assert_eq!(PduRepr::parse_bytes(&X2), Ok(repr()));
}

#[test]
fn emits_the_vector_byte_for_byte() {
    let r = repr();
    assert_eq!(r.buffer_len(), X2.len());
    assert_eq!(r.to_vec(), X2.to_vec());
}

#[test]
fn writes_version_0005_even_after_reading_another() {
    let mut bytes = X2;
    bytes[0..2].copy_from_slice(&[0x05, 0x00]);
    let r = PduRepr::parse_bytes(&bytes).expect("lippycat's version is read");
    assert_eq!(r.version, 0x0500);
    assert_eq!(&r.to_vec()[0..2], &[0x00, 0x05]);
}

#[test]
fn reads_later_minor_versions_and_refuses_others() {
    for (v, ok) in [([0x00, 0x05], true), ([0x00, 0x06], true), ([0x00, 0x09], true), ([0x05, 0x00], true), ([0x00, 0x04], false), ([0x01, 0x05], false), ([0x06, 0x00], false)] {
        let mut bytes = X2;
        bytes[0..2].copy_from_slice(&v);
        let got = PduRepr::parse_bytes(&bytes);
        assert_eq!(got.is_ok(), ok, "version {v:02x?}: {got:?}");
        if !ok {
            assert_eq!(got.err(), Some(PduError::UnsupportedVersion(u16::from_be_bytes(v))));
        }
    }
}

#[test]
fn reads_the_12_octet_timestamp() {
    // lippycat: i64 seconds, i32 nanoseconds.
    let mut r = repr();
    r.timestamp = None;
    r.other.push(RawAttribute { kind: kind::TIMESTAMP, value: &[0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0x01, 0xf4] });
    let bytes = r.to_vec();
    let back = PduRepr::parse_bytes(&bytes).expect("parses");
    assert_eq!(back.timestamp, Some(Timestamp::from_nanos(1_700_000_000_000_000_500)));
    assert!(back.other.is_empty());
}

#[test]
fn refuses_bad_timestamps() {
    for value in [&[0u8; 7][..], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0][..], &[0, 0, 0, 1, 0x3b, 0x9a, 0xca, 0x00][..]] {
        let mut r = repr();
        r.timestamp = None;
        r.other.push(RawAttribute { kind: kind::TIMESTAMP, value });
        let bytes = r.to_vec();
        assert!(PduRepr::parse_bytes(&bytes).is_err(), "{value:02x?}");
    }
}

#[test]
fn keepalive_round_trip() {
    let ka = PduRepr::keepalive(PduType::Keepalive, 42);
    let bytes = ka.to_vec();
    assert_eq!(bytes.len(), 48);
    assert_eq!(&bytes[0..16], &[0, 5, 0, 3, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[40..], &[0, 8, 0, 4, 0, 0, 0, 42]);
    assert_eq!(PduRepr::parse_bytes(&bytes), Ok(ka));
}

#[test]
fn refuses_malformed_headers() {
    assert_eq!(PduRepr::parse_bytes(&X2[..39]).err(), Some(PduError::Truncated { need: 40, have: 39 }));
    assert_eq!(PduRepr::parse_bytes(&X2[..71]).err(), Some(PduError::Truncated { need: 72, have: 71 }));
    let mut bad_type = X2;
    bad_type[3] = 9;
    assert_eq!(PduRepr::parse_bytes(&bad_type).err(), Some(PduError::UnknownPduType(9)));
    let mut short_header = X2;
    short_header[7] = 39;
    assert_eq!(PduRepr::parse_bytes(&short_header).err(), Some(PduError::BadHeaderLength(39)));
    // The last attribute claims 5 bytes but the header ends after 4.
    let mut overrun = X2;
    overrun[63] = 5;
    assert_eq!(PduRepr::parse_bytes(&overrun).err(), Some(PduError::AttributeOverrun { offset: 60 }));
    let mut bad_len = X2;
    bad_len[43] = 3; // sequence number of 3 octets, then garbage TLVs
    assert!(PduRepr::parse_bytes(&bad_len).is_err());
}

#[test]
fn refuses_duplicates_of_single_valued_attributes() {
    let mut r = repr();
    r.other.push(RawAttribute { kind: kind::SEQUENCE_NUMBER, value: &[0, 0, 0, 8] });
    let bytes = r.to_vec();
    assert_eq!(PduRepr::parse_bytes(&bytes).err(), Some(PduError::DuplicateAttribute { kind: 8 }));
}

#[test]
fn xid_text_form() {
    let x: Xid = "00010203-0405-0607-0809-0a0b0c0d0e0f".parse().expect("uuid");
    assert_eq!(x, xid());
    assert_eq!(x.to_string(), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    assert!("0001".parse::<Xid>().is_err());
    assert!("zz010203-0405-0607-0809-0a0b0c0d0e0f".parse::<Xid>().is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = PduRepr::parse_bytes(&bytes);
        let p = Packet::new_unchecked(&bytes[..]);
        let _ = (p.payload(), p.attributes().count(), p.xid(), p.correlation_id());
    }

    #[test]
    fn emitted_pdus_parse_back(
        seq in any::<u32>(), ns in 0u64..4_000_000_000_000_000_000, corr in any::<u64>(),
        sport in any::<u16>(), dport in any::<u16>(), v6 in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        target in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut r = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, xid(), &payload);
        r.correlation_id = corr;
        r.sequence = Some(seq);
        r.timestamp = Some(Timestamp::from_nanos(ns));
        r.src_addr = Some(if v6 { "2001:db8::1".parse().unwrap() } else { "192.0.2.7".parse().unwrap() });
        r.dst_addr = Some(if v6 { "2001:db8::2".parse().unwrap() } else { "198.51.100.9".parse().unwrap() });
        r.src_port = Some(sport);
        r.dst_port = Some(dport);
        r.matched_targets.push(&target);
        let bytes = r.to_vec();
        prop_assert_eq!(PduRepr::parse_bytes(&bytes), Ok(r));
    }
}
