//! tapline's own decoder for `laes` streams: PCESP `CdcPdu` records (HI2) into typed values
//! and JSON lines, and CCC frames (HI3) into JSON lines with their RTP summary.

use std::io::Write;

use serde::Serialize;

use super::ccc::{split_ccc_stream, CccError, Frame};
use crate::handover::decode::{split_stream, DecodeError};

/// Why a CDC record could not be decoded (offsets from the start of the record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdcError {
    #[error("offset {offset}: truncated {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("offset {offset}: expected {expected}, found identifier octet {found:#04x}")]
    Unexpected { offset: usize, expected: &'static str, found: u8 },
    #[error("{what} missing in {within}")]
    Missing { what: &'static str, within: &'static str },
    #[error("offset {offset}: invalid {what}")]
    Invalid { offset: usize, what: &'static str },
}

/// A `PartyId`'s filled field: `dn`, `genericAddress`, ... and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartyText {
    pub field: String,
    pub value: String,
}

/// One decoded `CdcPdu`. Fields a message does not carry are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CdcRecord {
    pub protocol_version: u32,
    /// PCESP name of the `Message` alternative (`origination`, `ccopen`, ...).
    pub message: String,
    pub case_id: String,
    pub accessing_element_id: String,
    /// GeneralizedTime text as sent.
    pub event_time: String,
    /// `sequencenumber` and `systemidentity` (`old` for a redirection).
    pub call_id: Option<(String, String)>,
    pub calling: Option<PartyText>,
    pub called: Option<PartyText>,
    pub answering: Option<PartyText>,
    pub redirected_to: Option<PartyText>,
    pub redirected_from: Option<PartyText>,
    /// Redirection count of a termination attempt's `redirectedFromInfo`.
    pub redirections: Option<u32>,
    pub input: Option<String>,
    /// `sepCCCpair` (transmit, receive) or `combCCC` as (id, id).
    pub ccc_ids: Option<(String, String)>,
    pub subject_sdp: Option<String>,
    pub associate_sdp: Option<String>,
    pub flow_direction: Option<u32>,
    pub digits: Option<String>,
}

struct Tlv<'a> {
    ident: u8,
    number: u32,
    value: &'a [u8],
    offset: usize,
    total: usize,
}

impl Tlv<'_> {
    fn constructed(&self) -> bool {
        self.ident & 0x20 != 0
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(self.value).into_owned()
    }
    fn unsigned(&self, what: &'static str) -> Result<u32, CdcError> {
        if self.value.is_empty() || self.value.len() > 5 || self.value.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(CdcError::Invalid { offset: self.offset, what });
        }
        let v = self.value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        u32::try_from(v).map_err(|_| CdcError::Invalid { offset: self.offset, what })
    }
}

fn read(buf: &[u8], at: usize) -> Result<Tlv<'_>, CdcError> {
    let truncated = |what| CdcError::Truncated { offset: at, what };
    let ident = *buf.get(at).ok_or(truncated("identifier"))?;
    let mut p = at + 1;
    let mut number = u32::from(ident & 0x1f);
    if number == 0x1f {
        number = 0;
        loop {
            let b = *buf.get(p).ok_or(truncated("tag"))?;
            p += 1;
            number = number.checked_mul(128).ok_or(CdcError::Invalid { offset: at, what: "tag number" })? | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let first = *buf.get(p).ok_or(truncated("length"))?;
    p += 1;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(CdcError::Invalid { offset: at, what: "length (indefinite or over 4 octets)" });
        }
        let octets = buf.get(p..p + n).ok_or(truncated("length"))?;
        p += n;
        octets.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let end = p.checked_add(len).ok_or(truncated("value"))?;
    let value = buf.get(p..end).ok_or(truncated("value"))?;
    Ok(Tlv { ident, number, value, offset: at, total: end - at })
}

/// The TLVs inside a constructed value (offsets from the start of the record).
fn children<'a>(t: &Tlv<'a>) -> Result<Vec<Tlv<'a>>, CdcError> {
    if !t.constructed() {
        return Err(CdcError::Unexpected { offset: t.offset, expected: "constructed value", found: t.ident });
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < t.value.len() {
        let mut c = read(t.value, at)?;
        at += c.total;
        c.offset += t.offset;
        out.push(c);
    }
    Ok(out)
}

