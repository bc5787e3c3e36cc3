use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;
use crate::capture::{FileReader, LinkType};
use crate::gen::{CallSpec, Outcome, Scenario};
use crate::wire::Decoder;
use crate::x1::{DeliveryAddress, DeliveryType, DestinationDetails, Port, TargetIdentifier, TaskDetails};

const TARGET: &str = "+13035550142";

/// A call the target makes, then one made to it five seconds later; frames owned.
fn frames() -> Vec<(Timestamp, LinkType, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("calls.pcap");
    let mut s = Scenario::new(3);
    let t0 = 1_790_000_000;
    let talk = Outcome::Answered { talk: Duration::from_secs(2) };
    s.call(CallSpec::new(TARGET, "+17205550101", talk.clone(), Timestamp::from_secs_micros(t0, 0)));
    s.call(CallSpec::new("+17205550188", TARGET, talk, Timestamp::from_secs_micros(t0 + 5, 0)));
    s.write_pcap(std::fs::File::create(&path).expect("create")).expect("write");
    let mut reader = FileReader::open(&path).expect("open");
    let mut out = Vec::new();
    while let Some(f) = reader.next_frame().expect("frame") {
        out.push((f.ts, f.link, f.data.to_vec()));
    }
    out
}

fn xid(n: u8) -> Xid {
    Xid([n; 16])
}

fn destination(n: u8, delivery_type: DeliveryType) -> Change {
    Change::DestinationCreated(DestinationDetails {
        did: xid(n),
        friendly_name: None,
        delivery_type,
        address: DeliveryAddress::IpAndPort { address: IpAddr::V4(Ipv4Addr::LOCALHOST), port: Port::Tcp(24_000) },
    })
}

fn task(n: u8, delivery_type: DeliveryType, destinations: &[u8]) -> TaskDetails {
    TaskDetails {
        xid: xid(n),
        targets: vec![TargetIdentifier::E164Number(TARGET.trim_start_matches('+').into())],
        delivery_type,
        destinations: destinations.iter().map(|d| xid(*d)).collect(),
        correlation_id: None,
        implicit_deactivation_allowed: None,
    }
}

/// Feeds `frames`, calling `before(index, poi)` ahead of each; the PDUs as
/// (frame index, dId, parsed type, XID, sequence, correlation ID).
fn feed(
    poi: &mut Poi,
    frames: &[(Timestamp, LinkType, Vec<u8>)],
    mut before: impl FnMut(usize, &mut Poi),
) -> Vec<(usize, Xid, PduType, Xid, Option<u32>, u64)> {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    for (i, (ts, link, data)) in frames.iter().enumerate() {
        before(i, poi);
        let frame = crate::capture::Frame { ts: *ts, link: *link, data, orig_len: data.len() as u32 };
        let crate::wire::Decoded::Datagram(dg) = decoder.decode(&frame) else { continue };
        poi.handle(&dg, &mut |did, stream, bytes| {
            let p = PduRepr::parse_bytes(bytes).expect("a PDU that parses");
            assert_eq!(p.pdu_type, stream);
            assert_eq!(p.timestamp, Some(*ts), "the capture time");
            assert!(p.src_addr.is_some() && p.dst_addr.is_some() && p.src_port.is_some() && p.dst_port.is_some());
            out.push((i, did, p.pdu_type, p.xid, p.sequence, p.correlation_id));
        });
    }
    out
}

fn poi_with(changes: Vec<Change>) -> Poi {
    let mut poi = Poi::new(Numbering::default(), MediatorConfig::default());
    for c in changes {
        poi.apply(c);
    }
    poi
}

#[test]
fn a_full_task_gets_sip_as_x2_and_rtp_as_x3_per_call() {
    let frames = frames();
    let mut poi = poi_with(vec![destination(9, DeliveryType::X2AndX3), Change::TaskActivated(task(1, DeliveryType::X2AndX3, &[9]))]);
    let pdus = feed(&mut poi, &frames, |_, _| {});
    let x2 = pdus.iter().filter(|p| p.2 == PduType::X2).count();
    let x3 = pdus.iter().filter(|p| p.2 == PduType::X3).count();
    assert!(x2 >= 10 && x3 >= 100, "{x2} X2, {x3} X3");
    assert!(pdus.iter().all(|p| p.1 == xid(9) && p.3 == xid(1)));
    let sequences: Vec<_> = pdus.iter().map(|p| p.4).collect();
    assert_eq!(sequences, (0..pdus.len() as u32).map(Some).collect::<Vec<_>>(), "numbered per XID from 0");
    // The two calls overlap in the capture; each keeps its own correlation ID.
    let calls: std::collections::BTreeSet<u64> = pdus.iter().map(|p| p.5).collect();
    assert_eq!(calls.len(), 2, "one correlation ID per call: {calls:?}");
    let setup = |cin: u64| pdus.iter().filter(|p| p.5 == cin && p.2 == PduType::X2).count();
    assert!(calls.iter().all(|c| setup(*c) >= 5), "each call's SIP under its own ID");
}

