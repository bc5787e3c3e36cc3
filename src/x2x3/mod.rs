//! ETSI TS 103 221-2 X2/X3: the PDU codec, stream framing with the keep-alive discipline
//! (sans-IO, plus a tokio shell), and ingest of received PDUs into the mediation pipeline.

pub mod attribute;
pub mod pdu;

pub use attribute::{Attribute, RawAttribute};
pub use pdu::{Direction, Packet, PayloadFormat, PduError, PduRepr, PduType, Xid};
