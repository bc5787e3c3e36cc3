//! One intercepted communication: its warrants, CINs, dialog phase and message history.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::media::Side;
use super::record::{IriEvent, IriType};
use super::scope::{Role, Scope};
use crate::sip::{Message, Method};
use crate::warrant::Warrant;
use crate::Timestamp;

/// How many message fingerprints a call remembers to recognise retransmissions.
const FINGERPRINTS: usize = 64;

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
    /// INVITE sent, no final answer yet.
    Setup,
    Answered,
    /// BYE or CANCEL sent; its answer is still to come.
    Ending,
    Ended,
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

#[derive(Debug)]
pub struct Call {
    pub call_id: String,
    pub kind: CallKind,
    pub intercepts: Vec<Intercept>,
    /// From-tags of the requests that created the call (one per leg seen).
    caller_tags: Vec<String>,
    pub phase: Phase,
    pub last_seen: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// Media endpoints tapped for this call, removed when it ends.
    pub media: Vec<(IpAddr, u16)>,
    /// Payload types negotiated for RFC 4733 telephone-events.
    pub telephone_event_pts: Vec<u8>,
    /// Packet time of the last tapped media packet, written by the media shard.
    pub last_media: Arc<AtomicU64>,
    /// (intercepts, telephone-event types) when the media shards were last told of the call.
    pub published: (usize, usize),
    seen: VecDeque<u64>,
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
            ended_at: None,
            media: Vec::new(),
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

    /// Which party sent `msg`: requests from a creating From-tag come from the caller,
    /// responses to them from the callee.
    pub fn sender(&self, msg: &Message<'_>) -> Side {
        let from_tag = msg.from().and_then(|f| f.tag);
        let from_caller = from_tag.is_some_and(|t| self.caller_tags.iter().any(|c| c == t));
        if msg.is_request() == from_caller {
            Side::Caller
        } else {
            Side::Callee
        }
    }

    /// Whether any warrant on the call wants its media (content, or digits as IRI).
    pub fn wants_media(&self) -> bool {
        self.intercepts
            .iter()
            .any(|i| i.scope.content || i.scope.digits_as_iri)
    }

    /// Applies `msg` to the call phase and says what it does.
    pub fn advance(&mut self, msg: &Message<'_>, ts: Timestamp) -> Step {
        self.last_seen = ts;
        if self.kind == CallKind::Transaction {
            if msg.status().is_some_and(|s| s >= 200) {
                self.end(ts);
            }
            return Step::Report;
        }
        match (msg.method(), msg.status()) {
            (Some(Method::Invite), _) if msg.to().and_then(|t| t.tag).is_none() => Step::Setup,
            (Some(Method::Bye), _) => {
                if self.phase != Phase::Ended {
                    self.phase = Phase::Ending;
                }
                Step::Release
            }
            // Only a CANCEL of the initial INVITE (no To-tag, not yet answered) ends the
            // call; a CANCEL of a re-INVITE leaves the dialog up.
            (Some(Method::Cancel), _)
                if self.phase == Phase::Setup && msg.to().and_then(|t| t.tag).is_none() =>
            {
                self.phase = Phase::Ending;
                Step::Release
            }
            (None, Some(status)) => self.advance_response(msg, status, ts),
            _ => Step::Other,
        }
    }

    fn advance_response(&mut self, msg: &Message<'_>, status: u16, ts: Timestamp) -> Step {
        let cseq_method = msg.cseq().map(|(_, m)| m);
        match cseq_method {
            Some(Method::Bye) if status >= 200 => {
                self.end(ts);
                Step::Release
            }
            // The INVITE is answered 487 after a CANCEL; the call ends with that.
            Some(Method::Cancel) if status >= 200 && self.phase == Phase::Ending => Step::Release,
            Some(Method::Invite) => match status {
                181 | 300..=399 => Step::Redirection,
                200..=299 if self.phase == Phase::Setup => {
                    self.phase = Phase::Answered;
                    Step::Answer
                }
                // A challenge is followed by a retry of the INVITE; not the end.
                401 | 407 => Step::Other,
                400..=699 if matches!(self.phase, Phase::Setup | Phase::Ending) => {
                    self.end(ts);
                    Step::Release
                }
                _ => Step::Other,
            },
            _ => Step::Other,
        }
    }

    fn end(&mut self, ts: Timestamp) {
        self.phase = Phase::Ended;
        self.ended_at.get_or_insert(ts);
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
        self.phase == Phase::Ended
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
    } else if step == Step::Release || matches!(phase, Phase::Ending | Phase::Ended) {
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
