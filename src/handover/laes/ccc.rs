//! PacketCable 2.0 DCI call-content framing of the `laes` profile: CCCID (4), NTP timestamp
//! (8), Case ID (8), then the intercepted IP datagram, whose own length field ends the frame.

use crate::Timestamp;

type Field = core::ops::Range<usize>;

mod field {
    use super::Field;
    pub const CCC_ID: Field = 0..4;
    pub const TIMESTAMP: Field = 4..12;
    pub const CASE_ID: Field = 12..20;
    pub const HEADER_LEN: usize = 20;
}

/// Octets before the IP datagram.
pub const HEADER_LEN: usize = field::HEADER_LEN;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why bytes are not a CCC frame; offsets count from the start of the stream or frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CccError {
    #[error("offset {offset}: truncated CCC frame: {need} octets needed, {have} available")]
    Truncated { offset: usize, need: usize, have: usize },
    #[error("offset {offset}: CCC frame does not carry an IP datagram (IP version {version})")]
    NotIp { offset: usize, version: u8 },
}

/// A CCC frame over a buffer.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Checks that the header and the whole IP datagram its length field announces are there.
    pub fn new_checked(buffer: T) -> Result<Self, CccError> {
        frame_len(buffer.as_ref(), 0)?;
        Ok(Frame { buffer })
    }

    pub fn ccc_id(&self) -> u32 {
        u32::from_be_bytes(array(self.buffer.as_ref(), field::CCC_ID))
    }

    /// NTP timestamp: seconds since 1900 in the high 32 bits, binary fraction in the low.
    pub fn ntp_timestamp(&self) -> u64 {
        u64::from_be_bytes(array(self.buffer.as_ref(), field::TIMESTAMP))
    }

    /// The capture time the NTP timestamp stands for (NTP era 0, until 2036).
    pub fn timestamp(&self) -> Timestamp {
        timestamp_from_ntp(self.ntp_timestamp())
    }

    pub fn case_id(&self) -> [u8; 8] {
        array(self.buffer.as_ref(), field::CASE_ID)
    }

    /// The Case ID as text: trailing NUL padding removed, non-ASCII shown as `?`.
    pub fn case_id_text(&self) -> String {
        let raw = self.case_id();
        let end = raw.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        raw.get(..end)
            .unwrap_or_default()
            .iter()
            .map(|&b| if (0x20..=0x7e).contains(&b) { char::from(b) } else { '?' })
            .collect()
    }

    /// The intercepted IP datagram, cut at its length field.
    pub fn ip_packet(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = frame_len(buf, 0).unwrap_or(buf.len());
        buf.get(field::HEADER_LEN..end).unwrap_or_default()
    }
}

fn array<const N: usize>(buf: &[u8], range: Field) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(range) {
        if src.len() == N {
            out.copy_from_slice(src);
        }
    }
    out
}

/// Length of the frame at the start of `buf` (header + datagram); `offset` is for errors.
fn frame_len(buf: &[u8], offset: usize) -> Result<usize, CccError> {
    let truncated = |need| CccError::Truncated { offset, need, have: buf.len() };
    let ip = buf.get(field::HEADER_LEN..).ok_or(truncated(field::HEADER_LEN + 1))?;
    let first = *ip.first().ok_or(truncated(field::HEADER_LEN + 1))?;
    let ip_len = match first >> 4 {
        4 => {
            let len = ip.get(2..4).ok_or(truncated(field::HEADER_LEN + 20))?;
            usize::from(u16::from_be_bytes([len[0], len[1]]))
        }
        6 => {
            let len = ip.get(4..6).ok_or(truncated(field::HEADER_LEN + 40))?;
            40 + usize::from(u16::from_be_bytes([len[0], len[1]]))
        }
        version => return Err(CccError::NotIp { offset: offset + field::HEADER_LEN, version }),
    };
    let min = if first >> 4 == 4 { 20 } else { 40 };
    let total = field::HEADER_LEN + ip_len.max(min);
    if buf.len() < total {
        return Err(truncated(total));
    }
    Ok(total)
}

/// The 8-octet Case ID of a LIID: a LIID of up to 8 characters left-aligned and padded with
/// NUL octets; a longer one cut to its last 8 characters (where LIIDs keep their serial
/// number). The full LIID is the CDC's caseId; the CCCID ties frames to it.
pub fn case_id_field(liid: &str) -> [u8; 8] {
    let b = liid.as_bytes();
    let tail = b.get(b.len().saturating_sub(8)..).unwrap_or(b);
    let mut out = [0u8; 8];
    if let Some(dst) = out.get_mut(..tail.len()) {
        dst.copy_from_slice(tail);
    }
    out
}

