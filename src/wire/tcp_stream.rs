//! Per-direction TCP byte-stream reassembly for followed flows (SIP over TCP): in-order
//! delivery, trimming of retransmissions, bounded buffering of out-of-order segments.

use std::collections::BTreeMap;

use super::TcpFlags;

/// Out-of-order bytes held per stream before the missing range is given up.
pub const MAX_BUFFERED_BYTES: usize = 256 << 10;

/// What one `push` did with the segment's bytes (and any buffered bytes it released).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Bytes appended to `out`.
    pub delivered: usize,
    /// Bytes already delivered or buffered (retransmissions, overlaps), dropped.
    pub duplicate: usize,
    /// Bytes of this segment held until the gap before them is filled.
    pub buffered: usize,
    /// Missing bytes given up because the out-of-order buffer was full.
    pub skipped_gap: usize,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct TcpStream {
    /// Sequence number of the next byte to deliver; `None` until the first segment.
    next_seq: Option<u32>,
    /// Stream position of the next byte to deliver (does not wrap).
    next_pos: i64,
    /// Out-of-order segments keyed by stream position.
    pending: BTreeMap<i64, Vec<u8>>,
    pending_bytes: usize,
    closed: bool,
}

impl TcpStream {
    pub fn new() -> TcpStream {
        TcpStream::default()
    }

    /// Feeds one segment; appends the bytes that became contiguous, in order, to `out`.
    pub fn push(
        &mut self,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> PushOutcome {
        let mut outcome = PushOutcome::default();
        if flags.rst() {
            self.closed = true;
            return outcome;
        }
        if flags.fin() {
            self.closed = true;
        }
        // SYN occupies one sequence number: data starts at ISN + 1.
        let data_seq = if flags.syn() {
            seq.wrapping_add(1)
        } else {
            seq
        };
        let next_seq = *self.next_seq.get_or_insert(data_seq);
        if payload.is_empty() {
            return outcome;
        }
        let start = self.next_pos + i64::from(data_seq.wrapping_sub(next_seq) as i32);
        let end = start + payload.len() as i64;
        if end <= self.next_pos {
            outcome.duplicate += payload.len();
            return outcome;
        }
        if start > self.next_pos {
            self.hold(start, payload, &mut outcome);
            while self.pending_bytes > MAX_BUFFERED_BYTES {
                self.skip_gap(&mut outcome);
                self.release(out, &mut outcome);
            }
            return outcome;
        }
        let already = usize::try_from(self.next_pos - start).unwrap_or(0);
        outcome.duplicate += already;
        self.deliver(
            payload.get(already..).unwrap_or_default(),
            out,
            &mut outcome,
        );
        self.release(out, &mut outcome);
        outcome
    }

    /// True once a FIN or RST was seen.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes currently held out of order.
    pub fn buffered_bytes(&self) -> usize {
        self.pending_bytes
    }

    fn deliver(&mut self, bytes: &[u8], out: &mut Vec<u8>, outcome: &mut PushOutcome) {
        out.extend_from_slice(bytes);
        outcome.delivered += bytes.len();
        self.advance(bytes.len());
    }

    fn advance(&mut self, len: usize) {
        self.next_pos += len as i64;
        if let Some(seq) = self.next_seq.as_mut() {
            *seq = seq.wrapping_add(len as u32);
        }
    }

    /// Buffers a segment ahead of the next expected byte, dropping bytes already held.
    fn hold(&mut self, start: i64, payload: &[u8], outcome: &mut PushOutcome) {
        if let Some(existing) = self.pending.get(&start) {
            if existing.len() >= payload.len() {
                outcome.duplicate += payload.len();
                return;
            }
            outcome.duplicate += existing.len();
            self.pending_bytes -= existing.len();
        }
        self.pending.insert(start, payload.to_vec());
        self.pending_bytes += payload.len();
        outcome.buffered += payload.len();
    }

    /// Delivers buffered segments that have become contiguous.
    fn release(&mut self, out: &mut Vec<u8>, outcome: &mut PushOutcome) {
        while let Some(entry) = self.pending.first_entry() {
            let start = *entry.key();
            if start > self.next_pos {
                break;
            }
            let segment = entry.remove();
            self.pending_bytes -= segment.len();
            let already = usize::try_from(self.next_pos - start).unwrap_or(0);
            if already >= segment.len() {
                outcome.duplicate += segment.len();
                continue;
            }
            outcome.duplicate += already;
            self.deliver(segment.get(already..).unwrap_or_default(), out, outcome);
        }
    }

    /// Gives up the missing bytes before the first buffered segment.
    fn skip_gap(&mut self, outcome: &mut PushOutcome) {
        if let Some((&start, _)) = self.pending.first_key_value() {
            let gap = usize::try_from(start - self.next_pos).unwrap_or(0);
            outcome.skipped_gap += gap;
            self.advance(gap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: TcpFlags = TcpFlags(0);
    const SYN: TcpFlags = TcpFlags(TcpFlags::SYN);
    const FIN: TcpFlags = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
    const RST: TcpFlags = TcpFlags(TcpFlags::RST);

    #[test]
    fn delivers_in_order_after_syn() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        assert_eq!(
            stream.push(1000, SYN, b"", &mut out),
            PushOutcome::default()
        );
        let first = stream.push(1001, NONE, b"INVITE ", &mut out);
        assert_eq!(first.delivered, 7);
        stream.push(1008, NONE, b"sip:", &mut out);
        assert_eq!(out, b"INVITE sip:");
        assert!(!stream.is_closed());
        stream.push(1012, FIN, b"", &mut out);
        assert!(stream.is_closed());
    }

    #[test]
    fn starts_mid_flow_at_first_segment() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(555_555, NONE, b"SIP/2.0 200 OK", &mut out);
        stream.push(555_569, NONE, b"\r\n", &mut out);
        assert_eq!(out, b"SIP/2.0 200 OK\r\n");
    }

    #[test]
    fn buffers_reordered_segments() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(10, NONE, b"ab", &mut out);
        let ahead = stream.push(16, NONE, b"gh", &mut out);
        assert_eq!(
            ahead,
            PushOutcome {
                buffered: 2,
                ..PushOutcome::default()
            }
        );
        let ahead2 = stream.push(14, NONE, b"ef", &mut out);
        assert_eq!(ahead2.buffered, 2);
        assert_eq!(out, b"ab");
        let fill = stream.push(12, NONE, b"cd", &mut out);
        assert_eq!(fill.delivered, 6);
        assert_eq!(out, b"abcdefgh");
        assert_eq!(stream.buffered_bytes(), 0);
    }

    #[test]
    fn drops_retransmissions() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(1, NONE, b"hello", &mut out);
        let again = stream.push(1, NONE, b"hello", &mut out);
        assert_eq!(
            again,
            PushOutcome {
                duplicate: 5,
                ..PushOutcome::default()
            }
        );
        stream.push(9, NONE, b"xy", &mut out);
        let again_ahead = stream.push(9, NONE, b"xy", &mut out);
        assert_eq!(again_ahead.duplicate, 2);
        assert_eq!(out, b"hello");
    }

