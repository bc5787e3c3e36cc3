//! ERSPAN type II and type III header views and representations (draft-foschiano-erspan):
//! Cisco-style remote port mirroring carried in GRE (protocol 0x88BE with a sequence number,
//! and 0x22EB). Type I (0x88BE without a sequence number) has no header of its own.

use super::{read_u16, read_u32, write_u16, write_u32, MalformedReason};

mod field {
    /// Version (4 bits) and VLAN (12 bits), in both types.
    pub const VER_VLAN: usize = 0;
    /// COS (3), En or BSO (2), T (1), session id (10), in both types.
    pub const COS_SESSION: usize = 2;
    /// Type II: reserved (12 bits) and index (20 bits).
    pub const INDEX: usize = 4;
    /// Type III: timestamp.
    pub const TIMESTAMP: usize = 4;
    /// Type III: security group tag.
    pub const SGT: usize = 8;
    /// Type III: P (1), FT (5), hardware id (6), D (1), Gra (2), O (1).
    pub const FT_FLAGS: usize = 10;
    pub const TYPE3_SUBHEADER: usize = 12;
}

pub const TYPE2_HEADER_LEN: usize = 8;
/// The type III header without its optional 8-byte platform sub-header.
pub const TYPE3_HEADER_LEN: usize = field::TYPE3_SUBHEADER;
pub const TYPE3_SUBHEADER_LEN: usize = 8;

const TYPE2_VERSION: u8 = 1;
const TYPE3_VERSION: u8 = 2;

/// Frame types of a type III header.
pub mod frame_type {
    pub const ETHERNET: u8 = 0;
    pub const IP: u8 = 2;
}

/// Fields both types share in their first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    /// VLAN of the mirrored frame at its source.
    pub vlan: u16,
    pub cos: u8,
    /// Type II: En (how the frame was tagged); type III: BSO (bad/short/oversized).
    pub encap_or_bso: u8,
    /// The mirrored frame was cut to fit.
    pub truncated: bool,
    pub session_id: u16,
}

impl Common {
    fn read(bytes: &[u8]) -> Common {
        let ver_vlan = read_u16(bytes, field::VER_VLAN);
        let word = read_u16(bytes, field::COS_SESSION);
        Common {
            vlan: ver_vlan & 0x0FFF,
            cos: (word >> 13) as u8,
            encap_or_bso: ((word >> 11) & 0x3) as u8,
            truncated: word & 0x0400 != 0,
            session_id: word & 0x03FF,
        }
    }

    fn write(&self, bytes: &mut [u8], version: u8) {
        write_u16(bytes, field::VER_VLAN, u16::from(version) << 12 | (self.vlan & 0x0FFF));
        let word = u16::from(self.cos & 0x7) << 13
            | u16::from(self.encap_or_bso & 0x3) << 11
            | u16::from(self.truncated) << 10
            | (self.session_id & 0x03FF);
        write_u16(bytes, field::COS_SESSION, word);
    }
}

fn version(bytes: &[u8]) -> u8 {
    (read_u16(bytes, field::VER_VLAN) >> 12) as u8
}

/// A read view of an ERSPAN type II header and the mirrored frame after it.
#[derive(Debug, Clone, Copy)]
pub struct Type2Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Type2Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Type2Packet<T> {
        Type2Packet { buffer }
    }

    /// Wraps a buffer holding the 8-byte header with version 1.
    pub fn new_checked(buffer: T) -> Result<Type2Packet<T>, MalformedReason> {
        let bytes = buffer.as_ref();
        if bytes.len() < TYPE2_HEADER_LEN {
            return Err(MalformedReason::TruncatedErspan);
        }
        if version(bytes) != TYPE2_VERSION {
            return Err(MalformedReason::BadErspanVersion);
        }
        Ok(Type2Packet { buffer })
    }

    pub fn common(&self) -> Common {
        Common::read(self.buffer.as_ref())
    }

    /// Port index of the mirrored frame (20 bits).
    pub fn index(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::INDEX) & 0x000F_FFFF
    }
}

impl<'a> Type2Packet<&'a [u8]> {
    /// The mirrored Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(TYPE2_HEADER_LEN..).unwrap_or_default()
    }
}

/// An ERSPAN type II header in parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Type2Repr {
    pub common: Common,
    pub index: u32,
}

impl Type2Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Type2Packet<T>) -> Type2Repr {
        Type2Repr { common: packet.common(), index: packet.index() }
    }

    pub const fn header_len(&self) -> usize {
        TYPE2_HEADER_LEN
    }

    /// Writes the header at the start of `packet`'s buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Type2Packet<T>) {
        let bytes = packet.buffer.as_mut();
        self.common.write(bytes, TYPE2_VERSION);
        write_u32(bytes, field::INDEX, self.index & 0x000F_FFFF);
    }

    /// Appends header and frame to `out`.
    pub fn append(&self, out: &mut Vec<u8>, frame: &[u8]) {
        let start = out.len();
        out.resize(start + TYPE2_HEADER_LEN, 0);
        self.emit(&mut Type2Packet::new_unchecked(&mut out[start..]));
        out.extend_from_slice(frame);
    }
}

