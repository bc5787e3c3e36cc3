//! Mirror tunnels: every kind unwrapped to the inner datagram, counted per kind; fragmented
//! outer packets, nesting, malformed and unsupported headers.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::tests::{ethernet, expect_datagram, frame, ipv6, udp};
use super::*;
use crate::wire::erspan::{self, Common, Type2Repr, Type3Repr};
use crate::wire::gre::{self, protocol};
use crate::wire::vxlan;

const MIRROR_SRC: [u8; 4] = [192, 0, 2, 1];
const MIRROR_DST: [u8; 4] = [192, 0, 2, 2];
const CALL_SRC: [u8; 4] = [10, 9, 8, 7];
const CALL_DST: [u8; 4] = [10, 9, 8, 6];

/// IPv4 header between `src` and `dst` + `body`; `frag` is the flags/fragment-offset field.
fn ipv4_between(src: [u8; 4], dst: [u8; 4], proto: u8, ident: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x45, 0];
    out.extend_from_slice(&((body.len() + 20) as u16).to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, proto, 0, 0]);
    out.extend_from_slice(&src);
    out.extend_from_slice(&dst);
    ipv4::Packet::new_unchecked(&mut out[..]).fill_checksum();
    out.extend_from_slice(body);
    out
}

/// The call's RTP packet as IP, and as an Ethernet frame tagged with VLAN 300.
fn inner_ip() -> Vec<u8> {
    ipv4_between(CALL_SRC, CALL_DST, 17, 9, 0, &udp(20000, 30000, b"rtp-payload"))
}

fn inner_frame(tagged: bool) -> Vec<u8> {
    if tagged {
        let mut tag = vec![0x01, 0x2C, 0x08, 0x00];
        tag.extend_from_slice(&inner_ip());
        ethernet(0x8100, &tag)
    } else {
        ethernet(0x0800, &inner_ip())
    }
}

/// An outer Ethernet/IPv4/GRE frame.
fn gre_frame(repr: gre::Repr, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    repr.append(&mut body, payload);
    ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, gre::IP_PROTOCOL, 1, 0, &body))
}

fn gre_repr(protocol: u16) -> gre::Repr {
    gre::Repr { protocol, checksum: false, key: None, sequence: None }
}

fn decode_one<'a>(decoder: &'a mut Decoder, bytes: &'a [u8]) -> Decoded<'a> {
    decoder.decode(&frame(LinkType::Ethernet, bytes, 5))
}

fn assert_inner_call(decoded: Decoded<'_>, vlan: Option<u16>) {
    let dg = expect_datagram(decoded);
    assert_eq!(dg.ip_packet, &inner_ip()[..]);
    assert_eq!(dg.payload, b"rtp-payload");
    assert_eq!(dg.flow.src, IpAddr::V4(Ipv4Addr::from(CALL_SRC)));
    assert_eq!(dg.flow.dst, IpAddr::V4(Ipv4Addr::from(CALL_DST)));
    assert_eq!((dg.flow.src_port, dg.flow.dst_port, dg.transport), (20000, 30000, Transport::Udp));
    assert_eq!(dg.vlan, vlan);
}

#[test]
fn gre_carrying_ip_yields_the_inner_datagram() {
    let mut decoder = Decoder::new();
    let repr = gre::Repr { protocol: protocol::IPV4, checksum: true, key: Some(0xABCD), sequence: Some(1) };
    assert_inner_call(decode_one(&mut decoder, &gre_frame(repr, &inner_ip())), None);
    assert_eq!(decoder.stats().tunnels, TunnelStats { gre_ip: 1, ..TunnelStats::default() });
    assert_eq!(decoder.stats().datagrams, 1);
}

#[test]
fn gre_transparent_ethernet_keeps_the_inner_vlan() {
    let mut decoder = Decoder::new();
    let repr = gre::Repr { key: Some(7), sequence: Some(99), ..gre_repr(protocol::TRANSPARENT_ETHERNET) };
    assert_inner_call(decode_one(&mut decoder, &gre_frame(repr, &inner_frame(true))), Some(300));
    assert_eq!(decoder.stats().tunnels.gre_ethernet, 1);
}

fn common(vlan: u16) -> Common {
    Common { vlan, cos: 0, encap_or_bso: 0, truncated: false, session_id: 42 }
}