    #[test]
    fn trims_partial_overlaps() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(100, NONE, b"abcdef", &mut out);
        let overlap = stream.push(103, NONE, b"defghi", &mut out);
        assert_eq!(
            overlap,
            PushOutcome {
                delivered: 3,
                duplicate: 3,
                ..PushOutcome::default()
            }
        );
        // Buffered segment overlapping what a later segment delivers.
        stream.push(112, NONE, b"mnop", &mut out);
        let fill = stream.push(109, NONE, b"jklmn", &mut out);
        assert_eq!(fill.delivered, 5 + 2);
        assert_eq!(fill.duplicate, 2);
        assert_eq!(out, b"abcdefghijklmnop");
    }

    #[test]
    fn handles_sequence_wrap_around() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        let isn = u32::MAX - 3;
        stream.push(isn, SYN, b"", &mut out);
        stream.push(isn.wrapping_add(1), NONE, b"abc", &mut out);
        // Out of order across the wrap: "fg" at seq 2, then "de" at seq 0.
        stream.push(2, NONE, b"fg", &mut out);
        stream.push(0, NONE, b"de", &mut out);
        assert_eq!(out, b"abcdefg");
        let old = stream.push(isn.wrapping_add(1), NONE, b"abc", &mut out);
        assert_eq!(old.duplicate, 3);
    }

    #[test]
    fn skips_gap_when_buffer_is_full() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(0, NONE, b"start", &mut out);
        let chunk = vec![b'x'; 64 << 10];
        let gap = 100u32;
        let mut seq = 5 + gap;
        let mut skipped = 0;
        for _ in 0..5 {
            skipped += stream.push(seq, NONE, &chunk, &mut out).skipped_gap;
            seq += chunk.len() as u32;
        }
        assert_eq!(skipped, gap as usize);
        assert_eq!(out.len(), 5 + 5 * chunk.len());
        assert_eq!(stream.buffered_bytes(), 0);
        let late = stream.push(5, NONE, &[b'y'; 100], &mut out);
        assert_eq!(late.duplicate, 100);
    }

    #[test]
    fn reset_closes_without_delivering() {
        let mut stream = TcpStream::new();
        let mut out = Vec::new();
        stream.push(1, NONE, b"a", &mut out);
        let reset = stream.push(2, RST, b"zz", &mut out);
        assert_eq!(reset.delivered, 0);
        assert!(stream.is_closed());
        assert_eq!(out, b"a");
    }
}
