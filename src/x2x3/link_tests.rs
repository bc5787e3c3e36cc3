use super::*;
use crate::x2x3::framing::Framer;
use crate::x2x3::pdu::{Direction, PayloadFormat, Xid};

const P1: Duration = Duration::from_secs(5);
const P2: Duration = Duration::from_secs(2);

fn config() -> LinkConfig {
    LinkConfig { keepalive_every: P1, ack_within: P2, idle_limit: Some(Duration::from_secs(12)), max_pdu: 4096 }
}

/// The PDUs in `bytes`, as (type, sequence).
fn pdus(bytes: &[u8]) -> Vec<(PduType, Option<u32>)> {
    let mut f = Framer::new(1 << 20);
    f.push(bytes).expect("push");
    let mut out = Vec::new();
    while let Some(p) = f.next_pdu().expect("frames") {
        let r = PduRepr::parse_bytes(p).expect("parses");
        out.push((r.pdu_type, r.sequence));
    }
    out
}

fn sip() -> PduRepr<'static> {
    PduRepr::new(PduType::X2, PayloadFormat::Sip, Direction::FromTarget, Xid([7; 16]), b"OPTIONS sip:a SIP/2.0\r\n\r\n")
}

#[test]
fn sender_sends_keepalives_every_p1_even_while_data_flows() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Sender, config(), t0);
    assert_eq!(link.poll_timeout(), Some(t0 + P1));
    let mut sent = Vec::new();
    // Data every 100 ms for 12 s; acks come back 10 ms after each keepalive.
    let mut now = t0;
    let mut pending_ack: Option<(Instant, u32)> = None;
    while now < t0 + Duration::from_secs(12) {
        now += Duration::from_millis(10);
        if now.duration_since(t0).as_millis() % 100 == 0 {
            assert!(link.send(&sip()));
        }
        if link.poll_timeout().is_some_and(|t| now >= t) {
            link.handle_timeout(now);
        }
        let out = link.poll_transmit();
        for (kind, seq) in pdus(&out) {
            if kind == PduType::Keepalive {
                pending_ack = Some((now + Duration::from_millis(10), seq.expect("seq")));
            }
            sent.push((now, kind, seq));
        }
        if let Some((at, seq)) = pending_ack.filter(|(at, _)| now >= *at) {
            let _ = at;
            link.handle_input(now, &PduRepr::keepalive(PduType::KeepaliveAck, seq).to_vec());
            pending_ack = None;
        }
    }
    let keepalives: Vec<_> = sent.iter().filter(|(_, k, _)| *k == PduType::Keepalive).collect();
    assert_eq!(keepalives.len(), 2, "at 5 s and 10 s");
    assert_eq!(keepalives[0].0, t0 + P1);
    assert_eq!(keepalives[1].0, t0 + 2 * P1);
    assert_eq!(keepalives.iter().map(|k| k.2).collect::<Vec<_>>(), vec![Some(0), Some(1)]);
    assert_eq!(sent.iter().filter(|(_, k, _)| *k == PduType::X2).count(), 120);
    assert!(link.closed().is_none());
    assert_eq!(link.stats().acks_received, 2);
    assert_eq!(link.stats().acks_unexpected, 0);
}

#[test]
fn sender_drops_the_connection_p2_after_an_unacknowledged_keepalive() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Sender, config(), t0);
    link.handle_timeout(t0 + P1);
    assert_eq!(pdus(&link.poll_transmit()), vec![(PduType::Keepalive, Some(0))]);
    assert_eq!(link.poll_timeout(), Some(t0 + P1 + P2));
    link.handle_timeout(t0 + P1 + P2 - Duration::from_millis(1));
    assert!(link.closed().is_none());
    // An ack echoing another sequence number settles nothing.
    link.handle_input(t0 + P1 + Duration::from_millis(5), &PduRepr::keepalive(PduType::KeepaliveAck, 9).to_vec());
    assert_eq!(link.stats().acks_unexpected, 1);
    link.handle_timeout(t0 + P1 + P2);
    assert_eq!(link.closed(), Some((t0 + P1 + P2, CloseReason::NoAck { sequence: 0 })));
    assert_eq!(link.poll_event(), Some(Event::Closed(CloseReason::NoAck { sequence: 0 })));
    assert!(!link.send(&sip()), "nothing is queued on a closed link");
    assert!(link.poll_transmit().is_empty());
    assert_eq!(link.poll_timeout(), None);
}

