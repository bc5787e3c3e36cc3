//! The point of interception (`tapline poi`, ETSI TS 103 221): tasked over X1, it runs the
//! mediator's call tracking over its capture with its tasks as the warrant table
//! ([`tasks`]), turns what each task matches into X2 (SIP) and X3 (RTP/RTCP) PDUs
//! ([`core`], sans-IO) and delivers them through a durable spool per destination over
//! mutually authenticated TLS 1.3 ([`run`], the process shell); it reports its faults to
//! the ADMF over X1 ([`faults`], sans-IO, and [`reporting`], its shell).
//!
//! Spool contract: a PDU is appended to its destination's spool before it is sent and
//! deleted only once confirmed. Data PDUs are never acknowledged, so the sender writes a
//! keepalive behind the PDUs it wrote; the ack of that keepalive on the same connection
//! confirms every PDU written before it (the mediation function queues them to its
//! pipeline before it answers). On a reconnect, and after a restart, everything unconfirmed
//! is sent again; the mediation function drops the resends by sender, XID, sequence number
//! and timestamp (`x2x3::dedupe`).

pub mod core;
pub mod faults;
pub mod reporting;
pub mod run;
pub mod tasks;

pub use self::core::{Poi, PoiStats};
pub use run::{run, PoiConfig, PoiError, PoiSource, PoiSummary};
pub use tasks::{carries, TaskStats, Tasks};
