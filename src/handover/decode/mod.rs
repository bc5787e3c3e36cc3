//! tapline's own decoder for `etsi` handover streams: splits back-to-back PS-PDUs and decodes
//! each into typed values, skipping fields and alternatives it does not know.

mod hi1;
mod json;
mod tlv;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod time;
pub use time::rfc3339_of_generalized;
pub use hi1::Hi1Operation;
pub use json::{decode_stream_jsonl, pdu_to_json, StreamError};
pub use tlv::TagInfo;
use tlv::{Children, Tlv};

/// Why a stream or PDU could not be decoded; offsets count from the start of the buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("offset {offset}: truncated {what}: TLV needs {need} octets, {have} available")]
    Truncated {
        offset: usize,
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("offset {offset}: expected {expected}, found {found}")]
    Unexpected {
        offset: usize,
        expected: &'static str,
        found: TagInfo,
    },
    #[error("offset {offset}: {what} missing in {within}")]
    Missing {
        offset: usize,
        what: &'static str,
        within: &'static str,
    },
    #[error("offset {offset}: invalid {what}: {why}")]
    Invalid {
        offset: usize,
        what: &'static str,
        why: &'static str,
    },
}

/// Decoded PSHeader. Byte fields stay bytes (OCTET STRINGs need not be text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// li-psDomainId, dotted (`0.4.0.2.2.5.1.43`).
    pub domain_id: String,
    pub liid: Vec<u8>,
    pub authorization_country: Option<String>,
    pub operator_id: Vec<u8>,
    pub network_element_id: Option<Vec<u8>>,
    pub cin: Option<u32>,
    pub delivery_country: Option<String>,
    pub sequence: u32,
    /// microSecondTimeStamp seconds and microSeconds.
    pub seconds: Option<u64>,
    pub micros: Option<u32>,
    /// timeStampQualifier (1 = timeOfInterception).
    pub qualifier: Option<u32>,
}

/// Which IRIContents / IPIRIContents alternative an IRI record held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IriContentKind {
    /// iPMMIRI `[1] sIPMessage`.
    SipMessage,
    /// iPMMIRI `[6] iRIOnlySIPMessage`.
    IriOnlySipMessage,
    /// iPMMIRI `[7] iRIOnlyRTPPacket` (IP + UDP + RTP octets).
    IriOnlyRtpPacket,
    /// Another IPIRIContents alternative of iPMMIRI (its tag number).
    OtherIpmm(u32),
    /// An IRIContents alternative other than `[11] iPMMIRI` (its tag number).
    Other(u32),
}

impl IriContentKind {
    /// The ASN.1 alternative name, as asn1tools reports it.
    pub fn asn1_name(self) -> Option<&'static str> {
        match self {
            IriContentKind::SipMessage => Some("sIPMessage"),
            IriContentKind::IriOnlySipMessage => Some("iRIOnlySIPMessage"),
            IriContentKind::IriOnlyRtpPacket => Some("iRIOnlyRTPPacket"),
            IriContentKind::OtherIpmm(_) | IriContentKind::Other(_) => None,
        }
    }
}

/// One IRIPayload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IriRecord {
    /// iRIType: 1 Begin, 2 End, 3 Continue, 4 Report.
    pub iri_type: Option<u32>,
    pub kind: IriContentKind,
    /// iPMMIRIObjId, dotted.
    pub obj_id: Option<String>,
    /// SIP message source/destination addresses (None for other alternatives).
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// sIPContent, or the iRIOnlyRTPPacket octets.
    pub bytes: Vec<u8>,
}

/// Which CCContents alternative a CC record held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CcContentKind {
    /// `[12] iPMMCC`.
    IpMmCc,
    /// Another CCContents alternative (its tag number).
    Other(u32),
}

