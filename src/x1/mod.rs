//! ETSI TS 103 221-1 X1: the tasking messages between an ADMF and a network element
//! (point of interception) — typed messages ([`message`]), their target identifiers
//! ([`target`]), a reader that refuses DTDs and
//! external entities ([`parse`]), a schema-valid writer ([`write`]), the network element's
//! task table as a sans-IO core ([`ne`]) and its HTTPS endpoint ([`server`]), the HTTPS
//! client of either side ([`client`]) and issue reports from an element to its ADMF
//! ([`report`]).

pub mod client;
pub mod message;
pub mod ne;
pub mod parse;
pub mod report;
pub mod server;
pub mod target;
pub mod write;

pub use message::*;
pub use ne::{Change, NeConfig, NetworkElement};
pub use parse::{parse_reports, parse_request, parse_response, X1Error};
pub use write::{write_reports, write_request, write_response};
