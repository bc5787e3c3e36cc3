//! Per-packet decoding of a captured frame down to its UDP or TCP payload: link layer,
//! VLAN tags, PPPoE, IPv4/IPv6 (with fragment reassembly), mirror tunnels (GRE, ERSPAN,
//! VXLAN: unwrapped and decoded again, each nesting level with its own reassembly),
//! transport header.

use std::net::IpAddr;

use super::ethernet::{self, ethertype};
use super::fragment::{FragmentKey, FragmentPiece, Insertion, Reassembler};
use super::null::{self, IpVersion};
use super::tunnel::{self, Decapsulated, Payload, TunnelStats};
use super::{gre, ipv4, ipv6, pppoe, sll, tcp, udp, vlan};
use super::{FlowKey, MalformedReason, SkipReason, TcpFlags};
use crate::capture::{Frame, LinkType};
use crate::Timestamp;

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Transport of a decoded datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp { seq: u32, ack: u32, flags: TcpFlags },
}

/// A UDP datagram or TCP segment, borrowed from the frame or the reassembly buffer.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub ts: Timestamp,
    /// Source and destination of this packet.
    pub flow: FlowKey,
    pub transport: Transport,
    /// UDP or TCP payload.
    pub payload: &'a [u8],
    /// The whole IP datagram, header included, without link padding. A reassembled datagram
    /// is the first fragment's header (fragment fields cleared; for IPv6 only the fixed
    /// 40-byte header, next header set to the transport) followed by the payload.
    pub ip_packet: &'a [u8],
    /// Outermost VLAN id, if tagged.
    pub vlan: Option<u16>,
}

/// Result of decoding one frame.
#[derive(Debug, Clone, Copy)]
pub enum Decoded<'a> {
    Datagram(Datagram<'a>),
    Skipped(SkipReason),
    Malformed(MalformedReason),
}

/// Counters of the decoder.
#[derive(Default, Clone, Debug, serde::Serialize)]
pub struct DecodeStats {
    pub frames: u64,
    pub datagrams: u64,
    pub malformed: u64,
    /// Non-IP frames: other EtherTypes, address families or link types.
    pub skipped_non_ip: u64,
    /// IP packets of other protocols (SCTP, ICMP, ...).
    pub skipped_other_transport: u64,
    /// IP fragments received.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub reassembled: u64,
    /// Incomplete datagrams dropped after 30 s of packet time.
    pub fragment_timeouts: u64,
    /// Datagrams dropped because overlapping fragments disagreed.
    pub fragment_overlaps_dropped: u64,
    /// Datagrams dropped because the pending byte or datagram limit was reached.
    pub fragment_limit_drops: u64,
    /// Tunnel packets of a kind not unwrapped (GRE version 1 / PPTP, ERSPAN frame types
    /// other than Ethernet and IP).
    pub skipped_tunnel: u64,
    /// Mirror tunnel packets unwrapped, per kind.
    pub tunnels: TunnelStats,
}

/// Decodes frames; owns IP fragment reassembly state, one reassembler per tunnel level
/// (the outer packet and each unwrapped one), so a fragmented tunnel can carry fragments.
#[derive(Debug, Default)]
pub struct Decoder {
    fragments: [Reassembler; tunnel::MAX_DEPTH + 1],
    stats: DecodeStats,
}

/// The network-layer bytes found under the link layer.
struct NetworkLayer<'a> {
    version: IpVersion,
    bytes: &'a [u8],
    vlan: Option<u16>,
}

