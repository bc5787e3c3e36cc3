//! IPv4 header view: lengths, fragmentation fields, addresses, header checksum.

use std::net::Ipv4Addr;

use super::{read_array, read_u16, read_u8, write_u16, MalformedReason};

mod field {
    use crate::wire::Field;
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

pub const MIN_HEADER_LEN: usize = 20;
const MORE_FRAGMENTS: u16 = 0x2000;
const DONT_FRAGMENT: u16 = 0x4000;
const OFFSET_MASK: u16 = 0x1FFF;

/// A read view of an IPv4 header and the datagram it heads.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking version, header length and that the total length
    /// fits the buffer (bytes beyond it, such as Ethernet padding, are ignored).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(MalformedReason::TruncatedIpv4Header);
        }
        if packet.version() != 4 {
            return Err(MalformedReason::BadIpVersion);
        }
        let header_len = packet.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(MalformedReason::BadIpv4HeaderLength);
        }
        let total_len = usize::from(packet.total_len());
        if total_len < header_len {
            return Err(MalformedReason::BadIpv4TotalLength);
        }
        if total_len > len {
            return Err(MalformedReason::TotalLengthExceedsFrame);
        }
        Ok(packet)
    }

    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::VER_IHL) & 0x0F) * 4
    }

    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & DONT_FRAGMENT != 0
    }

    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & MORE_FRAGMENTS != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & OFFSET_MASK) << 3
    }

    /// True if this datagram is one fragment of a larger one.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TTL)
    }

    pub fn protocol(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer.as_ref(), field::SRC))
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(self.buffer.as_ref(), field::DST))
    }

    /// True if the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        let header = self
            .buffer
            .as_ref()
            .get(..self.header_len())
            .unwrap_or_default();
        internet_checksum(header) == 0
    }
}

impl<'a> Packet<&'a [u8]> {
    /// Header and payload, cut at the total length.
    pub fn datagram(&self) -> &'a [u8] {
        self.buffer
            .get(..usize::from(self.total_len()))
            .unwrap_or(self.buffer)
    }

    /// The header including options.
    pub fn header(&self) -> &'a [u8] {
        self.buffer.get(..self.header_len()).unwrap_or_default()
    }

    /// The payload, cut at the total length.
    pub fn payload(&self) -> &'a [u8] {
        self.datagram().get(self.header_len()..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, value);
    }

    /// Marks the datagram as whole: clears More Fragments and the offset, keeps Don't Fragment.
    pub fn clear_fragmentation(&mut self) {
        let flags = read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & DONT_FRAGMENT;
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG, flags);
    }

    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, 0);
        let header_len = self.header_len();
        let sum = internet_checksum(self.buffer.as_ref().get(..header_len).unwrap_or_default());
        write_u16(self.buffer.as_mut(), field::CHECKSUM, sum);
    }
}

/// RFC 1071 ones'-complement checksum; 0 over a header whose checksum field is correct.
pub(super) fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        if let &[a, b] = pair {
            sum += u32::from(u16::from_be_bytes([a, b]));
        }
    }
    if let &[last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([last, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A UDP datagram from SIP_CALL_RTP_G711: 200.57.7.204 → 200.57.7.195, with 2 padding bytes.
    const DATAGRAM: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc8, 0x39, 0x07,
        0xcc, 0xc8, 0x39, 0x07, 0xc3, // header
        0x13, 0xc4, 0x13, 0xc5, 0x00, 0x08, 0x00, 0x00, // UDP
        0xee, 0xee, // Ethernet padding
    ];

    fn datagram() -> Vec<u8> {
        let mut bytes = DATAGRAM.to_vec();
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum();
        bytes
    }

    #[test]
    fn reads_header_fields_and_cuts_padding() {
        let bytes = datagram();
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 28);
        assert_eq!(packet.ident(), 0x1c46);
        assert!(packet.dont_frag());
        assert!(!packet.is_fragment());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), 17);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(200, 57, 7, 204));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(200, 57, 7, 195));
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &DATAGRAM[20..28]);
        assert_eq!(packet.datagram().len(), 28);
    }

    #[test]
    fn reads_fragment_fields() {
        let mut bytes = datagram();
        bytes[6] = 0x20; // MF, offset 185 × 8
        bytes[7] = 0xb9;
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert!(packet.more_frags());
        assert_eq!(packet.frag_offset(), 1480);
        assert!(packet.is_fragment());
        let mut owned = bytes.clone();
        let mut writable = Packet::new_unchecked(&mut owned[..]);
        writable.clear_fragmentation();
        writable.set_total_len(28);
        writable.fill_checksum();
        let patched = Packet::new_checked(&owned[..]).expect("valid");
        assert!(!patched.is_fragment());
        assert!(patched.verify_checksum());
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        let bytes = datagram();
        assert_eq!(
            Packet::new_checked(&bytes[..19]).err(),
            Some(MalformedReason::TruncatedIpv4Header)
        );
        assert_eq!(
            Packet::new_checked(&bytes[..27]).err(),
            Some(MalformedReason::TotalLengthExceedsFrame)
        );
        let mut bad = bytes.clone();
        bad[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&bad[..]).err(),
            Some(MalformedReason::BadIpv4HeaderLength)
        );
        bad[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&bad[..]).err(),
            Some(MalformedReason::BadIpv4HeaderLength)
        );
        bad[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&bad[..]).err(),
            Some(MalformedReason::BadIpVersion)
        );
        let mut short_total = bytes.clone();
        short_total[3] = 0x10;
        assert_eq!(
            Packet::new_checked(&short_total[..]).err(),
            Some(MalformedReason::BadIpv4TotalLength)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert!(packet.payload().len() + packet.header_len() == usize::from(packet.total_len()));
                let _ = (packet.src_addr(), packet.frag_offset(), packet.verify_checksum());
            }
            let unchecked = Packet::new_unchecked(&bytes[..]);
            let _ = (unchecked.payload(), unchecked.header(), unchecked.datagram(), unchecked.verify_checksum());
        }
    }
}
