//! X2/X3 conditional attributes (TS 103 221-2 clause 5.3 and annex C): the TLV walk over a
//! PDU header and the typed values tapline reads and writes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::pdu::PduError;
use crate::Timestamp;

/// Attribute type numbers (TS 103 221-2 table C.1).
pub mod kind {
    pub const ETSI_102232: u16 = 1;
    pub const GPP_33128: u16 = 2;
    pub const GPP_33108: u16 = 3;
    pub const PROPRIETARY: u16 = 4;
    pub const DOMAIN_ID: u16 = 5;
    pub const NETWORK_FUNCTION_ID: u16 = 6;
    pub const INTERCEPTION_POINT_ID: u16 = 7;
    pub const SEQUENCE_NUMBER: u16 = 8;
    pub const TIMESTAMP: u16 = 9;
    pub const SOURCE_IPV4: u16 = 10;
    pub const DESTINATION_IPV4: u16 = 11;
    pub const SOURCE_IPV6: u16 = 12;
    pub const DESTINATION_IPV6: u16 = 13;
    pub const SOURCE_PORT: u16 = 14;
    pub const DESTINATION_PORT: u16 = 15;
    pub const IP_PROTOCOL: u16 = 16;
    pub const MATCHED_TARGET: u16 = 17;
    pub const OTHER_TARGET: u16 = 18;
    pub const MIME_CONTENT_TYPE: u16 = 19;
    pub const MIME_CONTENT_ENCODING: u16 = 20;
    pub const ADDITIONAL_XID_RELATED: u16 = 21;
    pub const SDP_SESSION_DESCRIPTION: u16 = 22;
}

/// Type and length of an attribute's TLV header.
pub const TLV_HEADER_LEN: usize = 4;

/// One attribute as found in the header: its type and value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    pub kind: u16,
    pub value: &'a [u8],
}

/// Iterator over the TLVs of a header's attribute area. Yields an error (once, then ends)
/// when a TLV runs past the header.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Attributes<'a> {
    pub fn new(area: &'a [u8]) -> Attributes<'a> {
        Attributes { rest: area, offset: super::pdu::FIXED_HEADER_LEN, failed: false }
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<RawAttribute<'a>, PduError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let parsed = match self.rest {
            [k0, k1, l0, l1, rest @ ..] => {
                let len = usize::from(u16::from_be_bytes([*l0, *l1]));
                rest.get(..len).map(|value| (u16::from_be_bytes([*k0, *k1]), value, &rest[len..]))
            }
            _ => None,
        };
        match parsed {
            Some((kind, value, rest)) => {
                self.rest = rest;
                self.offset += TLV_HEADER_LEN + value.len();
                Some(Ok(RawAttribute { kind, value }))
            }
            None => {
                self.failed = true;
                Some(Err(PduError::AttributeOverrun { offset: self.offset }))
            }
        }
    }
}