/// Whether `buf` starts like a `CdcPdu` (`30 len 80 01 ..`), as opposed to a PS-PDU
/// (`30 len A1 ..`) or a CCC frame.
pub fn looks_like_cdc(buf: &[u8]) -> bool {
    read(buf, 0).is_ok_and(|t| t.ident == 0x30 && t.value.first() == Some(&0x80))
}

fn message_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        1 => "answer",
        2 => "ccclose",
        3 => "ccopen",
        5 => "origination",
        7 => "redirection",
        8 => "release",
        10 => "terminationattempt",
        12 => "ccchange",
        15 => "dialeddigitextraction",
        16 => "networksignal",
        17 => "subjectsignal",
        18 => "mediareport",
        19 => "serviceinstance",
        20 => "confpartychange",
        _ => return None,
    })
}

/// Decodes exactly one `CdcPdu` (the whole buffer).
pub fn decode_cdc(buf: &[u8]) -> Result<CdcRecord, CdcError> {
    let top = read(buf, 0)?;
    if top.ident != 0x30 {
        return Err(CdcError::Unexpected { offset: 0, expected: "CdcPdu SEQUENCE", found: top.ident });
    }
    if top.total != buf.len() {
        return Err(CdcError::Invalid { offset: top.total, what: "trailing octets after the CdcPdu" });
    }
    let mut rec = CdcRecord::default();
    let mut message = None;
    for f in children(&top)? {
        match (f.ident & 0xc0, f.number) {
            (0x80, 0) => rec.protocol_version = f.unsigned("protocolVersion")?,
            (0x80, 1) => message = Some(f),
            _ => {}
        }
    }
    let choice = message.ok_or(CdcError::Missing { what: "message", within: "CdcPdu" })?;
    let alt = children(&choice)?.into_iter().next().ok_or(CdcError::Missing { what: "alternative", within: "Message" })?;
    let name = message_name(alt.number).ok_or(CdcError::Invalid { offset: alt.offset, what: "Message alternative" })?;
    rec.message = name.to_owned();
    for f in children(&alt)? {
        decode_field(&mut rec, alt.number, &f)?;
    }
    if rec.case_id.is_empty() {
        return Err(CdcError::Missing { what: "caseId", within: name });
    }
    Ok(rec)
}

fn decode_field(rec: &mut CdcRecord, message: u32, f: &Tlv<'_>) -> Result<(), CdcError> {
    match (message, f.number) {
        (_, 0) => rec.case_id = f.text(),
        (_, 1) => rec.accessing_element_id = f.text(),
        (_, 2) if !f.constructed() => rec.event_time = f.text(),
        // ccopen: ccOpenTime [3] SEQUENCE OF CallId (the first), cCCId [5], SDP [6]/[7], [8].
        (3, 3) => {
            if let Some(first) = children(f)?.first() {
                rec.call_id = Some(call_id(first)?);
            }
        }
        (3, 5) | (2, 3) => rec.ccc_ids = Some(ccc_ids(f)?),
        (3, 6) => rec.subject_sdp = Some(f.text()),
        (3, 7) => rec.associate_sdp = Some(f.text()),
        (3, 8) | (2, 4) => rec.flow_direction = Some(f.unsigned("flowDirection")?),
        (2, _) | (3, _) => {}
        (_, 3) => rec.call_id = Some(call_id(f)?),
        (1, 4) => rec.answering = Some(party(f)?),
        (5 | 10, 4) => rec.calling = party_opt(f)?,
        (5 | 10, 5) => rec.called = party_opt(f)?,
        (5, 6 | 7) => rec.input = Some(f.text()),
        (10, 7) => {
            for c in children(f)? {
                match c.number {
                    0 => rec.redirected_from = party_opt(&c)?,
                    2 => rec.redirections = Some(c.unsigned("numRedirections")?),
                    _ => {}
                }
            }
        }
        (7, 4) => rec.redirected_to = party_opt(f)?,
        (7, 9) => rec.redirected_from = party_opt(f)?,
        (15, 4) => rec.digits = Some(f.text()),
        _ => {}
    }
    Ok(())
}