/// One CCPayload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CcRecord {
    /// payloadDirection: 0 fromTarget, 1 toTarget.
    pub direction: Option<u32>,
    pub kind: CcContentKind,
    /// iPMMCCObjId, dotted.
    pub obj_id: Option<String>,
    /// mMCCContents.
    pub contents: Vec<u8>,
    /// frameType (2 = rtpFrame).
    pub frame_type: Option<u32>,
}

/// The Payload CHOICE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Iri(Vec<IriRecord>),
    Cc(Vec<CcRecord>),
    KeepAlive,
    KeepAliveResponse,
    /// `[3]` hI1-Operation: an HI1 notification (activated, deactivated, modified).
    Hi1(Hi1Operation),
    /// Another tRIPayload alternative (its tag number).
    Tri(u32),
    /// Another Payload alternative (its tag number).
    Other(u32),
}

/// One decoded PS-PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    pub header: Header,
    pub payload: Payload,
}

/// Splits a handover byte stream into its top-level TLVs (one PS-PDU each). A truncated
/// or malformed TLV yields one `Err` with its offset, after which the iterator ends.
pub fn split_stream(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], DecodeError>> {
    super::records::split_records(buf, |rest, pos| tlv::read_tlv(rest, pos).map(|t| t.total_len))
}

/// Decodes exactly one PS-PDU (the whole buffer). Offsets in errors count from `buf[0]`.
pub fn decode_pdu(buf: &[u8]) -> Result<Pdu, DecodeError> {
    let top = tlv::read_tlv(buf, 0)?;
    if top.total_len != buf.len() {
        return Err(DecodeError::Invalid {
            offset: top.total_len,
            what: "PS-PDU",
            why: "trailing octets after the PS-PDU",
        });
    }
    if top.tag.class != 0 || top.tag.number != 16 {
        return Err(top.unexpected("PS-PDU SEQUENCE"));
    }
    let (mut header, mut payload) = (None, None);
    for field in top.children("PS-PDU SEQUENCE")? {
        let field = field?;
        if field.is_ctx(1) {
            header = Some(decode_header(&field)?);
        } else if field.is_ctx(2) {
            payload = Some(decode_payload(&field)?);
        }
    }
    let missing = |what| DecodeError::Missing {
        offset: 0,
        what,
        within: "PS-PDU",
    };
    Ok(Pdu {
        header: header.ok_or_else(|| missing("[1] pSHeader"))?,
        payload: payload.ok_or_else(|| missing("[2] payload"))?,
    })
}