/// Addresses and transport bytes of one IP packet.
struct IpContext<'a> {
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    transport: &'a [u8],
    ip_packet: &'a [u8],
    vlan: Option<u16>,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes one frame. Unfragmented packets are returned borrowed from the frame; a datagram
    /// completed by this fragment is borrowed from the decoder until the next call.
    pub fn decode<'a>(&'a mut self, frame: &Frame<'a>) -> Decoded<'a> {
        let stats = &mut self.stats;
        stats.frames += 1;
        for level in &mut self.fragments {
            stats.fragment_timeouts += level.expire(frame.ts);
        }
        let decoded = decode_frame(&mut self.fragments, stats, frame);
        match decoded {
            Decoded::Datagram(_) => stats.datagrams += 1,
            Decoded::Malformed(_) => stats.malformed += 1,
            Decoded::Skipped(
                SkipReason::UnsupportedLinkType
                | SkipReason::NonIpEtherType(_)
                | SkipReason::NonIpPppProtocol(_)
                | SkipReason::NonIpFamily(_),
            ) => stats.skipped_non_ip += 1,
            Decoded::Skipped(SkipReason::OtherTransport(_)) => stats.skipped_other_transport += 1,
            Decoded::Skipped(SkipReason::UnsupportedGreVersion(_) | SkipReason::UnsupportedErspanFrameType(_)) => {
                stats.skipped_tunnel += 1
            }
            Decoded::Skipped(SkipReason::FragmentPending | SkipReason::FragmentDropped) => {}
        }
        decoded
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

fn decode_frame<'a>(
    fragments: &'a mut [Reassembler],
    stats: &mut DecodeStats,
    frame: &Frame<'a>,
) -> Decoded<'a> {
    match network_layer(frame.link, frame.data) {
        Ok(network) => decode_network(fragments, stats, frame.ts, network),
        Err(decoded) => decoded,
    }
}

/// Decodes an IP packet; a tunnel packet is unwrapped and its content decoded with the
/// next level's reassembler (none left: nested too deep).
fn decode_network<'a>(
    fragments: &'a mut [Reassembler],
    stats: &mut DecodeStats,
    ts: Timestamp,
    network: NetworkLayer<'a>,
) -> Decoded<'a> {
    let Some((here, deeper)) = fragments.split_first_mut() else {
        return Decoded::Malformed(MalformedReason::TunnelTooDeep);
    };
    let ip = match network.version {
        IpVersion::V4 => decode_ipv4(here, stats, ts, network),
        IpVersion::V6 => decode_ipv6(here, stats, ts, network),
    };
    let ip = match ip {
        Ok(ip) => ip,
        Err(decoded) => return decoded,
    };
    let unwrapped = match ip.proto {
        gre::IP_PROTOCOL => tunnel::gre(ip.transport),
        PROTO_UDP => match tunnel::vxlan(ip.transport) {
            Some(unwrapped) => unwrapped,
            None => return decode_transport(ip),
        },
        _ => return decode_transport(ip),
    };
    let inner = match unwrapped.and_then(inner_network) {
        Ok(inner) => inner,
        Err(decoded) => return decoded,
    };
    stats.tunnels.count(inner.0);
    decode_network(deeper, stats, ts, inner.1)
}

/// The network layer inside a tunnel; the VLAN is the inner frame's tag, else the one the
/// ERSPAN header reports for the mirrored frame.
fn inner_network(unwrapped: Decapsulated<'_>) -> Result<(tunnel::TunnelKind, NetworkLayer<'_>), Decoded<'static>> {
    let mut network = match unwrapped.payload {
        Payload::Ethernet(bytes) => network_layer(LinkType::Ethernet, bytes)?,
        Payload::Ip(version, bytes) => NetworkLayer { version, bytes, vlan: None },
    };
    network.vlan = network.vlan.or(unwrapped.source_vlan);
    Ok((unwrapped.kind, network))
}

