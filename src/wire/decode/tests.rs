//! Frames built byte by byte through every link type, VLAN stacks, fragments and errors.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

pub(super) const MAC_HEADER: [u8; 12] = [
    0x00, 0x0c, 0x29, 0x1d, 0x6e, 0x5a, 0x00, 0x50, 0x56, 0xc0, 0x00, 0x08,
];
pub(super) const SRC4: [u8; 4] = [10, 0, 2, 20];
pub(super) const DST4: [u8; 4] = [10, 0, 2, 15];

pub(super) fn frame(link: LinkType, data: &[u8], ts: u64) -> Frame<'_> {
    Frame {
        ts: Timestamp(ts),
        link,
        data,
        orig_len: data.len() as u32,
    }
}

pub(super) fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    out
}

fn tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x13, 0xc4, 0x9c, 0x40];
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&7u32.to_be_bytes());
    out.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// IPv4 header + `body`; `frag` is the flags/fragment-offset field.
pub(super) fn ipv4(proto: u8, ident: u16, frag: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x45, 0];
    out.extend_from_slice(&((body.len() + 20) as u16).to_be_bytes());
    out.extend_from_slice(&ident.to_be_bytes());
    out.extend_from_slice(&frag.to_be_bytes());
    out.extend_from_slice(&[64, proto, 0, 0]);
    out.extend_from_slice(&SRC4);
    out.extend_from_slice(&DST4);
    ipv4::Packet::new_unchecked(&mut out[..]).fill_checksum();
    out.extend_from_slice(body);
    out
}

pub(super) fn ipv6(next: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x60, 0, 0, 0];
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&[next, 64]);
    out.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().expect("addr").octets());
    out.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().expect("addr").octets());
    out.extend_from_slice(body);
    out
}

pub(super) fn ethernet(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut out = MAC_HEADER.to_vec();
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub(super) fn expect_datagram<'a>(decoded: Decoded<'a>) -> Datagram<'a> {
    match decoded {
        Decoded::Datagram(datagram) => datagram,
        other => panic!("expected a datagram, got {other:?}"),
    }
}

#[test]
fn decodes_ethernet_ipv4_udp_and_cuts_padding() {
    let ip = ipv4(17, 1, 0x4000, &udp(5060, 5061, b"INVITE"));
    let mut bytes = ethernet(0x0800, &ip);
    bytes.extend_from_slice(&[0; 12]);
    let mut decoder = Decoder::new();
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::Ethernet, &bytes, 42)));
    assert_eq!(datagram.ts, Timestamp(42));
    assert_eq!(datagram.payload, b"INVITE");
    assert_eq!(datagram.ip_packet, &ip[..]);
    assert_eq!(datagram.transport, Transport::Udp);
    assert_eq!(datagram.vlan, None);
    assert_eq!(
        datagram.flow,
        FlowKey {
            src: IpAddr::V4(Ipv4Addr::from(SRC4)),
            dst: IpAddr::V4(Ipv4Addr::from(DST4)),
            src_port: 5060,
            dst_port: 5061,
            proto: 17,
        }
    );
    assert_eq!(decoder.stats().datagrams, 1);
    assert_eq!(decoder.stats().frames, 1);
}

#[test]
fn decodes_qinq_tagged_frame_with_outer_vlan() {
    let ip = ipv4(17, 1, 0, &udp(5060, 5060, b"x"));
    let mut tags = vec![0x00, 0xC8, 0x81, 0x00, 0xA0, 0x64, 0x08, 0x00];
    tags.extend_from_slice(&ip);
    let bytes = ethernet(0x88A8, &tags);
    let mut decoder = Decoder::new();
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::Ethernet, &bytes, 0)));
    assert_eq!(datagram.vlan, Some(200));
    assert_eq!(datagram.payload, b"x");
}

#[test]
fn decodes_linux_cooked_tcp() {
    let mut bytes = vec![
        0, 0, 0, 1, 0, 6, 0, 0x50, 0x56, 0xc0, 0, 8, 0, 0, 0x08, 0x00,
    ];
    bytes.extend_from_slice(&ipv4(6, 2, 0, &tcp(0xfffffff0, 0x18, b"REGISTER")));
    let mut decoder = Decoder::new();
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::LinuxSll, &bytes, 0)));
    match datagram.transport {
        Transport::Tcp { seq, ack, flags } => {
            assert_eq!(seq, 0xfffffff0);
            assert_eq!(ack, 7);
            assert!(flags.psh() && flags.ack() && !flags.syn());
        }
        Transport::Udp => panic!("expected TCP"),
    }
    assert_eq!(datagram.payload, b"REGISTER");
    assert_eq!(
        (
            datagram.flow.src_port,
            datagram.flow.dst_port,
            datagram.flow.proto
        ),
        (5060, 40000, 6)
    );
}

