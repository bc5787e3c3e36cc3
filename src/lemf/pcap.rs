//! The LEMF's capture files (`content.pcap`, `calls.pcap`): UDP frames built by the
//! project's frame builder ([`FrameBuilder`]: one checksum) into its pcap writer
//! ([`PcapWriter`]: one header writer), appended to across LEMF restarts.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::gen::{Endpoint, FrameBuilder, PcapWriter, Resolution};
use crate::Timestamp;

/// The synthetic target and remote party addresses of `content.pcap` (HI3 content carries
/// no addresses).
pub const TARGET: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// The largest UDP payload of one IPv4 datagram.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// An open capture file.
pub struct PcapFile {
    writer: PcapWriter<BufWriter<File>>,
    frames: FrameBuilder,
}

impl PcapFile {
    /// Opens `path` for appending; a new or empty file gets the global header (microseconds,
    /// Ethernet).
    pub fn open(path: &Path) -> io::Result<PcapFile> {
        let fresh = fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
        let file = BufWriter::with_capacity(256 * 1024, OpenOptions::new().create(true).append(true).open(path)?);
        let writer = if fresh { PcapWriter::new(file, Resolution::Micro)? } else { PcapWriter::resume(file, Resolution::Micro) };
        Ok(PcapFile { writer, frames: FrameBuilder::new(1) })
    }

    /// One UDP datagram from `src` to `dst` at `ts`. Refused (`InvalidInput`) when the
    /// payload does not fit one datagram or the two addresses are of different families.
    pub fn write_udp(&mut self, ts: Timestamp, src: Endpoint, dst: Endpoint, payload: &[u8]) -> io::Result<()> {
        if payload.len() > MAX_UDP_PAYLOAD || src.ip.is_ipv4() != dst.ip.is_ipv4() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "payload does not fit one UDP datagram between these addresses"));
        }
        let mut frame = Vec::with_capacity(62 + payload.len());
        self.frames.udp_frame(&mut frame, src, dst, None, payload);
        self.writer.write_frame(ts, &frame)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        io::Write::flush(self.writer.get_mut())
    }
}

/// The synthetic (source, destination) of content of call `cin`: a per-CIN port pair
/// between [`TARGET`] and [`REMOTE`], so each call's streams stay apart.
pub fn synthetic_pair(cin: u32, to_target: bool) -> (Endpoint, Endpoint) {
    let port_target = 16_384 + 2 * (cin % 16_000) as u16;
    let target = Endpoint::new(IpAddr::V4(TARGET), port_target);
    let remote = Endpoint::new(IpAddr::V4(REMOTE), port_target + 2);
    if to_target {
        (remote, target)
    } else {
        (target, remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::frame::transport_checksum;

    #[test]
    fn records_are_valid_ethernet_ipv4_udp_frames_appended_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.pcap");
        let ts = Timestamp::from_secs_micros(1_700_000_000, 250);
        let (src, dst) = synthetic_pair(0, false);
        for _ in 0..2 {
            let mut f = PcapFile::open(&path).unwrap();
            f.write_udp(ts, src, dst, &[0x80, 0x00, 0xaa]).unwrap();
            f.flush().unwrap();
        }
        let out = fs::read(&path).unwrap();
        let record = 16 + 14 + 20 + 8 + 3;
        assert_eq!(out.len(), 24 + 2 * record, "one global header, two records");
        assert_eq!(out[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        let rec = &out[24..24 + record];
        assert_eq!(&rec[0..8], &[0x00, 0xf1, 0x53, 0x65, 0xfa, 0, 0, 0]);
        let ip = &rec[30..50];
        assert_eq!(&ip[12..20], &[10, 0, 0, 1, 10, 0, 0, 2]);
        assert_eq!(&rec[50..54], &[0x40, 0x00, 0x40, 0x02]);
        let udp = &rec[50..];
        let mut zeroed = udp.to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        let sum = transport_checksum(src.ip, dst.ip, 17, &zeroed);
        assert_eq!(u16::from_be_bytes([udp[6], udp[7]]), sum);
        let mut f = PcapFile::open(&path).unwrap();
        let v6 = Endpoint::new("2001:db8::1".parse().unwrap(), 5060);
        assert!(f.write_udp(ts, src, v6, b"x").is_err(), "mixed families are refused, not a panic");
        assert!(f.write_udp(ts, src, dst, &vec![0; MAX_UDP_PAYLOAD + 1]).is_err());
    }
}
