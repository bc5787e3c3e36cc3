//! Delivery to agencies: per-interface disk spools split into lanes placed by LIID,
//! mutual-TLS senders confirmed by keep-alives, the development PKI, and CIN reservations
//! that survive restarts.

pub mod cins;
pub mod lanes;
pub mod pki;
pub mod placement;
pub mod queue;
pub mod sender;
pub mod service;
pub mod space;
pub mod spool;
pub mod tls;
pub mod tracker;

pub use cins::CinReservation;
pub use lanes::Lanes;
pub use queue::{Queue, QueueMetrics, Queues, SpoolOutput};
pub use sender::{run_sender, KeepaliveIdentity, Phase, Sender, SenderConfig};
pub use service::{report_of, Delivery, DeliveryError, DeliveryOptions, InterfaceReport};
pub use spool::{Framing, Position, Spool, SpoolError, SpoolOptions};
pub use tracker::{Backoff, Tracker, TrackerConfig};
