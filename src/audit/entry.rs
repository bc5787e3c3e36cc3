//! What an audit entry holds: a provisioning act (who, what, when, from which client) or an
//! interception's §1.20004 record, and the line format that chains entries by SHA-256.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::warrant::{OrderKind, Warrant};
use crate::Timestamp;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Wall-clock time now: when a person's provisioning act was done. A run's lifecycle
/// events are stamped with the run's clock instead ([`crate::time::RunClock`]).
pub fn now() -> Timestamp {
    Timestamp::wall_now()
}

/// One provisioning act: `who` did `action` to `liid` from `client`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningAct {
    /// The person or role acting: a client certificate's subject, or `warrant-store` for
    /// changes picked up from the warrant directory.
    pub who: String,
    /// `create`, `amend`, `revoke`, `load`, `refused`.
    pub action: String,
    pub liid: Option<String>,
    /// The client: peer address of an API call, or the file changed.
    pub client: String,
    /// Why an act was refused, or other context. Never a target.
    pub detail: Option<String>,
}

/// Whether an interception started, changed or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterceptionStatus {
    Activated,
    Modified,
    Deactivated,
}

/// The record 47 CFR §1.20004(a)(1) requires for each interception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptionRecord {
    pub liid: String,
    pub agency: String,
    /// Target identities as written in the order.
    pub targets: Vec<String>,
    /// Start and end date and time of the interception (UTC, RFC 3339): from the later of
    /// the order's start and its activation on this appliance, to the earlier of the order's
    /// end and its revocation.
    pub start: String,
    pub end: String,
    /// The officer who served the order on the carrier.
    pub served_by: Option<String>,
    /// The person who signed the order.
    pub issuing_authority: String,
    /// `pen register`, `trap and trace`, `pen register and trap and trace`, `Title III`.
    pub interception_type: String,
    /// Carrier staff who provisioned it.
    pub provisioned_by: Option<String>,
    pub court_order: String,
    pub post_cut_through_digits_authorised: bool,
}

impl InterceptionRecord {
    /// The record of `w`, in force from `since` (activation) until `until` (revocation),
    /// each bounded by the order's own validity.
    pub fn of(w: &Warrant, since: Timestamp, until: Option<Timestamp>) -> InterceptionRecord {
        let start = w.valid_from.max(since);
        let end = until.map_or(w.valid_until, |u| u.min(w.valid_until)).max(start);
        InterceptionRecord {
            liid: w.liid.to_string(),
            agency: w.agency.clone(),
            targets: w.targets.iter().map(|t| t.raw.clone()).collect(),
            start: start.to_rfc3339(),
            end: end.to_rfc3339(),
            served_by: w.served_by.clone(),
            issuing_authority: w.issuing_authority.clone(),
            interception_type: interception_type(w.kind).to_owned(),
            provisioned_by: w.provisioned_by.clone(),
            court_order: w.court_order.clone(),
            post_cut_through_digits_authorised: w.delivers_post_cut_through_digits(),
        }
    }
}

fn interception_type(kind: OrderKind) -> &'static str {
    match kind {
        OrderKind::PenRegister => "pen register",
        OrderKind::TrapAndTrace => "trap and trace",
        OrderKind::PenTrap => "pen register and trap and trace",
        OrderKind::TitleIii => "Title III",
    }
}

/// What an entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    Provisioning(ProvisioningAct),
    Interception { status: InterceptionStatus, record: InterceptionRecord },
}

impl Event {
    pub fn liid(&self) -> Option<&str> {
        match self {
            Event::Provisioning(act) => act.liid.as_deref(),
            Event::Interception { record, .. } => Some(&record.liid),
        }
    }
}

/// One entry of the log. On disk a line `HASH JSON`, where JSON is this entry and HASH the
/// hex SHA-256 of `prev` (hex) followed by the JSON bytes exactly as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When it happened (UTC, RFC 3339): the wall clock for a person's act, the run's clock
    /// ([`crate::time::RunClock`]: packet time on replay) for a run's lifecycle events.
    pub time: String,
    /// The hash of the entry before (`GENESIS` for the first).
    pub prev: String,
    pub event: Event,
}

/// The chained hash of an entry whose JSON is `json`.
pub fn chain_hash(prev: &str, json: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(json);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
