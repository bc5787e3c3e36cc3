//! Mirror tunnels unwrapped before L3: GRE carrying IP or Ethernet (RFC 2784/2890), ERSPAN
//! types I, II and III in GRE, and VXLAN in UDP (RFC 7348). Counted per kind.

use super::ethernet;
use super::erspan::{self, frame_type};
use super::gre::{self, protocol};
use super::null::IpVersion;
use super::{read_u16, udp, vxlan, Decoded, MalformedReason, SkipReason};

/// Tunnels nested inside each other deeper than this are refused as malformed.
pub const MAX_DEPTH: usize = 3;

/// A kind of mirror tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// GRE carrying an IPv4 or IPv6 packet.
    GreIp,
    /// GRE transparent Ethernet bridging (0x6558).
    GreEthernet,
    /// ERSPAN type I: 0x88BE without a GRE sequence number, no ERSPAN header.
    ErspanI,
    ErspanII,
    ErspanIII,
    Vxlan,
}

/// Packets unwrapped, per tunnel kind (a packet in two nested tunnels counts in both).
#[derive(Default, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TunnelStats {
    pub gre_ip: u64,
    pub gre_ethernet: u64,
    pub erspan_i: u64,
    pub erspan_ii: u64,
    pub erspan_iii: u64,
    pub vxlan: u64,
}

impl TunnelStats {
    pub(super) fn count(&mut self, kind: TunnelKind) {
        let counter = match kind {
            TunnelKind::GreIp => &mut self.gre_ip,
            TunnelKind::GreEthernet => &mut self.gre_ethernet,
            TunnelKind::ErspanI => &mut self.erspan_i,
            TunnelKind::ErspanII => &mut self.erspan_ii,
            TunnelKind::ErspanIII => &mut self.erspan_iii,
            TunnelKind::Vxlan => &mut self.vxlan,
        };
        *counter += 1;
    }

    pub fn total(&self) -> u64 {
        self.gre_ip + self.gre_ethernet + self.erspan_i + self.erspan_ii + self.erspan_iii + self.vxlan
    }
}

/// What a tunnel carries.
#[derive(Debug, Clone, Copy)]
pub(super) enum Payload<'a> {
    Ethernet(&'a [u8]),
    Ip(IpVersion, &'a [u8]),
}

/// The content of one tunnel packet.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decapsulated<'a> {
    pub kind: TunnelKind,
    pub payload: Payload<'a>,
    /// ERSPAN's VLAN of the mirrored frame at its source (used when the frame is untagged).
    pub source_vlan: Option<u16>,
}

/// Unwraps the payload of IP protocol 47.
pub(super) fn gre(bytes: &[u8]) -> Result<Decapsulated<'_>, Decoded<'static>> {
    let version = gre::Packet::new_unchecked(bytes).version();
    if bytes.len() >= gre::BASE_HEADER_LEN && version != 0 {
        return Err(Decoded::Skipped(SkipReason::UnsupportedGreVersion(version)));
    }
    let packet = gre::Packet::new_checked(bytes).map_err(Decoded::Malformed)?;
    let inner = packet.payload();
    let plain = |kind, payload| Ok(Decapsulated { kind, payload, source_vlan: None });
    match packet.protocol_type() {
        protocol::IPV4 => plain(TunnelKind::GreIp, Payload::Ip(IpVersion::V4, inner)),
        protocol::IPV6 => plain(TunnelKind::GreIp, Payload::Ip(IpVersion::V6, inner)),
        protocol::TRANSPARENT_ETHERNET => plain(TunnelKind::GreEthernet, Payload::Ethernet(inner)),
        protocol::ERSPAN_II if !packet.has_sequence() => plain(TunnelKind::ErspanI, Payload::Ethernet(inner)),
        protocol::ERSPAN_II => {
            let erspan = erspan::Type2Packet::new_checked(inner).map_err(Decoded::Malformed)?;
            Ok(Decapsulated {
                kind: TunnelKind::ErspanII,
                payload: Payload::Ethernet(erspan.payload()),
                source_vlan: nonzero(erspan.common().vlan),
            })
        }
        protocol::ERSPAN_III => {
            let erspan = erspan::Type3Packet::new_checked(inner).map_err(Decoded::Malformed)?;
            let frame = erspan.payload();
            let payload = match erspan.frame_type() {
                frame_type::ETHERNET => Payload::Ethernet(frame),
                frame_type::IP => Payload::Ip(ip_version(frame)?, frame),
                other => return Err(Decoded::Skipped(SkipReason::UnsupportedErspanFrameType(other))),
            };
            Ok(Decapsulated { kind: TunnelKind::ErspanIII, payload, source_vlan: nonzero(erspan.common().vlan) })
        }
        other => Err(Decoded::Skipped(SkipReason::NonIpEtherType(other))),
    }
}

/// Unwraps a UDP datagram to port 4789 whose payload has a VXLAN header with the I flag;
/// anything else (including other traffic that happens to use port 4789) is ordinary UDP.
pub(super) fn vxlan(udp_bytes: &[u8]) -> Option<Result<Decapsulated<'_>, Decoded<'static>>> {
    if read_u16(udp_bytes, 2) != vxlan::UDP_PORT {
        return None;
    }
    let datagram = udp::Packet::new_checked(udp_bytes).ok()?;
    let packet = vxlan::Packet::new_checked(datagram.payload()).ok()?;
    let frame = packet.payload();
    if frame.len() < ethernet::HEADER_LEN {
        return Some(Err(Decoded::Malformed(MalformedReason::TruncatedEthernet)));
    }
    Some(Ok(Decapsulated { kind: TunnelKind::Vxlan, payload: Payload::Ethernet(frame), source_vlan: None }))
}

fn nonzero(vlan: u16) -> Option<u16> {
    (vlan != 0).then_some(vlan)
}

/// IP version of a bare IP packet.
pub(super) fn ip_version(bytes: &[u8]) -> Result<IpVersion, Decoded<'static>> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => Ok(IpVersion::V4),
        Some(6) => Ok(IpVersion::V6),
        _ => Err(Decoded::Malformed(MalformedReason::BadIpVersion)),
    }
}
