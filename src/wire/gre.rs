//! GRE header view and representation (RFC 2784, with the RFC 2890 key and sequence number
//! options): the tunnel carriers use to mirror traffic as IP packets or whole Ethernet frames.

use super::ipv4::internet_checksum;
use super::{read_u16, read_u32, write_u16, write_u32, MalformedReason};

mod field {
    /// C, R, K, S, s, Recur, flags and version bits.
    pub const FLAGS_VERSION: usize = 0;
    pub const PROTOCOL: usize = 2;
    /// Checksum, key and sequence number follow in this order, each when its bit is set.
    pub const OPTIONS: usize = 4;
}

/// The header without options.
pub const BASE_HEADER_LEN: usize = field::OPTIONS;
/// The header with checksum, key and sequence number.
pub const MAX_HEADER_LEN: usize = BASE_HEADER_LEN + 12;

/// IP protocol number of GRE.
pub const IP_PROTOCOL: u8 = 47;

/// Protocol types (EtherTypes) the decoder unwraps.
pub mod protocol {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    /// Transparent Ethernet bridging: a whole Ethernet frame.
    pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
    /// ERSPAN type II (GRE sequence bit set) or type I (without).
    pub const ERSPAN_II: u16 = 0x88BE;
    pub const ERSPAN_III: u16 = 0x22EB;
}

const CHECKSUM_PRESENT: u16 = 0x8000;
const KEY_PRESENT: u16 = 0x2000;
const SEQUENCE_PRESENT: u16 = 0x1000;
/// Bits RFC 2784 reserves (RFC 1701's routing, strict source route, recursion control and
/// flags): a receiver discards a packet with any of them set.
const RESERVED0: u16 = 0x4FF8;
const VERSION: u16 = 0x0007;

/// A read view of a GRE packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a version 0 header, its reserved bits clear, and every option
    /// its flags announce. Callers wanting to tell PPTP's version 1 apart read
    /// [`Packet::version`] on an unchecked view first.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < BASE_HEADER_LEN {
            return Err(MalformedReason::TruncatedGre);
        }
        if packet.flags_version() & (RESERVED0 | VERSION) != 0 {
            return Err(MalformedReason::BadGreHeader);
        }
        if len < packet.header_len() {
            return Err(MalformedReason::TruncatedGre);
        }
        Ok(packet)
    }

    fn flags_version(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_VERSION)
    }

    pub fn version(&self) -> u8 {
        (self.flags_version() & VERSION) as u8
    }

    pub fn has_checksum(&self) -> bool {
        self.flags_version() & CHECKSUM_PRESENT != 0
    }

    pub fn has_key(&self) -> bool {
        self.flags_version() & KEY_PRESENT != 0
    }

    pub fn has_sequence(&self) -> bool {
        self.flags_version() & SEQUENCE_PRESENT != 0
    }

    /// EtherType of the payload.
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header length with the options present.
    pub fn header_len(&self) -> usize {
        BASE_HEADER_LEN
            + 4 * usize::from(self.has_checksum())
            + 4 * usize::from(self.has_key())
            + 4 * usize::from(self.has_sequence())
    }

    fn key_at(&self) -> usize {
        field::OPTIONS + 4 * usize::from(self.has_checksum())
    }

    pub fn checksum(&self) -> Option<u16> {
        self.has_checksum().then(|| read_u16(self.buffer.as_ref(), field::OPTIONS))
    }

    pub fn key(&self) -> Option<u32> {
        self.has_key().then(|| read_u32(self.buffer.as_ref(), self.key_at()))
    }

    pub fn sequence(&self) -> Option<u32> {
        let at = self.key_at() + 4 * usize::from(self.has_key());
        self.has_sequence().then(|| read_u32(self.buffer.as_ref(), at))
    }

    /// True without a checksum, or when the checksum over header and payload is correct.
    pub fn verify_checksum(&self) -> bool {
        !self.has_checksum() || internet_checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The encapsulated packet or frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(self.header_len()..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Computes the checksum over header and payload (the buffer is the whole GRE packet).
    pub fn fill_checksum(&mut self) {
        if self.has_checksum() {
            write_u16(self.buffer.as_mut(), field::OPTIONS, 0);
            write_u16(self.buffer.as_mut(), field::OPTIONS + 2, 0);
            let sum = internet_checksum(self.buffer.as_ref());
            write_u16(self.buffer.as_mut(), field::OPTIONS, sum);
        }
    }

    /// The bytes after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        self.buffer.as_mut().get_mut(at..).unwrap_or_default()
    }
}

/// A GRE header in parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub protocol: u16,
    /// A checksum over header and payload is present.
    pub checksum: bool,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
}

