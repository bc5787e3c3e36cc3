//! Model-based property test of the mediation state machine (issue 11).
//!
//! Random interleavings of calls seen at a forking proxy: forks (1–3 branches), early
//! dialogs and early media, answers, failures of single branches, all branches failing,
//! CANCEL, re-INVITEs that move media, holds, REFER (and INVITEs with Replaces),
//! retransmissions, BYE from either side with and without answer, media after the BYE,
//! and media endpoints reused by unrelated calls as soon as a call gives them up. Every
//! call is fed through a real [`Mediator`] with three warrants on one target (pen register,
//! trap and trace, Title III), and the records are checked against a simple reference model:
//! - every record belongs to a generated call and to an order covering it (pen register:
//!   the target calls; trap and trace: the target is called; Title III: either);
//! - each CC record is a packet of that call, sent while its stream was current, with the
//!   right direction, delivered once; every such packet of a covered call is delivered;
//! - every covered call's setup, answer and release are delivered, under one CIN, the
//!   first record an IRI-Begin and the last an IRI-End.
//!
//! Seeded and with a fixed number of cases, so `cargo test` runs the same cases each time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use tapline::mediation::{Direction, IriType, Mediator, Record, RecordBody};
use tapline::warrant::{Store, WarrantTable};
use tapline::wire::{Datagram, FlowKey, Transport};
use tapline::Timestamp;

mod common;

const CASES: u32 = 256;

/// What the cases exercised, over all of them: endpoints taken again by another call after
/// one gave them up, content packets that had to be delivered, records checked.
static REUSED: AtomicUsize = AtomicUsize::new(0);
static COVERED_PACKETS: AtomicUsize = AtomicUsize::new(0);
static RECORDS: AtomicUsize = AtomicUsize::new(0);
const SEED: [u8; 32] = *b"tapline-issue-11-mediation-model";
const T0_NS: u64 = 1_793_628_000 * 1_000_000_000;
/// Party 0 is the target.
const PARTIES: u8 = 4;

fn number(p: u8) -> String {
    format!("+1303555010{p}")
}

/// What one generated call does.
#[derive(Clone, Debug)]
struct Plan {
    caller: u8,
    callee: u8,
    forks: u8,
    outcome: Outcome,
    answer_fork: u8,
    early_media: bool,
    fail_before_answer: bool,
    retransmit: bool,
    move_media: bool,
    hold: bool,
    refer: bool,
    replaces: bool,
    bye_by_callee: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Answered,
    /// Answered; the BYE is never answered.
    ByeUnanswered,
    AllFail,
    Cancel,
}

fn plan() -> impl Strategy<Value = Plan> {
    (0..PARTIES, 1..PARTIES, 1u8..=3, 0u8..4, 0u8..3, any::<u16>()).prop_map(|(caller, off, forks, o, fork, bits)| {
        let bit = |n: u16| bits & (1 << n) != 0;
        Plan {
            caller,
            callee: (caller + off) % PARTIES,
            forks,
            outcome: [Outcome::Answered, Outcome::ByeUnanswered, Outcome::AllFail, Outcome::Cancel][usize::from(o)],
            answer_fork: fork % forks,
            early_media: bit(0),
            fail_before_answer: bit(1),
            retransmit: bit(2),
            move_media: bit(3),
            hold: bit(4),
            refer: bit(5),
            replaces: bit(6),
            bye_by_callee: bit(7),
        }
    })
}

/// A placeholder for a media endpoint, bound to a real one when first announced.
type Slot = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    Caller,
    Proxy,
    Device(u8),
}

#[derive(Clone, Debug)]
struct Sdp {
    slot: Slot,
    inactive: bool,
}

#[derive(Clone, Debug)]
enum Ev {
    Sip { src: Node, dst: Node, head: String, sdp: Option<Sdp>, mark: Option<Mark> },
    /// `n` packets from the party holding slot `from` to the one holding `to`; `covered`
    /// when they are content of the call (its current streams, before its release).
    Rtp { from: Slot, to: Slot, from_caller: bool, n: u8, covered: bool },
    /// The call no longer uses the endpoint of this slot; another call may take it.
    Free(Slot),
}

/// The messages whose delivery the model requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Setup,
    Answer,
    Release,
}

