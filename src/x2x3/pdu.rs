//! The X2/X3 PDU of ETSI TS 103 221-2 clause 5: a typed view over the fixed header
//! ([`Packet`], [`field`]) and a [`PduRepr`] with both `parse` and `emit`.
//!
//! Layout (all big-endian): version (2), PDU type (2), header length (4, whole header
//! including the conditional attributes), payload length (4), payload format (2), payload
//! direction (2), XID (16, a UUID), correlation ID (8), then TLV conditional attributes
//! (type 2, length 2, value) up to the header length, then the payload.
//!
//! Writers here are strict: version `00 05` and the 8-octet timestamp. Readers are lenient
//! where implementations disagree: any minor version from 5 up (`00 05`, `00 06`, ...) and
//! lippycat's byte-swapped `05 00`; the timestamp as 8 octets (u32 seconds, u32 nanoseconds)
//! or 12 (i64 seconds, i32 nanoseconds).

use std::net::IpAddr;

use super::attribute::{self, Attribute, Attributes, RawAttribute};
use crate::Timestamp;

/// Byte ranges of the fixed header.
pub mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VERSION: Field = 0..2;
    pub const PDU_TYPE: Field = 2..4;
    pub const HEADER_LEN: Field = 4..8;
    pub const PAYLOAD_LEN: Field = 8..12;
    pub const PAYLOAD_FORMAT: Field = 12..14;
    pub const PAYLOAD_DIRECTION: Field = 14..16;
    pub const XID: Field = 16..32;
    pub const CORRELATION_ID: Field = 32..40;
    pub const ATTRIBUTES: usize = 40;
}

/// Length of the fixed header (no conditional attributes).
pub const FIXED_HEADER_LEN: usize = field::ATTRIBUTES;

/// The version tapline writes (TS 103 221-2 V1.x: `00 05`).
pub const VERSION: u16 = 0x0005;

/// Why a PDU was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("PDU truncated: {have} bytes, {need} needed")]
    Truncated { need: usize, have: usize },
    #[error("unsupported X2/X3 version 0x{0:04x}")]
    UnsupportedVersion(u16),
    #[error("unknown PDU type {0}")]
    UnknownPduType(u16),
    #[error("header length {0} is shorter than the fixed header")]
    BadHeaderLength(u32),
    #[error("conditional attribute at header offset {offset} runs past the header")]
    AttributeOverrun { offset: usize },
    #[error("conditional attribute type {kind} has a bad length {len}")]
    BadAttributeLength { kind: u16, len: usize },
    #[error("conditional attribute type {kind} given twice")]
    DuplicateAttribute { kind: u16 },
    #[error("timestamp before 1970")]
    NegativeTimestamp,
}

/// PDU type (TS 103 221-2 table 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduType {
    X2,
    X3,
    Keepalive,
    KeepaliveAck,
}

impl PduType {
    pub fn from_u16(value: u16) -> Result<PduType, PduError> {
        match value {
            1 => Ok(PduType::X2),
            2 => Ok(PduType::X3),
            3 => Ok(PduType::Keepalive),
            4 => Ok(PduType::KeepaliveAck),
            other => Err(PduError::UnknownPduType(other)),
        }
    }

    pub fn to_u16(self) -> u16 {
        match self {
            PduType::X2 => 1,
            PduType::X3 => 2,
            PduType::Keepalive => 3,
            PduType::KeepaliveAck => 4,
        }
    }
}

/// Payload format (TS 103 221-2 table 5.3); only the values tapline acts on are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// 0: keepalives carry no payload.
    None,
    Ipv4Packet,
    Ipv6Packet,
    Ethernet,
    /// 8: an RTP packet (X3).
    Rtp,
    /// 9: a SIP message (X2).
    Sip,
    Other(u16),
}

impl PayloadFormat {
    pub fn from_u16(value: u16) -> PayloadFormat {
        match value {
            0 => PayloadFormat::None,
            5 => PayloadFormat::Ipv4Packet,
            6 => PayloadFormat::Ipv6Packet,
            7 => PayloadFormat::Ethernet,
            8 => PayloadFormat::Rtp,
            9 => PayloadFormat::Sip,
            other => PayloadFormat::Other(other),
        }
    }

