//! The sans-IO call detail recorder: fed every parsed SIP message with its capture time and
//! transport, it follows each dialog from its initial INVITE and returns a [`CallRecord`]
//! when the call ends (BYE, a final failure response, or idle expiry by [`CdrTracker::poll_timeout`]).
//!
//! Call order: [`CdrTracker::handle_sip`] for every message, [`CdrTracker::poll_timeout`]
//! with the current capture time now and then, [`CdrTracker::drain`] at the end of input.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::{CallRecord, Disposition};
use crate::calltrace::identity_key;
use crate::calltrace::tracker::caller_identity;
use crate::mediation::SipFacts;
use crate::sip::{Message, Method, StartLine};
use crate::warrant::{from_uri, is_anonymous, Numbering};
use crate::Timestamp;

const SECOND: u64 = 1_000_000_000;
/// An unanswered call with no final response for this long ends as no answer.
const SETUP_TIMEOUT_NS: u64 = 300 * SECOND;
/// An answered call with no signalling for this long ends at its last message.
const IDLE_TIMEOUT_NS: u64 = 3600 * SECOND;
/// How often `poll_timeout` sweeps.
const SWEEP_EVERY_NS: u64 = 10 * SECOND;

/// A call being followed; the phase carries its own times.
#[derive(Clone, Debug)]
enum Phase {
    Setup { cancelled: bool },
    Answered,
}

#[derive(Clone, Debug)]
struct Pending {
    record: CallRecord,
    phase: Phase,
    last_seen: Timestamp,
}

/// Counters. No identity appears here.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CdrStats {
    pub calls_started: u64,
    pub records_written: u64,
    pub calls_expired: u64,
    /// Messages of a Call-ID the recorder never saw an INVITE for (ignored).
    pub messages_without_call: u64,
    /// Initial INVITEs whose message could not be read again off the signalling thread
    /// (no call started; never expected: the same bytes parsed there).
    pub invites_unreadable: u64,
}

/// What the recorder reads from one SIP message besides its Call-ID: a few bytes, cheap to
/// take on the signalling thread and to hand to the writer thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An INVITE; `initial` without a To tag (it may start a call).
    Invite { initial: bool },
    Bye,
    Cancel,
    /// Any other request (ACK, PRACK, UPDATE, INFO…): only keeps the call alive.
    OtherRequest,
    /// A response; `invite` when its CSeq method is INVITE.
    Response { status: u16, invite: bool },
}

impl Signal {
    /// How `msg`, of which mediation read `facts`, moves a call.
    pub fn of(msg: &Message<'_>, facts: &SipFacts<'_>) -> Signal {
        match msg.start() {
            // An INVITE that creates is one without a To tag.
            StartLine::Request { method: Method::Invite, .. } => Signal::Invite { initial: facts.creates },
            StartLine::Request { method: Method::Bye, .. } => Signal::Bye,
            StartLine::Request { method: Method::Cancel, .. } => Signal::Cancel,
            StartLine::Request { .. } => Signal::OtherRequest,
            StartLine::Response { status, .. } => {
                Signal::Response { status: *status, invite: matches!(msg.cseq(), Some((_, Method::Invite))) }
            }
        }
    }
}

/// The recorder's state machine.
pub struct CdrTracker {
    calls: HashMap<String, Pending, RandomState>,
    last_sweep: Timestamp,
    stats: CdrStats,
    /// The carrier's number domains: how a URI becomes an identity, as in mediation.
    numbering: Numbering,
}

impl Default for CdrTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl CdrTracker {
    pub fn new() -> Self {
        Self::with_numbering(Numbering::default())
    }

    /// A recorder that reads identities under the carrier's number domains.
    pub fn with_numbering(numbering: Numbering) -> Self {
        CdrTracker { calls: HashMap::default(), last_sweep: Timestamp::default(), stats: CdrStats::default(), numbering }
    }

    pub fn stats(&self) -> &CdrStats {
        &self.stats
    }

    /// Calls in progress.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// One SIP message seen at `ts` over `transport` (`udp`/`tcp`); a record when it ended a call.
    pub fn handle_sip(&mut self, msg: &Message<'_>, ts: Timestamp, transport: &'static str) -> Option<CallRecord> {
        let facts = SipFacts::of(msg)?;
        self.handle(facts.call_id, Signal::of(msg, &facts), ts, transport, || Some(msg.clone()))
    }

    /// True while the call `call_id` is being followed.
    pub fn is_open(&self, call_id: &str) -> bool {
        self.calls.contains_key(call_id)
    }