/// The lawfulInterceptionIdentifier of one PS-PDU (`[1] pSHeader`, `[1]`) without decoding
/// the rest; None when `buf` does not start with a PS-PDU carrying one.
pub fn liid_of(buf: &[u8]) -> Option<&[u8]> {
    let top = tlv::read_tlv(buf, 0).ok()?;
    if top.tag.class != 0 || top.tag.number != 16 {
        return None;
    }
    let header = top.children("PS-PDU SEQUENCE").ok()?.filter_map(Result::ok).find(|f| f.is_ctx(1))?;
    let liid = header.children("[1] pSHeader").ok()?.filter_map(Result::ok).find(|f| f.is_ctx(1))?;
    liid.primitive("[1] lawfulInterceptionIdentifier").ok()
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn decode_header(t: &Tlv) -> Result<Header, DecodeError> {
    let mut domain_id = None;
    let mut liid = None;
    let mut authorization_country = None;
    let mut comm_id = None;
    let mut sequence = None;
    let (mut seconds, mut micros, mut qualifier) = (None, None, None);
    for f in t.children("[1] pSHeader")? {
        let f = f?;
        match (f.tag.class, f.tag.number) {
            (0x80, 0) => {
                domain_id = Some(tlv::oid_text(f.primitive("[0] li-psDomainId")?, f.offset)?)
            }
            (0x80, 1) => liid = Some(f.primitive("[1] lawfulInterceptionIdentifier")?.to_vec()),
            (0x80, 2) => {
                authorization_country = Some(text(f.primitive("[2] authorizationCountryCode")?))
            }
            (0x80, 3) => comm_id = Some(decode_comm_id(&f)?),
            (0x80, 4) => sequence = Some(f.u32("[4] sequenceNumber")?),
            (0x80, 7) => {
                for g in f.children("[7] microSecondTimeStamp")? {
                    let g = g?;
                    if g.is_ctx(0) {
                        seconds = Some(g.unsigned("[0] seconds", u64::MAX)?);
                    } else if g.is_ctx(1) {
                        micros = Some(g.u32("[1] microSeconds")?);
                    }
                }
            }
            (0x80, 8) => qualifier = Some(f.u32("[8] timeStampQualifier")?),
            _ => {}
        }
    }
    let missing = |what| DecodeError::Missing {
        offset: t.offset,
        what,
        within: "PSHeader",
    };
    let (operator_id, network_element_id, cin, delivery_country) =
        comm_id.ok_or_else(|| missing("[3] communicationIdentifier"))?;
    Ok(Header {
        domain_id: domain_id.ok_or_else(|| missing("[0] li-psDomainId"))?,
        liid: liid.ok_or_else(|| missing("[1] lawfulInterceptionIdentifier"))?,
        authorization_country,
        operator_id,
        network_element_id,
        cin,
        delivery_country,
        sequence: sequence.ok_or_else(|| missing("[4] sequenceNumber"))?,
        seconds,
        micros,
        qualifier,
    })
}

type CommId = (Vec<u8>, Option<Vec<u8>>, Option<u32>, Option<String>);

fn decode_comm_id(t: &Tlv) -> Result<CommId, DecodeError> {
    let (mut operator, mut element, mut cin, mut country) = (None, None, None, None);
    for f in t.children("[3] communicationIdentifier")? {
        let f = f?;
        if f.is_ctx(0) {
            for g in f.children("[0] networkIdentifier")? {
                let g = g?;
                if g.is_ctx(0) {
                    operator = Some(g.primitive("[0] operatorIdentifier")?.to_vec());
                } else if g.is_ctx(1) {
                    element = Some(g.primitive("[1] networkElementIdentifier")?.to_vec());
                }
            }
        } else if f.is_ctx(1) {
            cin = Some(f.u32("[1] communicationIdentityNumber")?);
        } else if f.is_ctx(2) {
            country = Some(text(f.primitive("[2] deliveryCountryCode")?));
        }
    }
    let operator = operator.ok_or(DecodeError::Missing {
        offset: t.offset,
        what: "[0] networkIdentifier.operatorIdentifier",
        within: "communicationIdentifier",
    })?;
    Ok((operator, element, cin, country))
}

fn decode_payload(t: &Tlv) -> Result<Payload, DecodeError> {
    let alt = t.choice("[2] payload (explicit CHOICE)")?;
    if alt.tag.class != 0x80 {
        return Err(alt.unexpected("a context-tagged Payload alternative"));
    }
    match alt.tag.number {
        0 => {
            let mut records = Vec::new();
            for p in alt.children("[0] iRIPayloadSequence")? {
                records.push(decode_iri_payload(&p?)?);
            }
            Ok(Payload::Iri(records))
        }
        1 => {
            let mut records = Vec::new();
            for p in alt.children("[1] cCPayloadSequence")? {
                records.push(decode_cc_payload(&p?)?);
            }
            Ok(Payload::Cc(records))
        }
        2 => {
            let tri = alt.choice("[2] tRIPayload (explicit CHOICE)")?;
            Ok(match (tri.tag.class, tri.tag.number) {
                (0x80, 3) => Payload::KeepAlive,
                (0x80, 4) => Payload::KeepAliveResponse,
                (_, n) => Payload::Tri(n),
            })
        }
        3 => Ok(Payload::Hi1(hi1::decode_hi1_operation(&alt)?)),
        n => Ok(Payload::Other(n)),
    }
}

fn expect_sequence<'a>(t: &Tlv<'a>, what: &'static str) -> Result<Children<'a>, DecodeError> {
    if t.tag.class != 0 || t.tag.number != 16 {
        return Err(t.unexpected(what));
    }
    t.children(what)
}

fn decode_iri_payload(t: &Tlv) -> Result<IriRecord, DecodeError> {
    let mut rec = IriRecord {
        iri_type: None,
        kind: IriContentKind::Other(0),
        obj_id: None,
        src: None,
        dst: None,
        bytes: Vec::new(),
    };
    let mut seen_contents = false;
    for f in expect_sequence(t, "IRIPayload SEQUENCE")? {
        let f = f?;
        if f.is_ctx(0) {
            rec.iri_type = Some(f.u32("[0] iRIType")?);
        } else if f.is_ctx(2) {
            seen_contents = true;
            let alt = f.choice("[2] iRIContents (explicit CHOICE)")?;
            if alt.is_ctx(11) {
                decode_ipmmiri(&alt, &mut rec)?;
            } else {
                rec.kind = IriContentKind::Other(alt.tag.number);
            }
        }
    }
    if !seen_contents {
        return Err(DecodeError::Missing {
            offset: t.offset,
            what: "[2] iRIContents",
            within: "IRIPayload",
        });
    }
    Ok(rec)
}

fn decode_ipmmiri(t: &Tlv, rec: &mut IriRecord) -> Result<(), DecodeError> {
    let mut seen_contents = false;
    for f in t.children("[11] iPMMIRI")? {
        let f = f?;
        if f.is_ctx(0) {
            rec.obj_id = Some(tlv::relative_oid_text(
                f.primitive("[0] iPMMIRIObjId")?,
                f.offset,
            )?);
        } else if f.is_ctx(1) {
            seen_contents = true;
            let alt = f.choice("[1] iPMMIRIContents (explicit CHOICE)")?;
            match (alt.tag.class, alt.tag.number) {
                (0x80, n @ (1 | 6)) => {
                    rec.kind = if n == 1 {
                        IriContentKind::SipMessage
                    } else {
                        IriContentKind::IriOnlySipMessage
                    };
                    let (src, dst, sip) = decode_sip_message(&alt)?;
                    rec.src = Some(src);
                    rec.dst = Some(dst);
                    rec.bytes = sip.to_vec();
                }
                (0x80, 7) => {
                    rec.kind = IriContentKind::IriOnlyRtpPacket;
                    rec.bytes = alt.primitive("[7] iRIOnlyRTPPacket")?.to_vec();
                }
                (_, n) => rec.kind = IriContentKind::OtherIpmm(n),
            }
        }
    }
    if !seen_contents {
        return Err(DecodeError::Missing {
            offset: t.offset,
            what: "[1] iPMMIRIContents",
            within: "iPMMIRI",
        });
    }
    Ok(())
}

fn decode_sip_message<'a>(t: &Tlv<'a>) -> Result<(IpAddr, IpAddr, &'a [u8]), DecodeError> {
    let (mut src, mut dst, mut sip) = (None, None, None);
    for f in t.children("SIPMessage")? {
        let f = f?;
        if f.is_ctx(0) {
            src = Some(decode_ip_address(&f, "[0] iPSourceAddress")?);
        } else if f.is_ctx(1) {
            dst = Some(decode_ip_address(&f, "[1] iPDestinationAddress")?);
        } else if f.is_ctx(2) {
            sip = Some(f.primitive("[2] sIPContent")?);
        }
    }
    let missing = |what| DecodeError::Missing {
        offset: t.offset,
        what,
        within: "SIPMessage",
    };
    Ok((
        src.ok_or_else(|| missing("[0] iPSourceAddress"))?,
        dst.ok_or_else(|| missing("[1] iPDestinationAddress"))?,
        sip.ok_or_else(|| missing("[2] sIPContent"))?,
    ))
}