struct Calls {
    /// Per call: its events in order.
    events: Vec<Vec<Ev>>,
    /// Per call: its slots.
    slots: Vec<usize>,
}

fn call_id(c: usize) -> String {
    format!("model-{c}@test")
}

/// Text of one message without Content-Length/Type and body.
#[allow(clippy::too_many_arguments)]
fn head(c: usize, p: &Plan, start: &str, vias: &[String], to_tag: Option<&str>, cseq: &str, reversed: bool, extra: &str) -> String {
    let from = format!("<sip:{}@carrier.example>;tag=caller{c}", number(p.caller));
    let to = match to_tag {
        Some(t) => format!("<sip:{}@carrier.example>;tag={t}", number(p.callee)),
        None => format!("<sip:{}@carrier.example>", number(p.callee)),
    };
    let (from, to) = if reversed { (to, from) } else { (from, to) };
    let mut s = format!("{start}\r\n");
    for v in vias {
        s += &format!("Via: SIP/2.0/UDP {v}\r\n");
    }
    s += &format!("From: {from}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n{extra}", call_id(c));
    s
}

/// Builds the events of call `c`.
fn script(c: usize, p: &Plan) -> (Vec<Ev>, usize) {
    let mut ev = Vec::new();
    let mut next_slot = 0;
    let mut slot = || {
        next_slot += 1;
        next_slot - 1
    };
    let vu = format!("10.10.{c}.1:5060;branch=z9hG4bK-u{c}");
    let vd = |i: u8| format!("10.0.0.254:5060;branch=z9hG4bK-d{c}x{i}");
    let ruri = format!("sip:{}@carrier.example", number(p.callee));
    let dev_uri = |i: u8| format!("sip:dev{i}@10.20.{c}.{}", i + 1);
    let sip = |src, dst, head: String, sdp: Option<Sdp>, mark: Option<Mark>| Ev::Sip { src, dst, head, sdp, mark };
    let mut caller_slot = slot();
    let replaces = if p.replaces { format!("Replaces: other-{c}@test;to-tag=x;from-tag=y\r\n") } else { String::new() };
    let invite = head(c, p, &format!("INVITE {ruri} SIP/2.0"), std::slice::from_ref(&vu), None, "1 INVITE", false, &replaces);
    ev.push(sip(Node::Caller, Node::Proxy, invite.clone(), Some(Sdp { slot: caller_slot, inactive: false }), Some(Mark::Setup)));
    if p.retransmit {
        ev.push(sip(Node::Caller, Node::Proxy, invite, Some(Sdp { slot: caller_slot, inactive: false }), None));
    }
    let tag = |i: u8| format!("t{c}x{i}");
    // fork slots: early media of fork 0, answer of the answering fork
    let early_slot = p.early_media.then(&mut slot);
    for i in 0..p.forks {
        let h = head(c, p, &format!("INVITE {} SIP/2.0", dev_uri(i)), &[vd(i), vu.clone()], None, "1 INVITE", false, "");
        ev.push(sip(Node::Proxy, Node::Device(i), h, Some(Sdp { slot: caller_slot, inactive: false }), None));
        let t = tag(i);
        let (status, sdp) = match (i, early_slot) {
            (0, Some(s)) => ("183 Session Progress", Some(Sdp { slot: s, inactive: false })),
            _ => ("180 Ringing", None),
        };
        let h = head(c, p, &format!("SIP/2.0 {status}"), &[vd(i), vu.clone()], Some(&t), "1 INVITE", false, "");
        ev.push(sip(Node::Device(i), Node::Proxy, h, sdp.clone(), None));
        let h = head(c, p, &format!("SIP/2.0 {status}"), std::slice::from_ref(&vu), Some(&t), "1 INVITE", false, "");
        ev.push(sip(Node::Proxy, Node::Caller, h, sdp, None));
    }
    if let Some(s) = early_slot {
        ev.push(Ev::Rtp { from: s, to: caller_slot, from_caller: false, n: 3, covered: true });
    }
    let fail = |ev: &mut Vec<Ev>, i: u8, status: &str| {
        let t = tag(i);
        let h = head(c, p, &format!("SIP/2.0 {status}"), &[vd(i), vu.clone()], Some(&t), "1 INVITE", false, "");
        ev.push(Ev::Sip { src: Node::Device(i), dst: Node::Proxy, head: h, sdp: None, mark: None });
        let h = head(c, p, &format!("ACK {} SIP/2.0", dev_uri(i)), &[vd(i)], Some(&t), "1 ACK", false, "");
        ev.push(Ev::Sip { src: Node::Proxy, dst: Node::Device(i), head: h, sdp: None, mark: None });
    };
    let cancel_fork = |ev: &mut Vec<Ev>, i: u8| {
        let h = head(c, p, &format!("CANCEL {} SIP/2.0", dev_uri(i)), &[vd(i)], None, "1 CANCEL", false, "");
        ev.push(Ev::Sip { src: Node::Proxy, dst: Node::Device(i), head: h, sdp: None, mark: None });
        let h = head(c, p, "SIP/2.0 200 OK", &[vd(i)], Some(&tag(i)), "1 CANCEL", false, "");
        ev.push(Ev::Sip { src: Node::Device(i), dst: Node::Proxy, head: h, sdp: None, mark: None });
        fail(ev, i, "487 Request Terminated");
    };
    let free_early = |ev: &mut Vec<Ev>, i: u8| {
        if let (0, Some(s)) = (i, early_slot) {
            ev.push(Ev::Free(s));
        }
    };
    match p.outcome {
        Outcome::AllFail => {
            for i in 0..p.forks {
                fail(&mut ev, i, if i % 2 == 0 { "486 Busy Here" } else { "603 Decline" });
                free_early(&mut ev, i);
            }
            let h = head(c, p, "SIP/2.0 486 Busy Here", std::slice::from_ref(&vu), Some(&tag(0)), "1 INVITE", false, "");
            ev.push(sip(Node::Proxy, Node::Caller, h, None, Some(Mark::Release)));
            let h = head(c, p, &format!("ACK {ruri} SIP/2.0"), std::slice::from_ref(&vu), Some(&tag(0)), "1 ACK", false, "");
            ev.push(sip(Node::Caller, Node::Proxy, h, None, None));
        }
        Outcome::Cancel => {
            let h = head(c, p, &format!("CANCEL {ruri} SIP/2.0"), std::slice::from_ref(&vu), None, "1 CANCEL", false, "");
            ev.push(sip(Node::Caller, Node::Proxy, h, None, Some(Mark::Release)));
            let h = head(c, p, "SIP/2.0 200 OK", std::slice::from_ref(&vu), None, "1 CANCEL", false, "");
            ev.push(sip(Node::Proxy, Node::Caller, h, None, None));
            for i in 0..p.forks {
                cancel_fork(&mut ev, i);
                free_early(&mut ev, i);
            }
            let h = head(c, p, "SIP/2.0 487 Request Terminated", std::slice::from_ref(&vu), Some(&tag(0)), "1 INVITE", false, "");
            ev.push(sip(Node::Proxy, Node::Caller, h, None, None));
            let h = head(c, p, &format!("ACK {ruri} SIP/2.0"), std::slice::from_ref(&vu), Some(&tag(0)), "1 ACK", false, "");
            ev.push(sip(Node::Caller, Node::Proxy, h, None, None));
        }
        Outcome::Answered | Outcome::ByeUnanswered => {
            let j = p.answer_fork;
            let others: Vec<u8> = (0..p.forks).filter(|i| *i != j).collect();
            if p.fail_before_answer {
                for &i in &others {
                    fail(&mut ev, i, if i % 2 == 0 { "486 Busy Here" } else { "603 Decline" });
                    free_early(&mut ev, i);
                }
            }
            let answer_slot = match (j, early_slot) {
                (0, Some(s)) => s,
                _ => slot(),
            };
            let tj = tag(j);
            let h = head(c, p, "SIP/2.0 200 OK", &[vd(j), vu.clone()], Some(&tj), "1 INVITE", false, "");
            ev.push(sip(Node::Device(j), Node::Proxy, h, Some(Sdp { slot: answer_slot, inactive: false }), Some(Mark::Answer)));
            let h = head(c, p, "SIP/2.0 200 OK", std::slice::from_ref(&vu), Some(&tj), "1 INVITE", false, "");
            ev.push(sip(Node::Proxy, Node::Caller, h, Some(Sdp { slot: answer_slot, inactive: false }), None));
            if !p.fail_before_answer {
                for &i in &others {
                    cancel_fork(&mut ev, i);
                    free_early(&mut ev, i);
                }
            }
            let mut cseq = 1;
            let in_dialog = |ev: &mut Vec<Ev>, method: &str, sdp: Option<Sdp>, from_callee: bool, cseq: u32| {
                let (src, dst) = if from_callee { (Node::Device(j), Node::Caller) } else { (Node::Caller, Node::Device(j)) };
                let target = if from_callee { format!("sip:{}@10.10.{c}.1", number(p.caller)) } else { dev_uri(j) };
                let v = vec![format!("10.10.{c}.1:5060;branch=z9hG4bK-{method}{cseq}{from_callee}")];
                let h = head(c, p, &format!("{method} {target} SIP/2.0"), &v, Some(&tj), &format!("{cseq} {method}"), from_callee, "");
                let mark = (method == "BYE").then_some(Mark::Release);
                ev.push(Ev::Sip { src, dst, head: h, sdp, mark });
                v
            };
            let respond = |ev: &mut Vec<Ev>, method: &str, v: Vec<String>, sdp: Option<Sdp>, from_callee: bool, cseq: u32| {
                let (src, dst) = if from_callee { (Node::Caller, Node::Device(j)) } else { (Node::Device(j), Node::Caller) };
                let h = head(c, p, "SIP/2.0 200 OK", &v, Some(&tj), &format!("{cseq} {method}"), from_callee, "");
                ev.push(Ev::Sip { src, dst, head: h, sdp, mark: None });
            };
            in_dialog(&mut ev, "ACK", None, false, 1);
            let talk = |ev: &mut Vec<Ev>, caller_slot: Slot, n: u8, covered: bool| {
                ev.push(Ev::Rtp { from: caller_slot, to: answer_slot, from_caller: true, n, covered });
                ev.push(Ev::Rtp { from: answer_slot, to: caller_slot, from_caller: false, n, covered });
            };
            talk(&mut ev, caller_slot, 4, true);
            if p.move_media {
                cseq += 1;
                let moved = slot();
                let v = in_dialog(&mut ev, "INVITE", Some(Sdp { slot: moved, inactive: false }), false, cseq);
                respond(&mut ev, "INVITE", v, Some(Sdp { slot: answer_slot, inactive: false }), false, cseq);
                in_dialog(&mut ev, "ACK", None, false, cseq);
                ev.push(Ev::Free(caller_slot));
                caller_slot = moved;
                talk(&mut ev, caller_slot, 3, true);
            }
            if p.hold {
                cseq += 1;
                let v = in_dialog(&mut ev, "INVITE", Some(Sdp { slot: caller_slot, inactive: true }), false, cseq);
                respond(&mut ev, "INVITE", v, Some(Sdp { slot: answer_slot, inactive: true }), false, cseq);
                in_dialog(&mut ev, "ACK", None, false, cseq);
                cseq += 1;
                let v = in_dialog(&mut ev, "INVITE", Some(Sdp { slot: caller_slot, inactive: false }), false, cseq);
                respond(&mut ev, "INVITE", v, Some(Sdp { slot: answer_slot, inactive: false }), false, cseq);
                in_dialog(&mut ev, "ACK", None, false, cseq);
                talk(&mut ev, caller_slot, 2, true);
            }
            if p.refer {
                cseq += 1;
                let v = in_dialog(&mut ev, "REFER", None, false, cseq);
                respond(&mut ev, "REFER", v, None, false, cseq);
                let v = in_dialog(&mut ev, "NOTIFY", None, true, 1);
                respond(&mut ev, "NOTIFY", v, None, true, 1);
            }
            cseq += 1;
            let bye_cseq = if p.bye_by_callee { 2 } else { cseq };
            let v = in_dialog(&mut ev, "BYE", None, p.bye_by_callee, bye_cseq);
            // media still sent after the BYE is not content of the call
            let (from, to, from_caller) = if p.bye_by_callee { (caller_slot, answer_slot, true) } else { (answer_slot, caller_slot, false) };
            ev.push(Ev::Rtp { from, to, from_caller, n: 3, covered: false });
            if p.outcome == Outcome::Answered {
                respond(&mut ev, "BYE", v, None, p.bye_by_callee, bye_cseq);
            }
            ev.push(Ev::Free(caller_slot));
            ev.push(Ev::Free(answer_slot));
        }
    }
    ev.push(Ev::Free(caller_slot));
    (ev, next_slot)
}

