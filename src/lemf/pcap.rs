//! A minimal classic-pcap writer for the LEMF's `content.pcap`: each CC payload (an RTP
//! packet) wrapped in synthetic Ethernet/IPv4/UDP headers so Wireshark can play the call.

use std::io::{self, Write};
use std::net::Ipv4Addr;

use crate::Timestamp;

/// The synthetic target and remote party addresses.
pub const TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// The classic pcap global header: microsecond timestamps, LINKTYPE_ETHERNET.
pub fn global_header() -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&65_535u32.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h
}

/// One pcap record: `payload` as UDP from `src:sport` to `dst:dport`, at `ts`.
/// Payloads too big for one IPv4 datagram are cut to fit.
pub fn write_record(
    out: &mut impl Write,
    ts: Timestamp,
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    payload: &[u8],
) -> io::Result<()> {
    let payload = payload.get(..payload.len().min(65_507)).unwrap_or_default();
    let udp_len = 8 + payload.len() as u16;
    let ip_len = 20 + udp_len;
    let frame_len = 14 + u32::from(ip_len);
    let mut rec = Vec::with_capacity(16 + frame_len as usize);
    rec.extend_from_slice(&(ts.secs() as u32).to_le_bytes());
    rec.extend_from_slice(&ts.subsec_micros().to_le_bytes());
    rec.extend_from_slice(&frame_len.to_le_bytes());
    rec.extend_from_slice(&frame_len.to_le_bytes());
    rec.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    rec.extend_from_slice(&ip);
    rec.extend_from_slice(&sport.to_be_bytes());
    rec.extend_from_slice(&dport.to_be_bytes());
    rec.extend_from_slice(&udp_len.to_be_bytes());
    rec.extend_from_slice(&[0, 0]);
    rec.extend_from_slice(payload);
    out.write_all(&rec)
}

/// The IPv4 header checksum (RFC 1071).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_bytes_are_a_valid_ethernet_ipv4_udp_frame() {
        let mut out = Vec::new();
        let ts = Timestamp::from_secs_micros(1_700_000_000, 250);
        write_record(&mut out, ts, (TARGET, 16384), (REMOTE, 16386), &[0x80, 0x00, 0xaa]).unwrap();
        assert_eq!(out.len(), 16 + 14 + 20 + 8 + 3);
        assert_eq!(&out[0..8], &[0x00, 0xf1, 0x53, 0x65, 0xfa, 0, 0, 0]);
        assert_eq!(&out[8..12], &45u32.to_le_bytes());
        let ip = &out[30..50];
        assert_eq!(checksum(ip), 0, "header with its checksum sums to zero");
        assert_eq!(&ip[12..20], &[10, 0, 0, 1, 10, 0, 0, 2]);
        assert_eq!(&out[50..58], &[0x40, 0x00, 0x40, 0x02, 0x00, 0x0b, 0, 0]);
        assert_eq!(global_header()[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
    }
}