impl Repr {
    /// Parses a checked view (the checksum is not verified: mirrored traffic is taken as
    /// captured, as the IP header checksums are).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr {
            protocol: packet.protocol_type(),
            checksum: packet.has_checksum(),
            key: packet.key(),
            sequence: packet.sequence(),
        }
    }

    pub fn header_len(&self) -> usize {
        BASE_HEADER_LEN
            + 4 * usize::from(self.checksum)
            + 4 * usize::from(self.key.is_some())
            + 4 * usize::from(self.sequence.is_some())
    }

    /// Writes the header at the start of `packet`'s buffer (which holds header and payload);
    /// with a checksum, call [`Packet::fill_checksum`] once the payload is in place.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let mut flags = 0;
        if self.checksum {
            flags |= CHECKSUM_PRESENT;
        }
        if self.key.is_some() {
            flags |= KEY_PRESENT;
        }
        if self.sequence.is_some() {
            flags |= SEQUENCE_PRESENT;
        }
        let buf = packet.buffer.as_mut();
        write_u16(buf, field::FLAGS_VERSION, flags);
        write_u16(buf, field::PROTOCOL, self.protocol);
        let mut at = field::OPTIONS;
        if self.checksum {
            write_u32(buf, at, 0);
            at += 4;
        }
        if let Some(key) = self.key {
            write_u32(buf, at, key);
            at += 4;
        }
        if let Some(sequence) = self.sequence {
            write_u32(buf, at, sequence);
        }
    }

    /// Appends header and payload to `out` (checksum filled in).
    pub fn append(&self, out: &mut Vec<u8>, payload: &[u8]) {
        let start = out.len();
        out.resize(start + self.header_len(), 0);
        out.extend_from_slice(payload);
        let mut packet = Packet::new_unchecked(&mut out[start..]);
        self.emit(&mut packet);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// GRE with checksum, key 0x01020304 and sequence 7 carrying 4 bytes of IPv4 (0x45000004).
    const WITH_OPTIONS: [u8; 20] = [
        0xB0, 0x00, 0x08, 0x00, // C K S, version 0, IPv4
        0xFE, 0xED, 0x00, 0x00, // checksum, reserved1
        0x01, 0x02, 0x03, 0x04, // key
        0x00, 0x00, 0x00, 0x07, // sequence
        0x45, 0x00, 0x00, 0x04,
    ];

    #[test]
    fn reads_every_option() {
        let packet = Packet::new_checked(&WITH_OPTIONS[..]).expect("valid");
        assert_eq!(packet.header_len(), 16);
        assert_eq!(packet.protocol_type(), protocol::IPV4);
        assert_eq!(packet.checksum(), Some(0xFEED));
        assert_eq!(packet.key(), Some(0x0102_0304));
        assert_eq!(packet.sequence(), Some(7));
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &[0x45, 0, 0, 4]);
        let repr = Repr::parse(&packet);
        assert_eq!(
            repr,
            Repr { protocol: 0x0800, checksum: true, key: Some(0x0102_0304), sequence: Some(7) }
        );
        let mut out = Vec::new();
        repr.append(&mut out, &[0x45, 0, 0, 4]);
        assert_eq!(out, WITH_OPTIONS);
    }

    #[test]
    fn sequence_without_key_sits_right_after_the_base_header() {
        let bytes = [0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 9, 0xAA];
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.key(), None);
        assert_eq!(packet.sequence(), Some(9));
        assert_eq!(packet.checksum(), None);
        assert_eq!(packet.payload(), &[0xAA]);
    }

    #[test]
    fn rejects_reserved_bits_versions_and_missing_options() {
        let bad = |bytes: &[u8]| Packet::new_checked(bytes).err();
        assert_eq!(bad(&[0x00, 0x00, 0x08]), Some(MalformedReason::TruncatedGre));
        assert_eq!(bad(&[0x40, 0x00, 0x08, 0x00]), Some(MalformedReason::BadGreHeader)); // routing
        assert_eq!(bad(&[0x00, 0x01, 0x88, 0x0B]), Some(MalformedReason::BadGreHeader)); // PPTP
        assert_eq!(bad(&[0x00, 0x80, 0x08, 0x00]), Some(MalformedReason::BadGreHeader)); // flags
        assert_eq!(bad(&WITH_OPTIONS[..15]), Some(MalformedReason::TruncatedGre));
        assert_eq!(Packet::new_unchecked(&[0x00, 0x01, 0x88, 0x0B][..]).version(), 1);
        let mut corrupt = WITH_OPTIONS;
        corrupt[19] ^= 1;
        assert!(!Packet::new_checked(&corrupt[..]).expect("valid").verify_checksum());
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(protocol: u16, checksum: bool, key: Option<u32>, sequence: Option<u32>,
                                       payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let repr = Repr { protocol, checksum, key, sequence };
            let mut out = Vec::new();
            repr.append(&mut out, &payload);
            let packet = Packet::new_checked(&out[..]).expect("emitted header is valid");
            prop_assert_eq!(Repr::parse(&packet), repr);
            prop_assert_eq!(packet.payload(), &payload[..]);
            prop_assert!(packet.verify_checksum());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len() + packet.header_len(), bytes.len());
                let _ = Repr::parse(&packet);
            }
            let unchecked = Packet::new_unchecked(&bytes[..]);
            let _ = (unchecked.payload(), unchecked.key(), unchecked.sequence(), unchecked.verify_checksum());
        }
    }
}
