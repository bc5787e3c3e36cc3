//! IPv6 header view and extension-header walk (hop-by-hop, routing, destination options,
//! AH, mobility, fragment) up to the transport protocol.

use std::net::Ipv6Addr;

use super::{read_array, read_u16, read_u32, read_u8, write_u16, MalformedReason};

mod field {
    use crate::wire::Field;
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
    pub const PAYLOAD: usize = 40;
}

mod fragment_field {
    pub const NEXT_HEADER: usize = 0;
    pub const OFFSET_FLAGS: usize = 2;
    pub const IDENT: usize = 4;
    pub const LEN: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;
/// Extension headers walked before giving up.
pub const MAX_EXTENSIONS: usize = 8;

/// Next-header values of the extension headers the walk steps over.
pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTIONS: u8 = 60;
    pub const MOBILITY: u8 = 135;
}

/// A read view of an IPv6 header and the packet it heads.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks (accessors then read zeros past the end).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking the version and that the payload length fits the buffer
    /// (bytes beyond it, such as Ethernet padding, are ignored).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, MalformedReason> {
        let packet = Packet { buffer };
        let len = packet.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(MalformedReason::TruncatedIpv6Header);
        }
        if packet.version() != 6 {
            return Err(MalformedReason::BadIpVersion);
        }
        if HEADER_LEN + usize::from(packet.payload_len()) > len {
            return Err(MalformedReason::TotalLengthExceedsFrame);
        }
        Ok(packet)
    }

    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000F_FFFF
    }

    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::NEXT_HEADER)
    }

    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buffer.as_ref(), field::SRC))
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(self.buffer.as_ref(), field::DST))
    }
}

impl<'a> Packet<&'a [u8]> {
    /// Header and payload, cut at the payload length.
    pub fn datagram(&self) -> &'a [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buffer.get(..end).unwrap_or(self.buffer)
    }

    /// Everything after the fixed header (extension headers included), cut at the payload length.
    pub fn payload(&self) -> &'a [u8] {
        self.datagram().get(field::PAYLOAD..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_payload_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::PAYLOAD_LEN, value);
    }

    pub fn set_next_header(&mut self, value: u8) {
        if let Some(byte) = self.buffer.as_mut().get_mut(field::NEXT_HEADER) {
            *byte = value;
        }
    }
}

/// The fields of an IPv6 Fragment extension header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader {
    /// Protocol of the fragmentable part.
    pub next_header: u8,
    /// Offset of this fragment's data in bytes.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl FragmentHeader {
    /// Reads the 8-byte fragment header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<FragmentHeader, MalformedReason> {
        if bytes.len() < fragment_field::LEN {
            return Err(MalformedReason::TruncatedIpv6Extension);
        }
        let offset_flags = read_u16(bytes, fragment_field::OFFSET_FLAGS);
        Ok(FragmentHeader {
            next_header: read_u8(bytes, fragment_field::NEXT_HEADER),
            offset: offset_flags & 0xFFF8,
            more: offset_flags & 1 != 0,
            ident: read_u32(bytes, fragment_field::IDENT),
        })
    }

    /// An atomic fragment (offset 0, no more fragments) is a whole packet (RFC 6946).
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// Where the transport header starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Transport protocol number (or, for a fragment, the protocol of the fragmentable part).
    pub protocol: u8,
    /// Offset from the start of the IPv6 payload to the transport header (or fragment data).
    pub offset: usize,
    /// The fragment header met on the way, if any (the walk stops after it).
    pub fragment: Option<FragmentHeader>,
}

