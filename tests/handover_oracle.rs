//! The `etsi` encoder checked against the independent asn1tools oracle: a mixed stream must
//! pass `--check` with identical re-encoding, and tapline's decoder must agree field for field.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use common::oracle::{assert_decoder_agrees, require_oracle, run_oracle, run_oracle_check};
use tapline::handover::{
    encode_cc, encode_iri, encode_keepalive, encode_keepalive_response, Direction, IriContent,
    IriType, PduHeader,
};
use tapline::Timestamp;

fn header<'a>(liid: &'a str, cin: u32, sequence: u32, ts: Timestamp) -> PduHeader<'a> {
    PduHeader {
        liid,
        authorization_country: "US",
        operator_id: "TAPLINE-OP",
        network_element_id: "MED-01",
        cin,
        delivery_country: "US",
        sequence,
        ts,
    }
}

fn rtp(seq: u16, pt: u8, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1122_3344u32.to_be_bytes());
    p.resize(12 + payload_len, 0xD5);
    p
}

/// IPv4 + UDP + RTP telephony event (RFC 4733 digit 5), as iRIOnlyRTPPacket carries it.
fn dtmf_ip_packet() -> Vec<u8> {
    let event = [5u8, 0x8A, 0x03, 0x20];
    let mut r = rtp(77, 0x80 | 101, 0);
    r.extend_from_slice(&event);
    let udp_len = (8 + r.len()) as u16;
    let mut p = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 10, 198, 51, 100, 20,
    ];
    p[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    p.extend_from_slice(&[0x13, 0x88, 0x13, 0x8A]);
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&r);
    p
}

fn sip(first_line: &str, body_len: usize) -> Vec<u8> {
    let mut m =
        format!("{first_line}\r\nCall-ID: c1@example.net\r\nContent-Length: {body_len}\r\n\r\n")
            .into_bytes();
    m.resize(m.len() + body_len, b'x');
    m
}

/// Per (LIID, CIN) sequence counters, separate for IRI and CC, as the appliance keeps them.
struct Counters(Vec<((&'static str, u32, bool), u32)>);

impl Counters {
    fn next(&mut self, liid: &'static str, cin: u32, iri: bool) -> u32 {
        let key = (liid, cin, iri);
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.0.push((key, 0));
                0
            }
        }
    }
}

fn mixed_stream() -> (Vec<u8>, usize) {
    const A: &str = "LIID-ALPHA";
    const B: &str = "US-2026-WARRANT-000000042"; // 25 octets, the maximum
    let v4a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let v4b = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
    let v6a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));
    let v6b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x20));
    let invite = sip("INVITE sip:+12025550123@example.net SIP/2.0", 300);
    let ringing = sip("SIP/2.0 180 Ringing", 0);
    let big_message = sip("MESSAGE sip:+12025550123@example.net SIP/2.0", 70_000);
    let bye = sip("BYE sip:+12025550123@example.net SIP/2.0", 0);
    let dtmf = dtmf_ip_packet();
    let big_rtp = rtp(9, 0, 66_000);

    let mut c = Counters(Vec::new());
    let mut out = Vec::new();
    let mut n = 0;
    let mut t = 1_767_323_045_000_000_000u64;
    let mut ts = || {
        t += 20_000_123;
        Timestamp::from_nanos(t)
    };
    let iri = |out: &mut Vec<u8>, c: &mut Counters, liid, cin, ty, content: IriContent, ts| {
        encode_iri(
            out,
            &header(liid, cin, c.next(liid, cin, true), ts),
            ty,
            &content,
        );
    };
    // LIID A, CIN 7: a content-authorised call in IPv4 with CC both ways.
    iri(
        &mut out,
        &mut c,
        A,
        7,
        IriType::Begin,
        IriContent::SipMessage {
            src: v4a,
            dst: v4b,
            sip: &invite,
        },
        ts(),
    );
    iri(
        &mut out,
        &mut c,
        A,
        7,
        IriType::Continue,
        IriContent::SipMessage {
            src: v4b,
            dst: v4a,
            sip: &ringing,
        },
        ts(),
    );
    n += 2;
    for (i, dir) in [
        Direction::FromTarget,
        Direction::ToTarget,
        Direction::FromTarget,
    ]
    .into_iter()
    .enumerate()
    {
        let packet = rtp(i as u16, 0, 160);
        encode_cc(
            &mut out,
            &header(A, 7, c.next(A, 7, false), ts()),
            dir,
            &packet,
        );
        n += 1;
    }
    encode_cc(
        &mut out,
        &header(A, 7, c.next(A, 7, false), ts()),
        Direction::ToTarget,
        &big_rtp,
    );
    iri(
        &mut out,
        &mut c,
        A,
        7,
        IriType::Report,
        IriContent::IriOnlyRtpPacket { ip_packet: &dtmf },
        ts(),
    );
    iri(
        &mut out,
        &mut c,
        A,
        7,
        IriType::End,
        IriContent::SipMessage {
            src: v4a,
            dst: v4b,
            sip: &bye,
        },
        ts(),
    );
    n += 3;
    // LIID B, CIN 2^32-1 and CIN 8: IRI-only warrant over IPv6, one large MESSAGE.
    let max = u32::MAX;
    iri(
        &mut out,
        &mut c,
        B,
        max,
        IriType::Begin,
        IriContent::IriOnlySipMessage {
            src: v6a,
            dst: v6b,
            sip: &invite,
        },
        ts(),
    );
    iri(
        &mut out,
        &mut c,
        B,
        8,
        IriType::Report,
        IriContent::IriOnlySipMessage {
            src: v6b,
            dst: v6a,
            sip: &big_message,
        },
        ts(),
    );
    iri(
        &mut out,
        &mut c,
        B,
        max,
        IriType::Continue,
        IriContent::IriOnlySipMessage {
            src: v6b,
            dst: v4a,
            sip: &ringing,
        },
        ts(),
    );
    iri(
        &mut out,
        &mut c,
        B,
        max,
        IriType::End,
        IriContent::IriOnlySipMessage {
            src: v6a,
            dst: v6b,
            sip: &bye,
        },
        ts(),
    );
    n += 4;
    // Same CIN 7 under LIID B: counters are per (LIID, CIN), so this starts at 0 again.
    encode_cc(
        &mut out,
        &header(B, 7, c.next(B, 7, false), ts()),
        Direction::FromTarget,
        &rtp(1, 8, 160),
    );
    encode_keepalive(
        &mut out,
        &header(A, 0, 0, Timestamp::from_secs_micros(1_767_323_999, 999_999)),
    );
    encode_keepalive_response(
        &mut out,
        &header(A, 0, 1, Timestamp::from_secs_micros(1_767_324_000, 0)),
    );
    n += 3;
    (out, n)
}

