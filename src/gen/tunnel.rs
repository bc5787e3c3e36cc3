//! Mirror tunnel emission: wraps generated Ethernet frames the way a carrier's mirror port
//! delivers them (GRE with IP or Ethernet, ERSPAN II/III, VXLAN), through the `Repr`s of
//! `crate::wire`, and rewrites a whole capture so.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::frame::{Endpoint, FrameBuilder};
use super::pcap_writer::{PcapWriter, Resolution};
use crate::capture::{CaptureError, FileReader, LinkType};
use crate::wire::erspan::{Common, Type2Repr, Type3Repr};
use crate::wire::gre::{self, protocol};
use crate::wire::{ethernet, vlan, vxlan};
use crate::Timestamp;

/// Source and destination of the mirror transport (TEST-NET-2, apart from the calls' own).
pub const MIRROR_SRC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const MIRROR_DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// GRE key and ERSPAN session id the generator uses.
pub const MIRROR_KEY: u32 = 0x0000_1505;
pub const SESSION_ID: u16 = 0x155;
/// VXLAN network identifier the generator uses.
pub const VNI: u32 = 4242;
/// UDP source port of VXLAN packets.
pub const VXLAN_SRC_PORT: u16 = 49152;

/// How mirrored frames are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MirrorTunnel {
    /// GRE (key and sequence number) carrying the IP packet; the frame's Ethernet header and
    /// VLAN tags are not carried.
    GreIp,
    /// GRE transparent Ethernet bridging (0x6558) with key and sequence number.
    GreEthernet,
    ErspanII,
    /// ERSPAN type III with a platform sub-header, timestamps in 100 µs units.
    ErspanIII,
    Vxlan,
}

impl MirrorTunnel {
    pub const ALL: [MirrorTunnel; 5] =
        [MirrorTunnel::GreIp, MirrorTunnel::GreEthernet, MirrorTunnel::ErspanII, MirrorTunnel::ErspanIII, MirrorTunnel::Vxlan];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MirrorTunnel::GreIp => "gre",
            MirrorTunnel::GreEthernet => "gre-ethernet",
            MirrorTunnel::ErspanII => "erspan2",
            MirrorTunnel::ErspanIII => "erspan3",
            MirrorTunnel::Vxlan => "vxlan",
        }
    }
}

impl std::str::FromStr for MirrorTunnel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MirrorTunnel::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("unknown tunnel {s:?} (gre, gre-ethernet, erspan2, erspan3, vxlan)"))
    }
}

/// Wraps frames in one tunnel, numbering them as a mirror session does.
#[derive(Clone, Debug)]
pub struct Encapsulator {
    tunnel: MirrorTunnel,
    builder: FrameBuilder,
    sequence: u32,
    body: Vec<u8>,
}

impl Encapsulator {
    pub fn new(tunnel: MirrorTunnel) -> Encapsulator {
        Encapsulator { tunnel, builder: FrameBuilder::new(1), sequence: 0, body: Vec::new() }
    }

    /// Appends the tunnelled form of the Ethernet frame `frame` captured at `ts` to `out`.
    /// Errors for a frame too short to hold an Ethernet header (or, for GRE-IP, no IP inside).
    pub fn wrap(&mut self, ts: Timestamp, frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        let keyed = |protocol| gre::Repr { protocol, checksum: false, key: Some(MIRROR_KEY), sequence: Some(sequence) };
        let erspan_common = Common { vlan: 0, cos: 0, encap_or_bso: 0, truncated: false, session_id: SESSION_ID };
        self.body.clear();
        match self.tunnel {
            MirrorTunnel::GreIp => {
                let (ethertype, ip) = ip_of(frame)?;
                keyed(ethertype).append(&mut self.body, ip);
            }
            MirrorTunnel::GreEthernet => keyed(protocol::TRANSPARENT_ETHERNET).append(&mut self.body, ethernet_of(frame)?),
            MirrorTunnel::ErspanII => {
                let mut erspan = Vec::with_capacity(frame.len() + 8);
                Type2Repr { common: erspan_common, index: 1 }.append(&mut erspan, ethernet_of(frame)?);
                gre::Repr { key: None, ..keyed(protocol::ERSPAN_II) }.append(&mut self.body, &erspan);
            }
            MirrorTunnel::ErspanIII => {
                let repr = Type3Repr {
                    common: erspan_common,
                    timestamp: (ts.as_nanos() / 100_000) as u32,
                    sgt: 0,
                    ethernet_pdu: true,
                    frame_type: crate::wire::erspan::frame_type::ETHERNET,
                    hw_id: 1,
                    egress: false,
                    granularity: 0,
                    subheader: Some(u64::from(sequence)),
                };
                let mut erspan = Vec::with_capacity(frame.len() + 20);
                repr.append(&mut erspan, ethernet_of(frame)?);
                gre::Repr { key: None, ..keyed(protocol::ERSPAN_III) }.append(&mut self.body, &erspan);
            }
            MirrorTunnel::Vxlan => {
                vxlan::Repr { vni: VNI }.append(&mut self.body, ethernet_of(frame)?);
                let src = Endpoint::new(IpAddr::V4(MIRROR_SRC), VXLAN_SRC_PORT);
                let dst = Endpoint::new(IpAddr::V4(MIRROR_DST), vxlan::UDP_PORT);
                self.builder.udp_frame(out, src, dst, None, &self.body);
                return Ok(());
            }
        }
        let (src, dst) = (IpAddr::V4(MIRROR_SRC), IpAddr::V4(MIRROR_DST));
        self.builder.ip_protocol_frame(out, src, dst, gre::IP_PROTOCOL, &self.body);
        Ok(())
    }
}

