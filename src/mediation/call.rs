//! One intercepted communication: its warrants, CINs, dialog phase and message history.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::dialog::Branches;
use super::media::Side;
use super::streams::{Endpoint, Owner, Streams};
use super::record::{IriEvent, IriType};
use super::scope::{Role, Scope};
use crate::sip::{Message, Method};
use crate::warrant::Warrant;
use crate::Timestamp;

/// How many message fingerprints a call remembers to recognise retransmissions.
pub(super) const FINGERPRINTS: usize = 64;

/// One warrant's interception of one communication.
#[derive(Debug)]
pub struct Intercept {
    pub warrant: Arc<Warrant>,
    pub cin: u32,
    pub role: Role,
    pub scope: Scope,
    /// IRI records delivered so far: the first one is an IRI-Begin.
    pub iri_sent: u64,
}

impl Intercept {
    /// The side of the call the target is on.
    pub fn target_side(&self) -> Side {
        match self.role {
            Role::Originating => Side::Caller,
            Role::Terminating => Side::Callee,
        }
    }
}

/// A dialog (INVITE) or a single transaction outside any dialog (MESSAGE, REGISTER, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    Dialog,
    Transaction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// INVITE sent, no branch has answered yet.
    Setup,
    Answered,
    /// CANCEL sent on every branch; their answers are still to come.
    Ending,
    /// Over since `at`: released by BYE (`released`), or every branch failed or was
    /// cancelled (a retarget on a new branch may still continue the call).
    Ended { at: Timestamp, released: bool },
}

/// What a SIP message does to the communication, before it is mapped per warrant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The initial INVITE (or a retry of it after a redirect or challenge).
    Setup,
    Answer,
    Redirection,
    Release,
    Report,
    Other,
}

/// An RFC 4028 session timer negotiated in a 2xx: the session expires `interval_ns` after
/// the last refresh unless refreshed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    pub refreshed: Timestamp,
    pub interval_ns: u64,
}

#[derive(Debug)]
pub struct Call {
    pub call_id: String,
    pub kind: CallKind,
    pub intercepts: Vec<Intercept>,
    /// From-tags of the requests that created the call (one per leg seen).
    pub(super) caller_tags: Vec<String>,
    pub phase: Phase,
    pub last_seen: Timestamp,
    /// Its INVITE branches and early/confirmed dialogs.
    pub(super) branches: Branches,
    /// Media endpoints of the current offer/answer of each party, tapped for this call.
    pub streams: Streams,
    /// Endpoints the last [`Call::advance`] stopped (a failed early dialog, a released
    /// dialog, early media of the branches that did not answer), to untap.
    pub(super) dropped: Vec<Endpoint>,
    pub session_timer: Option<SessionTimer>,
    /// Payload types negotiated for RFC 4733 telephone-events.
    pub telephone_event_pts: Vec<u8>,
    /// Packet time of the last tapped media packet, written by the media shard.
    pub last_media: Arc<AtomicU64>,
    /// (intercepts, telephone-event types) when the media shards were last told of the call.
    pub published: (usize, usize),
    pub(super) seen: VecDeque<u64>,
}

impl Call {
    pub fn new(call_id: &str, kind: CallKind, ts: Timestamp) -> Self {
        Call {
            call_id: call_id.to_owned(),
            kind,
            intercepts: Vec::new(),
            caller_tags: Vec::new(),
            phase: Phase::Setup,
            last_seen: ts,
            branches: Branches::default(),
            streams: Streams::default(),
            dropped: Vec::new(),
            session_timer: None,
            telephone_event_pts: Vec::new(),
            last_media: Arc::default(),
            published: (0, 0),
            seen: VecDeque::with_capacity(8),
        }
    }

    /// Remembers the From-tag of a request that creates (a leg of) the call.
    pub fn add_caller_tag(&mut self, tag: Option<&str>) {
        if let Some(tag) = tag {
            if !self.caller_tags.iter().any(|t| t == tag) {
                self.caller_tags.push(tag.to_owned());
            }
        }
    }

    /// True when this exact message (same bytes between the same endpoints) was seen
    /// before: a retransmission, which gets no second record.
    pub fn is_retransmission(&mut self, fingerprint: u64) -> bool {
        if self.seen.contains(&fingerprint) {
            return true;
        }
        if self.seen.len() == FINGERPRINTS {
            self.seen.pop_front();
        }
        self.seen.push_back(fingerprint);
        false
    }

    fn is_caller_tagged(&self, msg: &Message<'_>) -> bool {
        let from_tag = msg.from().and_then(|f| f.tag);
        from_tag.is_some_and(|t| self.caller_tags.iter().any(|c| c == t))
    }