/// A read view of an ERSPAN type III header and the mirrored frame after it.
#[derive(Debug, Clone, Copy)]
pub struct Type3Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Type3Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Type3Packet<T> {
        Type3Packet { buffer }
    }

    /// Wraps a buffer holding the 12-byte header with version 2, and the platform
    /// sub-header when the O bit announces it.
    pub fn new_checked(buffer: T) -> Result<Type3Packet<T>, MalformedReason> {
        let packet = Type3Packet { buffer };
        let bytes = packet.buffer.as_ref();
        if bytes.len() < TYPE3_HEADER_LEN {
            return Err(MalformedReason::TruncatedErspan);
        }
        if version(bytes) != TYPE3_VERSION {
            return Err(MalformedReason::BadErspanVersion);
        }
        if bytes.len() < packet.header_len() {
            return Err(MalformedReason::TruncatedErspan);
        }
        Ok(packet)
    }

    fn ft_flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FT_FLAGS)
    }

    pub fn common(&self) -> Common {
        Common::read(self.buffer.as_ref())
    }

    pub fn timestamp(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::TIMESTAMP)
    }

    pub fn sgt(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SGT)
    }

    /// P: the payload is an Ethernet PDU.
    pub fn ethernet_pdu(&self) -> bool {
        self.ft_flags() & 0x8000 != 0
    }

    pub fn frame_type(&self) -> u8 {
        ((self.ft_flags() >> 10) & 0x1F) as u8
    }

    pub fn hw_id(&self) -> u8 {
        ((self.ft_flags() >> 4) & 0x3F) as u8
    }

    /// D: mirrored on egress (else ingress).
    pub fn egress(&self) -> bool {
        self.ft_flags() & 0x0008 != 0
    }

    pub fn granularity(&self) -> u8 {
        ((self.ft_flags() >> 1) & 0x3) as u8
    }

    /// O: the 8-byte platform sub-header follows.
    pub fn has_subheader(&self) -> bool {
        self.ft_flags() & 0x0001 != 0
    }

    pub fn subheader(&self) -> Option<u64> {
        let at = field::TYPE3_SUBHEADER;
        self.has_subheader().then(|| {
            let bytes = self.buffer.as_ref();
            u64::from(read_u32(bytes, at)) << 32 | u64::from(read_u32(bytes, at + 4))
        })
    }

    pub fn header_len(&self) -> usize {
        TYPE3_HEADER_LEN + TYPE3_SUBHEADER_LEN * usize::from(self.has_subheader())
    }
}

impl<'a> Type3Packet<&'a [u8]> {
    /// The mirrored frame (Ethernet, or IP for frame type 2).
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(self.header_len()..).unwrap_or_default()
    }
}

/// An ERSPAN type III header in parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Type3Repr {
    pub common: Common,
    pub timestamp: u32,
    pub sgt: u16,
    pub ethernet_pdu: bool,
    pub frame_type: u8,
    pub hw_id: u8,
    pub egress: bool,
    pub granularity: u8,
    /// The platform-specific sub-header (platform id in the top 6 bits).
    pub subheader: Option<u64>,
}

