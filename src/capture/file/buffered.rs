//! Capture blocks read through pcap-parser's streaming reader and its growable buffer, for
//! files that cannot be mapped. Each call to `next_frame` consumes the previous block.

use std::fs::File;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapError};

use super::{
    block_too_large, classify, corrupt_reason, header_reason, BlockKind, PacketBlock, ReaderState,
    MAX_BLOCK_LEN,
};
use crate::capture::{CaptureError, Frame, LinkType};
use crate::Timestamp;

/// Initial read buffer: 1 MiB measured fastest (CRATES.md).
pub(super) const BUFFER_CAPACITY: usize = 1 << 20;

/// Outcome of one `next()` call on the underlying reader, without borrowing its buffer.
enum Step {
    /// A packet at `start..end` of the buffer's data, in a block of `len` bytes.
    Packet {
        len: usize,
        start: usize,
        end: usize,
        ts: Timestamp,
        link: LinkType,
        orig_len: u32,
    },
    /// A block of `len` bytes that carries no packet.
    Other(usize),
    NeedMoreData,
    BlockTooLarge,
    Truncated,
    End,
    Corrupt(String),
}

/// The streaming reader and the bookkeeping of its buffer.
pub(super) struct BufferedBlocks {
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Bytes of the block handed out by the previous `next_frame`, consumed on the next call.
    pending_consume: usize,
    capacity: usize,
}

impl BufferedBlocks {
    /// Reads the start of the file and recognises its header (the reason when it cannot).
    pub(super) fn new(file: File) -> Result<BufferedBlocks, &'static str> {
        let reader = create_reader(BUFFER_CAPACITY, file).map_err(|e| header_reason(&e))?;
        Ok(BufferedBlocks {
            reader,
            pending_consume: 0,
            capacity: BUFFER_CAPACITY,
        })
    }

    /// The next frame; see `FileReader::next_frame`.
    pub(super) fn next_frame(
        &mut self,
        state: &mut ReaderState,
    ) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.pending_consume > 0 {
            self.reader.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        loop {
            let base = self.reader.data().as_ptr() as usize;
            let step = match self.reader.next() {
                Ok((len, block)) => match classify(&block, &mut state.interfaces, state.last_ts) {
                    BlockKind::Packet(packet) => {
                        let start = (packet.data.as_ptr() as usize).wrapping_sub(base);
                        Step::Packet {
                            len,
                            start,
                            end: start.wrapping_add(packet.data.len()),
                            ts: packet.ts,
                            link: packet.link,
                            orig_len: packet.orig_len,
                        }
                    }
                    BlockKind::Other => Step::Other(len),
                    BlockKind::Invalid(reason) => Step::Corrupt(reason),
                },
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::NeedMoreData,
                Err(PcapError::BufferTooSmall) => Step::BlockTooLarge,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(e) => Step::Corrupt(corrupt_reason(&e)),
            };
            match step {
                Step::Other(len) => self.reader.consume(len),
                Step::Packet {
                    len,
                    start,
                    end,
                    ts,
                    link,
                    orig_len,
                } => {
                    let Some(data) = self.reader.data().get(start..end) else {
                        return Err(self.fail(state, "packet data outside its block".to_string()));
                    };
                    self.pending_consume = len;
                    return Ok(Some(state.emit(PacketBlock {
                        data,
                        ts,
                        link,
                        orig_len,
                    })));
                }
                Step::NeedMoreData => self.refill(state)?,
                Step::BlockTooLarge => {
                    self.grow(state, block_too_large())?;
                    self.refill(state)?;
                }
                Step::Truncated => return Err(state.truncated(self.reader.consumed())),
                Step::Corrupt(reason) => return Err(self.fail(state, reason)),
                Step::End => return state.end(),
            }
        }
    }

    /// Reads more of the file; an error if the buffer is full and cannot make progress.
    fn refill(&mut self, state: &mut ReaderState) -> Result<(), CaptureError> {
        let before = self.reader.data().len();
        if self.reader.refill().is_err() {
            return Err(self.fail(state, "read error".to_string()));
        }
        if self.reader.data().len() == before && !self.reader.reader_exhausted() {
            self.grow(state, "block does not fit the read buffer".to_string())?;
        }
        Ok(())
    }

    /// Doubles the buffer, up to `MAX_BLOCK_LEN`; beyond it, the error `reason`.
    fn grow(&mut self, state: &mut ReaderState, reason: String) -> Result<(), CaptureError> {
        let wanted = self.capacity.saturating_mul(2);
        if wanted > MAX_BLOCK_LEN || !self.reader.grow(wanted) {
            return Err(self.fail(state, reason));
        }
        self.capacity = wanted;
        Ok(())
    }

    fn fail(&self, state: &mut ReaderState, reason: String) -> CaptureError {
        state.fail(self.reader.consumed(), reason)
    }
}
