//! Classic libpcap file writer (Ethernet link type), streaming through `std::io::Write`.

use std::io::{self, Write};

use crate::Timestamp;

/// Snapshot length written in the global header.
pub const SNAPLEN: u32 = 262_144;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Time resolution of the record headers (selected by the magic number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Micro,
    Nano,
}

impl Resolution {
    pub const fn magic(self) -> u32 {
        match self {
            Resolution::Micro => 0xA1B2_C3D4,
            Resolution::Nano => 0xA1B2_3C4D,
        }
    }
}

/// Writes a little-endian pcap file: global header on creation, then one record per frame.
pub struct PcapWriter<W: Write> {
    inner: W,
    resolution: Resolution,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut inner: W, resolution: Resolution) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&resolution.magic().to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay zero.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        inner.write_all(&header)?;
        Ok(PcapWriter { inner, resolution })
    }

    /// Continues a file that already has its global header (appending after a restart).
    pub fn resume(inner: W, resolution: Resolution) -> Self {
        PcapWriter { inner, resolution }
    }

    /// Appends one record. Frames longer than the snaplen are refused, not truncated.
    pub fn write_frame(&mut self, ts: Timestamp, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&len| len <= SNAPLEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "pcap frame longer than the snaplen",
                )
            })?;
        let secs = u32::try_from(ts.secs()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "timestamp beyond the pcap year-2106 limit",
            )
        })?;
        let fraction = match self.resolution {
            Resolution::Micro => ts.subsec_micros(),
            Resolution::Nano => ts.subsec_nanos(),
        };
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&fraction.to_le_bytes());
        record[8..12].copy_from_slice(&len.to_le_bytes());
        record[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&record)?;
        self.inner.write_all(frame)
    }

    pub fn into_inner(self) -> W {
        self.inner
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_header_micro() {
        let w = PcapWriter::new(Vec::new(), Resolution::Micro).unwrap();
        assert_eq!(
            w.into_inner(),
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x04, 0x00,
                1, 0, 0, 0
            ]
        );
    }

    #[test]
    fn global_header_nano_and_record() {
        let mut w = PcapWriter::new(Vec::new(), Resolution::Nano).unwrap();
        w.write_frame(
            Timestamp::from_nanos(1_793_628_000_123_456_789),
            &[0xaa, 0xbb, 0xcc],
        )
        .unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes[0..4], [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(
            bytes[24..],
            [
                0x60, 0x97, 0xe8, 0x6a, // 1793628000
                0x15, 0xcd, 0x5b, 0x07, // 123456789
                3, 0, 0, 0, 3, 0, 0, 0, 0xaa, 0xbb, 0xcc
            ]
        );
    }

    #[test]
    fn record_micro_truncates_to_microseconds() {
        let mut w = PcapWriter::new(Vec::new(), Resolution::Micro).unwrap();
        w.write_frame(Timestamp::from_nanos(1_000_001_999), &[1])
            .unwrap();
        let bytes = w.into_inner();
        assert_eq!(
            bytes[24..40],
            [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        );
    }

    proptest::proptest! {
        #[test]
        fn records_round_trip(frames in proptest::collection::vec((0u64..4_000_000_000_000_000_000, proptest::collection::vec(proptest::num::u8::ANY, 0..300)), 0..8)) {
            let mut w = PcapWriter::new(Vec::new(), Resolution::Nano).unwrap();
            for (ts, bytes) in &frames {
                w.write_frame(Timestamp::from_nanos(*ts), bytes).unwrap();
            }
            let out = w.into_inner();
            let mut pos = 24;
            for (ts, bytes) in &frames {
                let word = |at: usize| u64::from(u32::from_le_bytes([out[at], out[at + 1], out[at + 2], out[at + 3]]));
                proptest::prop_assert_eq!(word(pos) * 1_000_000_000 + word(pos + 4), *ts);
                proptest::prop_assert_eq!(word(pos + 8) as usize, bytes.len());
                proptest::prop_assert_eq!(&out[pos + 16..pos + 16 + bytes.len()], &bytes[..]);
                pos += 16 + bytes.len();
            }
            proptest::prop_assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn oversized_frame_is_refused() {
        let mut w = PcapWriter::new(Vec::new(), Resolution::Micro).unwrap();
        let big = vec![0u8; SNAPLEN as usize + 1];
        assert!(w.write_frame(Timestamp::from_nanos(0), &big).is_err());
    }
}
