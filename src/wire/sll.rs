//! Linux cooked capture headers: SLL v1 (16 bytes, link type 113) and SLL2 (20 bytes, 276).

use super::{read_u16, read_u32, read_u8, MalformedReason};

mod field {
    /// SLL v1 layout.
    pub const PACKET_TYPE: usize = 0;
    pub const ARPHRD: usize = 2;
    pub const ADDR_LEN: usize = 4;
    pub const PROTOCOL: usize = 14;
    pub const PAYLOAD: usize = 16;
}

mod field_v2 {
    /// SLL2 layout.
    pub const PROTOCOL: usize = 0;
    pub const INTERFACE: usize = 4;
    pub const ARPHRD: usize = 8;
    pub const PACKET_TYPE: usize = 10;
    pub const ADDR_LEN: usize = 11;
    pub const PAYLOAD: usize = 20;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
pub const HEADER_LEN_V2: usize = field_v2::PAYLOAD;

/// A read view of a Linux cooked (SLL v1) header.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least the 16-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedReason::TruncatedSll);
        }
        Ok(Packet { buffer })
    }

    /// 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us.
    pub fn packet_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PACKET_TYPE)
    }

    /// ARPHRD_ type of the capturing device.
    pub fn arphrd_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ARPHRD)
    }

    pub fn addr_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ADDR_LEN)
    }

    /// EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL)
    }
}

impl<'a> Packet<&'a [u8]> {
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field::PAYLOAD..).unwrap_or_default()
    }
}

/// A read view of a Linux cooked v2 (SLL2) header.
#[derive(Debug, Clone, Copy)]
pub struct PacketV2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PacketV2<T> {
    /// Wraps a buffer without checking its length (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> PacketV2<T> {
        PacketV2 { buffer }
    }

    /// Wraps a buffer holding at least the 20-byte header.
    pub fn new_checked(buffer: T) -> Result<PacketV2<T>, MalformedReason> {
        if buffer.as_ref().len() < HEADER_LEN_V2 {
            return Err(MalformedReason::TruncatedSll);
        }
        Ok(PacketV2 { buffer })
    }

    /// EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field_v2::PROTOCOL)
    }

    pub fn interface_index(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field_v2::INTERFACE)
    }

    pub fn arphrd_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field_v2::ARPHRD)
    }

    pub fn packet_type(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field_v2::PACKET_TYPE)
    }

    pub fn addr_len(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field_v2::ADDR_LEN)
    }
}

impl<'a> PacketV2<&'a [u8]> {
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field_v2::PAYLOAD..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_sll_v1() {
        // Outgoing (4), ARPHRD_ETHER (1), 6-byte address, IPv4, first payload byte.
        let bytes = [
            0x00, 0x04, 0x00, 0x01, 0x00, 0x06, 0x00, 0x50, 0x56, 0x9a, 0x2d, 0x11, 0x00, 0x00,
            0x08, 0x00, 0x45,
        ];
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.packet_type(), 4);
        assert_eq!(packet.arphrd_type(), 1);
        assert_eq!(packet.addr_len(), 6);
        assert_eq!(packet.protocol(), 0x0800);
        assert_eq!(packet.payload(), &[0x45]);
        assert_eq!(
            Packet::new_checked(&bytes[..15]).err(),
            Some(MalformedReason::TruncatedSll)
        );
    }

    #[test]
    fn reads_sll_v2() {
        let bytes = [
            0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x06, 0x00, 0x50,
            0x56, 0x9a, 0x2d, 0x11, 0x00, 0x00, 0x60,
        ];
        let packet = PacketV2::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.protocol(), 0x86dd);
        assert_eq!(packet.interface_index(), 2);
        assert_eq!(packet.arphrd_type(), 1);
        assert_eq!(packet.packet_type(), 0);
        assert_eq!(packet.addr_len(), 6);
        assert_eq!(packet.payload(), &[0x60]);
        assert_eq!(
            PacketV2::new_checked(&bytes[..19]).err(),
            Some(MalformedReason::TruncatedSll)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len(), bytes.len() - HEADER_LEN);
            }
            if let Ok(packet) = PacketV2::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len(), bytes.len() - HEADER_LEN_V2);
            }
            let v1 = Packet::new_unchecked(&bytes[..]);
            let v2 = PacketV2::new_unchecked(&bytes[..]);
            let _ = (v1.protocol(), v1.payload(), v2.protocol(), v2.interface_index(), v2.payload());
        }
    }
}
