//! Capture blocks read with `read()` into large chunks that batches share: the copy out of
//! the page cache costs less than filling and dropping a map's page tables, and leaves the
//! bytes in the CPU cache for the parse and the decoder. A chunk goes back to the reader's
//! pool when the last batch borrowing it is done. A block cut by the end of a chunk is
//! moved to the start of the next one (a chunk grows for a block larger than itself).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::blocks::{prefetch_ahead, Layout, Parsed};
use super::{block_too_large, PacketBlock, ReaderState, MAX_BLOCK_LEN};
use crate::capture::source::{within, Backing};
use crate::capture::{CaptureError, Frame, LinkType};
use crate::Timestamp;

/// Bytes read per chunk: large enough that batches seldom end at a chunk's end, small
/// enough that a chunk stays in the core's L2 cache from the copy to the parse (measured
/// against 128 KiB and 2 MiB on the replay of a 1.38 GB capture: least CPU).
pub(super) const CHUNK_LEN: usize = 512 << 10;
/// Chunks kept for reuse; more in flight are allocated and freed.
const POOL_CHUNKS: usize = 64;

/// Bytes read from the file, shared by the batches whose frames lie in them.
pub(super) struct Chunk {
    bytes: Vec<u8>,
    /// Bytes of `bytes` filled from the file.
    len: usize,
    pool: Sender<Vec<u8>>,
}

impl Backing for Chunk {
    fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let _ = self.pool.try_send(std::mem::take(&mut self.bytes));
    }
}

/// A packet found in the current chunk, by place (so the reader may refill meanwhile).
pub(super) struct Located {
    start: usize,
    end: usize,
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
}

/// What the reading point holds.
pub(super) enum Step {
    Packet(Located),
    /// The next block goes on past the chunk: [`ChunkedBlocks::refill`] reads on.
    NeedData,
    End,
}

/// The file, its current chunk and the reading point in it.
pub(super) struct ChunkedBlocks {
    file: File,
    chunk: Arc<Chunk>,
    /// File offset of the chunk's first byte.
    base: usize,
    /// Offset of the next block in the chunk.
    offset: usize,
    /// The file has no more bytes.
    eof: bool,
    layout: Layout,
    pool: (Sender<Vec<u8>>, Receiver<Vec<u8>>),
}

impl ChunkedBlocks {
    /// Reads the first chunk and recognises the file's format (the reason when it cannot).
    pub(super) fn new(file: File) -> Result<ChunkedBlocks, &'static str> {
        let pool = crossbeam_channel::bounded(POOL_CHUNKS);
        let empty = Arc::new(Chunk { bytes: Vec::new(), len: 0, pool: pool.0.clone() });
        let mut blocks = ChunkedBlocks {
            file,
            chunk: empty,
            base: 0,
            offset: 0,
            eof: false,
            layout: Layout::Ng { big_endian: false },
            pool,
        };
        blocks.read_chunk(CHUNK_LEN).map_err(|_| "read error")?;
        blocks.layout = Layout::detect(blocks.chunk.bytes())?;
        Ok(blocks)
    }

    /// The chunk the next frames lie in.
    pub(super) fn shared(&self) -> Arc<Chunk> {
        Arc::clone(&self.chunk)
    }

    /// Finds the next packet in the current chunk, skipping blocks that carry none.
    pub(super) fn advance(&mut self, state: &mut ReaderState) -> Result<Step, CaptureError> {
        let chunk: &[u8] = self.chunk.bytes();
        loop {
            let start = self.offset;
            let rest = chunk.get(start..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(if self.eof { Step::End } else { Step::NeedData });
            }
            prefetch_ahead(chunk, start);
            match self.layout.parse(rest, self.base + start, state)? {
                Parsed::Packet { len, packet } => {
                    let Some(range) = within(chunk, packet.data) else {
                        return Err(state.fail(self.base + start, "packet data outside its block".to_string()));
                    };
                    self.offset = start + len;
                    let located = Located { start: range.start, end: range.end, ts: packet.ts, link: packet.link, orig_len: packet.orig_len };
                    return Ok(Step::Packet(located));
                }
                Parsed::Other(len) => self.offset = start + len,
                Parsed::Incomplete if self.eof => return Err(state.truncated(self.base + start)),
                Parsed::Incomplete => return Ok(Step::NeedData),
            }
        }
    }

    /// The frame of a packet [`advance`](Self::advance) found, counted.
    pub(super) fn frame<'a>(&'a self, located: &Located, state: &mut ReaderState) -> Frame<'a> {
        let data = self.chunk.bytes().get(located.start..located.end).unwrap_or_default();
        state.emit(PacketBlock { data, ts: located.ts, link: located.link, orig_len: located.orig_len })
    }

    /// Starts a new chunk with the unread rest of the current one and reads on from the file.
    pub(super) fn refill(&mut self, state: &mut ReaderState) -> Result<(), CaptureError> {
        let rest = self.chunk.len - self.offset.min(self.chunk.len);
        if rest > MAX_BLOCK_LEN {
            return Err(state.fail(self.base + self.offset, block_too_large()));
        }
        // A block larger than a chunk: the next one is twice the rest, so reading progresses.
        let len = CHUNK_LEN.max(rest.saturating_mul(2));
        self.read_chunk(len).map_err(|_| state.fail(self.base + self.chunk.len, "read error".to_string()))
    }

    /// Replaces the chunk with one of `len` bytes: the unread rest, then as much of the file
    /// as fits (fewer bytes only at its end).
    fn read_chunk(&mut self, len: usize) -> std::io::Result<()> {
        let mut bytes = match self.pool.1.try_recv() {
            Ok(bytes) if bytes.len() >= len => bytes,
            _ => vec![0; len],
        };
        let consumed = self.offset.min(self.chunk.len);
        let old = self.chunk.bytes().get(consumed..).unwrap_or_default();
        let mut filled = old.len();
        if let Some(head) = bytes.get_mut(..filled) {
            head.copy_from_slice(old);
        }
        while let Some(free) = bytes.get_mut(filled..).filter(|free| !free.is_empty()) {
            match self.file.read(free) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.base += consumed;
        self.offset = 0;
        self.chunk = Arc::new(Chunk { bytes, len: filled, pool: self.pool.0.clone() });
        Ok(())
    }
}
