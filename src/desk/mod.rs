//! The Law Enforcement Support desk: legal demands and customers' own requests for call
//! records, decided by one exhaustive instrument table ([`instrument::release`]), answered
//! with a reproducible response package, every step in the hash-chained audit log; and the
//! Call Identification Center's release of `*57` trace results.

pub mod api;
pub mod cpni;
pub mod demand;
pub mod instrument;
mod lines;
pub mod package;
pub mod roles;
mod service;

pub use demand::{CustomerAuth, DemandDoc, Refusal, RequesterKind, State};
pub use instrument::{release, CallsMade, Instrument, Release, SubscriberInfo};
pub use package::{FileEntry, Produced};
pub use roles::{allowed, DeskAction, DeskRole};
pub use service::{DemandRecord, Desk, DeskConfig, PRESERVATION_DAYS};

use crate::audit::AuditError;
use crate::records::DbError;

/// Why a desk operation failed. Never carries a number.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("records database: {0}")]
    Db(#[from] DbError),
    #[error("audit trail: {0}")]
    Audit(#[from] AuditError),
    #[error("no demand {0}")]
    NoDemand(String),
    #[error("demand {id} is {state}; {action} needs {needs}")]
    WrongState { id: String, state: &'static str, action: &'static str, needs: &'static str },
    #[error("demand {id}: {why}")]
    Invalid { id: String, why: String },
    #[error("package: {0}")]
    Package(String),
    #[error("{0}")]
    Cpni(#[from] cpni::CpniError),
    #[error("not a telephone number or SIP URI")]
    BadNumber,
}