/// Strips the link layer and VLAN tags.
fn network_layer(link: LinkType, data: &[u8]) -> Result<NetworkLayer<'_>, Decoded<'static>> {
    let untagged = match link {
        LinkType::Ethernet => {
            let frame = ethernet::Packet::new_checked(data).map_err(Decoded::Malformed)?;
            vlan::strip_tags(frame.ethertype(), frame.payload())
        }
        LinkType::LinuxSll => {
            let frame = sll::Packet::new_checked(data).map_err(Decoded::Malformed)?;
            vlan::strip_tags(frame.protocol(), frame.payload())
        }
        LinkType::LinuxSll2 => {
            let frame = sll::PacketV2::new_checked(data).map_err(Decoded::Malformed)?;
            vlan::strip_tags(frame.protocol(), frame.payload())
        }
        LinkType::RawIp => {
            let version = tunnel::ip_version(data)?;
            return Ok(NetworkLayer {
                version,
                bytes: data,
                vlan: None,
            });
        }
        LinkType::Ipv4 => {
            return Ok(NetworkLayer {
                version: IpVersion::V4,
                bytes: data,
                vlan: None,
            })
        }
        LinkType::Ipv6 => {
            return Ok(NetworkLayer {
                version: IpVersion::V6,
                bytes: data,
                vlan: None,
            })
        }
        LinkType::Null | LinkType::Loop => {
            let frame = null::Packet::new_checked(data).map_err(Decoded::Malformed)?;
            let Some(version) = frame.ip_version() else {
                return Err(Decoded::Skipped(SkipReason::NonIpFamily(frame.family())));
            };
            return Ok(NetworkLayer {
                version,
                bytes: frame.payload(),
                vlan: None,
            });
        }
        LinkType::Other(_) => return Err(Decoded::Skipped(SkipReason::UnsupportedLinkType)),
    };
    let untagged = untagged.map_err(Decoded::Malformed)?;
    let vlan = untagged.outer_vlan;
    match untagged.ethertype {
        ethertype::IPV4 => Ok(NetworkLayer {
            version: IpVersion::V4,
            bytes: untagged.payload,
            vlan,
        }),
        ethertype::IPV6 => Ok(NetworkLayer {
            version: IpVersion::V6,
            bytes: untagged.payload,
            vlan,
        }),
        pppoe::ETHERTYPE_SESSION => {
            let session =
                pppoe::Packet::new_checked(untagged.payload).map_err(Decoded::Malformed)?;
            let version = match session.ppp_protocol() {
                pppoe::ppp_protocol::IPV4 => IpVersion::V4,
                pppoe::ppp_protocol::IPV6 => IpVersion::V6,
                other => return Err(Decoded::Skipped(SkipReason::NonIpPppProtocol(other))),
            };
            Ok(NetworkLayer {
                version,
                bytes: session.payload(),
                vlan,
            })
        }
        other => Err(Decoded::Skipped(SkipReason::NonIpEtherType(other))),
    }
}

fn decode_ipv4<'a>(
    fragments: &'a mut Reassembler,
    stats: &mut DecodeStats,
    ts: Timestamp,
    network: NetworkLayer<'a>,
) -> Result<IpContext<'a>, Decoded<'a>> {
    let packet = ipv4::Packet::new_checked(network.bytes).map_err(Decoded::Malformed)?;
    let proto = packet.protocol();
    let src = IpAddr::V4(packet.src_addr());
    let dst = IpAddr::V4(packet.dst_addr());
    if !is_decoded_protocol(proto) {
        return Err(Decoded::Skipped(SkipReason::OtherTransport(proto)));
    }
    if !packet.is_fragment() {
        return Ok(IpContext {
            ts,
            src,
            dst,
            proto,
            transport: packet.payload(),
            ip_packet: packet.datagram(),
            vlan: network.vlan,
        });
    }
    stats.fragments += 1;
    let data = packet.payload();
    if packet.more_frags() && !data.len().is_multiple_of(8) {
        return Err(Decoded::Malformed(MalformedReason::BadFragment));
    }
    let key = FragmentKey {
        src,
        dst,
        ident: u32::from(packet.ident()),
        proto,
    };
    let piece = FragmentPiece {
        header: packet.header(),
        offset: usize::from(packet.frag_offset()),
        more: packet.more_frags(),
        data,
    };
    reassemble(fragments, stats, key, piece, ts)?;
    let whole = fragments.assembled();
    let header_len = ipv4::Packet::new_unchecked(whole).header_len();
    Ok(IpContext {
        ts,
        src,
        dst,
        proto,
        transport: whole.get(header_len..).unwrap_or_default(),
        ip_packet: whole,
        vlan: network.vlan,
    })
}

