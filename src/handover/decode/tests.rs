//! Decoder tests: encoder round trips field for field, JSON shape, stream splitting, and
//! property tests (arbitrary headers/contents round-trip, arbitrary bytes never panic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::handover::etsi::{
    encode_cc, encode_hi1_notification, encode_iri, encode_keepalive, encode_keepalive_response,
    Direction, Hi1Notification, IriContent, IriType, PduHeader,
};
use crate::Timestamp;

fn header(seq: u32) -> PduHeader<'static> {
    PduHeader {
        liid: "LIID-0001",
        authorization_country: "US",
        operator_id: "EXAMPLEOP",
        network_element_id: "MED-01",
        cin: 1001,
        delivery_country: "DE",
        sequence: seq,
        ts: Timestamp::from_secs_micros(1_767_323_045, 123_456),
    }
}

fn expected_header(seq: u32, cin: Option<u32>) -> Header {
    Header {
        domain_id: "0.4.0.2.2.5.1.43".into(),
        liid: b"LIID-0001".to_vec(),
        authorization_country: Some("US".into()),
        operator_id: b"EXAMPLEOP".to_vec(),
        network_element_id: Some(b"MED-01".to_vec()),
        cin,
        delivery_country: Some("DE".into()),
        sequence: seq,
        seconds: Some(1_767_323_045),
        micros: Some(123_456),
        qualifier: Some(1),
    }
}

const INVITE: &[u8] = b"INVITE sip:+12025550123@example.net SIP/2.0\r\nCall-ID: a@b\r\n\r\n";

#[test]
fn iri_pdu_round_trip() {
    let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let dst = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20));
    let mut out = Vec::new();
    encode_iri(
        &mut out,
        &header(3),
        IriType::Begin,
        &IriContent::SipMessage {
            src,
            dst,
            sip: INVITE,
        },
    );
    let pdu = decode_pdu(&out).unwrap();
    assert_eq!(pdu.header, expected_header(3, Some(1001)));
    assert_eq!(
        pdu.payload,
        Payload::Iri(vec![IriRecord {
            iri_type: Some(1),
            kind: IriContentKind::SipMessage,
            obj_id: Some("5.5.17.1".into()),
            src: Some(src),
            dst: Some(dst),
            bytes: INVITE.to_vec(),
        }])
    );
}

#[test]
fn iri_only_variants_round_trip() {
    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut out = Vec::new();
    encode_iri(
        &mut out,
        &header(0),
        IriType::Report,
        &IriContent::IriOnlySipMessage {
            src,
            dst,
            sip: b"MESSAGE",
        },
    );
    let Payload::Iri(r) = decode_pdu(&out).unwrap().payload else {
        panic!("not IRI")
    };
    assert_eq!(
        (r[0].iri_type, r[0].kind, r[0].bytes.as_slice()),
        (Some(4), IriContentKind::IriOnlySipMessage, &b"MESSAGE"[..])
    );
    let packet = [0x45, 0, 0, 0x28];
    out.clear();
    encode_iri(
        &mut out,
        &header(1),
        IriType::Continue,
        &IriContent::IriOnlyRtpPacket { ip_packet: &packet },
    );
    let Payload::Iri(r) = decode_pdu(&out).unwrap().payload else {
        panic!("not IRI")
    };
    assert_eq!(
        r[0],
        IriRecord {
            iri_type: Some(3),
            kind: IriContentKind::IriOnlyRtpPacket,
            obj_id: Some("5.5.17.1".into()),
            src: None,
            dst: None,
            bytes: packet.to_vec(),
        }
    );
}

