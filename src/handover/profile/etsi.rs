//! The `etsi` profile: TS 102 232-1 PS-PDUs on HI2 and HI3 (BER, encoded by
//! `handover::etsi`), HI1 notifications on HI2, keep-alive-responses echoing the PSHeader.

use std::io::Write;
use std::path::Path;

use super::{Addressee, AgencyProfile, Confirmation, DecodeFailure, Emitted, HandoverProfile, RecordEncoder};
use crate::delivery::spool::Framing;
use crate::handover::etsi::{self, Hi1Notification, IriContent, PduHeader};
use crate::handover::sequencer::Channel;
use crate::mediation::{self, IriForm, Record, RecordBody};
use crate::warrant::Appliance;
use crate::Timestamp;

/// The `etsi` profile.
pub struct Etsi;

impl HandoverProfile for Etsi {
    fn name(&self) -> &'static str {
        "etsi"
    }

    fn framing(&self, channel: Channel) -> Framing {
        match channel {
            Channel::Hi2 | Channel::Hi3 => Framing::Ber,
        }
    }

    fn confirmation(&self) -> Confirmation {
        Confirmation::EchoedKeepalive
    }

    /// The default profile: [`super::detect`] falls back to it.
    fn recognises(&self, _path: &Path, bytes: &[u8]) -> bool {
        bytes.first() == Some(&0x30)
    }

    fn decode_jsonl(&self, stream: &[u8], mut out: &mut dyn Write) -> Result<usize, DecodeFailure> {
        Ok(crate::handover::decode_stream_jsonl(stream, &mut out)?)
    }
}

impl AgencyProfile for Etsi {
    fn record_encoder(&self, _appliance: &Appliance) -> Box<dyn RecordEncoder> {
        Box::new(EtsiEncoder { buf: Vec::with_capacity(2048) })
    }

    fn hi1_notification(&self, out: &mut Vec<u8>, to: &Addressee<'_>, liid: &str, n: Hi1Notification, at: Timestamp) -> bool {
        let header = PduHeader { cin: 0, ..header(to, liid, at) };
        etsi::encode_hi1_notification(out, &header, n);
        true
    }

    fn stream_file_name(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Hi2 => "hi2.ber",
            Channel::Hi3 => "hi3.ber",
        }
    }
}

/// The PSHeader of a PDU for `to` about `liid` (CIN 0: the caller sets the record's).
fn header<'a>(to: &Addressee<'a>, liid: &'a str, ts: Timestamp) -> PduHeader<'a> {
    PduHeader {
        liid,
        authorization_country: &to.appliance.country,
        operator_id: &to.appliance.operator_id,
        network_element_id: &to.appliance.network_element_id,
        cin: 0,
        delivery_country: &to.agency.country,
        sequence: to.sequence,
        ts,
    }
}

/// Encodes records as PS-PDUs (stateless but for its buffer: numbering is the sequencer's).
struct EtsiEncoder {
    buf: Vec<u8>,
}

impl RecordEncoder for EtsiEncoder {
    fn encode(&mut self, r: &Record<'_>, to: &Addressee<'_>, emit: &mut dyn FnMut(Channel, &[u8])) -> Emitted {
        let header = PduHeader { cin: r.cin, ..header(to, r.warrant.liid.as_str(), r.ts) };
        self.buf.clear();
        let (channel, emitted) = match r.body {
            RecordBody::Iri { iri_type, form, src, dst, bytes, .. } => {
                let content = match form {
                    IriForm::SipMessage => IriContent::SipMessage { src, dst, sip: bytes },
                    IriForm::IriOnlySipMessage => IriContent::IriOnlySipMessage { src, dst, sip: bytes },
                    IriForm::IriOnlyRtpPacket => IriContent::IriOnlyRtpPacket { ip_packet: bytes },
                };
                etsi::encode_iri(&mut self.buf, &header, iri_type_of(iri_type), &content);
                (Channel::Hi2, Emitted { iri: 1, cc: 0 })
            }
            RecordBody::Cc { direction, bytes, .. } => {
                etsi::encode_cc(&mut self.buf, &header, direction_of(direction), bytes);
                (Channel::Hi3, Emitted { iri: 0, cc: 1 })
            }
        };
        emit(channel, &self.buf);
        emitted
    }
}

fn iri_type_of(t: mediation::IriType) -> etsi::IriType {
    match t {
        mediation::IriType::Begin => etsi::IriType::Begin,
        mediation::IriType::Continue => etsi::IriType::Continue,
        mediation::IriType::End => etsi::IriType::End,
        mediation::IriType::Report => etsi::IriType::Report,
    }
}

fn direction_of(d: mediation::Direction) -> etsi::Direction {
    match d {
        mediation::Direction::FromTarget => etsi::Direction::FromTarget,
        mediation::Direction::ToTarget => etsi::Direction::ToTarget,
    }
}