    /// Which party sent `msg`: requests from a creating From-tag come from the caller,
    /// responses to them from the callee.
    pub fn sender(&self, msg: &Message<'_>) -> Side {
        if msg.is_request() == self.is_caller_tagged(msg) {
            Side::Caller
        } else {
            Side::Callee
        }
    }

    /// The callee's tag of the dialog `msg` belongs to: the To-tag of the caller's
    /// transactions, the From-tag of the callee's.
    pub fn callee_tag<'m>(&self, msg: &Message<'m>) -> Option<&'m str> {
        if self.is_caller_tagged(msg) {
            msg.to().and_then(|t| t.tag)
        } else {
            msg.from().and_then(|f| f.tag)
        }
    }

    /// Who owns the SDP of `msg` (sent by `sender`).
    pub fn owner(&self, msg: &Message<'_>, sender: Side) -> Owner {
        match sender {
            Side::Caller => Owner::Caller,
            Side::Callee => Owner::Callee(self.callee_tag(msg).map(str::to_owned)),
        }
    }

    /// Whether any warrant on the call wants its media (content, or digits as IRI).
    pub fn wants_media(&self) -> bool {
        self.intercepts
            .iter()
            .any(|i| i.scope.content || i.scope.digits_as_iri)
    }

    /// The endpoints the last [`Call::advance`] stopped.
    pub fn take_dropped(&mut self) -> Vec<Endpoint> {
        std::mem::take(&mut self.dropped)
    }

    /// Applies `msg` to the call phase and says what it does.
    pub fn advance(&mut self, msg: &Message<'_>, ts: Timestamp) -> Step {
        self.last_seen = ts;
        if self.kind == CallKind::Transaction {
            if msg.status().is_some_and(|s| s >= 200) {
                self.end(ts, true);
            }
            return Step::Report;
        }
        let to_tag = msg.to().and_then(|t| t.tag);
        let branch = msg.via_branch();
        match (msg.method(), msg.status()) {
            (Some(Method::Invite), _) if to_tag.is_none() => {
                // A new branch after every earlier one failed (busy → voicemail with the
                // same Call-ID, sequential forking) continues the call.
                if self.branches.invite(branch) && matches!(self.phase, Phase::Ending | Phase::Ended { released: false, .. }) {
                    self.phase = Phase::Setup;
                }
                Step::Setup
            }
            // The session ends when the BYE is sent (RFC 3261 §15.1.1), not at its 2xx.
            (Some(Method::Bye), _) => self.release(self.callee_tag(msg), ts),
            // A CANCEL of the initial INVITE (no To-tag, not yet answered) ends the call
            // once no branch is left that may answer; a CANCEL of a re-INVITE leaves the
            // dialog up.
            (Some(Method::Cancel), _) if self.phase == Phase::Setup && to_tag.is_none() => {
                if self.branches.cancel(branch) {
                    self.phase = Phase::Ending;
                    Step::Release
                } else {
                    Step::Other
                }
            }
            (None, Some(status)) => self.advance_response(msg, status, ts, branch, to_tag),
            _ => Step::Other,
        }
    }

    /// A BYE (or its final answer when the BYE was not seen) in the dialog of `tag`.
    fn release(&mut self, tag: Option<&str>, ts: Timestamp) -> Step {
        if self.is_ended() {
            return Step::Release;
        }
        if self.branches.bye(tag) {
            self.end(ts, true);
            Step::Release
        } else {
            // One of several answered dialogs is released; the call goes on.
            let tag = tag.map(str::to_owned);
            self.dropped.extend(self.streams.drop_where(|o| *o == Owner::Callee(tag.clone())));
            Step::Other
        }
    }

    fn advance_response(&mut self, msg: &Message<'_>, status: u16, ts: Timestamp, branch: Option<&str>, to_tag: Option<&str>) -> Step {
        let cseq_method = msg.cseq().map(|(_, m)| m);
        let initial = matches!(self.phase, Phase::Setup | Phase::Ending | Phase::Ended { released: false, .. });
        match cseq_method {
            Some(Method::Bye) if status >= 200 => {
                let tag = self.callee_tag(msg);
                if !self.is_ended() {
                    let _ = self.release(tag, ts);
                }
                if self.is_ended() {
                    Step::Release
                } else {
                    Step::Other
                }
            }
            // The INVITE is answered 487 after a CANCEL; the call ends with that.
            Some(Method::Cancel) if status >= 200 && self.phase == Phase::Ending => Step::Release,
            Some(Method::Update) if (200..300).contains(&status) => {
                self.refresh_session_timer(msg, ts);
                Step::Other
            }
            Some(Method::Invite) => match status {
                100..=199 => {
                    self.branches.provisional(to_tag);
                    if status == 181 {
                        Step::Redirection
                    } else {
                        Step::Other
                    }
                }
                300..=399 => {
                    self.branches.retry(branch);
                    Step::Redirection
                }
                200..=299 => {
                    self.refresh_session_timer(msg, ts);
                    if !initial {
                        // a re-INVITE's answer, or a second branch answering too
                        self.branches.answered(branch, to_tag);
                        return Step::Other;
                    }
                    self.branches.answered(branch, to_tag);
                    self.phase = Phase::Answered;
                    // Early media of the branches that did not answer is not the call's.
                    let branches = &self.branches;
                    self.dropped.extend(self.streams.drop_where(|o| match o {
                        Owner::Callee(Some(t)) => !branches.is_confirmed(t),
                        Owner::Callee(None) | Owner::Caller => false,
                    }));
                    Step::Answer
                }
                // A challenge is followed by a retry of the INVITE; not the end.
                401 | 407 => {
                    self.branches.retry(branch);
                    Step::Other
                }
                400..=699 => {
                    if !initial {
                        // a failed re-INVITE, or a late failure of another branch
                        if let Some(t) = to_tag.filter(|t| !self.branches.is_confirmed(t)) {
                            self.branches.failed(branch, Some(t));
                            self.drop_dialog_streams(t);
                        }
                        return Step::Other;
                    }
                    if self.is_ended() {
                        return Step::Release;
                    }
                    if self.branches.failed(branch, to_tag) {
                        self.end(ts, false);
                        Step::Release
                    } else {
                        if let Some(t) = to_tag {
                            self.drop_dialog_streams(t);
                        }
                        Step::Other
                    }
                }
                _ => Step::Other,
            },
            _ => Step::Other,
        }
    }

    fn drop_dialog_streams(&mut self, tag: &str) {
        if self.branches.is_live(tag) {
            return;
        }
        self.dropped.extend(self.streams.drop_where(|o| matches!(o, Owner::Callee(Some(t)) if t == tag)));
    }

    /// A 2xx to INVITE/UPDATE: its Session-Expires (RFC 4028) starts or refreshes the
    /// session timer; without one, the session does not expire (§9).
    fn refresh_session_timer(&mut self, msg: &Message<'_>, ts: Timestamp) {
        self.session_timer = msg
            .header("session-expires")
            .and_then(|v| v.split(';').next())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map(|secs| SessionTimer { refreshed: ts, interval_ns: secs.saturating_mul(1_000_000_000) });
    }

    fn end(&mut self, ts: Timestamp, released: bool) {
        if !self.is_ended() {
            self.phase = Phase::Ended { at: ts, released };
        }
    }

    /// When the call ended, if it did.
    pub fn ended_at(&self) -> Option<Timestamp> {
        match self.phase {
            Phase::Ended { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The later of its last signalling and its last tapped media.
    pub fn last_activity(&self) -> Timestamp {
        self.last_seen.max(super::shard::last_media(&self.last_media))
    }

    /// The media shards' view of the call.
    pub fn media_view(&self) -> super::shard::CallMedia {
        super::shard::CallMedia {
            intercepts: self
                .intercepts
                .iter()
                .map(|i| super::shard::MediaIntercept {
                    warrant: Arc::clone(&i.warrant),
                    cin: i.cin,
                    scope: i.scope,
                    target_side: i.target_side(),
                })
                .collect(),
            telephone_event_pts: self.telephone_event_pts.clone(),
            last_media: Arc::clone(&self.last_media),
        }
    }

    /// Whether the call is over (its records are all out).
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended { .. })
    }
}

/// The IRI type and event of a message for one intercept of a call of `kind`, in `phase`
/// after the message was applied.
pub fn classify(kind: CallKind, phase: Phase, intercept: &Intercept, step: Step) -> (IriType, IriEvent) {
    let event = match step {
        Step::Setup => match intercept.role {
            Role::Originating => IriEvent::Origination,
            Role::Terminating => IriEvent::TerminationAttempt,
        },
        Step::Answer => IriEvent::Answer,
        Step::Redirection => IriEvent::Redirection,
        Step::Release => IriEvent::Release,
        Step::Report => IriEvent::Report,
        Step::Other => IriEvent::Other,
    };
    let iri_type = if kind == CallKind::Transaction {
        IriType::Report
    } else if intercept.iri_sent == 0 {
        IriType::Begin
    } else if step == Step::Release || matches!(phase, Phase::Ending | Phase::Ended { .. }) {
        IriType::End
    } else {
        IriType::Continue
    };
    (iri_type, event)
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}
