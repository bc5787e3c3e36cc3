//! Capture blocks parsed straight from the memory-mapped file with pcap-parser's slice
//! parsers: frames borrow the map, no read calls, copies or buffer refills.

use std::fs::File;
use std::sync::Arc;

use memmap2::{Advice, Mmap, UncheckedAdvice};

use super::blocks::{prefetch_ahead, Layout, Parsed};
use super::ReaderState;
use crate::capture::{CaptureError, Frame};

/// Every this many bytes read, the pages behind the reading point are dropped from the map,
/// so the resident size stays small (the page cache keeps them).
pub(super) const RELEASE_STEP: usize = 32 << 20;
/// Pages this close behind the reading point stay mapped: batches still in the pipeline
/// borrow them (a dropped page would be read again from the page cache: slower, not wrong).
pub(super) const RELEASE_TRAIL: usize = 64 << 20;
/// The page tables of the map are filled this far ahead of the reading point, a step at a
/// time (`MADV_POPULATE_READ`): one call per step instead of a page fault every few pages.
pub(super) const POPULATE_STEP: usize = 8 << 20;

/// The mapped file and the offset of its next block.
pub(super) struct MappedBlocks {
    /// Shared with the batches whose frames borrow it (see `FileReader::shared_map`).
    map: Arc<Mmap>,
    layout: Layout,
    offset: usize,
    /// Bytes at the start of the map already dropped with `release_read_pages`.
    released: usize,
    /// Bytes at the start of the map whose page tables `populate_ahead` filled.
    populated: usize,
}

impl MappedBlocks {
    /// Maps a regular, non-empty file for sequential reading; `None` when it is not one or
    /// the map fails, and the file is then read through a buffer.
    pub(super) fn map(file: &File) -> Option<Mmap> {
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() == 0 {
            return None;
        }
        // SAFETY: the map is only read. Its contents may change if another process writes
        // the file meanwhile (frames then see the new bytes, which every parser accepts as
        // arbitrary input); a truncation makes later reads fault, as the module doc says.
        let map = unsafe { Mmap::map(file) }.ok()?;
        // Read-ahead advice only: the reading is correct without it.
        let _ = map.advise(Advice::Sequential);
        Some(map)
    }

    /// Recognises the file's format from its header (the reason when it is not a capture).
    pub(super) fn new(map: Mmap) -> Result<MappedBlocks, &'static str> {
        let layout = Layout::detect(&map)?;
        Ok(MappedBlocks {
            map: Arc::new(map),
            layout,
            offset: 0,
            released: 0,
            populated: 0,
        })
    }

    /// The map the frames borrow.
    pub(super) fn shared(&self) -> Arc<Mmap> {
        Arc::clone(&self.map)
    }

    /// The next frame; see `FileReader::next_frame`.
    pub(super) fn next_frame(
        &mut self,
        state: &mut ReaderState,
    ) -> Result<Option<Frame<'_>>, CaptureError> {
        self.release_read_pages();
        self.populate_ahead();
        let file: &[u8] = &self.map;
        loop {
            let start = self.offset;
            let rest = match file.get(start..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => return state.end(),
            };
            prefetch_ahead(file, start);
            match self.layout.parse(rest, start, state)? {
                Parsed::Packet { len, packet } => {
                    self.offset = start + len;
                    return Ok(Some(state.emit(packet)));
                }
                Parsed::Other(len) => self.offset = start + len,
                // The whole file is mapped: a block going on past its end is cut short.
                Parsed::Incomplete => return Err(state.truncated(start)),
            }
        }
    }

    /// Keeps the page tables filled at least one [`POPULATE_STEP`] ahead of the next block:
    /// once the reading point enters the last populated step, the next step is populated.
    fn populate_ahead(&mut self) {
        let len = self.map.len();
        if self.populated >= len || self.offset + POPULATE_STEP <= self.populated {
            return;
        }
        let start = self.populated.max(self.offset);
        let step = POPULATE_STEP.min(len - start);
        // Prefaulting only: without it (old kernels) the reading faults the pages in itself.
        let _ = self.map.advise_range(Advice::PopulateRead, start, step);
        self.populated = start + step;
    }

    /// Drops the pages more than `RELEASE_TRAIL` bytes behind the next block from the map
    /// once `RELEASE_STEP` such bytes have accumulated.
    fn release_read_pages(&mut self) {
        let upto = self.offset.saturating_sub(RELEASE_TRAIL);
        let read = upto.saturating_sub(self.released);
        if read < RELEASE_STEP {
            return;
        }
        // SAFETY: the map is a shared read-only file mapping: MADV_DONTNEED only removes its
        // page table entries and a later access reads the same bytes from the page cache, so
        // a batch that still borrows these bytes through the shared map reads them unchanged.
        // The advice only trims the resident size: reading is correct if it fails.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, self.released, read)
        };
        self.released = upto;
    }
}
