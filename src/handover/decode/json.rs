//! Readable JSON for decoded PS-PDUs (SIP first line, RTP summary) and the JSON-lines
//! stream decoder behind `tapline decode FILE`.

use std::io::Write;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::{
    decode_pdu, split_stream, CcContentKind, CcRecord, DecodeError, IriContentKind, IriRecord,
    Payload, Pdu,
};

/// Failure of [`decode_stream_jsonl`]; every PDU before it has been written.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("handover stream framing broken: {0}")]
    Framing(DecodeError),
    #[error("{failed} of {total} PS-PDUs could not be decoded (see the error lines)")]
    Undecodable { failed: usize, total: usize },
    #[error("writing decoded PDUs: {0}")]
    Io(#[from] std::io::Error),
}

/// Text when the octets are UTF-8, else `{"hex": ...}`.
fn octets(v: &[u8]) -> Value {
    match std::str::from_utf8(v) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => json!({ "hex": hex(v) }),
    }
}

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

fn iri_type_name(t: u32) -> Value {
    match t {
        1 => json!("iRI-Begin"),
        2 => json!("iRI-End"),
        3 => json!("iRI-Continue"),
        4 => json!("iRI-Report"),
        n => json!(n),
    }
}

fn qualifier_name(q: u32) -> Value {
    match q {
        0 => json!("unknown"),
        1 => json!("timeOfInterception"),
        2 => json!("timeOfMediation"),
        3 => json!("timeOfAggregation"),
        n => json!(n),
    }
}

fn direction_name(d: u32) -> Value {
    match d {
        0 => json!("fromTarget"),
        1 => json!("toTarget"),
        2 => json!("indeterminate"),
        3 => json!("combined"),
        4 => json!("notapplicable"),
        n => json!(n),
    }
}

fn frame_type_name(f: u32) -> Value {
    const NAMES: [&str; 8] = [
        "ipFrame",
        "udpFrame",
        "rtpFrame",
        "audioFrame",
        "tcpFrame",
        "artificialRtpFrame",
        "udptlFrame",
        "msrpFrame",
    ];
    usize::try_from(f)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or(json!(f), |n| json!(n))
}

/// First line of a SIP message (request line or status line).
fn sip_first_line(sip: &[u8]) -> String {
    let line = sip.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned()
}

/// Summary of an RTP version 2 packet, None when it does not parse as one.
fn rtp_summary(p: &[u8]) -> Option<Value> {
    let fixed = p.get(..12)?;
    if fixed[0] >> 6 != 2 {
        return None;
    }
    Some(json!({
        "pt": fixed[1] & 0x7F,
        "m": fixed[1] >> 7,
        "seq": u16::from_be_bytes([fixed[2], fixed[3]]),
        "ts": u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        "ssrc": format!("0x{:08x}", u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]])),
        "len": p.len(),
    }))
}

/// Source, destination and UDP payload of an IPv4/IPv6 UDP datagram (no IPv6 extensions).
fn udp_in_ip(p: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0F) * 4;
            if ihl < 20 || *p.get(9)? != 17 {
                return None;
            }
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            Some((src.into(), dst.into(), p.get(ihl + 8..)?))
        }
        6 => {
            if *p.get(6)? != 17 {
                return None;
            }
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some((src.into(), dst.into(), p.get(48..)?))
        }
        _ => None,
    }
}

fn iri_json(r: &IriRecord) -> Value {
    let mut m = Map::new();
    m.insert(
        "iri_type".into(),
        r.iri_type.map_or(Value::Null, iri_type_name),
    );
    let content = match r.kind.asn1_name() {
        Some(name) => json!(name),
        None => match r.kind {
            IriContentKind::OtherIpmm(n) => json!(format!("iPMMIRIContents [{n}]")),
            IriContentKind::Other(n) => json!(format!("iRIContents [{n}]")),
            _ => Value::Null,
        },
    };
    m.insert("content".into(), content);
    if let Some(o) = &r.obj_id {
        m.insert("obj_id".into(), json!(o));
    }
    match r.kind {
        IriContentKind::SipMessage | IriContentKind::IriOnlySipMessage => {
            m.insert("src".into(), json!(r.src.map(|a| a.to_string())));
            m.insert("dst".into(), json!(r.dst.map(|a| a.to_string())));
            m.insert("len".into(), json!(r.bytes.len()));
            m.insert("first_line".into(), json!(sip_first_line(&r.bytes)));
            m.insert("sip".into(), json!(String::from_utf8_lossy(&r.bytes)));
        }
        IriContentKind::IriOnlyRtpPacket => {
            m.insert("len".into(), json!(r.bytes.len()));
            if let Some((src, dst, udp_payload)) = udp_in_ip(&r.bytes) {
                m.insert("src".into(), json!(src.to_string()));
                m.insert("dst".into(), json!(dst.to_string()));
                if let Some(rtp) = rtp_summary(udp_payload) {
                    m.insert("rtp".into(), rtp);
                }
            }
        }
        IriContentKind::OtherIpmm(_) | IriContentKind::Other(_) => {}
    }
    Value::Object(m)
}