    pub fn to_u16(self) -> u16 {
        match self {
            PayloadFormat::None => 0,
            PayloadFormat::Ipv4Packet => 5,
            PayloadFormat::Ipv6Packet => 6,
            PayloadFormat::Ethernet => 7,
            PayloadFormat::Rtp => 8,
            PayloadFormat::Sip => 9,
            PayloadFormat::Other(n) => n,
        }
    }
}

/// Payload direction (TS 103 221-2 table 5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// 0 (keepalives).
    Reserved,
    Unknown,
    ToTarget,
    FromTarget,
    /// 4: more than one direction.
    Multiple,
    NotApplicable,
    Other(u16),
}

impl Direction {
    pub fn from_u16(value: u16) -> Direction {
        match value {
            0 => Direction::Reserved,
            1 => Direction::Unknown,
            2 => Direction::ToTarget,
            3 => Direction::FromTarget,
            4 => Direction::Multiple,
            5 => Direction::NotApplicable,
            other => Direction::Other(other),
        }
    }

    pub fn to_u16(self) -> u16 {
        match self {
            Direction::Reserved => 0,
            Direction::Unknown => 1,
            Direction::ToTarget => 2,
            Direction::FromTarget => 3,
            Direction::Multiple => 4,
            Direction::NotApplicable => 5,
            Direction::Other(n) => n,
        }
    }
}

/// The X-Interface ID: the UUID of the task a PDU belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Xid(pub [u8; 16]);

impl std::fmt::Display for Xid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Xid {
    type Err = String;
    /// A UUID in its hyphenated (or plain 32-hex-digit) text form.
    fn from_str(s: &str) -> Result<Xid, String> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        if hex.len() != 32 {
            return Err(format!("`{s}` is not a UUID"));
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| format!("`{s}` is not a UUID"))?;
            out[i] = u8::from_str_radix(text, 16).map_err(|_| format!("`{s}` is not a UUID"))?;
        }
        Ok(Xid(out))
    }
}

/// True for a version a reader accepts: major 0 with minor 5 or later, or lippycat's `05 00`.
pub fn version_accepted(version: u16) -> bool {
    let [major, minor] = version.to_be_bytes();
    (major == 0 && minor >= 5) || version == 0x0500
}