/// IPAddress { [1] iP-type, [2] iP-value CHOICE { [1] iPBinaryAddress, [2] iPTextAddress } }.
fn decode_ip_address(t: &Tlv, what: &'static str) -> Result<IpAddr, DecodeError> {
    let mut ip_type = None;
    let mut addr = None;
    for f in t.children(what)? {
        let f = f?;
        if f.is_ctx(1) {
            ip_type = Some(f.u32("[1] iP-type")?);
        } else if f.is_ctx(2) {
            let v = f.choice("[2] iP-value (explicit CHOICE)")?;
            let invalid = |why| DecodeError::Invalid {
                offset: v.offset,
                what: "iP-value",
                why,
            };
            addr = Some(match (v.tag.class, v.tag.number) {
                (0x80, 1) => {
                    let b = v.primitive("[1] iPBinaryAddress")?;
                    if let Ok(a) = <[u8; 4]>::try_from(b) {
                        IpAddr::V4(Ipv4Addr::from(a))
                    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
                        IpAddr::V6(Ipv6Addr::from(a))
                    } else {
                        return Err(invalid("iPBinaryAddress is neither 4 nor 16 octets"));
                    }
                }
                (0x80, 2) => std::str::from_utf8(v.primitive("[2] iPTextAddress")?)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("iPTextAddress is not an IP address"))?,
                _ => return Err(v.unexpected("[1] iPBinaryAddress or [2] iPTextAddress")),
            });
        }
    }
    let missing = |w| DecodeError::Missing {
        offset: t.offset,
        what: w,
        within: "IPAddress",
    };
    let ip_type = ip_type.ok_or_else(|| missing("[1] iP-type"))?;
    let addr = addr.ok_or_else(|| missing("[2] iP-value"))?;
    if (ip_type == 0 && addr.is_ipv6()) || (ip_type == 1 && addr.is_ipv4()) {
        return Err(DecodeError::Invalid {
            offset: t.offset,
            what: "IPAddress",
            why: "iP-type disagrees with iP-value",
        });
    }
    Ok(addr)
}

