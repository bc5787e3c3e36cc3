//! The sans-IO call tracer: fed every parsed SIP message with its capture time, it keeps
//! each subscriber's last incoming call and answers a `*57` with a [`TraceEvent`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::config::Config;
use super::directory::identity_key;
use super::record::{
    ChargeRecord, FailureReason, SubscriberOutcome, TraceEvent, TraceRecord, TraceResult, TracedCall,
};
use crate::sip::{self, Message, Method, StartLine};
use crate::warrant::{from_uri, Identity, Numbering};
use crate::Timestamp;

const SWEEP_EVERY_NS: u64 = 60_000_000_000;
/// How long an INVITE is remembered to absorb retransmissions and learn whether it rang.
const INVITE_MEMORY_NS: u64 = 600_000_000_000;
/// The feature code of Call Trace.
pub const TRACE_CODE: &str = "*57";

/// A subscriber's last incoming call.
#[derive(Clone, Debug)]
struct IncomingCall {
    call_id: String,
    at: Timestamp,
    /// `None`: anonymous or unavailable.
    caller: Option<Identity>,
    caller_private: bool,
    forwarded: bool,
    rang: bool,
}

/// An initial INVITE to subscribers, remembered for [`INVITE_MEMORY_NS`].
#[derive(Clone, Debug)]
struct Invite {
    at: Timestamp,
    subscribers: Vec<String>,
    /// A ringing or final response was seen: nothing more to learn.
    concluded: bool,
}

/// Counters of the service. No identity appears here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallTraceStats {
    /// Initial INVITEs that became a subscriber's last incoming call (one per subscriber).
    pub incoming_calls: u64,
    /// `*57` calls of subscribers (retransmissions counted once).
    pub trace_requests: u64,
    pub traces_succeeded: u64,
    pub failed_no_incoming_call: u64,
    pub failed_never_rang: u64,
    pub failed_caller_unavailable: u64,
    /// Successful traces whose (subscriber, caller) count reached the threshold.
    pub thresholds_reached: u64,
    pub charged_cents: u64,
    /// `*57` INVITEs from callers who are not the carrier's subscribers (ignored).
    pub requests_from_non_subscribers: u64,
    /// `*57` calls from lines with Call Trace blocked (nothing traced or charged).
    pub requests_blocked: u64,
}

/// Successful traces of one caller by one subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCount {
    pub subscriber: String,
    pub caller: String,
    pub successes: u32,
}

/// What must survive a restart: the running counts and the trace id sequence. It holds
/// callers' identities: keep it with the Center's records, not the subscribers'.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceState {
    pub next_trace: u64,
    pub pairs: Vec<PairCount>,
}

/// The call tracer's state machine.
pub struct Tracker {
    config: Config,
    /// Subscriber key → last incoming call.
    last_incoming: HashMap<String, IncomingCall>,
    /// Call-ID of a recent initial INVITE → the subscribers it was for.
    invites: HashMap<String, Invite>,
    /// Call-IDs of `*57` calls already answered (absorbs retransmissions).
    requests: HashMap<String, Timestamp>,
    pairs: HashMap<(String, String), u32>,
    next_trace: u64,
    last_sweep: Timestamp,
    stats: CallTraceStats,
}

impl Tracker {
    pub fn new(config: Config) -> Self {
        Self::with_state(config, TraceState::default())
    }

    /// A tracker continuing from a saved [`TraceState`].
    pub fn with_state(config: Config, state: TraceState) -> Self {
        let pairs = state
            .pairs
            .into_iter()
            .map(|p| ((p.subscriber, p.caller), p.successes))
            .collect();
        Tracker {
            config,
            last_incoming: HashMap::new(),
            invites: HashMap::new(),
            requests: HashMap::new(),
            pairs,
            next_trace: state.next_trace.max(1),
            last_sweep: Timestamp::default(),
            stats: CallTraceStats::default(),
        }
    }

    pub fn stats(&self) -> &CallTraceStats {
        &self.stats
    }

    /// Subscribers whose last incoming call is remembered.
    pub fn subscribers_tracked(&self) -> usize {
        self.last_incoming.len()
    }

    /// The state to save for the next run (pairs sorted).
    pub fn state(&self) -> TraceState {
        let mut pairs: Vec<PairCount> = self
            .pairs
            .iter()
            .map(|((s, c), n)| PairCount { subscriber: s.clone(), caller: c.clone(), successes: *n })
            .collect();
        pairs.sort_by(|a, b| (&a.subscriber, &a.caller).cmp(&(&b.subscriber, &b.caller)));
        TraceState { next_trace: self.next_trace, pairs }
    }

