//! The provisioning API: warrants created, amended, revoked, listed and shown over HTTPS
//! with mutual TLS, written through to the warrant store and the audit trail; and its client.

mod cert;
pub mod https;
mod client;
mod reason;
mod server;
mod store;

pub use cert::{peer_common_name, subject_of, Subject};
pub use client::{ApiClient, ClientError, Reply};
pub use server::{start, ProvisionConfig, ProvisionError, ProvisionServer};
pub use reason::MAX_REASON;
pub use store::{Listing, Refusal, Role, StoreError, WarrantStore, WarrantView};