#[test]
fn cc_pdu_round_trip_with_long_contents() {
    let mut rtp = vec![0x80, 0x08, 0x12, 0x34, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
    rtp.resize(70_000, 0xD5);
    let mut out = Vec::new();
    encode_cc(&mut out, &header(9), Direction::FromTarget, &rtp);
    let pdu = decode_pdu(&out).unwrap();
    assert_eq!(pdu.header, expected_header(9, Some(1001)));
    assert_eq!(
        pdu.payload,
        Payload::Cc(vec![CcRecord {
            direction: Some(0),
            kind: CcContentKind::IpMmCc,
            obj_id: Some("5.5.17.2".into()),
            contents: rtp.clone(),
            frame_type: Some(2),
        }])
    );
    let j = pdu_to_json(&pdu);
    assert_eq!(j["payload"]["records"][0]["rtp"]["pt"], 8);
    assert_eq!(j["payload"]["records"][0]["rtp"]["seq"], 0x1234);
    assert_eq!(j["payload"]["records"][0]["rtp"]["ssrc"], "0x11223344");
    assert_eq!(j["payload"]["records"][0]["rtp"]["len"], 70_000);
    assert_eq!(j["payload"]["records"][0]["direction"], "fromTarget");
}

#[test]
fn keepalives_decode() {
    let mut out = Vec::new();
    encode_keepalive(&mut out, &header(5));
    let pdu = decode_pdu(&out).unwrap();
    assert_eq!(
        (pdu.header, pdu.payload),
        (expected_header(5, None), Payload::KeepAlive)
    );
    out.clear();
    encode_keepalive_response(&mut out, &header(6));
    assert_eq!(
        decode_pdu(&out).unwrap().payload,
        Payload::KeepAliveResponse
    );
}

#[test]
fn hi1_notification_round_trip() {
    let mut out = Vec::new();
    encode_hi1_notification(&mut out, &header(0), Hi1Notification::Activated);
    let pdu = decode_pdu(&out).unwrap();
    assert_eq!(pdu.header, Header { sequence: 0, ..expected_header(0, None) });
    assert_eq!(
        pdu.payload,
        Payload::Hi1(Hi1Operation {
            alternative: 1,
            notification: Some(Hi1Notification::Activated),
            liid: Some(b"LIID-0001".to_vec()),
            time_stamp: Some("20260102030405Z".into()),
        })
    );
    let j = pdu_to_json(&pdu);
    assert_eq!(j["payload"]["kind"], "hI1-Operation");
    assert_eq!(j["payload"]["notification"], "liActivated");
    assert_eq!(j["payload"]["liid"], "LIID-0001");
}

#[test]
fn json_has_sip_first_line_and_names() {
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut out = Vec::new();
    encode_iri(
        &mut out,
        &header(0),
        IriType::Begin,
        &IriContent::SipMessage {
            src: a,
            dst: a,
            sip: INVITE,
        },
    );
    let j = pdu_to_json(&decode_pdu(&out).unwrap());
    assert_eq!(j["header"]["liid"], "LIID-0001");
    assert_eq!(j["header"]["cin"], 1001);
    assert_eq!(j["header"]["time"], "2026-01-02T03:04:05.123456Z");
    assert_eq!(j["header"]["qualifier"], "timeOfInterception");
    let rec = &j["payload"]["records"][0];
    assert_eq!(rec["iri_type"], "iRI-Begin");
    assert_eq!(rec["content"], "sIPMessage");
    assert_eq!(rec["src"], "192.0.2.10");
    assert_eq!(
        rec["first_line"],
        "INVITE sip:+12025550123@example.net SIP/2.0"
    );
}

#[test]
fn json_summarises_rtp_event_packet() {
    let mut packet = vec![
        0x45, 0, 0, 48, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    packet.extend_from_slice(&[0x13, 0x88, 0x13, 0x8a, 0, 28, 0, 0]);
    packet.extend_from_slice(&[
        0x80, 0xE5, 0, 77, 0, 0, 0x30, 0x20, 0x11, 0x22, 0x33, 0x44, 5, 0x8A, 3, 0x20,
    ]);
    let mut out = Vec::new();
    encode_iri(
        &mut out,
        &header(0),
        IriType::Report,
        &IriContent::IriOnlyRtpPacket { ip_packet: &packet },
    );
    let rec = pdu_to_json(&decode_pdu(&out).unwrap())["payload"]["records"][0].clone();
    assert_eq!(rec["src"], "10.0.0.1");
    assert_eq!(rec["dst"], "10.0.0.2");
    assert_eq!(rec["rtp"]["pt"], 101);
    assert_eq!(rec["rtp"]["m"], 1);
    assert_eq!(rec["rtp"]["seq"], 77);
}

#[test]
fn split_and_jsonl_stream() {
    let mut stream = Vec::new();
    encode_cc(
        &mut stream,
        &header(0),
        Direction::ToTarget,
        &[0x80, 0, 0, 1],
    );
    let first = stream.len();
    encode_keepalive(&mut stream, &header(0));
    let parts: Vec<_> = split_stream(&stream).collect::<Result<_, _>>().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].len(), first);

    let mut lines = Vec::new();
    assert_eq!(decode_stream_jsonl(&stream, &mut lines).unwrap(), 2);
    let lines: Vec<serde_json::Value> = String::from_utf8(lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["offset"], first);
    assert_eq!(lines[1]["pdu"]["payload"]["kind"], "keep-alive");

    // Truncated tail: one Err naming its offset, then the iterator ends.
    let cut = &stream[..stream.len() - 3];
    let items: Vec<_> = split_stream(cut).collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(items[1], Err(DecodeError::Truncated { offset, .. }) if offset == first));
    assert!(matches!(
        decode_stream_jsonl(cut, &mut Vec::new()),
        Err(StreamError::Framing(_))
    ));
}

#[test]
fn malformed_pdus_are_errors_with_offsets() {
    let mut out = Vec::new();
    encode_keepalive(&mut out, &header(0));
    // Flip the li-psDomainId [0] to constructed.
    let mut bad = out.clone();
    let oid_at = bad.iter().position(|&b| b == 0x80).unwrap();
    bad[oid_at] = 0xA0;
    assert!(matches!(
        decode_pdu(&bad),
        Err(DecodeError::Unexpected {
            expected: "[0] li-psDomainId",
            ..
        })
    ));
    // Trailing garbage after the PS-PDU.
    let mut trailing = out.clone();
    trailing.push(0);
    assert!(matches!(
        decode_pdu(&trailing),
        Err(DecodeError::Invalid { what: "PS-PDU", .. })
    ));
    // Not a SEQUENCE at the top.
    assert!(matches!(
        decode_pdu(&[0x31, 0x00]),
        Err(DecodeError::Unexpected { offset: 0, .. })
    ));
    // PS-PDU without a payload.
    assert!(matches!(
        decode_pdu(&[0x30, 0x00]),
        Err(DecodeError::Missing { .. })
    ));
}

