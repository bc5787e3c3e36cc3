//! A legal demand (or a customer's own request) as entered at the desk, its validation
//! (reject, or return for clarification, with the reason) and its life cycle: entered →
//! validated → decided → produced → delivered.

use serde::{Deserialize, Serialize};

use super::instrument::Instrument;
use crate::records::DAY_NS;

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequesterKind {
    Agency,
    Attorney,
    Customer,
}

/// How a customer was authenticated before call detail is released (47 CFR §64.2010(b)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum CustomerAuth {
    /// The account password (never derived from biographical data).
    Password { password: String },
    /// Released only by mail to the address of record.
    MailToAddressOfRecord,
    /// Released only by calling back the number of record.
    CallBackNumberOfRecord,
}

/// A demand as entered (TOML or JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandDoc {
    pub instrument: Instrument,
    pub requester_kind: RequesterKind,
    /// Agency, attorney's office, or the customer's name.
    pub requester: String,
    #[serde(default)]
    pub case_number: Option<String>,
    /// The court, agency official or grand jury that issued it.
    #[serde(default)]
    pub issuing_authority: Option<String>,
    /// Signed by that authority.
    #[serde(default)]
    pub signed: bool,
    /// The legal entity it is addressed to (must be the carrier).
    pub addressed_to: String,
    /// Numbers or accounts named.
    pub numbers: Vec<String>,
    /// Period asked, RFC 3339 (UTC), [from, to).
    pub from: String,
    pub to: String,
    pub received: String,
    #[serde(default)]
    pub due: Option<String>,
    /// A non-disclosure order (18 U.S.C. §2705(b)) and when it ends (None: until lifted).
    #[serde(default)]
    pub nondisclosure: bool,
    #[serde(default)]
    pub nondisclosure_until: Option<String>,
    /// Customer requests: how the customer was authenticated.
    #[serde(default)]
    pub customer_auth: Option<CustomerAuth>,
    /// Emergency disclosures: why (required).
    #[serde(default)]
    pub justification: Option<String>,
}

/// Where a demand is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Entered,
    Validated,
    Rejected,
    ReturnedForClarification,
    Decided,
    Produced,
    Delivered,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Entered => "entered",
            State::Validated => "validated",
            State::Rejected => "rejected",
            State::ReturnedForClarification => "returned_for_clarification",
            State::Decided => "decided",
            State::Produced => "produced",
            State::Delivered => "delivered",
        }
    }
    pub fn parse(s: &str) -> Option<State> {
        [State::Entered, State::Validated, State::Rejected, State::ReturnedForClarification, State::Decided, State::Produced, State::Delivered]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Why a demand is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum Refusal {
    #[error("addressed to another legal entity")]
    WrongEntity,
    #[error("no signature or issuing authority")]
    NoAuthority,
    #[error("overbroad: {0}")]
    Overbroad(String),
    #[error("the period asked is beyond the retention of the records")]
    BeyondRetention,
    #[error("customer not authenticated: {0}")]
    NotAuthenticated(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

impl Refusal {
    /// Rejected outright, or returned to the requester to fix.
    pub fn outcome(&self) -> State {
        match self {
            Refusal::WrongEntity | Refusal::BeyondRetention | Refusal::NotAuthenticated(_) => State::Rejected,
            Refusal::NoAuthority | Refusal::Overbroad(_) | Refusal::Invalid(_) => State::ReturnedForClarification,
        }
    }
}

/// Most numbers one demand may name before it is overbroad.
pub const MAX_NUMBERS: usize = 25;

pub fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok())
}

/// The checks every demand passes before a decision; `carrier` is the carrier's legal
/// entity, `now_ns` the wall clock, `retention_days` the records' retention. The numbers
/// must already be normalised.
pub fn validate(d: &DemandDoc, carrier: &str, now_ns: i64, retention_days: i64) -> Result<(i64, i64), Refusal> {
    if !d.addressed_to.trim().eq_ignore_ascii_case(carrier.trim()) {
        return Err(Refusal::WrongEntity);
    }
    let from = parse_time(&d.from).ok_or_else(|| Refusal::Invalid("`from` is not an RFC 3339 time".into()))?;
    let to = parse_time(&d.to).ok_or_else(|| Refusal::Invalid("`to` is not an RFC 3339 time".into()))?;
    parse_time(&d.received).ok_or_else(|| Refusal::Invalid("`received` is not an RFC 3339 time".into()))?;
    if to <= from {
        return Err(Refusal::Invalid("`to` is not after `from`".into()));
    }
    if d.nondisclosure_until.as_deref().is_some_and(|t| parse_time(t).is_none()) {
        return Err(Refusal::Invalid("`nondisclosure_until` is not an RFC 3339 time".into()));
    }
    if d.numbers.is_empty() {
        return Err(Refusal::Overbroad("no number or account named".into()));
    }
    if d.numbers.len() > MAX_NUMBERS {
        return Err(Refusal::Overbroad(format!("more than {MAX_NUMBERS} numbers")));
    }
    if to - from > retention_days.saturating_mul(DAY_NS) {
        return Err(Refusal::Overbroad("the period is longer than the records are kept".into()));
    }
    if to <= now_ns.saturating_sub(retention_days.saturating_mul(DAY_NS)) {
        return Err(Refusal::BeyondRetention);
    }
    let customer = d.requester_kind == RequesterKind::Customer;
    match (d.instrument, customer) {
        (Instrument::CustomerRequest, true) => {
            if d.numbers.len() != 1 {
                return Err(Refusal::Overbroad("a customer asks for their own number only".into()));
            }
        }
        (Instrument::CustomerRequest, false) | (_, true) => {
            return Err(Refusal::Invalid("customer requests come from customers, legal process from agencies or attorneys".into()))
        }
        (Instrument::EmergencyDisclosure, false) => {
            if d.justification.as_deref().is_none_or(|j| j.trim().is_empty()) {
                return Err(Refusal::Invalid("an emergency disclosure needs a justification".into()));
            }
        }
        (_, false) => {
            if !d.signed || d.issuing_authority.as_deref().is_none_or(|a| a.trim().is_empty()) {
                return Err(Refusal::NoAuthority);
            }
        }
    }
    Ok((from, to))
}
