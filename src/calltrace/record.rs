//! What a trace produces: the Call Identification Center's trace record (the only one with
//! the caller's identity), the billing charge, and the subscriber's outcome.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceResult {
    Success,
    Failure,
    /// The subscriber's line has Call Trace blocked: nothing was traced or charged, and
    /// the Center got no record (only in a [`SubscriberOutcome`]).
    Blocked,
}

/// Why a `*57` could not trace the last incoming call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// No incoming call to the subscriber within the retention time.
    NoIncomingCall,
    /// The last incoming call never rang: no 18x, 2xx or 3xx answered its INVITE.
    NeverRang,
    /// The caller was anonymous or unavailable: no identity exists to trace.
    CallerUnavailable,
}

/// The traced (last incoming) call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TracedCall {
    pub call_id: String,
    /// Time of its INVITE, RFC 3339.
    pub time: String,
    /// Forwarded to or from the subscriber (Diversion / History-Info present).
    pub forwarded: bool,
    /// The caller asked for identity privacy ("private"/"blocked": `Privacy: id`).
    pub caller_private: bool,
}

/// To the Call Identification Center. Carries the caller's identity on success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    pub trace_id: String,
    /// Time of the `*57` INVITE, RFC 3339.
    pub time: String,
    pub subscriber: String,
    pub result: TraceResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    pub traced_call: Option<TracedCall>,
    /// The caller (network-asserted identity, else From): digits of a number or `sip:` URI.
    pub calling_number: Option<String>,
    /// Name and address when the caller is a subscriber listed in the directory.
    pub caller_name: Option<String>,
    pub caller_address: Option<String>,
    pub charge_cents: u32,
    /// Successful traces of this caller by this subscriber so far, this one included
    /// (0 for a failure).
    pub successful_traces: u32,
    /// The count reached the configured threshold (normally 3): the carrier or local law
    /// enforcement may act.
    pub threshold_reached: bool,
}

/// Pay-per-use billing: one per successful trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChargeRecord {
    pub trace_id: String,
    pub time: String,
    pub subscriber: String,
    pub service: &'static str,
    pub area: Option<String>,
    pub charge_cents: u32,
}

/// What the subscriber learns: success or failure and the charge. Never the caller, the
/// traced call or the failure reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriberOutcome {
    pub trace_id: String,
    pub time: String,
    pub subscriber: String,
    pub result: TraceResult,
    pub charge_cents: u32,
}

/// The records of one `*57`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The Center's record; `None` when the line has Call Trace blocked.
    pub cic: Option<TraceRecord>,
    /// Present only for a successful trace.
    pub charge: Option<ChargeRecord>,
    pub outcome: SubscriberOutcome,
}