    /// Feeds one SIP message seen at `ts`; returns the records of a subscriber's `*57`.
    pub fn on_sip(&mut self, msg: &Message<'_>, ts: Timestamp) -> Option<TraceEvent> {
        if ts.saturating_sub(self.last_sweep) >= SWEEP_EVERY_NS {
            self.sweep(ts);
        }
        let call_id = msg.call_id()?;
        match msg.start() {
            StartLine::Response { status, .. } => {
                self.on_response(msg, call_id, *status);
                None
            }
            StartLine::Request { method: Method::Invite, uri, .. } => {
                if msg.to().and_then(|t| t.tag).is_some() {
                    return None; // re-INVITE inside a dialog
                }
                if is_trace_code(uri) {
                    return self.on_trace_request(msg, call_id, ts);
                }
                self.on_incoming(msg, uri, call_id, ts);
                None
            }
            StartLine::Request { .. } => None,
        }
    }

    /// A response to a pending INVITE: 18x, 2xx or 3xx means the call reached (rang) the
    /// subscriber or was forwarded on; any other final response ends it unrung.
    fn on_response(&mut self, msg: &Message<'_>, call_id: &str, status: u16) {
        if status < 101 || !matches!(msg.cseq(), Some((_, Method::Invite))) {
            return;
        }
        let rang = (180..400).contains(&status);
        if !rang && status < 200 {
            return; // 101–179: neither ringing nor final
        }
        let Some(invite) = self.invites.get_mut(call_id).filter(|i| !i.concluded) else { return };
        invite.concluded = true;
        if !rang {
            return;
        }
        for s in &invite.subscribers {
            if let Some(call) = self.last_incoming.get_mut(s) {
                if call.call_id == call_id {
                    call.rang = true;
                }
            }
        }
    }

    /// An initial INVITE: it becomes the last incoming call of every subscriber it is for
    /// (the called party, and those it was forwarded from or to).
    fn on_incoming(&mut self, msg: &Message<'_>, ruri: &str, call_id: &str, ts: Timestamp) {
        let mut callees: Vec<Identity> = Vec::new();
        let named = std::iter::once(ruri)
            .chain(msg.to().map(|t| t.uri))
            .chain(msg.diversion().map(|d| d.uri))
            .chain(msg.history_info().map(|h| h.uri));
        for uri in named {
            if let Some(id) = from_uri(uri, &self.config.numbering) {
                if self.config.is_subscriber(&id) && !callees.contains(&id) {
                    callees.push(id);
                }
            }
        }
        if callees.is_empty() {
            return;
        }
        let caller = caller_identity(msg, &self.config.numbering);
        let forwarded = msg.diversion().next().is_some() || msg.history_info().next().is_some();
        let mut keys = Vec::with_capacity(callees.len());
        for callee in &callees {
            if caller.as_ref() == Some(callee) {
                continue;
            }
            let key = identity_key(callee);
            if self.invites.get(call_id).is_some_and(|i| i.subscribers.contains(&key)) {
                continue; // retransmission, or another leg of the same call
            }
            self.last_incoming.insert(
                key.clone(),
                IncomingCall {
                    call_id: call_id.to_owned(),
                    at: ts,
                    caller: caller.clone(),
                    caller_private: msg.privacy_id(),
                    forwarded,
                    rang: false,
                },
            );
            self.stats.incoming_calls += 1;
            keys.push(key);
        }
        if !keys.is_empty() {
            let invite = self.invites.entry(call_id.to_owned()).or_insert_with(|| Invite {
                at: ts,
                subscribers: Vec::new(),
                concluded: false,
            });
            invite.subscribers.extend(keys);
            invite.concluded = false; // a new leg: wait for its ringing
        }
    }

