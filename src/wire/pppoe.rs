//! PPPoE session header (EtherType 0x8864) with its PPP protocol field, as used by DSL
//! access links; carries IPv4 (PPP 0x0021) or IPv6 (PPP 0x0057).

use super::{read_u16, read_u8, MalformedReason};

mod field {
    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION_ID: usize = 2;
    pub const LENGTH: usize = 4;
    /// The PPP protocol field opens the PPPoE payload.
    pub const PPP_PROTOCOL: usize = 6;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
/// EtherType of PPPoE session frames.
pub const ETHERTYPE_SESSION: u16 = 0x8864;

/// PPP protocol numbers of the network layers the decoder follows.
pub mod ppp_protocol {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// A read view of a PPPoE session header and PPP protocol field.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding a version 1, type 1 session header whose length fits the buffer.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(MalformedReason::TruncatedPppoe);
        }
        let length = usize::from(packet.length());
        if packet.ver_type() != 0x11
            || packet.code() != 0
            || length < 2
            || field::PPP_PROTOCOL + length > len
        {
            return Err(MalformedReason::BadPppoeHeader);
        }
        Ok(packet)
    }

    /// Version (high nibble) and type (low nibble); 0x11 for RFC 2516.
    pub fn ver_type(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_TYPE)
    }

    /// 0 for session data.
    pub fn code(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CODE)
    }

    pub fn session_id(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SESSION_ID)
    }

    /// Length of the PPPoE payload, PPP protocol field included.
    pub fn length(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ppp_protocol(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PPP_PROTOCOL)
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The PPP payload (after the protocol field), cut at the PPPoE length.
    pub fn payload(&self) -> &'a [u8] {
        let end = field::PPP_PROTOCOL + usize::from(self.length());
        self.buffer.get(field::PAYLOAD..end).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Start of a frame in DTMFsipinfo.pcap: session 0x18e5, length 1073, PPP IPv4.
    const SESSION: [u8; 12] = [
        0x11, 0x00, 0x18, 0xe5, 0x00, 0x06, 0x00, 0x21, 0x45, 0x00, 0x04, 0x2f,
    ];

    #[test]
    fn reads_session_header() {
        let packet = Packet::new_checked(&SESSION[..]).expect("valid");
        assert_eq!(packet.ver_type(), 0x11);
        assert_eq!(packet.code(), 0);
        assert_eq!(packet.session_id(), 0x18e5);
        assert_eq!(packet.length(), 6);
        assert_eq!(packet.ppp_protocol(), ppp_protocol::IPV4);
        assert_eq!(packet.payload(), &[0x45, 0x00, 0x04, 0x2f]);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(
            Packet::new_checked(&SESSION[..7]).err(),
            Some(MalformedReason::TruncatedPppoe)
        );
        assert_eq!(
            Packet::new_checked(&SESSION[..11]).err(),
            Some(MalformedReason::BadPppoeHeader)
        );
        let mut discovery = SESSION;
        discovery[1] = 0x09;
        assert_eq!(
            Packet::new_checked(&discovery[..]).err(),
            Some(MalformedReason::BadPppoeHeader)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len() + 2, usize::from(packet.length()));
            }
            let _ = Packet::new_unchecked(&bytes[..]).payload();
        }
    }
}
