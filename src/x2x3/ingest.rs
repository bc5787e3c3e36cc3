//! X2/X3 ingest: turns a received X2 (SIP) or X3 (RTP) PDU into the frame the capture
//! pipeline consumes, so the mediation function applies exactly the scope rules and handover
//! encoders of a single box to traffic seen by a remote point of interception.
//!
//! - SIP (payload format 9) and RTP (8) become one Ethernet/IP/UDP frame from the source
//!   address and port attributes (10–15) to the destination ones. RTP needs both ends (the
//!   mediator matches media flows by their addresses); a SIP message without them is
//!   carried between unspecified addresses on port 5060 (the mediator reads the parties and
//!   the media from the SIP text itself).
//! - IPv4/IPv6 packets (5, 6) and Ethernet frames (7) are passed on as they are.
//! - The frame's time is the timestamp attribute (9), else the time of receipt.
//!
//! The PDU's direction is not needed: the mediator derives the direction of every message
//! and media packet from the call, as it does for captured traffic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::pdu::{PayloadFormat, PduRepr, PduType};
use crate::capture::LinkType;
use crate::gen::{Endpoint, FrameBuilder};
use crate::Timestamp;

/// Largest UDP payload that fits one synthesized datagram.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
const SIP_PORT: u16 = 5060;

/// Why a PDU was not ingested (counted by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("payload format {0} is not ingested")]
    UnsupportedFormat(u16),
    #[error("keepalives carry no content")]
    NotData,
    #[error("an RTP PDU without source and destination address and port")]
    NoAddresses,
    #[error("source and destination addresses of different families")]
    MixedFamilies,
    #[error("payload of {0} bytes does not fit one UDP datagram")]
    TooLarge(usize),
}

/// Builds the frames of ingested PDUs (one per connection: it numbers IPv4 identifiers).
#[derive(Debug)]
pub struct Ingest {
    builder: FrameBuilder,
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest::new()
    }
}

impl Ingest {
    pub fn new() -> Ingest {
        Ingest { builder: FrameBuilder::new(1) }
    }

    /// Writes the frame of `pdu` into `out` (cleared first); returns its time and link type.
    pub fn frame(&mut self, pdu: &PduRepr<'_>, received: Timestamp, out: &mut Vec<u8>) -> Result<(Timestamp, LinkType), IngestError> {
        out.clear();
        if matches!(pdu.pdu_type, PduType::Keepalive | PduType::KeepaliveAck) {
            return Err(IngestError::NotData);
        }
        let ts = pdu.timestamp.unwrap_or(received);
        let link = match pdu.payload_format {
            PayloadFormat::Sip | PayloadFormat::Rtp => {
                let (src, dst) = endpoints(pdu)?;
                if pdu.payload.len() > MAX_UDP_PAYLOAD {
                    return Err(IngestError::TooLarge(pdu.payload.len()));
                }
                self.builder.udp_frame(out, src, dst, None, pdu.payload);
                LinkType::Ethernet
            }
            PayloadFormat::Ipv4Packet | PayloadFormat::Ipv6Packet => {
                out.extend_from_slice(pdu.payload);
                LinkType::RawIp
            }
            PayloadFormat::Ethernet => {
                out.extend_from_slice(pdu.payload);
                LinkType::Ethernet
            }
            other @ (PayloadFormat::None | PayloadFormat::Other(_)) => {
                return Err(IngestError::UnsupportedFormat(other.to_u16()))
            }
        };
        Ok((ts, link))
    }
}

/// The UDP ends of a SIP or RTP PDU (see the module doc for the SIP defaults).
fn endpoints(pdu: &PduRepr<'_>) -> Result<(Endpoint, Endpoint), IngestError> {
    let sip = pdu.payload_format == PayloadFormat::Sip;
    let (src, dst) = match (pdu.src_addr, pdu.dst_addr) {
        (Some(s), Some(d)) => (s, d),
        (Some(s), None) if sip => (s, unspecified_like(s)),
        (None, Some(d)) if sip => (unspecified_like(d), d),
        (None, None) if sip => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        _ => return Err(IngestError::NoAddresses),
    };
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(IngestError::MixedFamilies);
    }
    let (sport, dport) = match (pdu.src_port, pdu.dst_port) {
        (Some(s), Some(d)) => (s, d),
        (s, d) if sip => (s.unwrap_or(SIP_PORT), d.unwrap_or(SIP_PORT)),
        _ => return Err(IngestError::NoAddresses),
    };
    Ok((Endpoint::new(src, sport), Endpoint::new(dst, dport)))
}

