//! ETSI TS 103 221-1 X1: the tasking messages between an ADMF and a network element
//! (point of interception) — typed messages ([`message`]), a reader that refuses DTDs and
//! external entities ([`parse`]) and a schema-valid writer ([`write`]).

pub mod message;
pub mod ne;
pub mod parse;
pub mod write;

pub use message::*;
pub use parse::{parse_request, parse_response, X1Error};
pub use ne::{Change, NeConfig, NetworkElement};
pub use write::{write_request, write_response};
