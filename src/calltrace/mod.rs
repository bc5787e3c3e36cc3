//! Call Trace (`*57`): on mediation's view of all signalling, remember each subscriber's
//! last incoming call and, when the subscriber dials `*57`, trace it for the carrier's Call
//! Identification Center, bill it, and tell the subscriber only success or failure.

mod config;
mod directory;
mod output;
mod record;
pub(crate) mod tracker;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use config::{Area, Config, MAX_CHARGE_CENTS};
pub use directory::{identity_key, number_key, Directory, Listing};
pub use output::{load_state, save_state, CallTracer, JsonlOutput, TraceOutput};
pub use record::{
    ChargeRecord, FailureReason, SubscriberOutcome, TraceEvent, TraceRecord, TraceResult, TracedCall,
};
pub use tracker::{CallTraceStats, PairCount, TraceState, Tracker, TRACE_CODE};

/// Why the call trace service could not start or write. Never carries a number: messages
/// name the file and key only.
#[derive(Debug, thiserror::Error)]
pub enum CallTraceError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid TOML: {why}")]
    Toml { path: PathBuf, why: String },
    #[error("{path}: `{key}`: {why}")]
    Invalid { path: PathBuf, key: String, why: String },
    #[error("{path}: unreadable call trace state: {why}")]
    State { path: PathBuf, why: String },
}