/// NTP timestamp of a capture time (era 0: valid until 2036-02-07).
pub fn ntp_from(ts: Timestamp) -> u64 {
    let secs = (ts.secs().wrapping_add(NTP_UNIX_OFFSET)) & 0xffff_ffff;
    let frac = (u64::from(ts.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The capture time of an NTP timestamp (era 0), rounded to the nanosecond below.
pub fn timestamp_from_ntp(ntp: u64) -> Timestamp {
    let secs = (ntp >> 32).saturating_sub(NTP_UNIX_OFFSET);
    // Round up so that ntp_from(t) → timestamp_from_ntp gives back t.
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000).div_ceil(1 << 32);
    Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// Appends one CCC frame to `out`.
pub fn write_frame(out: &mut Vec<u8>, ccc_id: u32, ts: Timestamp, case_id: &[u8; 8], ip_packet: &[u8]) {
    out.extend_from_slice(&ccc_id.to_be_bytes());
    out.extend_from_slice(&ntp_from(ts).to_be_bytes());
    out.extend_from_slice(case_id);
    out.extend_from_slice(ip_packet);
}

/// Splits a stream of back-to-back CCC frames. A truncated or non-IP frame yields one `Err`
/// with its offset, after which the iterator ends.
pub fn split_ccc_stream(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], CccError>> {
    crate::handover::records::split_records(buf, frame_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IPv4/UDP 10.0.0.1:4000 → 10.0.0.2:5000 carrying 4 payload octets (32 octets).
    const IP: [u8; 32] = [
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x0f, 0xa0, 0x13, 0x88, 0, 12, 0, 0,
        0x80, 0x08, 0x00, 0x01,
    ];

    #[test]
    fn frame_bytes_and_view() {
        let mut out = Vec::new();
        let ts = Timestamp::from_secs_micros(1_700_000_000, 500_000);
        write_frame(&mut out, 0x0000_000e, ts, &case_id_field("L1"), &IP);
        let head: [u8; 20] = [
            0, 0, 0, 0x0e, 0xe8, 0xfe, 0x6f, 0x80, 0x80, 0, 0, 0, b'L', b'1', 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(out.get(..20), Some(&head[..]));
        out.extend_from_slice(b"trailing");
        let f = Frame::new_checked(out.as_slice()).unwrap();
        assert_eq!(f.ccc_id(), 14);
        assert_eq!(f.timestamp(), ts);
        assert_eq!(f.case_id_text(), "L1");
        assert_eq!(f.ip_packet(), &IP[..]);
    }

    #[test]
    fn long_liids_keep_their_last_eight_characters() {
        assert_eq!(case_id_field("PHX-2026-T3-0007"), *b"-T3-0007");
        assert_eq!(case_id_field("ABCDEFGH"), *b"ABCDEFGH");
    }

    #[test]
    fn stream_split_and_errors() {
        let mut s = Vec::new();
        write_frame(&mut s, 1, Timestamp::default(), &[0; 8], &IP);
        write_frame(&mut s, 2, Timestamp::default(), &[0; 8], &IP);
        let frames: Vec<_> = split_ccc_stream(&s).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(Frame::new_unchecked(frames[1]).ccc_id(), 2);
        s.truncate(s.len() - 1);
        let last = split_ccc_stream(&s).last().unwrap();
        assert_eq!(last, Err(CccError::Truncated { offset: 52, need: 52, have: 51 }));
        let mut bad = vec![0u8; 20];
        bad.push(0x20);
        assert_eq!(Frame::new_checked(bad.as_slice()).unwrap_err(), CccError::NotIp { offset: 20, version: 2 });
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for f in split_ccc_stream(&bytes).flatten() {
                let v = Frame::new_unchecked(f);
                let _ = (v.ccc_id(), v.timestamp(), v.case_id_text(), v.ip_packet());
            }
        }

        #[test]
        fn ntp_round_trips(nanos in 0u64..2_000_000_000_000_000_000) {
            let ts = Timestamp::from_nanos(nanos);
            prop_assert_eq!(timestamp_from_ntp(ntp_from(ts)), ts);
        }
    }
}