impl Type3Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Type3Packet<T>) -> Type3Repr {
        Type3Repr {
            common: packet.common(),
            timestamp: packet.timestamp(),
            sgt: packet.sgt(),
            ethernet_pdu: packet.ethernet_pdu(),
            frame_type: packet.frame_type(),
            hw_id: packet.hw_id(),
            egress: packet.egress(),
            granularity: packet.granularity(),
            subheader: packet.subheader(),
        }
    }

    pub fn header_len(&self) -> usize {
        TYPE3_HEADER_LEN + TYPE3_SUBHEADER_LEN * usize::from(self.subheader.is_some())
    }

    /// Writes the header at the start of `packet`'s buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Type3Packet<T>) {
        let bytes = packet.buffer.as_mut();
        self.common.write(bytes, TYPE3_VERSION);
        write_u32(bytes, field::TIMESTAMP, self.timestamp);
        write_u16(bytes, field::SGT, self.sgt);
        let flags = u16::from(self.ethernet_pdu) << 15
            | u16::from(self.frame_type & 0x1F) << 10
            | u16::from(self.hw_id & 0x3F) << 4
            | u16::from(self.egress) << 3
            | u16::from(self.granularity & 0x3) << 1
            | u16::from(self.subheader.is_some());
        write_u16(bytes, field::FT_FLAGS, flags);
        if let Some(sub) = self.subheader {
            write_u32(bytes, field::TYPE3_SUBHEADER, (sub >> 32) as u32);
            write_u32(bytes, field::TYPE3_SUBHEADER + 4, sub as u32);
        }
    }

    /// Appends header and frame to `out`.
    pub fn append(&self, out: &mut Vec<u8>, frame: &[u8]) {
        let start = out.len();
        out.resize(start + self.header_len(), 0);
        self.emit(&mut Type3Packet::new_unchecked(&mut out[start..]));
        out.extend_from_slice(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Type II: VLAN 100, COS 5, En 3, T set, session 0x155, index 0xABCDE, 2-byte frame.
    const TYPE2: [u8; 10] = [0x10, 0x64, 0xBD, 0x55, 0x00, 0x0A, 0xBC, 0xDE, 0xEE, 0xFF];

    #[test]
    fn reads_type2_fields() {
        let packet = Type2Packet::new_checked(&TYPE2[..]).expect("valid");
        let common = Common { vlan: 100, cos: 5, encap_or_bso: 3, truncated: true, session_id: 0x155 };
        assert_eq!(packet.common(), common);
        assert_eq!(packet.index(), 0xABCDE);
        assert_eq!(packet.payload(), &[0xEE, 0xFF]);
        let mut out = Vec::new();
        Type2Repr::parse(&packet).append(&mut out, &[0xEE, 0xFF]);
        assert_eq!(out, TYPE2);
    }

    /// Type III: VLAN 7, session 3, timestamp 0x01020304, SGT 0x0506, P set, FT 0, hw id 0x21,
    /// egress, granularity 3, with a sub-header; then a 1-byte frame.
    const TYPE3: [u8; 21] = [
        0x20, 0x07, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x82, 0x1F, //
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A, 0x99,
    ];

    #[test]
    fn reads_type3_fields_and_subheader() {
        let packet = Type3Packet::new_checked(&TYPE3[..]).expect("valid");
        assert_eq!(packet.common().vlan, 7);
        assert_eq!(packet.common().session_id, 3);
        assert_eq!(packet.timestamp(), 0x0102_0304);
        assert_eq!(packet.sgt(), 0x0506);
        assert!(packet.ethernet_pdu());
        assert_eq!(packet.frame_type(), frame_type::ETHERNET);
        assert_eq!(packet.hw_id(), 0x21);
        assert!(packet.egress());
        assert_eq!(packet.granularity(), 3);
        assert_eq!(packet.subheader(), Some(0x0400_0000_0000_002A));
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.payload(), &[0x99]);
        let mut out = Vec::new();
        Type3Repr::parse(&packet).append(&mut out, &[0x99]);
        assert_eq!(out, TYPE3);
    }

    #[test]
    fn rejects_wrong_versions_and_truncation() {
        assert_eq!(Type2Packet::new_checked(&TYPE2[..7]).err(), Some(MalformedReason::TruncatedErspan));
        assert_eq!(Type2Packet::new_checked(&TYPE3[..]).err(), Some(MalformedReason::BadErspanVersion));
        assert_eq!(Type3Packet::new_checked(&TYPE2[..]).err(), Some(MalformedReason::TruncatedErspan));
        assert_eq!(Type3Packet::new_checked(&TYPE3[..19]).err(), Some(MalformedReason::TruncatedErspan));
        let mut v1 = TYPE3;
        v1[0] = 0x10;
        assert_eq!(Type3Packet::new_checked(&v1[..]).err(), Some(MalformedReason::BadErspanVersion));
    }

    fn common() -> impl Strategy<Value = Common> {
        (0u16..0x1000, 0u8..8, 0u8..4, any::<bool>(), 0u16..0x400).prop_map(
            |(vlan, cos, encap_or_bso, truncated, session_id)| Common { vlan, cos, encap_or_bso, truncated, session_id },
        )
    }

    proptest! {
        #[test]
        fn type2_round_trips(common in common(), index in 0u32..0x10_0000) {
            let repr = Type2Repr { common, index };
            let mut out = Vec::new();
            repr.append(&mut out, b"frame");
            let packet = Type2Packet::new_checked(&out[..]).expect("valid");
            prop_assert_eq!(Type2Repr::parse(&packet), repr);
            prop_assert_eq!(packet.payload(), b"frame");
        }

        #[test]
        fn type3_round_trips(common in common(), timestamp: u32, sgt: u16, ethernet_pdu: bool, frame_type in 0u8..32,
                             hw_id in 0u8..64, egress: bool, granularity in 0u8..4, subheader: Option<u64>) {
            let repr = Type3Repr { common, timestamp, sgt, ethernet_pdu, frame_type, hw_id, egress, granularity, subheader };
            let mut out = Vec::new();
            repr.append(&mut out, b"frame");
            let packet = Type3Packet::new_checked(&out[..]).expect("valid");
            prop_assert_eq!(Type3Repr::parse(&packet), repr);
            prop_assert_eq!(packet.payload(), b"frame");
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(p) = Type3Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(p.payload().len() + p.header_len(), bytes.len());
            }
            let _ = Type2Packet::new_checked(&bytes[..]).map(|p| p.payload().len());
            let _ = Type3Packet::new_unchecked(&bytes[..]).payload();
        }
    }
}
