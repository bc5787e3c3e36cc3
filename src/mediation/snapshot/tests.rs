//! The mediator's snapshot on hand-written SIP: what the generated-capture model test
//! (tests/pipeline_snapshot.rs) does not exercise: REGISTER bindings, and warrants revoked
//! while the mediation function was down.

use std::sync::Arc;

use super::{restore, Reader};
use crate::mediation::tests::warrant_of_kind;
use crate::mediation::{CinAllocator, Mediator, MediatorConfig, Record, RecordBody};
use crate::warrant::{OrderKind, WarrantTable};
use crate::wire::{Datagram, FlowKey, Transport};
use crate::Timestamp;

const T0: u64 = 1_793_000_000;

fn feed(m: &mut Mediator, at_s: u64, text: &str) -> Vec<u32> {
    let payload = text.replace('\n', "\r\n");
    let flow = FlowKey {
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        src_port: 5060,
        dst_port: 5060,
        proto: 17,
    };
    let dg = Datagram {
        ts: Timestamp::from_secs_micros(T0 + at_s, 0),
        flow,
        transport: Transport::Udp,
        payload: payload.as_bytes(),
        ip_packet: payload.as_bytes(),
        vlan: None,
    };
    let mut cins = Vec::new();
    m.handle(&dg, &mut |r: &Record<'_>| {
        if matches!(r.body, RecordBody::Iri { .. }) {
            cins.push(r.cin);
        }
    });
    cins
}

const REGISTER_OK: &str = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.1.2.3:5062;branch=z9hG4bK-r\nFrom: <sip:+13035550142@carrier.example>;tag=r1\nTo: <sip:+13035550142@carrier.example>;tag=s1\nCall-ID: reg-1\nCSeq: 2 REGISTER\nContact: <sip:abc@10.1.2.3:5062>;expires=600\nContent-Length: 0\n\n";

fn invite(call_id: &str, ruri: &str, to: &str) -> String {
    format!("INVITE {ruri} SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call_id}\nFrom: <sip:+17205550111@carrier.example>;tag=c1\nTo: <{to}>\nCall-ID: {call_id}\nCSeq: 1 INVITE\nContent-Length: 0\n\n")
}

fn bye(call_id: &str, to: &str) -> String {
    format!("BYE sip:x@10.0.0.2 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-bye\nFrom: <sip:+17205550111@carrier.example>;tag=c1\nTo: <{to}>;tag=t1\nCall-ID: {call_id}\nCSeq: 2 BYE\nContent-Length: 0\n\n")
}

fn table() -> Arc<WarrantTable> {
    Arc::new(WarrantTable::new([warrant_of_kind(OrderKind::PenTrap, false)]))
}

fn restored(m: &Mediator, table: Arc<WarrantTable>) -> Mediator {
    let snap = m.snapshot();
    let mut r = Reader::new(&snap.bytes);
    let m = restore(&mut r, table, MediatorConfig::default(), CinAllocator::new()).expect("restores");
    r.finish().expect("read whole");
    m
}

#[test]
fn a_restored_mediator_keeps_the_targets_registrations() {
    let mut m = Mediator::new(table());
    assert!(feed(&mut m, 0, REGISTER_OK).is_empty());
    let mut back = restored(&m, table());
    // A call to the registered contact (no header names the target) reaches the target.
    let got = feed(&mut back, 10, &invite("c1", "sip:abc@10.1.2.3:5062", "sip:+17205550100@carrier.example"));
    assert_eq!(got, vec![1], "the binding was restored");
    // Without the REGISTER the same call is not intercepted: the test can fail.
    let mut fresh = Mediator::new(table());
    assert!(feed(&mut fresh, 10, &invite("c1", "sip:abc@10.1.2.3:5062", "sip:+17205550100@carrier.example")).is_empty());
}

#[test]
fn a_warrant_revoked_meanwhile_is_not_revived() {
    let to = "sip:+13035550142@carrier.example";
    let mut m = Mediator::new(table());
    assert_eq!(feed(&mut m, 0, &invite("c2", to, to)), vec![1]);
    let mut kept = restored(&m, table());
    assert_eq!(kept.active_calls(), 1);
    assert_eq!(feed(&mut kept, 5, &bye("c2", to)), vec![1], "the call carries on under its CIN");
    let mut revoked = restored(&m, Arc::new(WarrantTable::new([])));
    assert_eq!(revoked.active_calls(), 0);
    assert!(feed(&mut revoked, 5, &bye("c2", to)).is_empty());
}