fn call_id(f: &Tlv<'_>) -> Result<(String, String), CdcError> {
    let (mut seq, mut sys) = (None, None);
    for c in children(f)? {
        match c.number {
            0 => seq = Some(c.text()),
            1 => sys = Some(c.text()),
            _ => {}
        }
    }
    match (seq, sys) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CdcError::Missing { what: "sequencenumber/systemidentity", within: "CallId" }),
    }
}

fn party_opt(f: &Tlv<'_>) -> Result<Option<PartyText>, CdcError> {
    let p = party(f)?;
    Ok((!p.field.is_empty()).then_some(p))
}

fn party(f: &Tlv<'_>) -> Result<PartyText, CdcError> {
    let Some(c) = children(f)?.into_iter().find(|c| !c.value.is_empty()) else {
        return Ok(PartyText { field: String::new(), value: String::new() });
    };
    let field = match c.number {
        6 => "dn",
        7 => "userProvided",
        10 => "ipAddress",
        12 => "trunkId",
        14 => "genericAddress",
        15 => "genericDigits",
        16 => "genericName",
        17 => "port",
        18 => "context",
        _ => "reserved",
    };
    Ok(PartyText { field: field.to_owned(), value: c.text() })
}

fn ccc_ids(f: &Tlv<'_>) -> Result<(String, String), CdcError> {
    let alt = children(f)?.into_iter().next().ok_or(CdcError::Missing { what: "CCCId", within: "cCCId" })?;
    match alt.number {
        0 => Ok((alt.text(), alt.text())),
        1 => call_id(&alt).map_err(|_| CdcError::Missing { what: "sepXmitCCC/sepRecvCCC", within: "sepCCCpair" }),
        _ => Err(CdcError::Invalid { offset: alt.offset, what: "CCCId alternative" }),
    }
}

/// A decoded CCC frame for JSON output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CccRecord {
    pub ccc_id: String,
    pub case_id: String,
    /// Capture time (RFC 3339) from the NTP timestamp.
    pub time: String,
    pub ip_len: usize,
    /// The UDP payload (RTP/RTCP) of the datagram, when it is UDP.
    #[serde(skip)]
    pub udp_payload: Vec<u8>,
}

/// Decodes one CCC frame (must be exactly one frame).
pub fn decode_ccc(buf: &[u8]) -> Result<CccRecord, CccError> {
    let f = Frame::new_checked(buf)?;
    let ip = f.ip_packet();
    Ok(CccRecord {
        ccc_id: super::cdc::ccc_hex(f.ccc_id()),
        case_id: f.case_id_text(),
        time: f.timestamp().to_rfc3339(),
        ip_len: ip.len(),
        udp_payload: udp_payload(ip).unwrap_or_default().to_vec(),
    })
}

/// The UDP payload of an IPv4/IPv6 datagram without extension headers.
pub fn udp_payload(ip: &[u8]) -> Option<&[u8]> {
    use crate::wire::{ipv4, ipv6, udp};
    let l4 = match ip.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(ip).ok()?;
            (p.protocol() == 17 && !p.is_fragment()).then(|| p.payload())?
        }
        6 => {
            let p = ipv6::Packet::new_checked(ip).ok()?;
            let upper = ipv6::walk_extensions(p.next_header(), p.payload()).ok()?;
            if upper.protocol != 17 || upper.fragment.is_some() {
                return None;
            }
            p.payload().get(upper.offset..)?
        }
        _ => return None,
    };
    Some(udp::Packet::new_checked(l4).ok()?.payload())
}