fn invalid(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, reason.to_string())
}

fn ethernet_of(frame: &[u8]) -> io::Result<&[u8]> {
    ethernet::Packet::new_checked(frame).map(|_| frame).map_err(|_| invalid("frame shorter than an Ethernet header"))
}

/// The EtherType and IP packet of an Ethernet frame (VLAN tags stripped).
fn ip_of(frame: &[u8]) -> io::Result<(u16, &[u8])> {
    let eth = ethernet::Packet::new_checked(frame).map_err(|_| invalid("frame shorter than an Ethernet header"))?;
    let untagged = vlan::strip_tags(eth.ethertype(), eth.payload()).map_err(|_| invalid("broken VLAN tags"))?;
    match untagged.ethertype {
        protocol::IPV4 | protocol::IPV6 => Ok((untagged.ethertype, untagged.payload)),
        _ => Err(invalid("GRE-IP mirroring needs an IP frame")),
    }
}

/// Errors of [`encapsulate_pcap`].
#[derive(Debug, thiserror::Error)]
pub enum EncapsulateError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("frame {index} of the input is not Ethernet ({link:?})")]
    NotEthernet { index: u64, link: LinkType },
    #[error("frame {index}: {source}")]
    Frame { index: u64, source: io::Error },
    #[error("cannot write the tunnelled capture: {0}")]
    Write(#[source] io::Error),
}

/// Rewrites the Ethernet capture `input` with every frame wrapped in `tunnel` (same
/// timestamps), as a nanosecond pcap; returns the frames written.
pub fn encapsulate_pcap(input: &Path, output: impl Write, tunnel: MirrorTunnel) -> Result<u64, EncapsulateError> {
    let mut reader = FileReader::open(input)?;
    let mut writer = PcapWriter::new(output, Resolution::Nano).map_err(EncapsulateError::Write)?;
    let mut encapsulator = Encapsulator::new(tunnel);
    let mut wrapped = Vec::new();
    let mut index = 0;
    while let Some(frame) = reader.next_frame()? {
        if frame.link != LinkType::Ethernet {
            return Err(EncapsulateError::NotEthernet { index, link: frame.link });
        }
        wrapped.clear();
        encapsulator.wrap(frame.ts, frame.data, &mut wrapped).map_err(|source| EncapsulateError::Frame { index, source })?;
        writer.write_frame(frame.ts, &wrapped).map_err(EncapsulateError::Write)?;
        index += 1;
    }
    writer.into_inner().flush().map_err(EncapsulateError::Write)?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Frame;
    use crate::wire::{Decoded, Decoder};

    #[test]
    fn every_tunnel_decodes_back_to_the_frame_it_wrapped() {
        let mut plain = Vec::new();
        let src = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5060);
        let dst = Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5060);
        FrameBuilder::new(3).udp_frame(&mut plain, src, dst, Some(200), b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        for tunnel in MirrorTunnel::ALL {
            assert_eq!(tunnel.name().parse::<MirrorTunnel>(), Ok(tunnel));
            let mut wrapped = Vec::new();
            Encapsulator::new(tunnel).wrap(Timestamp(7), &plain, &mut wrapped).expect("wraps");
            let mut decoder = Decoder::new();
            let frame = Frame { ts: Timestamp(7), link: LinkType::Ethernet, data: &wrapped, orig_len: wrapped.len() as u32 };
            let Decoded::Datagram(dg) = decoder.decode(&frame) else { panic!("{tunnel:?} did not decode") };
            assert_eq!(dg.ip_packet, &plain[18..], "{tunnel:?}");
            let vlan = if tunnel == MirrorTunnel::GreIp { None } else { Some(200) };
            assert_eq!(dg.vlan, vlan, "{tunnel:?}");
            assert_eq!(decoder.stats().tunnels.total(), 1);
        }
        assert!(Encapsulator::new(MirrorTunnel::Vxlan).wrap(Timestamp(0), &plain[..10], &mut Vec::new()).is_err());
        assert!("ipip".parse::<MirrorTunnel>().is_err());
    }
}
