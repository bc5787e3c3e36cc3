//! Ethernet frame builders (IPv4/IPv6, optional 802.1Q, UDP/TCP) with correct lengths and
//! checksums, deterministic MACs derived from the IP addresses, and IPv4 fragmentation.

use std::net::IpAddr;

/// A transport endpoint: IP address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub const fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint { ip, port }
    }
}

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const TTL: u8 = 64;

/// Builds frames; keeps the IPv4 identification counter, so one per sending context.
#[derive(Clone, Debug)]
pub struct FrameBuilder {
    next_ip_id: u16,
}

impl FrameBuilder {
    pub fn new(first_ip_id: u16) -> Self {
        FrameBuilder {
            next_ip_id: first_ip_id,
        }
    }

    /// Appends a whole Ethernet/IP/UDP frame to `buf`; the family of `src.ip` picks IPv4/IPv6.
    /// Panics if the source and destination families differ (a programming error).
    pub fn udp_frame(
        &mut self,
        buf: &mut Vec<u8>,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        payload: &[u8],
    ) {
        let mut udp = Vec::with_capacity(8 + payload.len());
        push_udp(&mut udp, src, dst, payload);
        self.ip_frame(buf, src.ip, dst.ip, vlan, PROTO_UDP, &udp, 0);
    }

    /// Appends a whole Ethernet/IP/TCP frame (20-byte header, window 65535) to `buf`.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp_frame(
        &mut self,
        buf: &mut Vec<u8>,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend_from_slice(&src.port.to_be_bytes());
        tcp.extend_from_slice(&dst.port.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(5 << 4);
        tcp.push(flags);
        tcp.extend_from_slice(&65535u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        tcp.extend_from_slice(payload);
        let sum = transport_checksum(src.ip, dst.ip, PROTO_TCP, &tcp);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        self.ip_frame(buf, src.ip, dst.ip, vlan, PROTO_TCP, &tcp, 0x4000);
    }

    /// Splits one UDP datagram into IPv4 fragments whose IP packets fit `mtu` bytes; returns one
    /// frame per fragment (a single frame when it already fits). IPv6 sources are sent whole.
    pub fn ipv4_udp_fragments(
        &mut self,
        src: Endpoint,
        dst: Endpoint,
        vlan: Option<u16>,
        payload: &[u8],
        mtu: usize,
    ) -> Vec<Vec<u8>> {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip, dst.ip) else {
            let mut frame = Vec::new();
            self.udp_frame(&mut frame, src, dst, vlan, payload);
            return vec![frame];
        };
        let mut udp = Vec::with_capacity(8 + payload.len());
        push_udp(&mut udp, src, dst, payload);
        // Fragment data must be a multiple of 8 bytes except in the last fragment.
        let per_fragment = (mtu.saturating_sub(20) / 8).max(1) * 8;
        let id = self.take_ip_id();
        let mut frames = Vec::new();
        let mut offset = 0;
        while offset < udp.len() {
            let end = (offset + per_fragment).min(udp.len());
            let more = if end < udp.len() { 0x2000 } else { 0 };
            let flags_offset = more | ((offset / 8) as u16 & 0x1fff);
            let mut frame = Vec::with_capacity(14 + 4 + 20 + end - offset);
            push_ethernet(&mut frame, src.ip, dst.ip, vlan, ETHERTYPE_IPV4);
            push_ipv4_header(
                &mut frame,
                s.octets(),
                d.octets(),
                PROTO_UDP,
                end - offset,
                id,
                flags_offset,
            );
            frame.extend_from_slice(&udp[offset..end]);
            frames.push(frame);
            offset = end;
        }
        frames
    }

    /// Appends a whole Ethernet/IP frame carrying `body` as IP protocol `proto` (GRE, say).
    pub fn ip_protocol_frame(&mut self, buf: &mut Vec<u8>, src: IpAddr, dst: IpAddr, proto: u8, body: &[u8]) {
        self.ip_frame(buf, src, dst, None, proto, body, 0);
    }

    fn take_ip_id(&mut self) -> u16 {
        let id = self.next_ip_id;
        self.next_ip_id = self.next_ip_id.wrapping_add(1);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn ip_frame(
        &mut self,
        buf: &mut Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
        vlan: Option<u16>,
        proto: u8,
        l4: &[u8],
        flags: u16,
    ) {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let id = self.take_ip_id();
                push_ethernet(buf, src, dst, vlan, ETHERTYPE_IPV4);
                push_ipv4_header(buf, s.octets(), d.octets(), proto, l4.len(), id, flags);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                push_ethernet(buf, src, dst, vlan, ETHERTYPE_IPV6);
                buf.extend_from_slice(&[0x60, 0, 0, 0]);
                buf.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                buf.push(proto);
                buf.push(TTL);
                buf.extend_from_slice(&s.octets());
                buf.extend_from_slice(&d.octets());
            }
            _ => panic!("frame source and destination must share an address family"),
        }
        buf.extend_from_slice(l4);
    }
}