/// Walks extension headers of an IPv6 payload, starting from the fixed header's next header.
/// Stops at the first non-extension protocol or right after a Fragment header.
pub fn walk_extensions(first: u8, payload: &[u8]) -> Result<UpperLayer, MalformedReason> {
    let mut protocol = first;
    let mut offset = 0usize;
    for _ in 0..MAX_EXTENSIONS {
        let rest = payload.get(offset..).unwrap_or_default();
        let len = match protocol {
            next_header::HOP_BY_HOP
            | next_header::ROUTING
            | next_header::DEST_OPTIONS
            | next_header::MOBILITY => {
                let Some(&units) = rest.get(1) else {
                    return Err(MalformedReason::TruncatedIpv6Extension);
                };
                (usize::from(units) + 1) * 8
            }
            next_header::AUTH => {
                let Some(&units) = rest.get(1) else {
                    return Err(MalformedReason::TruncatedIpv6Extension);
                };
                (usize::from(units) + 2) * 4
            }
            next_header::FRAGMENT => {
                let fragment = FragmentHeader::parse(rest)?;
                return Ok(UpperLayer {
                    protocol: fragment.next_header,
                    offset: offset + fragment_field::LEN,
                    fragment: Some(fragment),
                });
            }
            _ => {
                return Ok(UpperLayer {
                    protocol,
                    offset,
                    fragment: None,
                })
            }
        };
        if rest.len() < len {
            return Err(MalformedReason::TruncatedIpv6Extension);
        }
        protocol = read_u8(rest, 0);
        offset += len;
    }
    Err(MalformedReason::TooManyIpv6Extensions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Start of the INVITE in sip_ipv6_udp.pcap: fe80::21a:a0ff:fe07:32e0 → fec0::216:d3ff:fe0d:22c.
    fn header(payload_len: u16, next: u8) -> Vec<u8> {
        let mut bytes = vec![
            0x60, 0x00, 0x00, 0x00, 0x00, 0x00, next, 0x40, // ver, tc, flow, len, next, hops
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x1a, 0xa0, 0xff, 0xfe, 0x07, 0x32, 0xe0, 0xfe,
            0xc0, 0, 0, 0, 0, 0, 0, 0x02, 0x16, 0xd3, 0xff, 0xfe, 0x0d, 0x02, 0x2c,
        ];
        bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
        bytes
    }

    #[test]
    fn reads_header_fields() {
        let mut bytes = header(8, 17);
        bytes.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0x00, 0x08, 0x00, 0x00, 0xee, 0xee]);
        let packet = Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.payload_len(), 8);
        assert_eq!(packet.next_header(), 17);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(
            packet.src_addr(),
            "fe80::21a:a0ff:fe07:32e0"
                .parse::<Ipv6Addr>()
                .expect("addr")
        );
        assert_eq!(
            packet.dst_addr(),
            "fec0::216:d3ff:fe0d:22c".parse::<Ipv6Addr>().expect("addr")
        );
        assert_eq!(packet.payload().len(), 8);
        assert_eq!(packet.datagram().len(), 48);
    }

    #[test]
    fn rejects_bad_lengths_and_version() {
        let bytes = header(8, 17);
        assert_eq!(
            Packet::new_checked(&bytes[..39]).err(),
            Some(MalformedReason::TruncatedIpv6Header)
        );
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(MalformedReason::TotalLengthExceedsFrame)
        );
        let mut v4 = header(0, 17);
        v4[0] = 0x45;
        assert_eq!(
            Packet::new_checked(&v4[..]).err(),
            Some(MalformedReason::BadIpVersion)
        );
    }

    #[test]
    fn walks_hop_by_hop_and_destination_options_to_udp() {
        let payload = [
            60, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop, 8 bytes, next = dest options
            17, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, // dest options, 16 bytes, next = UDP
            0x13, 0xc4,
        ];
        let upper = walk_extensions(0, &payload).expect("valid");
        assert_eq!(
            upper,
            UpperLayer {
                protocol: 17,
                offset: 24,
                fragment: None
            }
        );
    }

    #[test]
    fn stops_after_fragment_header() {
        // Fragment header: next UDP, offset 1448 bytes (181 × 8), more fragments, id 0xdeadbeef.
        let payload = [17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef, 0xaa];
        let upper = walk_extensions(44, &payload).expect("valid");
        let fragment = FragmentHeader {
            next_header: 17,
            offset: 1448,
            more: true,
            ident: 0xdead_beef,
        };
        assert_eq!(
            upper,
            UpperLayer {
                protocol: 17,
                offset: 8,
                fragment: Some(fragment)
            }
        );
        assert!(!fragment.is_atomic());
    }

    #[test]
    fn rejects_truncated_and_endless_extensions() {
        assert_eq!(
            walk_extensions(0, &[17, 1, 0, 0]),
            Err(MalformedReason::TruncatedIpv6Extension)
        );
        assert_eq!(
            walk_extensions(44, &[17, 0, 0]),
            Err(MalformedReason::TruncatedIpv6Extension)
        );
        let chain = [0u8, 0, 0, 0, 0, 0, 0, 0].repeat(9);
        assert_eq!(
            walk_extensions(0, &chain),
            Err(MalformedReason::TooManyIpv6Extensions)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(first in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len(), usize::from(packet.payload_len()));
                if let Ok(upper) = walk_extensions(packet.next_header(), packet.payload()) {
                    prop_assert!(upper.offset <= packet.payload().len());
                }
            }
            if let Ok(upper) = walk_extensions(first, &bytes) {
                prop_assert!(upper.offset <= bytes.len());
            }
            let unchecked = Packet::new_unchecked(&bytes[..]);
            let _ = (unchecked.payload(), unchecked.flow_label(), unchecked.traffic_class());
        }
    }
}