#[test]
fn an_ack_settles_its_keepalive_and_older_ones() {
    let cfg = LinkConfig { ack_within: Duration::from_secs(8), ..config() };
    let t0 = Instant::now();
    let mut link = Link::new(Role::Sender, cfg, t0);
    link.handle_timeout(t0 + P1);
    link.handle_timeout(t0 + 2 * P1);
    assert_eq!(pdus(&link.poll_transmit()), vec![(PduType::Keepalive, Some(0)), (PduType::Keepalive, Some(1))]);
    link.handle_input(t0 + 2 * P1, &PduRepr::keepalive(PduType::KeepaliveAck, 1).to_vec());
    link.handle_timeout(t0 + P1 + Duration::from_secs(8));
    assert!(link.closed().is_none(), "keepalive 0 was settled by the ack of 1");
    assert_eq!(link.poll_timeout(), Some(t0 + 3 * P1));
}

#[test]
fn receiver_reports_keepalives_in_order_with_the_data_and_acks_when_told() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Receiver, config(), t0);
    let mut input = PduRepr::keepalive(PduType::Keepalive, 77).to_vec();
    sip().emit_to_vec(&mut input);
    PduRepr::keepalive(PduType::Keepalive, 78).emit_to_vec(&mut input);
    // Fed one byte at a time.
    for b in &input {
        link.handle_input(t0, std::slice::from_ref(b));
    }
    assert_eq!(link.poll_transmit(), Vec::<u8>::new(), "no ack before the shell says the data is safe");
    assert_eq!(link.poll_event(), Some(Event::Keepalive(77)));
    assert_eq!(link.poll_event(), Some(Event::Data(sip().to_vec())));
    assert_eq!(link.poll_event(), Some(Event::Keepalive(78)));
    assert_eq!(link.poll_event(), None);
    link.acknowledge(77);
    link.acknowledge(78);
    assert_eq!(pdus(&link.poll_transmit()), vec![(PduType::KeepaliveAck, Some(77)), (PduType::KeepaliveAck, Some(78))]);
    assert_eq!(link.stats().acks_sent, 2);
    assert_eq!(link.stats().keepalives_received, 2);
    assert_eq!(link.stats().data_received, 1);
    assert_eq!(link.poll_timeout(), Some(t0 + Duration::from_secs(12)), "a receiver sends no keepalives");
}

#[test]
fn receiver_drops_a_silent_peer() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Receiver, config(), t0);
    link.handle_input(t0 + Duration::from_secs(5), &PduRepr::keepalive(PduType::Keepalive, 1).to_vec());
    link.handle_timeout(t0 + Duration::from_secs(16));
    assert!(link.closed().is_none());
    link.handle_timeout(t0 + Duration::from_secs(17));
    assert_eq!(link.closed().map(|c| c.1), Some(CloseReason::Idle));
}

#[test]
fn a_bad_attribute_is_refused_and_counted_but_the_stream_goes_on() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Receiver, config(), t0);
    let mut bad = sip();
    bad.other.push(crate::x2x3::RawAttribute { kind: 8, value: &[1, 2] }); // 2-octet sequence number
    let mut input = bad.to_vec();
    sip().emit_to_vec(&mut input);
    link.handle_input(t0, &input);
    assert!(matches!(link.poll_event(), Some(Event::Refused(PduError::BadAttributeLength { kind: 8, len: 2 }))));
    assert_eq!(link.poll_event(), Some(Event::Data(sip().to_vec())));
    assert_eq!(link.stats().refused, 1);
    assert!(link.closed().is_none());
}

#[test]
fn an_oversized_or_garbled_stream_closes_the_link() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Receiver, config(), t0);
    let big = vec![b'x'; 5000];
    let pdu = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, Xid::default(), &big);
    link.handle_input(t0, &pdu.to_vec()[..40]);
    assert_eq!(
        link.poll_event(),
        Some(Event::Closed(CloseReason::Framing(FrameError::Oversized { len: 5040, max: 4096 })))
    );
    let mut link = Link::new(Role::Receiver, config(), t0);
    link.handle_input(t0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n..................");
    assert!(matches!(link.poll_event(), Some(Event::Closed(CloseReason::Framing(FrameError::Malformed(_))))));
}

#[test]
fn an_explicit_keepalive_follows_the_data_and_its_ack_is_reported() {
    let t0 = Instant::now();
    let mut link = Link::new(Role::Sender, config(), t0);
    assert!(link.send(&sip()));
    assert_eq!(link.keepalive(t0), Some(0));
    let out = pdus(&link.poll_transmit());
    assert_eq!(out, vec![(PduType::X2, None), (PduType::Keepalive, Some(0))], "the keepalive comes after the data");
    assert_eq!(link.poll_timeout(), Some(t0 + P1.min(P2)), "the ack is awaited, the next timed one TIME_P1 later");
    link.handle_input(t0, &PduRepr::keepalive(PduType::KeepaliveAck, 0).to_vec());
    assert_eq!(link.poll_event(), Some(Event::Acknowledged(0)));
    assert_eq!(link.poll_event(), None);
    let mut receiver = Link::new(Role::Receiver, config(), t0);
    assert_eq!(receiver.keepalive(t0), None, "a receiving end sends no keepalives");
}