/// Locally administered unicast MAC `02:00:` + the last four bytes of the address.
pub fn mac_for(ip: IpAddr) -> [u8; 6] {
    let tail = match ip {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    [0x02, 0x00, tail[0], tail[1], tail[2], tail[3]]
}

fn push_ethernet(buf: &mut Vec<u8>, src: IpAddr, dst: IpAddr, vlan: Option<u16>, ethertype: u16) {
    buf.extend_from_slice(&mac_for(dst));
    buf.extend_from_slice(&mac_for(src));
    if let Some(id) = vlan {
        buf.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        buf.extend_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    buf.extend_from_slice(&ethertype.to_be_bytes());
}

fn push_ipv4_header(
    buf: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    data_len: usize,
    id: u16,
    flags_offset: u16,
) {
    let start = buf.len();
    buf.extend_from_slice(&[0x45, 0]);
    buf.extend_from_slice(&((20 + data_len) as u16).to_be_bytes());
    buf.extend_from_slice(&id.to_be_bytes());
    buf.extend_from_slice(&flags_offset.to_be_bytes());
    buf.extend_from_slice(&[TTL, proto, 0, 0]);
    buf.extend_from_slice(&src);
    buf.extend_from_slice(&dst);
    let sum = !fold(sum_words(0, &buf[start..start + 20]));
    buf[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
}

fn push_udp(udp: &mut Vec<u8>, src: Endpoint, dst: Endpoint, payload: &[u8]) {
    udp.extend_from_slice(&src.port.to_be_bytes());
    udp.extend_from_slice(&dst.port.to_be_bytes());
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let sum = match transport_checksum(src.ip, dst.ip, PROTO_UDP, udp) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
}

/// Internet checksum of a TCP/UDP segment (checksum field zeroed) with the IP pseudo-header.
pub fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut acc = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum_words(acc, &s.octets());
            acc = sum_words(acc, &d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = sum_words(acc, &s.octets());
            acc = sum_words(acc, &d.octets());
        }
        _ => {}
    }
    acc += u64::from(proto) + segment.len() as u64;
    !fold(sum_words(acc, segment))
}

fn sum_words(mut acc: u64, bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        acc += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    #[test]
    fn udp_ipv4_frame_bytes() {
        let mut b = FrameBuilder::new(0x1234);
        let mut f = Vec::new();
        b.udp_frame(
            &mut f,
            v4([192, 0, 2, 1], 5060),
            v4([192, 0, 2, 10], 5060),
            None,
            b"hi",
        );
        let expected: [u8; 44] = [
            0x02, 0x00, 192, 0, 2, 10, 0x02, 0x00, 192, 0, 2, 1, 0x08, 0x00, // ethernet
            0x45, 0x00, 0x00, 0x1e, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0xe4, 0x8f, // ipv4
            192, 0, 2, 1, 192, 0, 2, 10, //
            0x13, 0xc4, 0x13, 0xc4, 0x00, 0x0a, 0xeb, 0xdc, b'h', b'i', // udp
        ];
        assert_eq!(f, expected);
        // the identification counter advanced
        let mut g = Vec::new();
        b.udp_frame(
            &mut g,
            v4([192, 0, 2, 1], 5060),
            v4([192, 0, 2, 10], 5060),
            None,
            b"hi",
        );
        assert_eq!(g[18..20], [0x12, 0x35]);
    }

    #[test]
    fn vlan_tag_and_ipv6_tcp_header() {
        let src = Endpoint::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            40000,
        );
        let dst = Endpoint::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
            5060,
        );
        let mut f = Vec::new();
        FrameBuilder::new(0).tcp_frame(&mut f, src, dst, Some(100), 1, 2, SYN | ACK, b"");
        assert_eq!(f.len(), 18 + 40 + 20);
        assert_eq!(f[12..18], [0x81, 0x00, 0x00, 100, 0x86, 0xdd]);
        assert_eq!(f[18..26], [0x60, 0, 0, 0, 0, 20, PROTO_TCP, 64]);
        let tcp = &f[58..];
        assert_eq!(
            tcp[0..14],
            [0x9c, 0x40, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12]
        );
        // checksum over pseudo-header + segment verifies to zero
        assert_eq!(transport_checksum(src.ip, dst.ip, PROTO_TCP, tcp), 0);
    }

    #[test]
    fn fragments_cover_the_datagram() {
        let payload = vec![b'x'; 3000];
        let frames = FrameBuilder::new(7).ipv4_udp_fragments(
            v4([10, 0, 0, 1], 5060),
            v4([10, 0, 0, 2], 5060),
            None,
            &payload,
            1500,
        );
        assert_eq!(frames.len(), 3);
        // 1480 data bytes per full fragment; offsets 0, 185, 370 (8-byte units)
        let offsets: Vec<u16> = frames
            .iter()
            .map(|f| u16::from_be_bytes([f[20], f[21]]))
            .collect();
        assert_eq!(offsets, [0x2000, 0x2000 | 185, 370]);
        assert!(frames.iter().all(|f| f[18..20] == [0, 7]));
        let total: usize = frames.iter().map(|f| f.len() - 34).sum();
        assert_eq!(total, 3008);
        assert_eq!(frames[0].len(), 14 + 1500);
    }

    proptest! {
        #[test]
        fn udp_checksum_verifies(payload in proptest::collection::vec(any::<u8>(), 0..1600), sport: u16, six: bool) {
            let (s, d) = if six {
                (IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5)), IpAddr::V6(Ipv6Addr::LOCALHOST))
            } else {
                (IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), IpAddr::V4(Ipv4Addr::new(10, 3, 2, 1)))
            };
            let mut f = Vec::new();
            FrameBuilder::new(0).udp_frame(&mut f, Endpoint::new(s, sport), Endpoint::new(d, 9), None, &payload);
            let l4 = if six { &f[54..] } else { &f[34..] };
            prop_assert_eq!(l4.len(), payload.len() + 8);
            prop_assert_eq!(transport_checksum(s, d, PROTO_UDP, l4), 0);
            if !six {
                prop_assert_eq!(fold(sum_words(0, &f[14..34])), 0xffff);
            }
        }
    }
}