#[test]
fn decodes_sll2_ipv6_with_extension_header() {
    let mut body = vec![17, 0, 1, 4, 0, 0, 0, 0]; // hop-by-hop, then UDP
    body.extend_from_slice(&udp(5060, 5060, b"BYE"));
    let mut bytes = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    bytes.extend_from_slice(&ipv6(0, &body));
    let mut decoder = Decoder::new();
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::LinuxSll2, &bytes, 0)));
    assert_eq!(datagram.payload, b"BYE");
    assert_eq!(
        datagram.flow.dst,
        IpAddr::V6("2001:db8::2".parse().expect("addr"))
    );
    assert_eq!(datagram.ip_packet.len(), 40 + 8 + 11);
}

#[test]
fn decodes_loopback_and_raw_links() {
    let ip4 = ipv4(17, 3, 0, &udp(1, 2, b"a"));
    let ip6 = ipv6(17, &udp(3, 4, b"b"));
    let mut null_le = vec![2, 0, 0, 0];
    null_le.extend_from_slice(&ip4);
    let mut loop_be = vec![0, 0, 0, 24];
    loop_be.extend_from_slice(&ip6);
    let mut decoder = Decoder::new();
    assert_eq!(
        expect_datagram(decoder.decode(&frame(LinkType::Null, &null_le, 0))).payload,
        b"a"
    );
    assert_eq!(
        expect_datagram(decoder.decode(&frame(LinkType::Loop, &loop_be, 0))).payload,
        b"b"
    );
    assert_eq!(
        expect_datagram(decoder.decode(&frame(LinkType::RawIp, &ip6, 0))).payload,
        b"b"
    );
    assert_eq!(
        expect_datagram(decoder.decode(&frame(LinkType::Ipv4, &ip4, 0))).payload,
        b"a"
    );
    assert_eq!(
        expect_datagram(decoder.decode(&frame(LinkType::Ipv6, &ip6, 0))).payload,
        b"b"
    );
    let other_family = [7, 0, 0, 0, 1];
    assert!(matches!(
        decoder.decode(&frame(LinkType::Null, &other_family, 0)),
        Decoded::Skipped(SkipReason::NonIpFamily(7))
    ));
    assert_eq!(decoder.stats().datagrams, 5);
    assert_eq!(decoder.stats().skipped_non_ip, 1);
}

#[test]
fn decodes_pppoe_session_ipv4() {
    let ip = ipv4(17, 8, 0, &udp(5060, 5060, b"INFO"));
    let mut session = vec![0x11, 0x00, 0x18, 0xe5];
    session.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    session.extend_from_slice(&[0x00, 0x21]);
    session.extend_from_slice(&ip);
    let bytes = ethernet(0x8864, &session);
    let mut decoder = Decoder::new();
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::Ethernet, &bytes, 0)));
    assert_eq!(datagram.payload, b"INFO");
    assert_eq!(datagram.ip_packet, &ip[..]);
    let lcp = ethernet(0x8864, &[0x11, 0x00, 0x18, 0xe5, 0x00, 0x02, 0xc0, 0x21]);
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &lcp, 0)),
        Decoded::Skipped(SkipReason::NonIpPppProtocol(0xc021))
    ));
}

#[test]
fn skips_non_ip_and_other_transports() {
    let mut decoder = Decoder::new();
    let arp = ethernet(0x0806, &[0; 28]);
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &arp, 0)),
        Decoded::Skipped(SkipReason::NonIpEtherType(0x0806))
    ));
    let icmp = ethernet(0x0800, &ipv4(1, 4, 0, &[8, 0, 0, 0, 0, 0, 0, 0]));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &icmp, 0)),
        Decoded::Skipped(SkipReason::OtherTransport(1))
    ));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Other(147), &icmp, 0)),
        Decoded::Skipped(SkipReason::UnsupportedLinkType)
    ));
    assert_eq!(decoder.stats().skipped_non_ip, 2);
    assert_eq!(decoder.stats().skipped_other_transport, 1);
}

#[test]
fn reports_malformed_layers() {
    let mut decoder = Decoder::new();
    let full = ethernet(0x0800, &ipv4(17, 5, 0, &udp(1, 2, b"payload")));
    let cut = &full[..full.len() - 3];
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, cut, 0)),
        Decoded::Malformed(MalformedReason::TotalLengthExceedsFrame)
    ));
    let mut bad_offset = tcp(1, 0x10, b"");
    bad_offset[12] = 0x30;
    let bytes = ethernet(0x0800, &ipv4(6, 6, 0, &bad_offset));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &bytes, 0)),
        Decoded::Malformed(MalformedReason::BadTcpDataOffset)
    ));
    let short_udp = ethernet(0x0800, &ipv4(17, 7, 0, &[0, 1, 0, 2]));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &short_udp, 0)),
        Decoded::Malformed(MalformedReason::TruncatedUdp)
    ));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &full[..10], 0)),
        Decoded::Malformed(MalformedReason::TruncatedEthernet)
    ));
    assert_eq!(decoder.stats().malformed, 4);
}

