//! The CALEA audit trail (47 CFR §1.20004): an append-only, hash-chained log of every
//! provisioning act and interception, fsynced, readable only by the appliance's user.

mod entry;
mod log;
mod verify;

pub use entry::{now, Entry, Event, InterceptionRecord, InterceptionStatus, ProvisioningAct};
pub use log::{AuditError, AuditLog, HEAD_FILE, LOG_FILE};
pub use verify::{entries_of_liid, last_interceptions, verify_dir, Tamper, Verified};
