//! The registry's tests: names round-trip, and every profile's frames go through its spool
//! framing (torn tail included) and its decoder.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::registry::{self, Profile};
use super::x2x3::X2X3;
use super::{Addressee, Confirmation, HandoverProfile};
use crate::delivery::spool::{Position, Spool};
use crate::handover::sequencer::Channel;
use crate::mediation::{Direction, IriEvent, IriForm, IriType, Record, RecordBody};
use crate::warrant::{Agency, Appliance, Endpoint, Liid, Numbering, OrderKind, Target, Warrant};
use crate::x2x3::{self, PayloadFormat, PduRepr, PduType, Xid};
use crate::Timestamp;

#[test]
fn every_profile_name_round_trips() {
    for p in Profile::ALL {
        assert_eq!(Profile::from_name(p.as_str()), Some(p));
        assert_eq!(registry::by_name(p.as_str()).map(|h| h.name()), Some(p.as_str()));
    }
    let names: Vec<&str> = registry::all().map(|p| p.name()).collect();
    assert_eq!(names, ["etsi", "laes", "x2x3"]);
    for name in &names {
        assert_eq!(registry::by_name(name).map(|p| p.name()), Some(*name));
    }
    assert_eq!(Profile::from_name("x2x3"), None, "agencies do not collect in x2x3");
    assert_eq!(Profile::from_name("ETSI"), None);
    assert_eq!(Profile::names(), "`etsi` or `laes`");
    assert_eq!(registry::all_names(), "`etsi`, `laes` or `x2x3`");
}

#[test]
fn confirmation_rules() {
    assert_eq!(Profile::Etsi.handover().confirmation(), Confirmation::EchoedKeepalive);
    assert_eq!(Profile::Laes.handover().confirmation(), Confirmation::EchoedKeepalive);
    assert_eq!(X2X3.confirmation(), Confirmation::AckedKeepalive);
    let echoed = Confirmation::EchoedKeepalive;
    assert!(echoed.settles(7, 7) && !echoed.settles(7, 8) && !echoed.settles(7, 6));
    let acked = Confirmation::AckedKeepalive;
    assert!(acked.settles(7, 7) && acked.settles(7, 8) && !acked.settles(7, 6));
    assert!(acked.settles(u32::MAX, 1), "an ack after the wrap settles");
    assert!(!acked.settles(1, u32::MAX), "an ack before the wrap does not");
}

fn appliance() -> Appliance {
    Appliance { operator_id: "OP".into(), network_element_id: "NE-1".into(), country: "US".into(), numbering: Numbering::default() }
}

fn agency(profile: Profile) -> Agency {
    let endpoint = |port| Endpoint::parse(&format!("tls://127.0.0.1:{port}")).expect("endpoint");
    Agency {
        id: profile.as_str().into(),
        country: "US".into(),
        profile,
        hi2: endpoint(6200),
        hi3: endpoint(6201),
        ca: None,
        server_name: profile.as_str().into(),
        pin_sha256: Vec::new(),
    }
}

fn warrant() -> Arc<Warrant> {
    Arc::new(Warrant {
        liid: Liid::new("DEN-1").expect("liid"),
        kind: OrderKind::TitleIii,
        agency: "etsi".into(),
        targets: vec![Target::parse("tel:+13035550142", &Numbering::default()).expect("target")],
        valid_from: Timestamp::from_nanos(0),
        valid_until: Timestamp::from_nanos(u64::MAX),
        court_order: "1:26-mj-00042".into(),
        issuing_authority: "Hon. Jane Doe".into(),
        post_cut_through_digits: false,
        served_by: None,
        provisioned_by: None,
        source: PathBuf::from("DEN-1.toml"),
    })
}

