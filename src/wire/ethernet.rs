//! Ethernet II frame view: MAC addresses, EtherType and payload.

use super::{read_array, read_u16, MalformedReason};

mod field {
    use crate::wire::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// EtherType values the decoder acts on.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86DD;
    /// IEEE 802.1Q customer tag.
    pub const VLAN: u16 = 0x8100;
    /// IEEE 802.1ad service tag (QinQ).
    pub const QINQ: u16 = 0x88A8;
    /// Pre-standard QinQ tag.
    pub const QINQ_LEGACY: u16 = 0x9100;
}

/// A read view of an Ethernet II frame.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedReason::TruncatedEthernet);
        }
        Ok(Packet { buffer })
    }

    pub fn dst_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::DST)
    }

    pub fn src_addr(&self) -> [u8; 6] {
        read_array(self.buffer.as_ref(), field::SRC)
    }

    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The bytes after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field::PAYLOAD..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FRAME: [u8; 18] = [
        0x00, 0x1a, 0xa0, 0x07, 0x32, 0xe0, // dst
        0x00, 0x16, 0xd3, 0x0d, 0x02, 0x2c, // src
        0x86, 0xdd, // IPv6
        0x60, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn reads_header_fields() {
        let packet = Packet::new_checked(&FRAME[..]).expect("valid");
        assert_eq!(packet.dst_addr(), [0x00, 0x1a, 0xa0, 0x07, 0x32, 0xe0]);
        assert_eq!(packet.src_addr(), [0x00, 0x16, 0xd3, 0x0d, 0x02, 0x2c]);
        assert_eq!(packet.ethertype(), ethertype::IPV6);
        assert_eq!(packet.payload(), &[0x60, 0, 0, 0]);
    }

    #[test]
    fn rejects_short_frame() {
        assert_eq!(
            Packet::new_checked(&FRAME[..13]).err(),
            Some(MalformedReason::TruncatedEthernet)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.dst_addr(), packet.src_addr(), packet.ethertype());
                prop_assert_eq!(packet.payload().len(), bytes.len() - HEADER_LEN);
            }
            let unchecked = Packet::new_unchecked(&bytes[..]);
            let _ = (unchecked.ethertype(), unchecked.payload());
        }
    }
}