fn unspecified_like(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Frame;
    use crate::wire::{Decoded, Decoder};
    use crate::x2x3::pdu::{Direction, Xid};

    fn rtp_pdu(payload: &[u8]) -> PduRepr<'_> {
        let mut p = PduRepr::new(PduType::X3, PayloadFormat::Rtp, Direction::ToTarget, Xid([1; 16]), payload);
        p.src_addr = Some("198.51.100.7".parse().unwrap());
        p.dst_addr = Some("192.0.2.10".parse().unwrap());
        p.src_port = Some(40_000);
        p.dst_port = Some(20_000);
        p.timestamp = Some(Timestamp::from_nanos(1_790_000_000_123_456_789));
        p
    }

    #[test]
    fn rtp_becomes_the_udp_datagram_between_the_attributes_addresses() {
        let rtp = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xd5, 0xd5];
        let mut out = Vec::new();
        let (ts, link) = Ingest::new().frame(&rtp_pdu(&rtp), Timestamp::from_nanos(5), &mut out).expect("ingested");
        assert_eq!(ts, Timestamp::from_nanos(1_790_000_000_123_456_789));
        let mut decoder = Decoder::new();
        let Decoded::Datagram(dg) = decoder.decode(&Frame { ts, link, data: &out, orig_len: out.len() as u32 }) else {
            panic!("not a datagram")
        };
        assert_eq!(dg.payload, &rtp);
        assert_eq!((dg.flow.src, dg.flow.src_port), ("198.51.100.7".parse().unwrap(), 40_000));
        assert_eq!((dg.flow.dst, dg.flow.dst_port), ("192.0.2.10".parse().unwrap(), 20_000));
    }

    #[test]
    fn sip_without_addresses_is_carried_between_unspecified_ones() {
        let sip = b"OPTIONS sip:x SIP/2.0\r\n\r\n";
        let pdu = PduRepr::new(PduType::X2, PayloadFormat::Sip, Direction::FromTarget, Xid::default(), sip);
        let mut out = Vec::new();
        let (ts, link) = Ingest::new().frame(&pdu, Timestamp::from_nanos(77), &mut out).expect("ingested");
        assert_eq!(ts, Timestamp::from_nanos(77), "no timestamp attribute: time of receipt");
        let mut decoder = Decoder::new();
        let Decoded::Datagram(dg) = decoder.decode(&Frame { ts, link, data: &out, orig_len: out.len() as u32 }) else {
            panic!("not a datagram")
        };
        assert_eq!(dg.payload, sip);
        assert_eq!((dg.flow.dst, dg.flow.dst_port), (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5060));
    }

    #[test]
    fn refuses_what_cannot_be_placed() {
        let mut out = Vec::new();
        let mut ingest = Ingest::new();
        let mut no_addr = rtp_pdu(b"x");
        no_addr.dst_addr = None;
        assert_eq!(ingest.frame(&no_addr, Timestamp::default(), &mut out), Err(IngestError::NoAddresses));
        let mut mixed = rtp_pdu(b"x");
        mixed.dst_addr = Some("2001:db8::1".parse().unwrap());
        assert_eq!(ingest.frame(&mixed, Timestamp::default(), &mut out), Err(IngestError::MixedFamilies));
        let mut dhcp = rtp_pdu(b"x");
        dhcp.payload_format = PayloadFormat::Other(10);
        assert_eq!(ingest.frame(&dhcp, Timestamp::default(), &mut out), Err(IngestError::UnsupportedFormat(10)));
        let ka = PduRepr::keepalive(PduType::Keepalive, 1);
        assert_eq!(ingest.frame(&ka, Timestamp::default(), &mut out), Err(IngestError::NotData));
        let big = vec![0u8; 70_000];
        assert_eq!(ingest.frame(&rtp_pdu(&big), Timestamp::default(), &mut out), Err(IngestError::TooLarge(70_000)));
    }
}