/// A decoded attribute: the ones tapline acts on, every other kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute<'a> {
    SequenceNumber(u32),
    Timestamp(Timestamp),
    /// Types 10 (IPv4) and 12 (IPv6).
    SourceAddress(IpAddr),
    /// Types 11 (IPv4) and 13 (IPv6).
    DestinationAddress(IpAddr),
    SourcePort(u16),
    DestinationPort(u16),
    IpProtocol(u8),
    /// Type 17, the identifier as the POI wrote it (often a TS 103 280 element).
    MatchedTarget(&'a [u8]),
    Other(RawAttribute<'a>),
}

fn exact<const N: usize>(raw: &RawAttribute<'_>) -> Result<[u8; N], PduError> {
    <[u8; N]>::try_from(raw.value).map_err(|_| PduError::BadAttributeLength { kind: raw.kind, len: raw.value.len() })
}

impl<'a> Attribute<'a> {
    /// Decodes the value of a known type; an unknown type stays [`Attribute::Other`].
    pub fn decode(raw: RawAttribute<'a>) -> Result<Attribute<'a>, PduError> {
        Ok(match raw.kind {
            kind::SEQUENCE_NUMBER => Attribute::SequenceNumber(u32::from_be_bytes(exact(&raw)?)),
            kind::TIMESTAMP => Attribute::Timestamp(decode_timestamp(&raw)?),
            kind::SOURCE_IPV4 => Attribute::SourceAddress(IpAddr::V4(Ipv4Addr::from(exact::<4>(&raw)?))),
            kind::DESTINATION_IPV4 => Attribute::DestinationAddress(IpAddr::V4(Ipv4Addr::from(exact::<4>(&raw)?))),
            kind::SOURCE_IPV6 => Attribute::SourceAddress(IpAddr::V6(Ipv6Addr::from(exact::<16>(&raw)?))),
            kind::DESTINATION_IPV6 => Attribute::DestinationAddress(IpAddr::V6(Ipv6Addr::from(exact::<16>(&raw)?))),
            kind::SOURCE_PORT => Attribute::SourcePort(u16::from_be_bytes(exact(&raw)?)),
            kind::DESTINATION_PORT => Attribute::DestinationPort(u16::from_be_bytes(exact(&raw)?)),
            kind::IP_PROTOCOL => Attribute::IpProtocol(exact::<1>(&raw)?[0]),
            kind::MATCHED_TARGET => Attribute::MatchedTarget(raw.value),
            _ => Attribute::Other(raw),
        })
    }

    /// Type number written for this attribute.
    pub fn kind(&self) -> u16 {
        match self {
            Attribute::SequenceNumber(_) => kind::SEQUENCE_NUMBER,
            Attribute::Timestamp(_) => kind::TIMESTAMP,
            Attribute::SourceAddress(IpAddr::V4(_)) => kind::SOURCE_IPV4,
            Attribute::SourceAddress(IpAddr::V6(_)) => kind::SOURCE_IPV6,
            Attribute::DestinationAddress(IpAddr::V4(_)) => kind::DESTINATION_IPV4,
            Attribute::DestinationAddress(IpAddr::V6(_)) => kind::DESTINATION_IPV6,
            Attribute::SourcePort(_) => kind::SOURCE_PORT,
            Attribute::DestinationPort(_) => kind::DESTINATION_PORT,
            Attribute::IpProtocol(_) => kind::IP_PROTOCOL,
            Attribute::MatchedTarget(_) => kind::MATCHED_TARGET,
            Attribute::Other(raw) => raw.kind,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            Attribute::SequenceNumber(_) => 4,
            Attribute::Timestamp(t) => timestamp_len(*t),
            Attribute::SourceAddress(IpAddr::V4(_)) | Attribute::DestinationAddress(IpAddr::V4(_)) => 4,
            Attribute::SourceAddress(IpAddr::V6(_)) | Attribute::DestinationAddress(IpAddr::V6(_)) => 16,
            Attribute::SourcePort(_) | Attribute::DestinationPort(_) => 2,
            Attribute::IpProtocol(_) => 1,
            Attribute::MatchedTarget(v) => v.len(),
            Attribute::Other(raw) => raw.value.len(),
        }
    }

    /// TLV header plus value.
    pub fn encoded_len(&self) -> usize {
        TLV_HEADER_LEN + self.value_len()
    }

    /// Writes the TLV at the start of `out`; returns the bytes written. Values longer than
    /// a TLV can hold (65535) are a programming error (the PDU builders never make them).
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let len = self.value_len();
        out[0..2].copy_from_slice(&self.kind().to_be_bytes());
        out[2..4].copy_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        let value = &mut out[TLV_HEADER_LEN..TLV_HEADER_LEN + len];
        match self {
            Attribute::SequenceNumber(n) => value.copy_from_slice(&n.to_be_bytes()),
            Attribute::Timestamp(t) => emit_timestamp(*t, value),
            Attribute::SourceAddress(IpAddr::V4(a)) | Attribute::DestinationAddress(IpAddr::V4(a)) => {
                value.copy_from_slice(&a.octets())
            }
            Attribute::SourceAddress(IpAddr::V6(a)) | Attribute::DestinationAddress(IpAddr::V6(a)) => {
                value.copy_from_slice(&a.octets())
            }
            Attribute::SourcePort(p) | Attribute::DestinationPort(p) => value.copy_from_slice(&p.to_be_bytes()),
            Attribute::IpProtocol(p) => value[0] = *p,
            Attribute::MatchedTarget(v) => value.copy_from_slice(v),
            Attribute::Other(raw) => value.copy_from_slice(raw.value),
        }
        TLV_HEADER_LEN + len
    }
}

/// 8 octets (u32 seconds, u32 nanoseconds) or lippycat's 12 (i64 seconds, i32 nanoseconds).
fn decode_timestamp(raw: &RawAttribute<'_>) -> Result<Timestamp, PduError> {
    let (secs, nanos): (i128, i128) = match raw.value {
        [s @ .., n0, n1, n2, n3] if s.len() == 4 => {
            let secs = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
            (i128::from(secs), i128::from(u32::from_be_bytes([*n0, *n1, *n2, *n3])))
        }
        [s @ .., n0, n1, n2, n3] if s.len() == 8 => {
            let secs = i64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
            (i128::from(secs), i128::from(i32::from_be_bytes([*n0, *n1, *n2, *n3])))
        }
        _ => return Err(PduError::BadAttributeLength { kind: raw.kind, len: raw.value.len() }),
    };
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(PduError::BadAttributeLength { kind: raw.kind, len: raw.value.len() });
    }
    if secs < 0 {
        return Err(PduError::NegativeTimestamp);
    }
    let total = secs * 1_000_000_000 + nanos;
    u64::try_from(total).map(Timestamp::from_nanos).map_err(|_| PduError::NegativeTimestamp)
}

/// The 8-octet form whenever the seconds fit a u32 (until 2106); the 12-octet form after.
fn timestamp_len(t: Timestamp) -> usize {
    if u32::try_from(t.secs()).is_ok() {
        8
    } else {
        12
    }
}

fn emit_timestamp(t: Timestamp, out: &mut [u8]) {
    match u32::try_from(t.secs()) {
        Ok(secs) => {
            out[0..4].copy_from_slice(&secs.to_be_bytes());
            out[4..8].copy_from_slice(&t.subsec_nanos().to_be_bytes());
        }
        Err(_) => {
            out[0..8].copy_from_slice(&(t.secs() as i64).to_be_bytes());
            out[8..12].copy_from_slice(&(t.subsec_nanos() as i32).to_be_bytes());
        }
    }
}
