//! BSD loopback header (link types NULL and LOOP): a 4-byte address family, either byte order.

use super::{read_u32, MalformedReason};

mod field {
    pub const FAMILY: usize = 0;
    pub const PAYLOAD: usize = 4;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// Address family values for IPv4 and the IPv6 values used by the BSDs, macOS and Linux.
pub mod family {
    pub const INET: u32 = 2;
    /// NetBSD, OpenBSD, BSD/OS.
    pub const INET6_BSD: u32 = 24;
    /// FreeBSD, DragonFly.
    pub const INET6_FREEBSD: u32 = 28;
    /// macOS.
    pub const INET6_DARWIN: u32 = 30;
    /// Linux.
    pub const INET6_LINUX: u32 = 10;
}

/// IP version carried in a loopback frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// A read view of a loopback header.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer holding at least the 4-byte family.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(MalformedReason::TruncatedNull);
        }
        Ok(Packet { buffer })
    }

    /// The address family, whichever byte order the capturing host wrote it in.
    /// Families are small numbers, so a value with only high bytes set is byte-swapped.
    pub fn family(&self) -> u32 {
        let raw = read_u32(self.buffer.as_ref(), field::FAMILY);
        if raw & 0xFFFF == 0 {
            raw.swap_bytes()
        } else {
            raw
        }
    }

    /// IPv4 or IPv6, if the family is one of those.
    pub fn ip_version(&self) -> Option<IpVersion> {
        match self.family() {
            family::INET => Some(IpVersion::V4),
            family::INET6_BSD
            | family::INET6_FREEBSD
            | family::INET6_DARWIN
            | family::INET6_LINUX => Some(IpVersion::V6),
            _ => None,
        }
    }
}

impl<'a> Packet<&'a [u8]> {
    pub fn payload(&self) -> &'a [u8] {
        self.buffer.get(field::PAYLOAD..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_family_in_both_byte_orders() {
        let little = [0x02, 0x00, 0x00, 0x00, 0x45];
        let big = [0x00, 0x00, 0x00, 0x1e, 0x60];
        let le = Packet::new_checked(&little[..]).expect("valid");
        let be = Packet::new_checked(&big[..]).expect("valid");
        assert_eq!(le.family(), 2);
        assert_eq!(le.ip_version(), Some(IpVersion::V4));
        assert_eq!(le.payload(), &[0x45]);
        assert_eq!(be.family(), 30);
        assert_eq!(be.ip_version(), Some(IpVersion::V6));
        let other = [0x07, 0x00, 0x00, 0x00];
        assert_eq!(
            Packet::new_checked(&other[..]).expect("valid").ip_version(),
            None
        );
        assert_eq!(
            Packet::new_checked(&little[..3]).err(),
            Some(MalformedReason::TruncatedNull)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = packet.ip_version();
                prop_assert_eq!(packet.payload().len(), bytes.len() - HEADER_LEN);
            }
            let _ = Packet::new_unchecked(&bytes[..]).family();
        }
    }
}
