//! What mediation hands to the encoders: one lawful record for one warrant, profile-neutral.

use std::net::IpAddr;
use std::sync::Arc;

use crate::warrant::Warrant;
use crate::Timestamp;

/// ETSI IRI record type; the same classification drives the `laes` events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IriType {
    Begin,
    Continue,
    End,
    Report,
}

/// The call event a SIP message stands for (J-STD-025 message names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IriEvent {
    /// The target sends an INVITE.
    Origination,
    /// An INVITE reaches (or was forwarded from) the target.
    TerminationAttempt,
    /// 200 OK to the INVITE.
    Answer,
    /// 3xx, 181 or a forwarded INVITE.
    Redirection,
    /// BYE, CANCEL, a final failure.
    Release,
    /// A message outside a dialog (MESSAGE, REGISTER, OPTIONS, ...).
    Report,
    /// Digits the target sent after cut-through (post-cut-through dialled digits).
    DialedDigits,
    /// Any other message of the call (provisional responses, ACK, re-INVITE, INFO, ...).
    Other,
}

/// How the SIP message is carried: full for content-authorised orders, minimised otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IriForm {
    /// TS 102 232-5 `sIPMessage`: the message as captured (Title III).
    SipMessage,
    /// `iRIOnlySIPMessage`: non-SDP bodies and free-text headers removed.
    IriOnlySipMessage,
    /// `iRIOnlyRTPPacket`: an RFC 4733 telephone-event packet reported as IRI
    /// (post-cut-through digits where the order allows them).
    IriOnlyRtpPacket,
}

/// Direction of content relative to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Direction {
    FromTarget,
    ToTarget,
}

/// What the record carries.
#[derive(Clone, Copy, Debug)]
pub enum RecordBody<'a> {
    /// Call-identifying information (HI2).
    Iri {
        iri_type: IriType,
        event: IriEvent,
        form: IriForm,
        src: IpAddr,
        dst: IpAddr,
        /// The SIP message; for `IriOnlyRtpPacket` the whole IP datagram of the event.
        bytes: &'a [u8],
    },
    /// Call content (HI3): one RTP/RTCP packet, without IP/UDP headers.
    Cc {
        direction: Direction,
        src: IpAddr,
        dst: IpAddr,
        /// The UDP payload (RTP/RTCP).
        bytes: &'a [u8],
        /// The whole IP datagram, for profiles that carry it (`laes` CCC).
        ip_packet: &'a [u8],
    },
}

/// One record for one warrant and one communication (CIN).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub warrant: &'a Arc<Warrant>,
    pub cin: u32,
    /// Capture time of the packet the record comes from.
    pub ts: Timestamp,
    pub body: RecordBody<'a>,
}

impl Record<'_> {
    pub fn is_cc(&self) -> bool {
        matches!(self.body, RecordBody::Cc { .. })
    }
}

/// Receives mediation's records (an encoder, a test collector).
pub trait RecordSink {
    fn record(&mut self, record: &Record<'_>);
}

impl<F: FnMut(&Record<'_>)> RecordSink for F {
    fn record(&mut self, record: &Record<'_>) {
        self(record)
    }
}