#[test]
fn unknown_extensions_are_skipped() {
    // PSHeader with an extra [6] interceptionPointID and [5] timeStamp before the known fields.
    let mut out = Vec::new();
    encode_keepalive(&mut out, &header(0));
    let pdu = decode_pdu(&out).unwrap();
    let header_at = 2; // 30 len | A1 len ...
    assert_eq!(out[header_at], 0xA1);
    let extra = [0x86, 0x03, b'S', b'B', b'C', 0x85, 0x02, b'2', b'0'];
    let mut patched = out.clone();
    let hdr_len = usize::from(patched[header_at + 1]);
    patched.splice(header_at + 2..header_at + 2, extra);
    patched[header_at + 1] = (hdr_len + extra.len()) as u8;
    patched[1] += extra.len() as u8;
    assert_eq!(decode_pdu(&patched).unwrap(), pdu);
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(a.into())),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(a.into())),
    ]
}

proptest! {
    #[test]
    fn encode_decode_round_trip(
        liid in "[A-Za-z0-9-]{1,25}",
        op in "[A-Z0-9]{1,16}",
        ne in "[A-Z0-9-]{1,16}",
        cin in any::<u32>(),
        seq in any::<u32>(),
        nanos in any::<u64>(),
        src in ip(),
        dst in ip(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
        which in 0u8..5,
    ) {
        let h = PduHeader {
            liid: &liid, authorization_country: "FR", operator_id: &op, network_element_id: &ne,
            cin, delivery_country: "BE", sequence: seq, ts: Timestamp::from_nanos(nanos),
        };
        let mut out = Vec::new();
        let want_payload = match which {
            0 | 1 => {
                let (c, kind) = if which == 0 {
                    (IriContent::SipMessage { src, dst, sip: &body }, IriContentKind::SipMessage)
                } else {
                    (IriContent::IriOnlySipMessage { src, dst, sip: &body }, IriContentKind::IriOnlySipMessage)
                };
                encode_iri(&mut out, &h, IriType::Continue, &c);
                Payload::Iri(vec![IriRecord {
                    iri_type: Some(3), kind, obj_id: Some("5.5.17.1".into()),
                    src: Some(src), dst: Some(dst), bytes: body.clone(),
                }])
            }
            2 => {
                encode_iri(&mut out, &h, IriType::End, &IriContent::IriOnlyRtpPacket { ip_packet: &body });
                Payload::Iri(vec![IriRecord {
                    iri_type: Some(2), kind: IriContentKind::IriOnlyRtpPacket, obj_id: Some("5.5.17.1".into()),
                    src: None, dst: None, bytes: body.clone(),
                }])
            }
            3 => {
                encode_cc(&mut out, &h, Direction::ToTarget, &body);
                Payload::Cc(vec![CcRecord {
                    direction: Some(1), kind: CcContentKind::IpMmCc, obj_id: Some("5.5.17.2".into()),
                    contents: body.clone(), frame_type: Some(2),
                }])
            }
            _ => {
                encode_keepalive(&mut out, &h);
                Payload::KeepAlive
            }
        };
        let pdu = decode_pdu(&out).unwrap();
        prop_assert_eq!(pdu.payload, want_payload);
        let hd = pdu.header;
        prop_assert_eq!(hd.liid, liid.as_bytes().to_vec());
        prop_assert_eq!(hd.operator_id, op.as_bytes().to_vec());
        prop_assert_eq!(hd.network_element_id, Some(ne.as_bytes().to_vec()));
        prop_assert_eq!(hd.cin, if which == 4 { None } else { Some(cin) });
        prop_assert_eq!(hd.sequence, seq);
        prop_assert_eq!(hd.seconds, Some(nanos / 1_000_000_000));
        prop_assert_eq!(hd.micros, Some(((nanos % 1_000_000_000) / 1_000) as u32));
        prop_assert_eq!(hd.authorization_country.as_deref(), Some("FR"));
        prop_assert_eq!(hd.delivery_country.as_deref(), Some("BE"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_pdu(&bytes);
        for part in split_stream(&bytes).flatten() {
            if let Ok(pdu) = decode_pdu(part) {
                let _ = pdu_to_json(&pdu);
            }
        }
        let _ = decode_stream_jsonl(&bytes, &mut Vec::new());
    }

    #[test]
    fn mutated_pdus_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let a = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut out = Vec::new();
        encode_iri(&mut out, &header(0), IriType::Begin, &IriContent::SipMessage { src: a, dst: a, sip: INVITE });
        let i = pos.index(out.len());
        out[i] = byte;
        let _ = decode_pdu(&out);
        let _ = decode_pdu(&out[..cut.index(out.len())]);
    }
}