/// Splits a UDP datagram's IPv4 payload into two fragments at byte 16.
fn ipv4_fragments(ident: u16, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let body = udp(5060, 5060, payload);
    let first = ethernet(0x0800, &ipv4(17, ident, 0x2000, &body[..16]));
    let second = ethernet(0x0800, &ipv4(17, ident, 2, &body[16..]));
    (first, second)
}

#[test]
fn reassembles_ipv4_fragments_out_of_order() {
    let payload = b"INVITE sip:bob@example.com SIP/2.0";
    let (first, second) = ipv4_fragments(0x77, payload);
    let mut decoder = Decoder::new();
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &second, 1)),
        Decoded::Skipped(SkipReason::FragmentPending)
    ));
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::Ethernet, &first, 2)));
    assert_eq!(datagram.payload, payload);
    assert_eq!(datagram.ip_packet.len(), 20 + 8 + payload.len());
    let whole = ipv4::Packet::new_checked(datagram.ip_packet).expect("valid header");
    assert!(!whole.is_fragment());
    assert!(whole.verify_checksum());
    let stats = decoder.stats();
    assert_eq!(
        (stats.fragments, stats.reassembled, stats.datagrams),
        (2, 1, 1)
    );
}

#[test]
fn reassembles_ipv6_fragments() {
    let payload = b"SIP/2.0 180 Ringing, a long enough payload";
    let body = udp(5060, 5062, payload);
    let frag_header = |offset_flags: u16| {
        let mut h = vec![17, 0];
        h.extend_from_slice(&offset_flags.to_be_bytes());
        h.extend_from_slice(&0xabcd_0001u32.to_be_bytes());
        h
    };
    let mut first = frag_header(0x0001);
    first.extend_from_slice(&body[..24]);
    let mut second = frag_header(24);
    second.extend_from_slice(&body[24..]);
    let first = ethernet(0x86dd, &ipv6(44, &first));
    let second = ethernet(0x86dd, &ipv6(44, &second));
    let mut decoder = Decoder::new();
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &first, 1)),
        Decoded::Skipped(SkipReason::FragmentPending)
    ));
    let datagram = expect_datagram(decoder.decode(&frame(LinkType::Ethernet, &second, 2)));
    assert_eq!(datagram.payload, payload);
    assert_eq!(datagram.flow.dst_port, 5062);
    let whole = ipv6::Packet::new_checked(datagram.ip_packet).expect("valid header");
    assert_eq!(whole.next_header(), 17);
    assert_eq!(usize::from(whole.payload_len()), body.len());
}

#[test]
fn conflicting_fragments_and_timeouts_are_counted() {
    let (first, second) = ipv4_fragments(9, b"0123456789abcdefghij");
    let mut changed = first.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    let mut decoder = Decoder::new();
    decoder.decode(&frame(LinkType::Ethernet, &first, 1));
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &changed, 2)),
        Decoded::Skipped(SkipReason::FragmentDropped)
    ));
    assert_eq!(decoder.stats().fragment_overlaps_dropped, 1);

    decoder.decode(&frame(LinkType::Ethernet, &first, 10));
    let later = 10 + 31_000_000_000;
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &second, later)),
        Decoded::Skipped(SkipReason::FragmentPending)
    ));
    assert_eq!(decoder.stats().fragment_timeouts, 1);
}

#[test]
fn misaligned_middle_fragment_is_malformed() {
    let body = udp(1, 2, b"0123456789");
    let bytes = ethernet(0x0800, &ipv4(17, 1, 0x2000, &body[..13]));
    let mut decoder = Decoder::new();
    assert!(matches!(
        decoder.decode(&frame(LinkType::Ethernet, &bytes, 0)),
        Decoded::Malformed(MalformedReason::BadFragment)
    ));
}

fn link_types() -> impl Strategy<Value = LinkType> {
    prop_oneof![
        Just(LinkType::Ethernet),
        Just(LinkType::LinuxSll),
        Just(LinkType::LinuxSll2),
        Just(LinkType::RawIp),
        Just(LinkType::Ipv4),
        Just(LinkType::Ipv6),
        Just(LinkType::Null),
        Just(LinkType::Loop),
    ]
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        frames in proptest::collection::vec((link_types(), proptest::collection::vec(any::<u8>(), 0..120), any::<u32>()), 1..20)
    ) {
        let mut decoder = Decoder::new();
        for (link, data, ts) in &frames {
            if let Decoded::Datagram(d) = decoder.decode(&frame(*link, data, u64::from(*ts))) {
                prop_assert!(d.payload.len() <= d.ip_packet.len());
            }
        }
        prop_assert_eq!(decoder.stats().frames, frames.len() as u64);
    }

    #[test]
    fn arbitrary_fragments_never_panic(
        pieces in proptest::collection::vec((0u16..64, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 1..30)
    ) {
        let mut decoder = Decoder::new();
        for (offset_units, more, data) in &pieces {
            let frag = (u16::from(*more) << 13) | offset_units;
            let bytes = ipv4(17, 5, frag, data);
            let _ = decoder.decode(&frame(LinkType::Ipv4, &bytes, 1));
        }
    }
}