    /// One SIP message of dialog `call_id`, as [`Signal::of`] read it, seen at `ts`; a record
    /// when it ended a call. `initial_invite` gives the whole message of an initial INVITE
    /// and is called only when that INVITE starts a call (the parties come from it); `None`
    /// from it (the message cannot be read) starts no call and is counted.
    pub fn handle<'m>(
        &mut self,
        call_id: &str,
        signal: Signal,
        ts: Timestamp,
        transport: &'static str,
        initial_invite: impl FnOnce() -> Option<Message<'m>>,
    ) -> Option<CallRecord> {
        match signal {
            Signal::Invite { initial } => {
                if let Some(p) = self.calls.get_mut(call_id) {
                    p.last_seen = ts;
                    return None; // retransmission, re-INVITE or another leg
                }
                if !initial {
                    self.stats.messages_without_call += 1;
                    return None; // re-INVITE of a dialog that began before the capture
                }
                let Some(msg) = initial_invite() else {
                    self.stats.invites_unreadable += 1;
                    return None;
                };
                let Some(uri) = msg.request_uri() else {
                    self.stats.invites_unreadable += 1;
                    return None;
                };
                self.stats.calls_started += 1;
                let record = new_record(&msg, uri, call_id, ts, transport, &self.numbering);
                self.calls.insert(call_id.to_owned(), Pending { record, phase: Phase::Setup { cancelled: false }, last_seen: ts });
                None
            }
            Signal::Bye | Signal::Cancel | Signal::OtherRequest => {
                let Some(p) = self.calls.get_mut(call_id) else {
                    self.stats.messages_without_call += 1;
                    return None;
                };
                p.last_seen = ts;
                match (signal, &mut p.phase) {
                    (Signal::Bye, _) => self.end(call_id, ts, None),
                    (Signal::Cancel, Phase::Setup { cancelled }) => {
                        *cancelled = true;
                        None
                    }
                    _ => None,
                }
            }
            Signal::Response { status, invite } => {
                if !invite || status < 200 {
                    if let Some(p) = self.calls.get_mut(call_id) {
                        p.last_seen = ts;
                    }
                    return None;
                }
                let Some(p) = self.calls.get_mut(call_id) else {
                    self.stats.messages_without_call += 1;
                    return None;
                };
                p.last_seen = ts;
                let cancelled = match p.phase {
                    Phase::Answered => return None, // 2xx retransmission or re-INVITE answer
                    Phase::Setup { cancelled } => cancelled,
                };
                match status {
                    200..=299 => {
                        p.phase = Phase::Answered;
                        p.record.answer_ns = Some(nanos(ts));
                        None
                    }
                    _ => self.end(call_id, ts, Some(failure_disposition(status, cancelled))),
                }
            }
        }
    }

    /// Ends calls idle past their timeout; call with the capture time now and then.
    pub fn poll_timeout(&mut self, now: Timestamp, out: &mut Vec<CallRecord>) {
        if now.saturating_sub(self.last_sweep) < SWEEP_EVERY_NS {
            return;
        }
        self.last_sweep = now;
        let expired: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, p)| {
                let limit = match p.phase {
                    Phase::Setup { .. } => SETUP_TIMEOUT_NS,
                    Phase::Answered => IDLE_TIMEOUT_NS,
                };
                now.saturating_sub(p.last_seen) >= limit
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.stats.calls_expired += 1;
            let last = self.calls.get(&k).map(|p| p.last_seen).unwrap_or(now);
            out.extend(self.end(&k, last, None));
        }
    }

    /// Ends every call still open (end of the capture) at its last message.
    pub fn drain(&mut self, out: &mut Vec<CallRecord>) {
        let keys: Vec<String> = self.calls.keys().cloned().collect();
        for k in keys {
            let last = self.calls.get(&k).map(|p| p.last_seen).unwrap_or_default();
            out.extend(self.end(&k, last, None));
        }
    }

    /// Removes a call and finishes its record; `disposition` of a failure response, else
    /// from the phase (answered, cancelled, no answer).
    fn end(&mut self, call_id: &str, ts: Timestamp, disposition: Option<Disposition>) -> Option<CallRecord> {
        let p = self.calls.remove(call_id)?;
        let mut r = p.record;
        r.end_ns = nanos(ts);
        r.disposition = disposition.unwrap_or(match p.phase {
            Phase::Answered => Disposition::Answered,
            Phase::Setup { cancelled: true } => Disposition::Cancelled,
            Phase::Setup { cancelled: false } => Disposition::NoAnswer,
        });
        self.stats.records_written += 1;
        Some(r)
    }
}

fn nanos(ts: Timestamp) -> i64 {
    i64::try_from(ts.as_nanos()).unwrap_or(i64::MAX)
}

/// The final failure status of an INVITE as a disposition.
pub(super) fn failure_disposition(status: u16, cancelled: bool) -> Disposition {
    match status {
        300..=399 => Disposition::Forwarded,
        487 => Disposition::Cancelled,
        _ if cancelled => Disposition::Cancelled,
        486 | 600 | 603 => Disposition::Busy,
        408 | 480 => Disposition::NoAnswer,
        _ => Disposition::Failed,
    }
}

/// The record of a new call from its initial INVITE, with the parties as mediation and call
/// trace see them (`caller_identity`, `from_uri`).
fn new_record(msg: &Message<'_>, ruri: &str, call_id: &str, ts: Timestamp, transport: &'static str, n: &Numbering) -> CallRecord {
    let caller = caller_identity(msg, n).map(|id| identity_key(&id));
    let from = msg.from();
    let presentation = from.and_then(|f| from_uri(f.uri, n)).map(|id| identity_key(&id));
    let privacy = msg.privacy_id() || from.is_some_and(|f| is_anonymous(f.uri));
    let callee = from_uri(ruri, n).or_else(|| msg.to().and_then(|t| from_uri(t.uri, n))).map(|id| identity_key(&id));
    let original_called = msg
        .diversion()
        .chain(msg.history_info())
        .find_map(|u| from_uri(u.uri, n))
        .map(|id| identity_key(&id))
        .filter(|o| Some(o) != callee.as_ref());
    CallRecord {
        call_id: call_id.to_owned(),
        caller,
        presentation,
        privacy,
        callee,
        original_called,
        start_ns: nanos(ts),
        answer_ns: None,
        end_ns: nanos(ts),
        disposition: Disposition::NoAnswer,
        transport: transport.to_owned(),
        traced: false,
    }
}