fn build(plans: &[Plan]) -> Calls {
    let mut events = Vec::new();
    let mut slots = Vec::new();
    for (c, p) in plans.iter().enumerate() {
        let (e, n) = script(c, p);
        events.push(e);
        slots.push(n);
    }
    Calls { events, slots }
}

/// What the model knows of each RTP packet sent: (call, sent by the caller, covered).
type PacketInfo = (usize, bool, bool);

struct World {
    mediator: Mediator,
    t_ns: u64,
    /// Free endpoints, the most recently freed first out.
    pool: Vec<(IpAddr, u16)>,
    fresh: u16,
    /// (call, slot) → endpoint.
    bound: HashMap<(usize, Slot), (IpAddr, u16)>,
    packets: Vec<PacketInfo>,
    got: Vec<Got>,
}

#[derive(Debug)]
struct Got {
    liid: String,
    cin: u32,
    iri: Option<(IriType, Vec<u8>)>,
    cc: Option<(Direction, u32)>,
}

fn node_addr(c: usize, n: Node) -> (IpAddr, u16) {
    let ip = match n {
        Node::Caller => format!("10.10.{c}.1"),
        Node::Proxy => "10.0.0.254".to_string(),
        Node::Device(i) => format!("10.20.{c}.{}", i + 1),
    };
    (ip.parse().unwrap(), 5060)
}