fn be16(bytes: &[u8], f: field::Field) -> u16 {
    match bytes.get(f) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn be32(bytes: &[u8], f: field::Field) -> u32 {
    match bytes.get(f) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// A read (and, over a mutable buffer, write) view of one X2/X3 PDU.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a whole PDU: an accepted version, a known PDU type, a header
    /// length of at least the fixed header, and header plus payload within the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, PduError> {
        let packet = Packet { buffer };
        let have = packet.buffer.as_ref().len();
        if have < FIXED_HEADER_LEN {
            return Err(PduError::Truncated { need: FIXED_HEADER_LEN, have });
        }
        if !version_accepted(packet.version()) {
            return Err(PduError::UnsupportedVersion(packet.version()));
        }
        PduType::from_u16(packet.pdu_type_raw())?;
        if (packet.header_len() as usize) < FIXED_HEADER_LEN {
            return Err(PduError::BadHeaderLength(packet.header_len()));
        }
        let need = packet.total_len();
        if need > have {
            return Err(PduError::Truncated { need, have });
        }
        Ok(packet)
    }

    pub fn version(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VERSION)
    }

    pub fn pdu_type_raw(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PDU_TYPE)
    }

    /// The PDU type; views made by `new_checked` always have a known one.
    pub fn pdu_type(&self) -> Result<PduType, PduError> {
        PduType::from_u16(self.pdu_type_raw())
    }

    /// Header length field: fixed header plus conditional attributes.
    pub fn header_len(&self) -> u32 {
        be32(self.buffer.as_ref(), field::HEADER_LEN)
    }

    pub fn payload_len(&self) -> u32 {
        be32(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Header plus payload, in bytes (saturating on absurd fields).
    pub fn total_len(&self) -> usize {
        (self.header_len() as usize).saturating_add(self.payload_len() as usize)
    }

    pub fn payload_format(&self) -> PayloadFormat {
        PayloadFormat::from_u16(be16(self.buffer.as_ref(), field::PAYLOAD_FORMAT))
    }

    pub fn direction(&self) -> Direction {
        Direction::from_u16(be16(self.buffer.as_ref(), field::PAYLOAD_DIRECTION))
    }

    pub fn xid(&self) -> Xid {
        let mut out = [0u8; 16];
        if let Some(src) = self.buffer.as_ref().get(field::XID) {
            out.copy_from_slice(src);
        }
        Xid(out)
    }

    pub fn correlation_id(&self) -> u64 {
        match self.buffer.as_ref().get(field::CORRELATION_ID) {
            Some(b) => b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)),
            None => 0,
        }
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The conditional attributes as raw TLVs, in order.
    pub fn attributes(&self) -> Attributes<'a> {
        let end = (self.header_len() as usize).min(self.buffer.len());
        Attributes::new(self.buffer.get(FIXED_HEADER_LEN..end).unwrap_or_default())
    }

    /// The payload, cut at the payload length.
    pub fn payload(&self) -> &'a [u8] {
        let start = self.header_len() as usize;
        self.buffer.get(start..self.total_len()).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn put(&mut self, f: field::Field, bytes: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(f) {
            dst.copy_from_slice(bytes);
        }
    }
    pub fn set_version(&mut self, value: u16) {
        self.put(field::VERSION, &value.to_be_bytes());
    }
    pub fn set_pdu_type(&mut self, value: PduType) {
        self.put(field::PDU_TYPE, &value.to_u16().to_be_bytes());
    }
    pub fn set_header_len(&mut self, value: u32) {
        self.put(field::HEADER_LEN, &value.to_be_bytes());
    }
    pub fn set_payload_len(&mut self, value: u32) {
        self.put(field::PAYLOAD_LEN, &value.to_be_bytes());
    }
    pub fn set_payload_format(&mut self, value: PayloadFormat) {
        self.put(field::PAYLOAD_FORMAT, &value.to_u16().to_be_bytes());
    }
    pub fn set_direction(&mut self, value: Direction) {
        self.put(field::PAYLOAD_DIRECTION, &value.to_u16().to_be_bytes());
    }
    pub fn set_xid(&mut self, value: Xid) {
        self.put(field::XID, &value.0);
    }
    pub fn set_correlation_id(&mut self, value: u64) {
        self.put(field::CORRELATION_ID, &value.to_be_bytes());
    }
}

/// A parsed X2/X3 PDU: the header fields, the conditional attributes tapline acts on, the
/// others kept raw (in order), and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PduRepr<'a> {
    /// The version read (emit always writes [`VERSION`]).
    pub version: u16,
    pub pdu_type: PduType,
    pub payload_format: PayloadFormat,
    pub direction: Direction,
    pub xid: Xid,
    pub correlation_id: u64,
    pub sequence: Option<u32>,
    pub timestamp: Option<Timestamp>,
    pub src_addr: Option<IpAddr>,
    pub dst_addr: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub ip_protocol: Option<u8>,
    /// Matched target identifiers (17), as written by the POI (opaque here).
    pub matched_targets: Vec<&'a [u8]>,
    /// Every other attribute, in the order read.
    pub other: Vec<RawAttribute<'a>>,
    pub payload: &'a [u8],
}

impl<'a> PduRepr<'a> {
    /// A PDU with no conditional attributes.
    pub fn new(pdu_type: PduType, payload_format: PayloadFormat, direction: Direction, xid: Xid, payload: &'a [u8]) -> Self {
        PduRepr {
            version: VERSION,
            pdu_type,
            payload_format,
            direction,
            xid,
            correlation_id: 0,
            sequence: None,
            timestamp: None,
            src_addr: None,
            dst_addr: None,
            src_port: None,
            dst_port: None,
            ip_protocol: None,
            matched_targets: Vec::new(),
            other: Vec::new(),
            payload,
        }
    }

