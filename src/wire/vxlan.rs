//! VXLAN header view and representation (RFC 7348): Ethernet frames in UDP, port 4789.

use super::{read_u32, read_u8, write_u32, MalformedReason};

mod field {
    pub const FLAGS: usize = 0;
    /// VNI (24 bits) and a reserved byte.
    pub const VNI: usize = 4;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
/// IANA-assigned UDP destination port.
pub const UDP_PORT: u16 = 4789;

/// I flag: the VNI is valid (RFC 7348 requires it set).
const FLAG_VNI: u8 = 0x08;

/// A read view of a VXLAN packet (the UDP payload).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding the 8-byte header with the I flag set.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedReason::TruncatedVxlan);
        }
        if packet.flags() & FLAG_VNI == 0 {
            return Err(MalformedReason::BadVxlanHeader);
        }
        Ok(packet)
    }

    pub fn flags(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::FLAGS)
    }

    /// VXLAN network identifier.
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VNI) >> 8
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field::PAYLOAD..).unwrap_or_default()
    }
}

/// A VXLAN header in parsed form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub vni: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Repr {
        Repr { vni: packet.vni() }
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (I flag, VNI, reserved fields zero) at the start of the buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let bytes = packet.buffer.as_mut();
        write_u32(bytes, field::FLAGS, u32::from(FLAG_VNI) << 24);
        write_u32(bytes, field::VNI, (self.vni & 0x00FF_FFFF) << 8);
    }

    /// Appends header and frame to `out`.
    pub fn append(&self, out: &mut Vec<u8>, frame: &[u8]) {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        self.emit(&mut Packet::new_unchecked(&mut out[start..]));
        out.extend_from_slice(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PACKET: [u8; 9] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0x00, 0xAB];

    #[test]
    fn reads_vni_and_payload() {
        let packet = Packet::new_checked(&PACKET[..]).expect("valid");
        assert_eq!(packet.vni(), 0x12_3456);
        assert_eq!(packet.payload(), &[0xAB]);
        let mut out = Vec::new();
        Repr::parse(&packet).append(&mut out, &[0xAB]);
        assert_eq!(out, PACKET);
    }

    #[test]
    fn rejects_truncated_or_unflagged_headers() {
        assert_eq!(Packet::new_checked(&PACKET[..7]).err(), Some(MalformedReason::TruncatedVxlan));
        let mut unflagged = PACKET;
        unflagged[0] = 0;
        assert_eq!(Packet::new_checked(&unflagged[..]).err(), Some(MalformedReason::BadVxlanHeader));
    }

    proptest! {
        #[test]
        fn round_trips(vni in 0u32..0x100_0000, frame in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut out = Vec::new();
            Repr { vni }.append(&mut out, &frame);
            let packet = Packet::new_checked(&out[..]).expect("valid");
            prop_assert_eq!(Repr::parse(&packet), Repr { vni });
            prop_assert_eq!(packet.payload(), &frame[..]);
        }
    }
}
