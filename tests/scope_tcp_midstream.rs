//! Issue 11 item 3 end to end: capture starts on a SIP-over-TCP trunk that is already up,
//! so the first segment of each direction begins inside a message and, on a busy trunk
//! where messages are coalesced into full segments, no later segment begins with one
//! either. tapline must resynchronise on the next start line and intercept the target's
//! call. Hand-built capture, `tapline replay`, the independent ETSI oracle.

mod common;

use common::handbuilt::{agencies, ep, replay, sip, warrant, Call, Capture};
use common::oracle;
use std::collections::BTreeSet;
use tapline::gen::Endpoint;

/// Segment payload size of the trunk: every segment is full (Nagle-coalesced messages).
const MSS: usize = 211;

/// One direction of the trunk: its byte stream from the first captured byte, and how much
/// of it was sent.
struct Dir {
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    bytes: Vec<u8>,
    sent: usize,
    /// Stream offsets where messages start (to check no segment starts at one).
    starts: Vec<usize>,
}

impl Dir {
    fn new(src: Endpoint, dst: Endpoint, seq: u32, tail_of_earlier_message: &[u8]) -> Dir {
        Dir { src, dst, seq, bytes: tail_of_earlier_message.to_vec(), sent: 0, starts: Vec::new() }
    }

    /// Queues a message; returns the stream offset of its end.
    fn queue(&mut self, m: &[u8]) -> usize {
        self.starts.push(self.bytes.len());
        self.bytes.extend_from_slice(m);
        self.bytes.len()
    }

    /// Sends full segments until at least `upto` bytes are on the wire.
    fn send_until(&mut self, cap: &mut Capture, upto: usize) {
        while self.sent < upto.min(self.bytes.len()) {
            let end = (self.sent + MSS).min(self.bytes.len());
            let seg = self.bytes[self.sent..end].to_vec();
            assert!(!self.starts.contains(&self.sent), "segment at {} starts a message: the test would not join mid-message", self.sent);
            assert!(!tapline::sip::looks_like_sip(&seg));
            cap.tcp(self.src, self.dst, self.seq.wrapping_add(self.sent as u32), 0x18, &seg);
            self.sent = end;
        }
    }
}

/// Ends of an earlier call's INVITE and 200 OK (the capture joined inside them).
fn earlier(tail_from: usize, start: &str) -> Vec<u8> {
    let c = Call { transport: "TCP", ..Call::new("earlier-1", "sip:+17205550100@carrier.example;user=phone", "sip:+17205550111@carrier.example;user=phone") };
    let msgs = c.setup(ep(50, 41_000), ep(51, 41_002));
    let m = msgs.into_iter().find(|(_, m)| m.starts_with(start.as_bytes())).unwrap().1;
    m[tail_from..].to_vec()
}

fn build(rtp: u16) -> Capture {
    let mut cap = Capture::default();
    let (p1, p2) = (ep(1, 5060), ep(2, 5060));
    let mut a = Dir::new(p1, p2, 3_000_000_000, &earlier(57, "INVITE"));
    let mut b = Dir::new(p2, p1, 77_000, &earlier(101, "SIP/2.0 200"));
    let c = Call {
        transport: "TCP",
        ..Call::new("target-call-1", "sip:+13035550142@carrier.example;user=phone", "sip:+13035550199@carrier.example;user=phone")
    };
    let (ma, mb) = (ep(10, 40_000), ep(11, 40_002));
    let setup = c.setup(ma, mb);
    let release = c.release();
    let invite_end = a.queue(&setup[0].1);
    let ack_end = a.queue(&setup[3].1);
    let bye_end = a.queue(&release[0].1);
    let ringing_end = b.queue(&setup[1].1);
    let ok_end = b.queue(&setup[2].1);
    let bye_ok_end = b.queue(&release[1].1);
    // Later traffic on the trunk pushes the last bytes of our messages out in full segments.
    for i in 0..4 {
        let other = Call { transport: "TCP", ..Call::new(&format!("later-{i}"), "sip:+17205550100@carrier.example;user=phone", "sip:+17205550122@carrier.example;user=phone") };
        a.queue(&other.setup(ep(60, 42_000), ep(61, 42_002))[0].1);
        b.queue(&sip("SIP/2.0 100 Trying", &[format!("Call-ID: later-{i}"), "CSeq: 1 INVITE".into()], ""));
    }
    a.send_until(&mut cap, invite_end);
    b.send_until(&mut cap, ringing_end);
    b.send_until(&mut cap, ok_end);
    a.send_until(&mut cap, ack_end);
    cap.rtp(ma, mb, 0x1111, rtp);
    cap.rtp(mb, ma, 0x2222, rtp);
    a.send_until(&mut cap, bye_end);
    b.send_until(&mut cap, bye_ok_end);
    cap
}

#[test]
fn a_call_on_a_tcp_trunk_joined_mid_message_is_intercepted() {
    if !oracle::require_oracle() {
        return;
    }
    let out = replay(&build(20), &agencies(&[]), &[("T3", warrant("T3", "title-iii", "a", "tel:+13035550142"))]);
    let hi2 = out.oracle("a", "hi2.ber");
    let cins: BTreeSet<u64> = hi2.iri.iter().map(|r| r.1).collect();
    assert_eq!(cins.len(), 1, "the target's call, once: {:?}", out.summary["liids"]);
    let first_lines: Vec<String> = hi2.iri.iter().map(|r| r.2.lines().next().unwrap_or("").to_owned()).collect();
    assert_eq!(
        first_lines,
        [
            "INVITE sip:+13035550199@carrier.example;user=phone SIP/2.0",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "ACK sip:callee@192.0.2.2:5060 SIP/2.0",
            "BYE sip:callee@192.0.2.2:5060 SIP/2.0",
            "SIP/2.0 200 OK",
        ]
    );
    assert!(hi2.iri.iter().all(|r| r.2.contains("Call-ID: target-call-1\r\n")), "no other call's signalling");
    let hi3 = out.oracle("a", "hi3.ber");
    assert_eq!(hi3.cc.len(), 40, "the call's media both ways");
    let m = &out.summary["mediation"];
    assert_eq!(m["tcp_streams_followed"], 2, "{m}");
    assert_eq!(m["sip_stream_resyncs"], 2, "one per direction: {m}");
    assert!(m["sip_stream_bytes_skipped"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["sip_framing_errors"], 0, "{m}");
}