#[test]
fn erspan_types_one_two_and_three() {
    let mut decoder = Decoder::new();
    // Type I: 0x88BE without a sequence number, the frame right after GRE.
    let type1 = gre_frame(gre_repr(protocol::ERSPAN_II), &inner_frame(false));
    assert_inner_call(decode_one(&mut decoder, &type1), None);

    // Type II: the source VLAN in the ERSPAN header stands in for the stripped tag.
    let mut body = Vec::new();
    Type2Repr { common: common(55), index: 3 }.append(&mut body, &inner_frame(false));
    let type2 = gre_frame(gre::Repr { sequence: Some(1), ..gre_repr(protocol::ERSPAN_II) }, &body);
    assert_inner_call(decode_one(&mut decoder, &type2), Some(55));

    // Type III with a platform sub-header, Ethernet and IP frame types; the frame's own tag wins.
    let type3 = |frame_type, subheader, frame: &[u8]| {
        let repr = Type3Repr {
            common: common(55),
            timestamp: 1,
            sgt: 0,
            ethernet_pdu: frame_type == erspan::frame_type::ETHERNET,
            frame_type,
            hw_id: 1,
            egress: false,
            granularity: 3,
            subheader,
        };
        let mut body = Vec::new();
        repr.append(&mut body, frame);
        gre_frame(gre::Repr { sequence: Some(2), ..gre_repr(protocol::ERSPAN_III) }, &body)
    };
    let tagged = type3(erspan::frame_type::ETHERNET, Some(0x1C00_0000_0000_0001), &inner_frame(true));
    assert_inner_call(decode_one(&mut decoder, &tagged), Some(300));
    assert_inner_call(decode_one(&mut decoder, &type3(erspan::frame_type::IP, None, &inner_ip())), Some(55));
    let other = type3(3, None, &inner_ip());
    assert!(matches!(decode_one(&mut decoder, &other), Decoded::Skipped(SkipReason::UnsupportedErspanFrameType(3))));

    let stats = decoder.stats();
    assert_eq!(
        stats.tunnels,
        TunnelStats { erspan_i: 1, erspan_ii: 1, erspan_iii: 2, ..TunnelStats::default() }
    );
    assert_eq!((stats.datagrams, stats.skipped_tunnel), (4, 1));
}

fn vxlan_frame(vni: u32, inner: &[u8], six: bool) -> Vec<u8> {
    let mut body = Vec::new();
    vxlan::Repr { vni }.append(&mut body, inner);
    let datagram = udp(49152, vxlan::UDP_PORT, &body);
    if six {
        ethernet(0x86DD, &ipv6(17, &datagram))
    } else {
        ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, 17, 2, 0, &datagram))
    }
}

#[test]
fn vxlan_over_ipv4_and_ipv6() {
    let mut decoder = Decoder::new();
    assert_inner_call(decode_one(&mut decoder, &vxlan_frame(5000, &inner_frame(false), false)), None);
    assert_inner_call(decode_one(&mut decoder, &vxlan_frame(5001, &inner_frame(true), true)), Some(300));
    assert_eq!(decoder.stats().tunnels.vxlan, 2);
}

#[test]
fn port_4789_without_a_vxlan_header_is_ordinary_udp() {
    let mut decoder = Decoder::new();
    let datagram = udp(4788, vxlan::UDP_PORT, b"\x80\x00rtcp-ish");
    let bytes = ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, 17, 2, 0, &datagram));
    let dg = expect_datagram(decode_one(&mut decoder, &bytes));
    assert_eq!(dg.payload, b"\x80\x00rtcp-ish");
    assert_eq!(decoder.stats().tunnels.total(), 0);
}

#[test]
fn fragmented_gre_is_reassembled_then_unwrapped() {
    let mut decoder = Decoder::new();
    let mut gre_body = Vec::new();
    gre_repr(protocol::TRANSPARENT_ETHERNET).append(&mut gre_body, &inner_frame(false));
    let first = ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, 47, 0x55, 0x2000, &gre_body[..24]));
    let second = ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, 47, 0x55, 3, &gre_body[24..]));
    assert!(matches!(decode_one(&mut decoder, &second), Decoded::Skipped(SkipReason::FragmentPending)));
    assert_inner_call(decode_one(&mut decoder, &first), None);
    assert_eq!((decoder.stats().reassembled, decoder.stats().tunnels.gre_ethernet), (1, 1));
}

