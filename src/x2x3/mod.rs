//! ETSI TS 103 221-2 X2/X3: the PDU codec ([`pdu`], [`attribute`]), stream framing
//! ([`framing`]) and the keep-alive discipline as a sans-IO state machine ([`link`]) with
//! tokio shells for both ends ([`listener`], [`sender`]), and ingest of received PDUs into
//! the mediation pipeline ([`ingest`]), dropping what a sender resent ([`dedupe`]) and
//! what no warrant in force covers ([`xid_gate`]), acknowledging keepalives only once the
//! records before them are durable ([`confirm`]).

pub mod attribute;
pub mod confirm;
pub mod dedupe;
pub mod framing;
pub mod ingest;
pub mod link;
pub mod listener;
pub mod pdu;
pub mod sender;
pub mod xid_gate;

pub use attribute::{Attribute, RawAttribute};
pub use framing::{FrameError, Framer};
pub use ingest::{Ingest, IngestError};
pub use link::{CloseReason, Event, Link, LinkConfig, LinkStats, Role};
pub use confirm::Barriers;
pub use listener::{Feed, IngestCounters, Listener, ListenerConfig, ListenerError};
pub use xid_gate::{Verdict, XidGate};
pub use pdu::{Direction, Packet, PayloadFormat, PduError, PduRepr, PduType, Xid};
