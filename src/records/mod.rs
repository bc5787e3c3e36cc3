//! Call detail records: one record for every call the signalling view sees (targets or
//! not), kept in a real database (SQLite embedded, or PostgreSQL) for the Law Enforcement
//! Support desk, with retention, preservation holds and the subscriber directory.
//!
//! [`CdrTracker`] is the sans-IO core (SIP messages in, [`CallRecord`]s out);
//! [`RecordsObserver`] sits on mediation's `SignallingObserver` hook and hands what the
//! recorder reads of each message, in batches, to a [`Writer`] thread that runs the
//! recorder and batches the records into the [`Db`] off the hot path, and purges by
//! [`Retention`] daily; [`hook::start`] wires it and Call Trace onto a run.

mod cdr;
pub mod cic;
pub mod db;
mod directory;
pub mod hook;
mod observer;
mod purge;
mod schema;
mod signals;
mod store;
mod writer;
#[cfg(test)]
mod tests;

pub use cdr::{CdrStats, CdrTracker, Signal};
pub use db::{Db, DbError, Value};
pub use directory::{import_csv, import_toml, Subscriber};
pub use store::{Direction, Hold, PurgeReport, TraceCase, DEFAULT_RETENTION_DAYS};
pub use hook::{DeskObserver, DeskTracer, TraceTee};
pub use purge::{PurgeSchedule, Retention};
pub use writer::{RecordsObserver, Writer, WriterContext, WriterStats, PURGE_ACTOR};

use serde::{Deserialize, Serialize};

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Answered,
    Busy,
    NoAnswer,
    Cancelled,
    Failed,
    /// Redirected onwards by a 3xx (the new leg is a call of its own).
    Forwarded,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Disposition::Answered,
        Disposition::Busy,
        Disposition::NoAnswer,
        Disposition::Cancelled,
        Disposition::Failed,
        Disposition::Forwarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Failed => "failed",
            Disposition::Forwarded => "forwarded",
        }
    }

    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// What the key of a response package says of it.
    pub fn meaning(self) -> &'static str {
        match self {
            Disposition::Answered => "the called party answered; duration is from answer to end",
            Disposition::Busy => "the called party was busy or declined (486, 600, 603)",
            Disposition::NoAnswer => "not answered (408, 480, or no final response)",
            Disposition::Cancelled => "the caller hung up before answer (CANCEL, 487)",
            Disposition::Failed => "the call failed (another 4xx, 5xx or 6xx)",
            Disposition::Forwarded => "redirected to another number by a 3xx response",
        }
    }
}

/// One call, as the signalling showed it. Times are capture time, ns since the epoch.
/// Identities are normalised keys (`identity_key`): digits, or `sip:user@host`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: String,
    /// The network-asserted caller (P-Asserted-Identity, else From); `None`: anonymous.
    pub caller: Option<String>,
    /// The number presented in From (what the called party's display would show).
    pub presentation: Option<String>,
    /// The caller asked for privacy (`Privacy: id`, or an anonymous From).
    pub privacy: bool,
    pub callee: Option<String>,
    /// The number originally dialled, when the call was forwarded (Diversion/History-Info).
    pub original_called: Option<String>,
    pub start_ns: i64,
    pub answer_ns: Option<i64>,
    pub end_ns: i64,
    pub disposition: Disposition,
    /// `udp` or `tcp`.
    pub transport: String,
    /// A `*57` trace of the called subscriber traced this call.
    pub traced: bool,
}

impl CallRecord {
    /// Seconds from answer to end; 0 for unanswered calls.
    pub fn duration_s(&self) -> i64 {
        self.answer_ns.map_or(0, |a| (self.end_ns - a).max(0) / 1_000_000_000)
    }
}

/// Nanoseconds in a day.
pub const DAY_NS: i64 = 86_400 * 1_000_000_000;