/// An IPv4/UDP datagram carrying a 12-octet RTP header.
fn rtp_datagram() -> Vec<u8> {
    let rtp = [0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 42];
    let total = (20 + 8 + rtp.len()) as u16;
    let mut d = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
    d[2..4].copy_from_slice(&total.to_be_bytes());
    d.extend_from_slice(&40000u16.to_be_bytes());
    d.extend_from_slice(&40002u16.to_be_bytes());
    d.extend_from_slice(&(8 + rtp.len() as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&rtp);
    d
}

/// Frames per channel from one IRI and one CC record, through the profile's encoder.
fn encode(profile: Profile) -> Vec<(Channel, Vec<u8>)> {
    let (appliance, agency, warrant) = (appliance(), agency(profile), warrant());
    let mut encoder = profile.handover().record_encoder(&appliance);
    let to = Addressee { appliance: &appliance, agency: &agency, sequence: 0 };
    let (src, dst) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    let sip = b"OPTIONS sip:b@example.com SIP/2.0\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let datagram = rtp_datagram();
    let ts = Timestamp::from_secs_micros(1_700_000_000, 5);
    let iri = RecordBody::Iri { iri_type: IriType::Report, event: IriEvent::Report, form: IriForm::SipMessage, src, dst, bytes: sip };
    let cc = RecordBody::Cc { direction: Direction::FromTarget, src, dst, bytes: &datagram[28..], ip_packet: &datagram };
    let mut frames = Vec::new();
    for body in [iri, cc] {
        let r = Record { warrant: &warrant, cin: 1, ts, body };
        encoder.encode(&r, &to, &mut |channel, bytes| frames.push((channel, bytes.to_vec())));
    }
    frames
}

/// Spools `frames` with `profile`'s framing for `channel`, adds a torn copy of the last
/// one, reopens the spool (which cuts the tail by that framing) and reads back what it kept.
fn through_spool(profile: &dyn HandoverProfile, channel: Channel, frames: &[Vec<u8>]) -> (u64, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let framing = profile.framing(channel);
    let mut spool = Spool::open_framed(dir.path(), 1 << 20, framing).expect("spool");
    for f in frames {
        spool.append(f).expect("append");
    }
    spool.sync().expect("sync");
    drop(spool);
    let last = frames.last().expect("a frame");
    append_to_segment(dir.path(), &last[..last.len() / 2]);
    let spool = Spool::open_framed(dir.path(), 1 << 20, framing).expect("reopen");
    let chunk = spool.read(Position::default(), 1 << 20).expect("read");
    (spool.unconfirmed_records(), chunk.bytes)
}

fn append_to_segment(dir: &Path, bytes: &[u8]) {
    let segment = std::fs::read_dir(dir)
        .expect("spool dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seg-")))
        .expect("a segment");
    let mut f = std::fs::OpenOptions::new().append(true).open(segment).expect("segment");
    f.write_all(bytes).expect("torn tail");
}

fn decoded_lines(profile: &dyn HandoverProfile, stream: &[u8]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let n = profile.decode_jsonl(stream, &mut out).expect("decodes");
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), n);
    lines
}

#[test]
fn agency_profiles_round_trip_frames_through_framing_and_decoder() {
    for profile in Profile::ALL {
        let frames = encode(profile);
        for channel in [Channel::Hi2, Channel::Hi3] {
            let on: Vec<Vec<u8>> = frames.iter().filter(|(c, _)| *c == channel).map(|(_, f)| f.clone()).collect();
            assert!(!on.is_empty(), "{} emits on {channel:?}", profile.as_str());
            let handover = profile.handover();
            let (records, bytes) = through_spool(handover, channel, &on);
            assert_eq!(records, on.len() as u64, "{} {channel:?}: the spool keeps whole frames", profile.as_str());
            assert_eq!(bytes, on.concat(), "{} {channel:?}: the torn tail is cut", profile.as_str());
            let lines = decoded_lines(handover, &bytes);
            assert_eq!(lines.len(), on.len(), "{} {channel:?}", profile.as_str());
            let name = handover.stream_file_name(channel);
            assert!(handover.recognises(Path::new(name), &bytes) || profile == Profile::Etsi);
            assert_eq!(registry::detect(Path::new(name), &bytes).name(), profile.as_str(), "{name}");
        }
    }
}

#[test]
fn x2x3_round_trips_a_pdu_through_framing_and_decoder() {
    let payload = b"OPTIONS sip:b@example.com SIP/2.0\r\n\r\n";
    let xid: Xid = "8b3e3c5e-6f7a-4e5f-9a0b-1c2d3e4f5a6b".parse().expect("xid");
    let mut pdu = PduRepr::new(PduType::X2, PayloadFormat::Sip, x2x3::Direction::Unknown, xid, payload);
    pdu.correlation_id = 7;
    pdu.sequence = Some(3);
    let mut frame = Vec::new();
    pdu.emit_to_vec(&mut frame);
    for channel in [Channel::Hi2, Channel::Hi3] {
        let (records, bytes) = through_spool(X2X3, channel, std::slice::from_ref(&frame));
        assert_eq!((records, &bytes), (1, &frame));
        let lines = decoded_lines(X2X3, &bytes);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["xid"], xid.to_string());
        assert_eq!(lines[0]["correlation_id"], 7);
        assert_eq!(lines[0]["sequence"], 3);
        assert_eq!(lines[0]["payload_len"], payload.len());
        assert_eq!(registry::detect(Path::new("seg-0000000000000000.ber"), &bytes).name(), "x2x3");
    }
}
