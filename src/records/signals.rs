//! The call detail recorder's input on its way from the signalling thread to the writer
//! thread: per SIP message its [`Signal`], capture time, transport and Call-ID, and for an
//! initial INVITE the message's bytes (the writer reads the parties from them only when the
//! INVITE starts a call), all in one arena per batch. The signalling thread's share of the
//! recorder is then a copy of a few bytes per message and one channel send per batch; the
//! [`CdrTracker`] runs on the writer thread over [`SignalBatch::replay`], seeing the same
//! messages in the same order, so the records are the same.

use std::ops::Range;

use super::cdr::{CdrTracker, Signal};
use super::CallRecord;
use crate::mediation::SipFacts;
use crate::sip::{self, Message};
use crate::Timestamp;

/// Messages per batch before it is handed over.
const EVENTS: usize = 4096;
/// Arena bytes per batch before it is handed over (initial INVITEs are most of them).
const BYTES: usize = 1 << 20;

#[derive(Clone, Debug)]
struct Event {
    ts: Timestamp,
    transport: &'static str,
    signal: Signal,
    call_id: Range<usize>,
    /// The whole message of an initial INVITE; empty otherwise.
    invite: Range<usize>,
}

/// SIP messages as the recorder reads them, in capture order.
#[derive(Debug)]
pub struct SignalBatch {
    events: Vec<Event>,
    bytes: Vec<u8>,
}

impl Default for SignalBatch {
    fn default() -> Self {
        // Small: on a quiet link a batch goes over after a second with a few messages.
        SignalBatch { events: Vec::with_capacity(64), bytes: Vec::with_capacity(16 * 1024) }
    }
}

impl SignalBatch {
    /// Takes what the recorder needs of `msg`, of which mediation read `facts`, seen at
    /// `ts` over `transport` (`udp`/`tcp`).
    pub fn push(&mut self, msg: &Message<'_>, facts: &SipFacts<'_>, ts: Timestamp, transport: &'static str) {
        let signal = Signal::of(msg, facts);
        let call_id = self.keep(facts.call_id.as_bytes());
        let invite = match signal {
            Signal::Invite { initial: true } => self.keep(msg.raw()),
            _ => call_id.end..call_id.end,
        };
        self.events.push(Event { ts, transport, signal, call_id, invite });
    }

    /// Empties the batch, keeping its buffers' capacity for the next messages.
    pub fn clear(&mut self) {
        self.events.clear();
        self.bytes.clear();
    }

    #[cfg(test)]
    pub(super) fn arena_capacity(&self) -> usize {
        self.bytes.capacity()
    }

    #[cfg(test)]
    pub(super) fn reserve_for_test(&mut self, bytes: usize) {
        self.bytes.reserve(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Large enough to hand over.
    pub fn is_full(&self) -> bool {
        self.events.len() >= EVENTS || self.bytes.len() >= BYTES
    }

    /// Feeds every message to `tracker` in order, as the signalling thread would have: each
    /// message, then the idle sweep at its time; finished records go to `out` in the order
    /// they ended.
    pub fn replay(&self, tracker: &mut CdrTracker, out: &mut Vec<CallRecord>) {
        for e in &self.events {
            // The Call-ID was a `str` when kept; an empty one matches no call (and is counted).
            let call_id = std::str::from_utf8(self.slice(&e.call_id)).unwrap_or_default();
            let invite = self.slice(&e.invite);
            if let Some(r) = tracker.handle(call_id, e.signal, e.ts, e.transport, || sip::parse(invite).ok()) {
                out.push(r);
            }
            tracker.poll_timeout(e.ts, out);
        }
    }

    fn slice(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or_default()
    }

    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Message<'_> {
        sip::parse(text.as_bytes()).expect("SIP")
    }

    const INVITE: &str = "INVITE sip:+13035550177@carrier.example;user=phone SIP/2.0\r\n\
        From: <sip:+13035550142@carrier.example;user=phone>;tag=a\r\nTo: <sip:+13035550177@carrier.example;user=phone>\r\n\
        Call-ID: s1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const OK: &str = "SIP/2.0 200 OK\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\nCall-ID: s1\r\nCSeq: 1 INVITE\r\n\
        Content-Length: 0\r\n\r\n";
    const BYE: &str = "BYE sip:x@y SIP/2.0\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\nCall-ID: s1\r\nCSeq: 2 BYE\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_replayed_batch_gives_the_records_of_the_messages() {
        let at = |s: u64| Timestamp::from_secs_micros(1_793_628_000 + s, 0);
        let messages = [(INVITE, 0), (INVITE, 1), (OK, 4), (BYE, 64)];
        let mut direct = CdrTracker::new();
        let mut expected = Vec::new();
        for (text, s) in messages {
            expected.extend(direct.handle_sip(&parse(text), at(s), "tcp"));
        }
        let mut batch = SignalBatch::default();
        for (text, s) in messages {
            let msg = parse(text);
            let facts = SipFacts::of(&msg).expect("Call-ID");
            batch.push(&msg, &facts, at(s), "tcp");
        }
        let (mut tracker, mut out) = (CdrTracker::new(), Vec::new());
        batch.replay(&mut tracker, &mut out);
        assert_eq!(expected.len(), 1);
        assert_eq!(out, expected);
        assert_eq!(out[0].callee.as_deref(), Some("13035550177"), "parties read from the kept INVITE");
        assert_eq!(tracker.stats(), direct.stats());
    }
}