fn decode_ipv6<'a>(
    fragments: &'a mut Reassembler,
    stats: &mut DecodeStats,
    ts: Timestamp,
    network: NetworkLayer<'a>,
) -> Result<IpContext<'a>, Decoded<'a>> {
    let packet = ipv6::Packet::new_checked(network.bytes).map_err(Decoded::Malformed)?;
    let src = IpAddr::V6(packet.src_addr());
    let dst = IpAddr::V6(packet.dst_addr());
    let payload = packet.payload();
    let upper = ipv6::walk_extensions(packet.next_header(), payload).map_err(Decoded::Malformed)?;
    let proto = upper.protocol;
    if !is_decoded_protocol(proto) {
        return Err(Decoded::Skipped(SkipReason::OtherTransport(proto)));
    }
    let after_headers = payload.get(upper.offset..).unwrap_or_default();
    let fragment = match upper.fragment {
        Some(fragment) if !fragment.is_atomic() => fragment,
        _ => {
            return Ok(IpContext {
                ts,
                src,
                dst,
                proto,
                transport: after_headers,
                ip_packet: packet.datagram(),
                vlan: network.vlan,
            })
        }
    };
    stats.fragments += 1;
    if fragment.more && !after_headers.len().is_multiple_of(8) {
        return Err(Decoded::Malformed(MalformedReason::BadFragment));
    }
    let key = FragmentKey {
        src,
        dst,
        ident: fragment.ident,
        proto,
    };
    let piece = FragmentPiece {
        header: packet
            .datagram()
            .get(..ipv6::HEADER_LEN)
            .unwrap_or_default(),
        offset: usize::from(fragment.offset),
        more: fragment.more,
        data: after_headers,
    };
    reassemble(fragments, stats, key, piece, ts)?;
    let whole = fragments.assembled();
    Ok(IpContext {
        ts,
        src,
        dst,
        proto,
        transport: whole.get(ipv6::HEADER_LEN..).unwrap_or_default(),
        ip_packet: whole,
        vlan: network.vlan,
    })
}

/// UDP, TCP and GRE are decoded; other IP protocols are skipped.
fn is_decoded_protocol(proto: u8) -> bool {
    matches!(proto, PROTO_UDP | PROTO_TCP | gre::IP_PROTOCOL)
}

/// Feeds a fragment; `Ok` once its datagram is complete in the reassembly buffer.
fn reassemble(
    fragments: &mut Reassembler,
    stats: &mut DecodeStats,
    key: FragmentKey,
    piece: FragmentPiece<'_>,
    ts: Timestamp,
) -> Result<(), Decoded<'static>> {
    match fragments.insert(key, piece, ts) {
        Insertion::Complete => {
            stats.reassembled += 1;
            Ok(())
        }
        Insertion::Pending => Err(Decoded::Skipped(SkipReason::FragmentPending)),
        Insertion::OverlapDropped => {
            stats.fragment_overlaps_dropped += 1;
            Err(Decoded::Skipped(SkipReason::FragmentDropped))
        }
        Insertion::LimitDropped => {
            stats.fragment_limit_drops += 1;
            Err(Decoded::Skipped(SkipReason::FragmentDropped))
        }
        Insertion::TooLong => Err(Decoded::Malformed(MalformedReason::BadFragment)),
    }
}

/// Parses the UDP or TCP header.
fn decode_transport(ip: IpContext<'_>) -> Decoded<'_> {
    let (src_port, dst_port, transport, payload) = if ip.proto == PROTO_UDP {
        match udp::Packet::new_checked(ip.transport) {
            Ok(udp) => (
                udp.src_port(),
                udp.dst_port(),
                Transport::Udp,
                udp.payload(),
            ),
            Err(reason) => return Decoded::Malformed(reason),
        }
    } else {
        match tcp::Packet::new_checked(ip.transport) {
            Ok(tcp) => (
                tcp.src_port(),
                tcp.dst_port(),
                Transport::Tcp {
                    seq: tcp.seq_number(),
                    ack: tcp.ack_number(),
                    flags: tcp.flags(),
                },
                tcp.payload(),
            ),
            Err(reason) => return Decoded::Malformed(reason),
        }
    };
    Decoded::Datagram(Datagram {
        ts: ip.ts,
        flow: FlowKey {
            src: ip.src,
            dst: ip.dst,
            src_port,
            dst_port,
            proto: ip.proto,
        },
        transport,
        payload,
        ip_packet: ip.ip_packet,
        vlan: ip.vlan,
    })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tunnel_tests;