#[test]
fn inner_fragments_inside_a_tunnel_are_reassembled() {
    let mut decoder = Decoder::new();
    let whole = udp(20000, 30000, b"rtp-payload");
    let piece = |frag, data: &[u8]| {
        let ip = ipv4_between(CALL_SRC, CALL_DST, 17, 9, frag, data);
        gre_frame(gre_repr(protocol::IPV4), &ip)
    };
    assert!(matches!(decode_one(&mut decoder, &piece(0x2000, &whole[..8])), Decoded::Skipped(SkipReason::FragmentPending)));
    let last = piece(1, &whole[8..]);
    let dg = expect_datagram(decode_one(&mut decoder, &last));
    assert_eq!(dg.payload, b"rtp-payload");
    assert_eq!(decoder.stats().tunnels.gre_ip, 2);
}

#[test]
fn nested_tunnels_unwrap_up_to_the_limit() {
    let mut decoder = Decoder::new();
    // VXLAN inside GRE-Ethernet inside GRE-IP: three levels, the limit.
    let vx = vxlan_frame(1, &inner_frame(false), false);
    let teb = gre_frame(gre_repr(protocol::TRANSPARENT_ETHERNET), &vx);
    let gre_ip = gre_frame(gre_repr(protocol::IPV4), &teb[14..]);
    assert_inner_call(decode_one(&mut decoder, &gre_ip), None);
    let four = gre_frame(gre_repr(protocol::IPV4), &gre_ip[14..]);
    assert!(matches!(decode_one(&mut decoder, &four), Decoded::Malformed(MalformedReason::TunnelTooDeep)));
}

#[test]
fn broken_and_unsupported_tunnel_headers_are_counted() {
    let mut decoder = Decoder::new();
    let gre_in_ip = |body: &[u8]| ethernet(0x0800, &ipv4_between(MIRROR_SRC, MIRROR_DST, 47, 1, 0, body));
    let cases: [(Vec<u8>, Decoded<'_>); 5] = [
        (gre_in_ip(&[0x00, 0x00, 0x08]), Decoded::Malformed(MalformedReason::TruncatedGre)),
        (gre_in_ip(&[0x20, 0x00, 0x08, 0x00, 0, 0]), Decoded::Malformed(MalformedReason::TruncatedGre)),
        (gre_in_ip(&[0x40, 0x00, 0x08, 0x00]), Decoded::Malformed(MalformedReason::BadGreHeader)),
        (gre_in_ip(&[0x30, 0x01, 0x88, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0]), Decoded::Skipped(SkipReason::UnsupportedGreVersion(1))),
        (
            gre_frame(gre::Repr { sequence: Some(1), ..gre_repr(protocol::ERSPAN_II) }, &[0x20, 0, 0, 0, 0, 0, 0, 0]),
            Decoded::Malformed(MalformedReason::BadErspanVersion),
        ),
    ];
    for (bytes, expected) in &cases {
        assert_eq!(format!("{:?}", decode_one(&mut decoder, bytes)), format!("{expected:?}"));
    }
    let truncated_vxlan = vxlan_frame(1, &inner_frame(false)[..10], false);
    assert!(matches!(decode_one(&mut decoder, &truncated_vxlan), Decoded::Malformed(MalformedReason::TruncatedEthernet)));
    let non_ip = gre_frame(gre_repr(0x8847), b"mpls");
    assert!(matches!(decode_one(&mut decoder, &non_ip), Decoded::Skipped(SkipReason::NonIpEtherType(0x8847))));
    let stats = decoder.stats();
    assert_eq!((stats.malformed, stats.skipped_tunnel, stats.skipped_non_ip), (5, 1, 1));
    assert_eq!(stats.tunnels.total(), 0);
}

proptest! {
    #[test]
    fn arbitrary_tunnel_payloads_never_panic(proto in prop::sample::select(vec![0x0800u16, 0x86DD, 0x6558, 0x88BE, 0x22EB]),
                                             sequence: Option<u32>,
                                             bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut decoder = Decoder::new();
        let _ = decoder.decode(&frame(LinkType::Ethernet, &gre_frame(gre::Repr { sequence, ..gre_repr(proto) }, &bytes), 0));
        let _ = decoder.decode(&frame(LinkType::Ethernet, &vxlan_frame(1, &bytes, false), 0));
        prop_assert_eq!(decoder.stats().frames, 2);
    }
}