fn cc_json(r: &CcRecord) -> Value {
    let mut m = Map::new();
    m.insert(
        "direction".into(),
        r.direction.map_or(Value::Null, direction_name),
    );
    match r.kind {
        CcContentKind::IpMmCc => {
            m.insert("content".into(), json!("iPMMCC"));
            m.insert("obj_id".into(), json!(r.obj_id));
            m.insert(
                "frame_type".into(),
                r.frame_type.map_or(Value::Null, frame_type_name),
            );
            m.insert("len".into(), json!(r.contents.len()));
            if let Some(rtp) = rtp_summary(&r.contents) {
                m.insert("rtp".into(), rtp);
            }
        }
        CcContentKind::Other(n) => {
            m.insert("content".into(), json!(format!("cCContents [{n}]")));
        }
    }
    Value::Object(m)
}

/// Readable JSON of one PDU: header fields by name, IRI records with addresses and the SIP
/// first line, CC records with an RTP summary (pt, seq, ssrc, len) when the contents are RTP v2.
pub fn pdu_to_json(p: &Pdu) -> Value {
    let h = &p.header;
    let time = match (h.seconds, h.micros) {
        (Some(s), Some(us)) => s
            .checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(u64::from(us) * 1_000))
            .map(|ns| json!(crate::Timestamp::from_nanos(ns).to_rfc3339())),
        _ => None,
    };
    let header = json!({
        "domain_id": h.domain_id,
        "liid": octets(&h.liid),
        "authorization_country": h.authorization_country,
        "operator_id": octets(&h.operator_id),
        "network_element_id": h.network_element_id.as_deref().map(octets),
        "cin": h.cin,
        "delivery_country": h.delivery_country,
        "sequence": h.sequence,
        "seconds": h.seconds,
        "micros": h.micros,
        "time": time,
        "qualifier": h.qualifier.map(qualifier_name),
    });
    let payload = match &p.payload {
        Payload::Iri(records) => {
            json!({ "kind": "IRI", "records": records.iter().map(iri_json).collect::<Vec<_>>() })
        }
        Payload::Cc(records) => {
            json!({ "kind": "CC", "records": records.iter().map(cc_json).collect::<Vec<_>>() })
        }
        Payload::KeepAlive => json!({ "kind": "keep-alive" }),
        Payload::KeepAliveResponse => json!({ "kind": "keep-aliveResponse" }),
        Payload::Hi1(op) => json!({
            "kind": "hI1-Operation",
            "notification": op.asn1_name().map_or_else(|| format!("[{}]", op.alternative), str::to_owned),
            "liid": op.liid.as_deref().map(octets),
            "time_stamp": op.time_stamp.as_deref().map(super::rfc3339_of_generalized),
        }),
        Payload::Tri(n) => json!({ "kind": format!("tRIPayload [{n}]") }),
        Payload::Other(n) => json!({ "kind": format!("payload [{n}]") }),
    };
    json!({ "header": header, "payload": payload })
}

/// Decodes a file of back-to-back PS-PDUs to JSON lines on `out`, one per PDU:
/// `{"index","offset","length","pdu"}`, or `{"index","offset","error"}` for a PDU that does
/// not decode (decoding goes on with the next one). Returns the number of PDUs decoded;
/// `Err` when any PDU failed or the framing broke (after writing what came before).
pub fn decode_stream_jsonl(buf: &[u8], out: &mut impl Write) -> Result<usize, StreamError> {
    let (mut offset, mut decoded, mut failed) = (0usize, 0usize, 0usize);
    for (index, item) in split_stream(buf).enumerate() {
        let pdu = match item {
            Ok(pdu) => pdu,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    json!({ "index": index, "offset": offset, "error": e.to_string() })
                )?;
                return Err(StreamError::Framing(e));
            }
        };
        let line = match decode_pdu(pdu) {
            Ok(p) => {
                decoded += 1;
                json!({ "index": index, "offset": offset, "length": pdu.len(), "pdu": pdu_to_json(&p) })
            }
            Err(e) => {
                failed += 1;
                // Offsets inside the error count from the PDU start; the line gives its offset.
                json!({ "index": index, "offset": offset, "length": pdu.len(), "error": e.to_string() })
            }
        };
        writeln!(out, "{line}")?;
        offset += pdu.len();
    }
    if failed > 0 {
        return Err(StreamError::Undecodable {
            failed,
            total: decoded + failed,
        });
    }
    Ok(decoded)
}