#[test]
fn mixed_stream_passes_oracle_check_and_decoders_agree() {
    if !require_oracle() {
        return;
    }
    let (stream, count) = mixed_stream();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.ber");
    std::fs::write(&file, &stream).unwrap();

    let records = run_oracle_check(&file);
    assert_eq!(records.len(), count);
    for r in &records {
        assert_eq!(
            r["reencode_identical"], true,
            "not re-encoded identically: {}",
            r["index"]
        );
        assert!(r.get("check_failures").is_none(), "check failures: {r}");
    }
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["payload_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "IRI").count(), 8);
    assert_eq!(kinds.iter().filter(|k| **k == "CC").count(), 5);
    assert_eq!(kinds.iter().filter(|k| **k == "tRIPayload").count(), 2);
    // The > 64 KiB contents took the 3-octet long-form lengths.
    assert!(records
        .iter()
        .any(|r| r["length"].as_u64().unwrap() > 70_000));

    assert_decoder_agrees(&file);
}

#[test]
fn decoder_agrees_on_oracle_sample_with_extensions() {
    // asn1tools-encoded sample: timeStamp, interceptionPointID, streamIdentifier, mMCCprotocol
    // and a TS 101 909-20-1 IRI alternative tapline does not decode, all to be skipped.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/etsi-oracle/asn1/oracle/samples/sample_stream.ber");
    if !require_oracle() {
        return;
    }
    assert_decoder_agrees(&sample);
}

#[test]
fn oracle_check_fails_on_sequence_gap() {
    if !require_oracle() {
        return;
    }
    let ts = Timestamp::from_secs_micros(1_767_323_045, 0);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let invite = sip("INVITE sip:x@example.net SIP/2.0", 0);
    let mut stream = Vec::new();
    for seq in [0, 1, 3] {
        let c = IriContent::SipMessage {
            src: a,
            dst: a,
            sip: &invite,
        };
        encode_iri(
            &mut stream,
            &header("LIID-GAP", 1, seq, ts),
            IriType::Continue,
            &c,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gap.ber");
    std::fs::write(&file, &stream).unwrap();
    let run = run_oracle(&file, true);
    assert!(
        !run.success,
        "oracle --check accepted a sequence gap:\n{}",
        run.stdout
    );
    let failures = run.records[2]["check_failures"].to_string();
    assert!(
        failures.contains("sequenceNumber 3 follows 1"),
        "unexpected failures: {failures}"
    );
    assert!(run.records[..2]
        .iter()
        .all(|r| r.get("check_failures").is_none()));
    // The gap is a stream property: each PDU still decodes and agrees with tapline.
    assert_decoder_agrees(&file);
}
