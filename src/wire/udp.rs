//! UDP header view: ports, length, checksum and payload.

use super::{read_u16, MalformedReason};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding the header, with a length field between 8 and the buffer length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(MalformedReason::TruncatedUdp);
        }
        let length = usize::from(packet.length());
        if length < HEADER_LEN || length > len {
            return Err(MalformedReason::BadUdpLength);
        }
        Ok(packet)
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header plus payload.
    pub fn length(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, cut at the length field.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer
            .get(field::PAYLOAD..usize::from(self.length()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SIP over UDP 5060 → 5061 carrying "SIP/", followed by one stray byte.
    const DATAGRAM: [u8; 13] = [
        0x13, 0xc4, 0x13, 0xc5, 0x00, 0x0c, 0x8a, 0x1f, b'S', b'I', b'P', b'/', 0xff,
    ];

    #[test]
    fn reads_header_and_cuts_payload_at_length() {
        let packet = Packet::new_checked(&DATAGRAM[..]).expect("valid");
        assert_eq!(packet.src_port(), 5060);
        assert_eq!(packet.dst_port(), 5061);
        assert_eq!(packet.length(), 12);
        assert_eq!(packet.checksum(), 0x8a1f);
        assert_eq!(packet.payload(), b"SIP/");
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..7]).err(),
            Some(MalformedReason::TruncatedUdp)
        );
        assert_eq!(
            Packet::new_checked(&DATAGRAM[..11]).err(),
            Some(MalformedReason::BadUdpLength)
        );
        let mut short = DATAGRAM;
        short[5] = 7;
        assert_eq!(
            Packet::new_checked(&short[..]).err(),
            Some(MalformedReason::BadUdpLength)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len() + HEADER_LEN, usize::from(packet.length()));
            }
            let _ = Packet::new_unchecked(&bytes[..]).payload();
        }
    }
}
