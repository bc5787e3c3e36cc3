//! Splits an X2/X3 byte stream (TCP or TLS) into whole PDUs with a capped buffer. A PDU is
//! delimited by its own header and payload lengths, so a header that cannot be trusted
//! (unknown version or type, a header length below 40, a PDU above the cap) ends the
//! stream: there is no way to find the next PDU boundary after it.

use super::pdu::{Packet, PduError, FIXED_HEADER_LEN};

/// Largest PDU accepted by default: a SIP message with a large body fits many times over.
pub const DEFAULT_MAX_PDU: usize = 256 << 10;

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("malformed X2/X3 header: {0}")]
    Malformed(PduError),
    #[error("X2/X3 PDU of {len} bytes exceeds the limit of {max}")]
    Oversized { len: usize, max: usize },
    #[error("more than {max} bytes buffered without a whole PDU")]
    Overfull { max: usize },
}

/// Reassembles PDUs from the bytes of one connection, in order.
///
/// Call order: [`push`](Self::push) the bytes read, then [`next_pdu`](Self::next_pdu) until
/// it returns `Ok(None)`; after an error the stream is dead and every later call repeats it.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the first byte not yet handed out.
    start: usize,
    max_pdu: usize,
    failed: Option<FrameError>,
}

impl Framer {
    pub fn new(max_pdu: usize) -> Framer {
        Framer { buf: Vec::new(), start: 0, max_pdu: max_pdu.max(FIXED_HEADER_LEN), failed: None }
    }

    /// Appends bytes read from the stream. Refuses (and kills the stream) when more than
    /// two maximum PDUs would be buffered: the caller did not drain [`next_pdu`](Self::next_pdu).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let max = self.max_pdu.saturating_mul(2);
        if self.buffered() + bytes.len() > max {
            return Err(*self.failed.insert(FrameError::Overfull { max }));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes held that are not yet part of a PDU handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole PDU (valid until the next call), `Ok(None)` when more bytes are needed.
    pub fn next_pdu(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let rest = &self.buf[self.start..];
        let len = match pdu_len(rest, self.max_pdu) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(e) => return Err(*self.failed.insert(e)),
        };
        if rest.len() < len {
            return Ok(None);
        }
        let at = self.start;
        self.start += len;
        Ok(Some(&self.buf[at..at + len]))
    }
}

/// Length of the PDU `rest` starts with, from its fixed header alone; None when fewer than
/// 40 bytes are there. The one check of an X2/X3 header's framing fields.
fn pdu_len(rest: &[u8], max_pdu: usize) -> Result<Option<usize>, FrameError> {
    let Some(fixed) = rest.get(..FIXED_HEADER_LEN) else { return Ok(None) };
    let header = Packet::new_unchecked(fixed);
    if !super::pdu::version_accepted(header.version()) {
        Err(FrameError::Malformed(PduError::UnsupportedVersion(header.version())))
    } else if let Err(e) = header.pdu_type() {
        Err(FrameError::Malformed(e))
    } else if (header.header_len() as usize) < FIXED_HEADER_LEN {
        Err(FrameError::Malformed(PduError::BadHeaderLength(header.header_len())))
    } else if header.total_len() > max_pdu {
        Err(FrameError::Oversized { len: header.total_len(), max: max_pdu })
    } else {
        Ok(Some(header.total_len()))
    }
}

/// The whole PDUs at the start of `buf` (a spool segment), in order, then the reason the
/// rest is not one (a torn or zero-filled tail: `Ok(None)` from the header check, or a
/// header that cannot be trusted) as one `Err` carrying its offset.
pub fn split_pdus(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], usize>> + '_ {
    let mut at = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done || at >= buf.len() {
            return None;
        }
        let rest = &buf[at..];
        match pdu_len(rest, DEFAULT_MAX_PDU) {
            Ok(Some(len)) if len <= rest.len() => {
                at += len;
                Some(Ok(&rest[..len]))
            }
            _ => {
                done = true;
                Some(Err(at))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x2x3::pdu::{PduRepr, PduType};

    fn stream() -> Vec<u8> {
        let mut out = Vec::new();
        for seq in 0..5 {
            PduRepr::keepalive(PduType::Keepalive, seq).emit_to_vec(&mut out);
        }
        out
    }

    #[test]
    fn splits_at_every_chunk_size() {
        let bytes = stream();
        for chunk in 1..=bytes.len() {
            let mut f = Framer::new(DEFAULT_MAX_PDU);
            let mut seqs = Vec::new();
            for piece in bytes.chunks(chunk) {
                f.push(piece).expect("push");
                while let Some(pdu) = f.next_pdu().expect("frames") {
                    seqs.push(PduRepr::parse_bytes(pdu).expect("parses").sequence);
                }
            }
            assert_eq!(seqs, (0..5).map(Some).collect::<Vec<_>>(), "chunk {chunk}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn refuses_an_oversized_pdu_from_its_header_alone() {
        let mut bytes = stream();
        bytes[8..12].copy_from_slice(&1_000_000u32.to_be_bytes());
        let mut f = Framer::new(4096);
        f.push(&bytes[..40]).expect("push");
        assert_eq!(f.next_pdu(), Err(FrameError::Oversized { len: 1_000_048, max: 4096 }));
        assert_eq!(f.push(&bytes[40..]), Err(FrameError::Oversized { len: 1_000_048, max: 4096 }));
    }

    #[test]
    fn refuses_malformed_headers_and_stays_dead() {
        for (at, value, want) in [
            (0usize, 0x07u8, PduError::UnsupportedVersion(0x0705)),
            (3, 0x09, PduError::UnknownPduType(9)),
            (7, 0x10, PduError::BadHeaderLength(16)),
        ] {
            let mut bytes = stream();
            bytes[at] = value;
            let mut f = Framer::new(DEFAULT_MAX_PDU);
            f.push(&bytes).expect("push");
            assert_eq!(f.next_pdu(), Err(FrameError::Malformed(want)));
            assert_eq!(f.next_pdu(), Err(FrameError::Malformed(want)));
        }
    }

    #[test]
    fn caps_the_buffer() {
        let mut f = Framer::new(100);
        f.push(&[0u8; 30]).expect("under the cap");
        assert_eq!(f.push(&[0u8; 180]), Err(FrameError::Overfull { max: 200 }));
    }

    #[test]
    fn keeps_a_partial_pdu_across_pushes() {
        let bytes = stream();
        let mut f = Framer::new(DEFAULT_MAX_PDU);
        f.push(&bytes[..60]).expect("push");
        assert!(f.next_pdu().expect("ok").is_some());
        assert!(f.next_pdu().expect("ok").is_none());
        assert_eq!(f.buffered(), 12);
        f.push(&bytes[60..]).expect("push");
        let mut n = 0;
        while f.next_pdu().expect("ok").is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn splits_a_spool_segment_up_to_a_torn_or_zero_filled_tail() {
        let bytes = stream();
        let whole = |buf: &[u8]| split_pdus(buf).map_while(Result::ok).map(<[u8]>::len).sum::<usize>();
        assert_eq!(whole(&bytes), bytes.len());
        assert_eq!(split_pdus(&bytes).count(), 5);
        assert_eq!(whole(&bytes[..bytes.len() - 3]), bytes.len() / 5 * 4, "a torn last PDU is cut");
        let mut zeroed = bytes.clone();
        zeroed.extend_from_slice(&[0; 100]);
        assert_eq!(whole(&zeroed), bytes.len(), "zeros are no PDU (version 0)");
        assert_eq!(split_pdus(&zeroed).last(), Some(Err(bytes.len())));
    }
}
