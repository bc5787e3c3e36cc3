//! The mediation function as ADMF (ETSI TS 103 221-1): turns the warrants in force into X1
//! tasks on every point of interception and keeps them in step. [`plan`] says what each POI
//! must hold, [`sync`] is the per-POI reconciliation state machine (sans I/O), [`envelope`]
//! wraps and checks the X1 containers of a round; [`service`] is the shell inside
//! `tapline run --pois`, with the endpoint receiving the POIs' issue reports.

pub mod config;
pub mod envelope;
pub mod plan;
mod reports;
pub mod service;
pub mod sync;

pub use config::{PoiConfig, PoisConfig};
pub use service::{Admf, AdmfContext, AdmfError};
pub use plan::{delivery_type, did_of, next_boundary, xid_of, Plan, Planned};
pub use sync::{AdmfEvent, Deactivation, PoiState, PoiSync};