impl World {
    fn endpoint(&mut self, c: usize, s: Slot) -> (IpAddr, u16) {
        if let Some(e) = self.bound.get(&(c, s)) {
            return *e;
        }
        if !self.pool.is_empty() {
            REUSED.fetch_add(1, Ordering::Relaxed);
        }
        let e = self.pool.pop().unwrap_or_else(|| {
            self.fresh += 2;
            ("10.50.0.1".parse().unwrap(), 20000 + self.fresh * 2)
        });
        self.bound.insert((c, s), e);
        e
    }

    fn send(&mut self, src: (IpAddr, u16), dst: (IpAddr, u16), payload: &[u8]) {
        self.t_ns += 5_000_000;
        let flow = FlowKey { src: src.0, dst: dst.0, src_port: src.1, dst_port: dst.1, proto: 17 };
        let dg = Datagram { ts: Timestamp::from_nanos(self.t_ns), flow, transport: Transport::Udp, payload, ip_packet: payload, vlan: None };
        let got = &mut self.got;
        let mut sink = |r: &Record<'_>| {
            let (iri, cc) = match r.body {
                RecordBody::Iri { iri_type, bytes, .. } => (Some((iri_type, bytes.to_vec())), None),
                RecordBody::Cc { direction, bytes, .. } => {
                    let id = bytes.get(12..16).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(u32::MAX);
                    (None, Some((direction, id)))
                }
            };
            got.push(Got { liid: r.warrant.liid.as_str().to_owned(), cin: r.cin, iri, cc });
        };
        self.mediator.handle(&dg, &mut sink);
    }

    fn play(&mut self, c: usize, ev: &Ev) {
        match ev {
            Ev::Sip { src, dst, head, sdp, .. } => {
                let mut text = head.clone();
                match sdp {
                    Some(Sdp { slot, inactive }) => {
                        let (ip, port) = self.endpoint(c, *slot);
                        let dir = if *inactive { "a=inactive\r\n" } else { "" };
                        let body = format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{dir}");
                        text += &format!("Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    }
                    None => text += "Content-Length: 0\r\n\r\n",
                }
                self.send(node_addr(c, *src), node_addr(c, *dst), text.as_bytes());
            }
            Ev::Rtp { from, to, from_caller, n, covered } => {
                let (a, b) = (self.endpoint(c, *from), self.endpoint(c, *to));
                for _ in 0..*n {
                    let id = self.packets.len() as u32;
                    self.packets.push((c, *from_caller, *covered));
                    let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160];
                    p.extend_from_slice(&(c as u32).to_be_bytes());
                    p.extend_from_slice(&id.to_be_bytes());
                    p.extend_from_slice(&[0xd5; 40]);
                    self.send(a, b, &p);
                }
            }
            Ev::Free(s) => {
                if let Some(e) = self.bound.remove(&(c, *s)) {
                    if !self.pool.contains(&e) {
                        self.pool.push(e);
                    }
                }
            }
        }
    }
}

fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

/// Which orders cover a call: (pen register, trap and trace, Title III).
fn covering(p: &Plan) -> [(&'static str, bool); 3] {
    let (out, inc) = (p.caller == 0, p.callee == 0);
    [("PEN", out), ("TT", inc), ("T3", out || inc)]
}

fn load_table() -> Arc<WarrantTable> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agencies.toml"), common::warrants::agencies_toml(&[("a", "US", "etsi")])).unwrap();
    for (liid, kind) in [("PEN", "pen-register"), ("TT", "trap-and-trace"), ("T3", "title-iii")] {
        std::fs::write(
            dir.path().join(format!("{liid}.toml")),
            format!(
                "liid = \"{liid}\"\nkind = \"{kind}\"\nagency = \"a\"\ntargets = [\"tel:{}\"]\nvalid_from = 2026-01-01T00:00:00Z\n\
                 valid_until = 2027-12-31T00:00:00Z\ncourt_order = \"1:26-mj-1\"\nissuing_authority = \"Hon. Test\"\n",
                number(0)
            ),
        )
        .unwrap();
    }
    let (store, refused) = Store::load_dir(dir.path()).unwrap();
    assert!(refused.is_empty());
    Arc::new(WarrantTable::new(store.warrants))
}

/// Runs one case and checks it against the model; Err describes the first violation.
fn check(table: &Arc<WarrantTable>, plans: &[Plan], order: &[u8]) -> Result<(), String> {
    let calls = build(plans);
    let mut w = World {
        mediator: Mediator::new(Arc::clone(table)),
        t_ns: T0_NS,
        pool: Vec::new(),
        fresh: 0,
        bound: HashMap::new(),
        packets: Vec::new(),
        got: Vec::new(),
    };
    // Interleave: each step plays the next event of a call chosen by `order` among those
    // started and not done; calls start one after another.
    let mut next: Vec<usize> = vec![0; plans.len()];
    let mut started = 1.min(plans.len());
    let mut k = 0;
    loop {
        let live: Vec<usize> = (0..started).filter(|&c| next[c] < calls.events[c].len()).collect();
        if live.is_empty() && started == plans.len() {
            break;
        }
        let choice = order.get(k).copied().unwrap_or(0) as usize;
        k += 1;
        if started < plans.len() && (live.is_empty() || choice.is_multiple_of(5)) {
            started += 1;
            continue;
        }
        let c = live[choice % live.len()];
        let ev = calls.events[c][next[c]].clone();
        next[c] += 1;
        w.play(c, &ev);
    }
    let _ = calls.slots;
    // Records per (LIID, call).
    let call_of = |text: &str| -> Option<usize> {
        let id = header(text, "Call-ID")?;
        id.strip_prefix("model-")?.strip_suffix("@test")?.parse().ok()
    };
    let mut cins: BTreeMap<(String, usize), BTreeSet<u32>> = BTreeMap::new();
    let mut iri: BTreeMap<(String, usize), Vec<(IriType, String)>> = BTreeMap::new();
    let mut cc_seen: BTreeMap<(String, u32), usize> = BTreeMap::new();
    for g in &w.got {
        if let Some((t, bytes)) = &g.iri {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let c = call_of(&text).ok_or_else(|| format!("IRI of no call: {text}"))?;
            let covered = covering(&plans[c]).iter().any(|(l, cov)| *l == g.liid && *cov);
            if !covered {
                return Err(format!("{}: IRI of call {c} which it does not cover ({:?})", g.liid, plans[c]));
            }
            cins.entry((g.liid.clone(), c)).or_default().insert(g.cin);
            iri.entry((g.liid.clone(), c)).or_default().push((*t, text));
        }
        if let Some((dir, id)) = g.cc {
            let &(c, from_caller, covered) = w.packets.get(id as usize).ok_or("CC of no packet")?;
            if g.liid != "T3" {
                return Err(format!("{} got content", g.liid));
            }
            if !covered {
                return Err(format!("CC of call {c}: packet {id} is not content of it (after its release, or another call's) {:?}", plans[c]));
            }
            if !covering(&plans[c])[2].1 {
                return Err(format!("CC of call {c} which T3 does not cover: {:?}", plans[c]));
            }
            let target_is_caller = plans[c].caller == 0;
            let want = if from_caller == target_is_caller { Direction::FromTarget } else { Direction::ToTarget };
            if dir != want {
                return Err(format!("CC packet {id} of call {c}: direction {dir:?}, want {want:?}"));
            }
            cins.entry((g.liid.clone(), c)).or_default().insert(g.cin);
            *cc_seen.entry((g.liid.clone(), id)).or_default() += 1;
        }
    }
    // Completeness.
    for (c, p) in plans.iter().enumerate() {
        for (liid, cov) in covering(p) {
            if !cov {
                continue;
            }
            let key = (liid.to_string(), c);
            let recs = iri.get(&key).ok_or_else(|| format!("{liid}: nothing of covered call {c} {p:?}"))?;
            if cins.get(&key).map_or(0, BTreeSet::len) != 1 {
                return Err(format!("{liid}: call {c} under {:?} CINs", cins.get(&key)));
            }
            for ev in &calls.events[c] {
                let Ev::Sip { head, mark: Some(mark), .. } = ev else { continue };
                let first = head.lines().next().unwrap_or_default();
                let (cseq, via) = (header(head, "CSeq"), header(head, "Via"));
                let found = recs.iter().any(|(_, t)| t.lines().next() == Some(first) && header(t, "CSeq") == cseq && header(t, "Via") == via);
                if !found {
                    return Err(format!("{liid}: {mark:?} of call {c} ({first}) not delivered; {p:?}"));
                }
            }
            if recs.first().map(|r| r.0) != Some(IriType::Begin) {
                return Err(format!("{liid}: call {c} does not start with IRI-Begin"));
            }
            // IRI-Continue until the release, IRI-End from the release on (a failed branch,
            // a fork cancelled by the proxy, a re-INVITE are not the end).
            let release = calls.events[c].iter().find_map(|e| match e {
                Ev::Sip { head, mark: Some(Mark::Release), .. } => Some((head.lines().next().unwrap_or_default(), header(head, "CSeq"), header(head, "Via"))),
                _ => None,
            });
            let at = release
                .and_then(|(first, cseq, via)| {
                    recs.iter().position(|(_, t)| t.lines().next() == Some(first) && header(t, "CSeq") == cseq && header(t, "Via") == via)
                })
                .ok_or_else(|| format!("{liid}: call {c} has no release record"))?;
            for (i, (t, text)) in recs.iter().enumerate() {
                let want_end = i >= at;
                if (*t == IriType::End) != want_end || (i > 0 && *t == IriType::Begin) {
                    return Err(format!("{liid}: call {c} record {i} ({}) is {t:?}; the release is record {at}; {p:?}", text.lines().next().unwrap_or_default()));
                }
            }
        }
    }
    RECORDS.fetch_add(w.got.len(), Ordering::Relaxed);
    for (id, &(c, _, covered)) in w.packets.iter().enumerate() {
        let want = usize::from(covered && covering(&plans[c])[2].1);
        COVERED_PACKETS.fetch_add(want, Ordering::Relaxed);
        let got = cc_seen.get(&("T3".to_string(), id as u32)).copied().unwrap_or(0);
        if got != want {
            return Err(format!("T3: packet {id} of call {c} delivered {got} times, want {want}; {:?}", plans[c]));
        }
    }
    Ok(())
}

#[test]
fn mediation_matches_the_reference_model_on_random_interleavings() {
    let table = load_table();
    let mut config = Config::with_cases(CASES);
    config.failure_persistence = None;
    config.rng_algorithm = RngAlgorithm::ChaCha;
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let strategy = (proptest::collection::vec(plan(), 1..7), proptest::collection::vec(any::<u8>(), 0..600));
    let result = runner.run(&strategy, |(plans, order)| {
        check(&table, &plans, &order).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (reused, covered, records) =
        (REUSED.load(Ordering::Relaxed), COVERED_PACKETS.load(Ordering::Relaxed), RECORDS.load(Ordering::Relaxed));
    eprintln!("{CASES} cases: {records} records, {covered} content packets due, {reused} endpoints reused");
    // The generator must keep exercising what it is for.
    assert!(reused > CASES as usize && covered > 10 * CASES as usize && records > 1000, "{reused} {covered} {records}");
}