    fn on_trace_request(&mut self, msg: &Message<'_>, call_id: &str, ts: Timestamp) -> Option<TraceEvent> {
        let subscriber = caller_identity(msg, &self.config.numbering).filter(|id| self.config.is_subscriber(id));
        let Some(subscriber) = subscriber else {
            self.stats.requests_from_non_subscribers += 1;
            return None;
        };
        if self.requests.contains_key(call_id) {
            return None;
        }
        self.requests.insert(call_id.to_owned(), ts);
        self.stats.trace_requests += 1;
        let subscriber_key = identity_key(&subscriber);
        let trace_id = format!("CT-{:08}", self.next_trace);
        self.next_trace += 1;
        let time = ts.to_rfc3339();
        if self.config.directory.trace_blocked(&subscriber_key) {
            self.stats.requests_blocked += 1;
            let outcome = SubscriberOutcome { trace_id, time, subscriber: subscriber_key, result: TraceResult::Blocked, charge_cents: 0 };
            return Some(TraceEvent { cic: None, charge: None, outcome });
        }
        let last = self
            .last_incoming
            .get(&subscriber_key)
            .filter(|c| ts.saturating_sub(c.at) < self.config.retention_ns);
        let traced_call = last.map(|c| TracedCall {
            call_id: c.call_id.clone(),
            time: c.at.to_rfc3339(),
            forwarded: c.forwarded,
            caller_private: c.caller_private,
        });
        let verdict = match last {
            None => Err(FailureReason::NoIncomingCall),
            Some(c) if !c.rang => Err(FailureReason::NeverRang),
            Some(IncomingCall { caller: None, .. }) => Err(FailureReason::CallerUnavailable),
            Some(IncomingCall { caller: Some(caller), .. }) => Ok(caller.clone()),
        };
        let mut cic = TraceRecord {
            trace_id: trace_id.clone(),
            time: time.clone(),
            subscriber: subscriber_key.clone(),
            result: TraceResult::Failure,
            failure_reason: None,
            traced_call,
            calling_number: None,
            caller_name: None,
            caller_address: None,
            charge_cents: 0,
            successful_traces: 0,
            threshold_reached: false,
        };
        let charge = match verdict {
            Err(reason) => {
                match reason {
                    FailureReason::NoIncomingCall => self.stats.failed_no_incoming_call += 1,
                    FailureReason::NeverRang => self.stats.failed_never_rang += 1,
                    FailureReason::CallerUnavailable => self.stats.failed_caller_unavailable += 1,
                }
                cic.failure_reason = Some(reason);
                None
            }
            Ok(caller) => {
                let caller_key = identity_key(&caller);
                let count = self.pairs.entry((subscriber_key.clone(), caller_key.clone())).or_insert(0);
                *count = count.saturating_add(1);
                let (area, cents) = self.config.charge_for(&subscriber);
                let listing = self.config.directory.lookup(&caller);
                cic.result = TraceResult::Success;
                cic.calling_number = Some(caller_key);
                cic.caller_name = listing.map(|l| l.name.clone());
                cic.caller_address = listing.map(|l| l.address.clone());
                cic.charge_cents = cents;
                cic.successful_traces = *count;
                cic.threshold_reached = *count >= self.config.threshold;
                self.stats.traces_succeeded += 1;
                self.stats.charged_cents += u64::from(cents);
                if cic.threshold_reached {
                    self.stats.thresholds_reached += 1;
                }
                Some(ChargeRecord {
                    trace_id: trace_id.clone(),
                    time: time.clone(),
                    subscriber: subscriber_key.clone(),
                    service: "call_trace",
                    area: area.map(str::to_owned),
                    charge_cents: cents,
                })
            }
        };
        let outcome = SubscriberOutcome {
            trace_id,
            time,
            subscriber: subscriber_key,
            result: cic.result,
            charge_cents: cic.charge_cents,
        };
        Some(TraceEvent { cic: Some(cic), charge, outcome })
    }

    /// Forgets calls older than the retention time and INVITEs older than ten minutes.
    fn sweep(&mut self, now: Timestamp) {
        self.last_sweep = now;
        let keep = self.config.retention_ns;
        self.last_incoming.retain(|_, c| now.saturating_sub(c.at) < keep);
        self.invites.retain(|_, i| now.saturating_sub(i.at) < INVITE_MEMORY_NS);
        self.requests.retain(|_, at| now.saturating_sub(*at) < keep);
    }
}

/// The caller: the network-asserted identity when present, else From; `None` when
/// anonymous or unusable. A "private" caller (`Privacy: id`) keeps its asserted identity.
pub(crate) fn caller_identity(msg: &Message<'_>, numbering: &Numbering) -> Option<Identity> {
    msg.p_asserted_identities()
        .find_map(|n| from_uri(n.uri, numbering))
        .or_else(|| msg.from().and_then(|f| from_uri(f.uri, numbering)))
}

/// True when a Request-URI dials the Call Trace code (`*57`, also `%2A57`).
pub(crate) fn is_trace_code(ruri: &str) -> bool {
    let Ok(uri) = sip::parse_uri(ruri) else { return false };
    let Some(user) = uri.user else { return false };
    let user = user.split(';').next().unwrap_or(user);
    sip::unescape_user(user) == TRACE_CODE
}