/// Why a `laes` stream could not be printed.
#[derive(Debug, thiserror::Error)]
pub enum LaesStreamError {
    #[error("record {index}: {source}")]
    Cdc { index: usize, source: CdcError },
    #[error("stream: {0}")]
    Split(#[from] DecodeError),
    #[error("{0}")]
    Ccc(#[from] CccError),
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
}

/// Prints a `laes` stream as JSON lines: a stream of `CdcPdu`s (hi2.ber) one record per line
/// with `"kind":"cdc"`, else a stream of CCC frames (hi3.ccc) with `"kind":"ccc"` and the
/// RTP summary. Returns how many records were printed.
pub fn decode_laes_jsonl(buf: &[u8], out: &mut impl Write) -> Result<usize, LaesStreamError> {
    let mut n = 0;
    if buf.is_empty() || looks_like_cdc(buf) {
        for (index, pdu) in split_stream(buf).enumerate() {
            let rec = decode_cdc(pdu?).map_err(|source| LaesStreamError::Cdc { index, source })?;
            let mut v = serde_json::to_value(&rec).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("kind".into(), "cdc".into());
                // Printed as every decoded time is (RFC 3339, UTC, microseconds).
                let time = crate::handover::decode::rfc3339_of_generalized(&rec.event_time);
                o.insert("event_time".into(), time.into());
            }
            writeln!(out, "{v}")?;
            n += 1;
        }
    } else {
        for frame in split_ccc_stream(buf) {
            let rec = decode_ccc(frame?)?;
            let mut v = serde_json::to_value(&rec).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("kind".into(), "ccc".into());
                if let Ok(rtp) = crate::rtp::RtpPacket::new_checked(rec.udp_payload.as_slice()) {
                    o.insert(
                        "rtp".into(),
                        serde_json::json!({"pt": rtp.payload_type(), "seq": rtp.sequence(), "ssrc": rtp.ssrc(), "len": rec.udp_payload.len()}),
                    );
                }
            }
            writeln!(out, "{v}")?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handover::laes::cdc::{encode_cdc, CallId, CccPair, Common, Message, Party, RedirectedFrom};
    use crate::Timestamp;
    use proptest::prelude::*;

    fn common() -> Common<'static> {
        Common { case_id: "CASE-1", element_id: "MED-01", time: Timestamp::from_secs_micros(1_793_527_200, 77_000) }
    }
    const CALL: CallId<'static> = CallId { sequence: "1,811C9DC5", system: "MED-01" };

    fn round(m: &Message<'_>) -> CdcRecord {
        let mut out = Vec::new();
        encode_cdc(&mut out, &common(), m);
        assert!(looks_like_cdc(&out));
        decode_cdc(&out).unwrap()
    }

    #[test]
    fn termination_attempt_round_trips() {
        let r = round(&Message::TerminationAttempt {
            call_id: CALL,
            calling: Some(Party::Address("bob@example.com".into())),
            called: Some(Party::Dn("13035550142".into())),
            redirected_from: Some(RedirectedFrom { last_redirecting: Some(Party::Dn("13035550100".into())), original_called: None, redirections: 1 }),
        });
        assert_eq!(r.message, "terminationattempt");
        assert_eq!((r.protocol_version, r.case_id.as_str(), r.event_time.as_str()), (4, "CASE-1", "20261101100000.077Z"));
        assert_eq!(r.call_id, Some(("1,811C9DC5".into(), "MED-01".into())));
        assert_eq!(r.calling.unwrap().value, "bob@example.com");
        assert_eq!(r.called.unwrap(), PartyText { field: "dn".into(), value: "13035550142".into() });
        assert_eq!(r.redirected_from.unwrap().value, "13035550100");
        assert_eq!(r.redirections, Some(1));
    }

    #[test]
    fn ccopen_round_trips() {
        let r = round(&Message::CcOpen { call_id: CALL, ccc: CccPair { xmit: 2, recv: 3 }, subject: Some("v=0\r\n"), associate: None });
        assert_eq!(r.message, "ccopen");
        assert_eq!(r.call_id.unwrap().0, "1,811C9DC5");
        assert_eq!(r.ccc_ids, Some(("00000002".into(), "00000003".into())));
        assert_eq!(r.subject_sdp.as_deref(), Some("v=0\r\n"));
        assert_eq!(r.flow_direction, Some(3));
    }

    #[test]
    fn digits_and_origination_round_trip() {
        let r = round(&Message::DialedDigits { call_id: CALL, digits: "5" });
        assert_eq!((r.message.as_str(), r.digits.as_deref()), ("dialeddigitextraction", Some("5")));
        let r = round(&Message::Origination { call_id: CALL, calling: None, called: None, input: "911" });
        assert_eq!((r.calling, r.input.as_deref()), (None, Some("911")));
    }

    #[test]
    fn rejects_a_ps_pdu_and_truncation() {
        assert!(!looks_like_cdc(&[0x30, 0x03, 0xa1, 0x01, 0x00]));
        let mut out = Vec::new();
        encode_cdc(&mut out, &common(), &Message::Release { call_id: CALL });
        out.pop();
        assert!(decode_cdc(&out).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_cdc(&bytes);
            let _ = decode_laes_jsonl(&bytes, &mut Vec::new());
        }
    }
}
