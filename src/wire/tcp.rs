//! TCP header view: ports, sequence numbers, flags and payload.

use super::{read_u16, read_u32, read_u8, MalformedReason};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
}

pub const MIN_HEADER_LEN: usize = 20;

/// The TCP control flags the decoder and stream reassembly look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A read view of a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding the header, with a data offset between 5 words and the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(MalformedReason::TruncatedTcp);
        }
        let header_len = packet.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(MalformedReason::BadTcpDataOffset);
        }
        Ok(packet)
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::DATA_OFFSET) >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(read_u8(self.buffer.as_ref(), field::FLAGS))
    }

    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The bytes after the header and options.
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(self.header_len()..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A PSH/ACK segment 5060 → 40000 with 12 bytes of options (NOP NOP timestamps) and "INV".
    const SEGMENT: [u8; 35] = [
        0x13, 0xc4, 0x9c, 0x40, // ports
        0x12, 0x34, 0x56, 0x78, // seq
        0x9a, 0xbc, 0xde, 0xf0, // ack
        0x80, 0x18, 0x01, 0xf5, 0x4a, 0x1b, 0x00,
        0x00, // offset 8, PSH|ACK, window, checksum, urg
        0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // options
        b'I', b'N', b'V',
    ];

    #[test]
    fn reads_header_fields() {
        let packet = Packet::new_checked(&SEGMENT[..]).expect("valid");
        assert_eq!(packet.src_port(), 5060);
        assert_eq!(packet.dst_port(), 40000);
        assert_eq!(packet.seq_number(), 0x1234_5678);
        assert_eq!(packet.ack_number(), 0x9abc_def0);
        assert_eq!(packet.header_len(), 32);
        let flags = packet.flags();
        assert!(flags.psh() && flags.ack());
        assert!(!flags.syn() && !flags.fin() && !flags.rst());
        assert_eq!(packet.window_len(), 501);
        assert_eq!(packet.payload(), b"INV");
    }

    #[test]
    fn rejects_bad_offsets() {
        assert_eq!(
            Packet::new_checked(&SEGMENT[..19]).err(),
            Some(MalformedReason::TruncatedTcp)
        );
        assert_eq!(
            Packet::new_checked(&SEGMENT[..31]).err(),
            Some(MalformedReason::BadTcpDataOffset)
        );
        let mut small = SEGMENT;
        small[12] = 0x40;
        assert_eq!(
            Packet::new_checked(&small[..]).err(),
            Some(MalformedReason::BadTcpDataOffset)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len() + packet.header_len(), bytes.len());
                let _ = (packet.seq_number(), packet.flags());
            }
            let _ = Packet::new_unchecked(&bytes[..]).payload();
        }
    }
}
