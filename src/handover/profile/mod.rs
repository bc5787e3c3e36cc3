//! Handover profiles: what a profile is, in one shape. A profile is a way of putting
//! intercepted traffic on a wire: `etsi` (TS 102 232 PS-PDUs to an agency), `laes` (PCESP
//! CDC records and PacketCable CCC frames to an agency) and `x2x3` (TS 103 221-2 PDUs from a
//! POI to the mediation function). Each is one module here implementing [`HandoverProfile`]
//! (and [`AgencyProfile`] when agencies collect in it), delegating to the encoders, framers
//! and decoders in `handover::etsi`, `handover::laes` and `x2x3`; [`registry`] lists them.
//!
//! # Contract
//! - Every record a profile's encoder emits is one whole, self-delimiting frame that
//!   [`HandoverProfile::framing`] delimits in a spool and [`HandoverProfile::decode_jsonl`]
//!   decodes: encode → spool → decode round-trips (the registry's unit tests check it).
//! - What the receiving end confirms follows [`HandoverProfile::confirmation`]: a frame
//!   leaves the spool only once a keep-alive written after it is answered.
//! - Names are unique over all profiles and are what `agencies.toml` and `tapline decode
//!   --profile` spell.
//!
//! # Call order
//! 1. Configuration: [`registry::Profile::from_name`] resolves an agency's `profile`;
//!    [`registry::Profile::handover`] gives its [`AgencyProfile`].
//! 2. Start of a run: [`AgencyProfile::record_encoder`] once per profile in use (the
//!    sequencer, shared by the agencies of that profile); [`HandoverProfile::framing`] per
//!    interface when its spool is opened (delivery service, POI destinations).
//! 3. Per record: [`RecordEncoder::encode`] with the agency and the record's sequence
//!    number; per warrant change: [`AgencyProfile::hi1_notification`] (the run guard).
//! 4. Delivery: the sender of the profile's [`Confirmation`] rule confirms spooled frames.
//! 5. Reading back: [`AgencyProfile::stream_file_name`] names the stored streams (replay
//!    output); [`HandoverProfile::decode_jsonl`] decodes them (`tapline decode`, oracles).

pub mod etsi;
pub mod laes;
pub mod registry;
pub mod x2x3;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::Path;

pub use registry::{detect, Profile};

use super::sequencer::Channel;
use crate::delivery::spool::Framing;
use crate::mediation::snapshot::{Reader, SnapshotError, Writer};
use crate::mediation::Record;
use super::etsi::Hi1Notification;
use crate::warrant::{Agency, Appliance};
use crate::Timestamp;

/// One handover profile (see the module doc for the contract and call order).
pub trait HandoverProfile: Sync {
    /// The profile's name (`agencies.toml` `profile = "…"`, `tapline decode --profile`).
    fn name(&self) -> &'static str;

    /// How the frames of `channel` are delimited in a spool (they are self-delimiting; this
    /// says by what, so a torn tail can be cut).
    fn framing(&self, channel: Channel) -> Framing;

    /// How the receiving end confirms what was sent.
    fn confirmation(&self) -> Confirmation;

    /// Whether `bytes` (read from `path`) are a stream of this profile, for `tapline decode`
    /// without `--profile`.
    fn recognises(&self, path: &Path, bytes: &[u8]) -> bool;

    /// Decodes a whole stream of frames to one JSON line each; how many were written.
    fn decode_jsonl(&self, stream: &[u8], out: &mut dyn Write) -> Result<usize, DecodeFailure>;
}

/// A profile agencies collect in: it encodes mediation records, may carry HI1
/// notifications, and its streams are stored under fixed file names.
pub trait AgencyProfile: HandoverProfile {
    /// A fresh encoder of mediation records for every agency of this profile.
    fn record_encoder(&self, appliance: &Appliance) -> Box<dyn RecordEncoder>;

    /// Encodes an HI1 notification about `liid` for the HI2 stream of `to.agency` into `out`;
    /// false (nothing written) when the profile's streams carry none.
    fn hi1_notification(&self, out: &mut Vec<u8>, to: &Addressee<'_>, liid: &str, n: Hi1Notification, at: Timestamp) -> bool;

    /// The file a stream of `channel` is stored in (replay output, one agency's directory).
    fn stream_file_name(&self, channel: Channel) -> &'static str;
}

/// Who a frame is for: the appliance sending it, the agency, and the record's sequence
/// number on its (LIID, CIN, IRI/CC) counter.
#[derive(Clone, Copy, Debug)]
pub struct Addressee<'a> {
    pub appliance: &'a Appliance,
    pub agency: &'a Agency,
    pub sequence: u32,
}

/// Turns mediation records into frames of one profile.
pub trait RecordEncoder: Send {
    /// Encodes one record; every whole frame goes to `emit` with its channel.
    fn encode(&mut self, r: &Record<'_>, to: &Addressee<'_>, emit: &mut dyn FnMut(Channel, &[u8])) -> Emitted;

    /// For the pipeline snapshot: writes the per-communication state of the (LIID, CIN)s
    /// `live` selects (a stateless encoder writes nothing).
    fn save_state(&self, _live: &dyn Fn(&str, u32) -> bool, _w: &mut Writer) {}

    /// Reads back what [`RecordEncoder::save_state`] wrote.
    fn load_state(&mut self, _r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        Ok(())
    }
}

/// What one mediation record produced: frames on HI2 (IRI) and on HI3 (CC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Emitted {
    pub iri: u64,
    pub cc: u64,
}

/// How the receiving end confirms frames. In both rules data frames themselves are never
/// answered: the sender writes a keep-alive behind them, and its answer confirms every frame
/// written before it on the same connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// TS 102 232-1: the agency's keep-alive-response must echo its keep-alive's PSHeader
    /// and answer the oldest one outstanding (`delivery::sender`, `delivery::tracker`).
    EchoedKeepalive,
    /// TS 103 221-2: keepalive acks come in order, so an ack at or after the keepalive
    /// written behind the frames confirms them (`x2x3::sender::run_spooled`).
    AckedKeepalive,
}

impl Confirmation {
    /// Whether the answer to keep-alive number `answered` confirms the frames written before
    /// keep-alive number `marked` (sequence numbers wrap: serial-number arithmetic).
    pub fn settles(self, marked: u32, answered: u32) -> bool {
        match self {
            Confirmation::EchoedKeepalive => answered == marked,
            Confirmation::AckedKeepalive => answered.wrapping_sub(marked) < 1 << 31,
        }
    }
}

/// Why a stream could not be decoded (every frame before the failure has been written).
#[derive(Debug, thiserror::Error)]
pub enum DecodeFailure {
    #[error("{0}")]
    Etsi(#[from] super::decode::StreamError),
    #[error("{0}")]
    Laes(#[from] super::laes::LaesStreamError),
    #[error("{0}")]
    X2x3(#[from] x2x3::X2x3StreamError),
}

impl DecodeFailure {
    /// The output went away (a reader such as `| head` closed the pipe).
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            DecodeFailure::Etsi(super::decode::StreamError::Io(e)) => Some(e),
            DecodeFailure::Laes(super::laes::LaesStreamError::Io(e)) => Some(e),
            DecodeFailure::X2x3(x2x3::X2x3StreamError::Io(e)) => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