fn decode_cc_payload(t: &Tlv) -> Result<CcRecord, DecodeError> {
    let mut rec = CcRecord {
        direction: None,
        kind: CcContentKind::Other(0),
        obj_id: None,
        contents: Vec::new(),
        frame_type: None,
    };
    let mut seen_contents = false;
    for f in expect_sequence(t, "CCPayload SEQUENCE")? {
        let f = f?;
        if f.is_ctx(0) {
            rec.direction = Some(f.u32("[0] payloadDirection")?);
        } else if f.is_ctx(2) {
            seen_contents = true;
            let alt = f.choice("[2] cCContents (explicit CHOICE)")?;
            if !alt.is_ctx(12) {
                rec.kind = CcContentKind::Other(alt.tag.number);
                continue;
            }
            rec.kind = CcContentKind::IpMmCc;
            let mut seen_mmcc = false;
            for g in alt.children("[12] iPMMCC")? {
                let g = g?;
                if g.is_ctx(0) {
                    rec.obj_id = Some(tlv::relative_oid_text(
                        g.primitive("[0] iPMMCCObjId")?,
                        g.offset,
                    )?);
                } else if g.is_ctx(1) {
                    seen_mmcc = true;
                    rec.contents = g.primitive("[1] mMCCContents")?.to_vec();
                } else if g.is_ctx(2) {
                    rec.frame_type = Some(g.u32("[2] frameType")?);
                }
            }
            if !seen_mmcc {
                return Err(DecodeError::Missing {
                    offset: alt.offset,
                    what: "[1] mMCCContents",
                    within: "iPMMCC",
                });
            }
        }
    }
    if !seen_contents {
        return Err(DecodeError::Missing {
            offset: t.offset,
            what: "[2] cCContents",
            within: "CCPayload",
        });
    }
    Ok(rec)
}

#[cfg(test)]
mod tests;