#[test]
fn an_x2_only_task_never_yields_content() {
    let frames = frames();
    let mut poi = poi_with(vec![destination(9, DeliveryType::X2AndX3), Change::TaskActivated(task(1, DeliveryType::X2Only, &[9]))]);
    let pdus = feed(&mut poi, &frames, |_, _| {});
    assert!(pdus.iter().any(|p| p.2 == PduType::X2));
    assert!(pdus.iter().all(|p| p.2 == PduType::X2), "no X3");
    assert!(poi.stats().records_not_carried > 100, "the content was matched and not carried");
    // A full task whose destination takes X2 only: no content either.
    let mut poi = poi_with(vec![destination(9, DeliveryType::X2Only), Change::TaskActivated(task(1, DeliveryType::X2AndX3, &[9]))]);
    assert!(feed(&mut poi, &frames, |_, _| {}).iter().all(|p| p.2 == PduType::X2));
}

#[test]
fn tasks_sharing_a_destination_get_each_packet_once_and_content_under_the_full_task() {
    let frames = frames();
    let mut poi = poi_with(vec![
        destination(9, DeliveryType::X2AndX3),
        Change::TaskActivated(task(1, DeliveryType::X2Only, &[9])),
        Change::TaskActivated(task(2, DeliveryType::X2AndX3, &[9])),
    ]);
    let pdus = feed(&mut poi, &frames, |_, _| {});
    let mut single = poi_with(vec![destination(9, DeliveryType::X2AndX3), Change::TaskActivated(task(2, DeliveryType::X2AndX3, &[9]))]);
    let alone = feed(&mut single, &frames, |_, _| {});
    let kinds = |v: &[(usize, Xid, PduType, Xid, Option<u32>, u64)]| v.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>();
    assert_eq!(kinds(&pdus), kinds(&alone), "the same packets, once each");
    assert!(pdus.iter().filter(|p| p.2 == PduType::X3).all(|p| p.3 == xid(2)), "content under the X2andX3 task");
}

#[test]
fn task_changes_apply_before_the_next_packet() {
    let frames = frames();
    let all = feed(&mut poi_with(vec![destination(9, DeliveryType::X2AndX3), Change::TaskActivated(task(1, DeliveryType::X2AndX3, &[9]))]), &frames, |_, _| {});
    let first = all[0].0;
    let second = all.iter().find(|p| p.5 != all[0].5).expect("a second call");
    let (second_call, second_cin) = (second.0, second.5);
    // Deactivated right after the first PDU's packet: nothing after it, even of that call.
    let mut poi = poi_with(vec![destination(9, DeliveryType::X2AndX3), Change::TaskActivated(task(1, DeliveryType::X2AndX3, &[9]))]);
    let cut = feed(&mut poi, &frames, |i, poi| {
        if i == first + 1 {
            poi.apply(Change::TaskDeactivated(xid(1)));
        }
    });
    assert_eq!(cut.iter().map(|p| p.0).collect::<Vec<_>>(), vec![first], "only the packet before the deactivation");
    assert!(poi.stats().records_of_removed_tasks > 0, "the call's later records were matched and dropped");
    // Activated just before the second call's first packet: exactly that call's PDUs (the
    // first call, set up before, is not picked up midway).
    let mut poi = poi_with(vec![destination(9, DeliveryType::X2AndX3)]);
    let late = feed(&mut poi, &frames, |i, poi| {
        if i == second_call {
            poi.apply(Change::TaskActivated(task(1, DeliveryType::X2AndX3, &[9])));
        }
    });
    let want: Vec<_> = all.iter().filter(|p| p.5 == second_cin).map(|p| (p.0, p.2)).collect();
    assert_eq!(late.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(), want);
}