    /// A keepalive (type 3) or its ack (type 4) carrying `sequence` as attribute 8.
    pub fn keepalive(pdu_type: PduType, sequence: u32) -> PduRepr<'static> {
        let mut repr = PduRepr::new(pdu_type, PayloadFormat::None, Direction::Reserved, Xid::default(), &[]);
        repr.sequence = Some(sequence);
        repr
    }

    /// Parses a checked view.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Result<PduRepr<'a>, PduError> {
        let mut repr = PduRepr::new(
            packet.pdu_type()?,
            packet.payload_format(),
            packet.direction(),
            packet.xid(),
            packet.payload(),
        );
        repr.version = packet.version();
        repr.correlation_id = packet.correlation_id();
        for raw in packet.attributes() {
            let raw = raw?;
            repr.take(raw)?;
        }
        Ok(repr)
    }

    /// Checks and parses a buffer holding one whole PDU (trailing bytes are ignored).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<PduRepr<'a>, PduError> {
        PduRepr::parse(&Packet::new_checked(bytes)?)
    }

    fn take(&mut self, raw: RawAttribute<'a>) -> Result<(), PduError> {
        fn once<T>(slot: &mut Option<T>, value: T, kind: u16) -> Result<(), PduError> {
            if slot.is_some() {
                return Err(PduError::DuplicateAttribute { kind });
            }
            *slot = Some(value);
            Ok(())
        }
        let kind = raw.kind;
        match Attribute::decode(raw)? {
            Attribute::SequenceNumber(n) => once(&mut self.sequence, n, kind),
            Attribute::Timestamp(t) => once(&mut self.timestamp, t, kind),
            Attribute::SourceAddress(a) => once(&mut self.src_addr, a, kind),
            Attribute::DestinationAddress(a) => once(&mut self.dst_addr, a, kind),
            Attribute::SourcePort(p) => once(&mut self.src_port, p, kind),
            Attribute::DestinationPort(p) => once(&mut self.dst_port, p, kind),
            Attribute::IpProtocol(p) => once(&mut self.ip_protocol, p, kind),
            Attribute::MatchedTarget(t) => {
                self.matched_targets.push(t);
                Ok(())
            }
            Attribute::Other(raw) => {
                self.other.push(raw);
                Ok(())
            }
        }
    }

    fn attributes_in_order(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        let known = [
            self.sequence.map(Attribute::SequenceNumber),
            self.timestamp.map(Attribute::Timestamp),
            self.src_addr.map(Attribute::SourceAddress),
            self.dst_addr.map(Attribute::DestinationAddress),
            self.src_port.map(Attribute::SourcePort),
            self.dst_port.map(Attribute::DestinationPort),
            self.ip_protocol.map(Attribute::IpProtocol),
        ];
        known
            .into_iter()
            .flatten()
            .chain(self.matched_targets.iter().map(|t| Attribute::MatchedTarget(t)))
            .chain(self.other.iter().map(|r| Attribute::Other(*r)))
    }

    /// Length of the header [`emit`](Self::emit) writes: fixed part plus attributes.
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN + self.attributes_in_order().map(|a| a.encoded_len()).sum::<usize>()
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the PDU into the first [`buffer_len`](Self::buffer_len) bytes of `buffer`
    /// (panics if it is shorter: a programming error). Always writes version `00 05`.
    pub fn emit(&self, buffer: &mut [u8]) {
        let header_len = self.header_len();
        let mut packet = Packet::new_unchecked(&mut *buffer);
        packet.set_version(VERSION);
        packet.set_pdu_type(self.pdu_type);
        packet.set_header_len(u32::try_from(header_len).unwrap_or(u32::MAX));
        packet.set_payload_len(u32::try_from(self.payload.len()).unwrap_or(u32::MAX));
        packet.set_payload_format(self.payload_format);
        packet.set_direction(self.direction);
        packet.set_xid(self.xid);
        packet.set_correlation_id(self.correlation_id);
        let mut at = FIXED_HEADER_LEN;
        for a in self.attributes_in_order() {
            at += a.emit(&mut buffer[at..]);
        }
        buffer[at..at + self.payload.len()].copy_from_slice(self.payload);
    }

    /// Appends the PDU to `out`.
    pub fn emit_to_vec(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.buffer_len(), 0);
        self.emit(&mut out[start..]);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_to_vec(&mut out);
        out
    }
}

#[doc(hidden)]
pub use attribute::kind;

#[cfg(test)]
#[path = "pdu_tests.rs"]
mod tests;
