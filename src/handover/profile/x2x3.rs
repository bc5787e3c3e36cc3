//! The `x2x3` profile: ETSI TS 103 221-2 X2 (IRI: SIP) and X3 (CC: RTP) PDUs from a POI to
//! the mediation function. The POI core (`poi::core`) encodes captured packets into PDUs;
//! `x2x3::framing` delimits them, `x2x3::pdu` decodes them, and a keepalive ack confirms
//! every PDU written before its keepalive (`x2x3::sender::run_spooled`). Agencies do not
//! collect in it, so it is not an [`super::AgencyProfile`].

use std::io::Write;
use std::path::Path;

use super::{Confirmation, DecodeFailure, HandoverProfile};
use crate::delivery::spool::Framing;
use crate::handover::sequencer::Channel;
use crate::x2x3::framing::split_pdus;
use crate::x2x3::{PduError, PduRepr};

/// The `x2x3` profile.
pub struct X2x3;

/// The `x2x3` profile, for the POI and the mediation function's listener.
pub const X2X3: &X2x3 = &X2x3;

/// Why an X2/X3 stream could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum X2x3StreamError {
    #[error("X2/X3 stream framing broken at octet {offset}: no whole PDU starts there")]
    Framing { offset: usize },
    #[error("X2/X3 PDU {index}: {source}")]
    Pdu { index: usize, source: PduError },
    #[error("writing decoded PDUs: {0}")]
    Io(#[from] std::io::Error),
}

impl HandoverProfile for X2x3 {
    fn name(&self) -> &'static str {
        "x2x3"
    }

    /// X2 and X3 PDUs share a destination's spool and connection.
    fn framing(&self, channel: Channel) -> Framing {
        match channel {
            Channel::Hi2 | Channel::Hi3 => Framing::X2x3,
        }
    }

    fn confirmation(&self) -> Confirmation {
        Confirmation::AckedKeepalive
    }

    /// A stream that splits wholly into X2/X3 PDUs (a BER stream starts with version octet
    /// 0x30, which no X2/X3 version has).
    fn recognises(&self, _path: &Path, bytes: &[u8]) -> bool {
        !bytes.is_empty() && split_pdus(bytes).all(|p| p.is_ok())
    }

    fn decode_jsonl(&self, stream: &[u8], out: &mut dyn Write) -> Result<usize, DecodeFailure> {
        let mut n = 0;
        for (index, pdu) in split_pdus(stream).enumerate() {
            let pdu = pdu.map_err(|offset| X2x3StreamError::Framing { offset })?;
            let repr = PduRepr::parse_bytes(pdu).map_err(|source| X2x3StreamError::Pdu { index, source })?;
            serde_json::to_writer(&mut *out, &pdu_json(&repr)).map_err(|e| X2x3StreamError::Io(e.into()))?;
            out.write_all(b"\n").map_err(X2x3StreamError::Io)?;
            n += 1;
        }
        Ok(n)
    }
}

/// One PDU's header fields and attributes as JSON; matched target identifiers are counted,
/// not shown.
fn pdu_json(p: &PduRepr<'_>) -> serde_json::Value {
    serde_json::json!({
        "version": p.version,
        "pdu_type": format!("{:?}", p.pdu_type),
        "payload_format": format!("{:?}", p.payload_format),
        "direction": format!("{:?}", p.direction),
        "xid": p.xid.to_string(),
        "correlation_id": p.correlation_id,
        "sequence": p.sequence,
        "timestamp": p.timestamp.map(|t| t.to_rfc3339()),
        "src": p.src_addr.map(|a| a.to_string()),
        "dst": p.dst_addr.map(|a| a.to_string()),
        "src_port": p.src_port,
        "dst_port": p.dst_port,
        "ip_protocol": p.ip_protocol,
        "matched_targets": p.matched_targets.len(),
        "other_attributes": p.other.len(),
        "payload_len": p.payload.len(),
    })
}
