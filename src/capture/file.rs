//! Replay of classic pcap and pcapng files: read in shared chunks (the default),
//! memory-mapped, or through pcap-parser's read buffer. Frames borrow the chunk or the map
//! (or the buffer, until the next call to `next_frame`).
//! Caveat of the map: a file truncated by another process while mapped faults (SIGBUS).

mod blocks;
mod buffered;
mod chunked;
mod mapped;

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_parser::pcap::LegacyPcapBlock;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};

use self::buffered::BufferedBlocks;
use self::chunked::{ChunkedBlocks, Step};
use self::mapped::MappedBlocks;
use super::source::{Backing, Behaviour, CaptureSource, Next, SourceStats};
use super::{CaptureError, CaptureStats, Frame, LinkType};
use crate::Timestamp;

/// A single block larger than this is treated as corruption (the read buffer's limit).
const MAX_BLOCK_LEN: usize = 64 << 20;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Timestamp and framing facts of one capture interface.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    units_per_sec: u64,
    /// `if_tsoffset`, seconds added to every timestamp.
    offset_secs: i64,
    snaplen: u32,
}

/// A packet located in a parsed block.
struct PacketBlock<'a> {
    data: &'a [u8],
    ts: Timestamp,
    link: LinkType,
    orig_len: u32,
}

/// What a parsed block turned out to be.
enum BlockKind<'a> {
    Packet(PacketBlock<'a>),
    /// Headers and blocks that carry no packet.
    Other,
    /// A block that cannot be used (reason for the error).
    Invalid(String),
}

/// Where the blocks come from.
enum Source {
    /// The whole file mapped into memory: frames borrow the map.
    Mapped(MappedBlocks),
    /// Read in large chunks that batches share: frames borrow the current chunk.
    Chunked(ChunkedBlocks),
    /// pcap-parser's streaming reader, for what cannot be mapped (pipes, empty files).
    Buffered(BufferedBlocks),
}

/// Reading state shared by both sources: interfaces, last timestamp, counters.
struct ReaderState {
    path: PathBuf,
    interfaces: Vec<Interface>,
    /// Timestamp of the last frame, used for pcapng simple packet blocks (which carry none).
    last_ts: Timestamp,
    finished: bool,
    stats: CaptureStats,
}

impl ReaderState {
    /// Counts a packet and turns it into the frame handed out.
    fn emit<'a>(&mut self, packet: PacketBlock<'a>) -> Frame<'a> {
        self.last_ts = packet.ts;
        self.stats.frames += 1;
        self.stats.bytes += packet.data.len() as u64;
        Frame {
            ts: packet.ts,
            link: packet.link,
            data: packet.data,
            orig_len: packet.orig_len,
        }
    }

    /// Ends the reading at the end of the file.
    fn end<'a>(&mut self) -> Result<Option<Frame<'a>>, CaptureError> {
        self.finished = true;
        Ok(None)
    }

    /// Ends the reading and builds the error naming the file and the byte offset of the block.
    fn fail(&mut self, offset: usize, reason: String) -> CaptureError {
        self.finished = true;
        CaptureError::Format {
            path: self.path.clone(),
            offset: offset as u64,
            reason,
        }
    }

    /// Counts and reports a record cut short by the end of the file.
    fn truncated(&mut self, offset: usize) -> CaptureError {
        self.stats.truncated_records += 1;
        self.fail(offset, "truncated record at end of file".to_string())
    }
}

/// Reader of a pcap or pcapng file (detected from the magic number).
pub struct FileReader {
    source: Source,
    state: ReaderState,
}

impl FileReader {
    /// Opens a capture file (or a pipe) and reads its file or section header. It is read
    /// with `read()` in large chunks that batches share (see `chunked`): measured cheaper
    /// than the memory map (`benches/capture.rs`), and a file truncated meanwhile by another
    /// process only ends the reading early.
    pub fn open(path: &Path) -> Result<FileReader, CaptureError> {
        let file = open_file(path)?;
        let source = Source::Chunked(ChunkedBlocks::new(file).map_err(|r| header_error(path, r))?);
        Ok(FileReader::with_source(path, source))
    }

    /// Opens a capture file memory-mapped when it is a regular, non-empty file (and read up
    /// to its length at this moment); anything else (a pipe, an empty file) or a file that
    /// cannot be mapped is read through a buffer.
    pub fn open_mapped(path: &Path) -> Result<FileReader, CaptureError> {
        let file = open_file(path)?;
        let source = match MappedBlocks::map(&file) {
            Some(map) => Source::Mapped(MappedBlocks::new(map).map_err(|r| header_error(path, r))?),
            None => Source::Buffered(BufferedBlocks::new(file).map_err(|r| header_error(path, r))?),
        };
        Ok(FileReader::with_source(path, source))
    }

    /// Opens a capture file for reading through a buffer, never mapping it: for a file that
    /// another process may truncate while it is read.
    pub fn open_buffered(path: &Path) -> Result<FileReader, CaptureError> {
        let file = open_file(path)?;
        let source =
            Source::Buffered(BufferedBlocks::new(file).map_err(|r| header_error(path, r))?);
        Ok(FileReader::with_source(path, source))
    }

    fn with_source(path: &Path, source: Source) -> FileReader {
        FileReader {
            source,
            state: ReaderState {
                path: path.to_path_buf(),
                interfaces: Vec::new(),
                last_ts: Timestamp::default(),
                finished: false,
                stats: CaptureStats::default(),
            },
        }
    }

    /// The next frame, `Ok(None)` at the end of the file. After an error the reader is at
    /// its end: the following call returns `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.state.finished {
            return Ok(None);
        }
        match &mut self.source {
            Source::Mapped(blocks) => blocks.next_frame(&mut self.state),
            Source::Chunked(blocks) => loop {
                match blocks.advance(&mut self.state)? {
                    Step::Packet(located) => return Ok(Some(blocks.frame(&located, &mut self.state))),
                    Step::NeedData => blocks.refill(&mut self.state)?,
                    Step::End => return self.state.end(),
                }
            },
            Source::Buffered(blocks) => blocks.next_frame(&mut self.state),
        }
    }

    /// The memory map the frames borrow, when the file is mapped: a batch may keep it (and
    /// the frames' offsets into it) instead of copying the frames. None when read through a
    /// buffer (frames then live only until the next call).
    pub fn shared_map(&self) -> Option<std::sync::Arc<memmap2::Mmap>> {
        match &self.source {
            Source::Mapped(blocks) => Some(blocks.shared()),
            Source::Chunked(_) | Source::Buffered(_) => None,
        }
    }

    /// Frames and bytes handed out so far.
    pub fn stats(&self) -> CaptureStats {
        self.state.stats
    }
}

/// Replay: waits for room in the pipeline, frames of a mapped file are shared, not copied.
impl CaptureSource for FileReader {
    fn next_frame(&mut self, _deadline: Option<std::time::Instant>) -> Result<Next<'_>, CaptureError> {
        let FileReader { source, state } = self;
        if state.finished {
            return Ok(Next::End);
        }
        let frame = match source {
            Source::Mapped(blocks) => blocks.next_frame(state)?,
            // A new chunk is a new backing: the batch borrowing the old one ends there.
            Source::Chunked(blocks) => {
                return Ok(match blocks.advance(state)? {
                    Step::Packet(located) => Next::Frame(blocks.frame(&located, state)),
                    Step::NeedData => {
                        blocks.refill(state)?;
                        Next::Boundary
                    }
                    Step::End => {
                        state.finished = true;
                        Next::End
                    }
                })
            }
            Source::Buffered(blocks) => blocks.next_frame(state)?,
        };
        Ok(frame.map_or(Next::End, Next::Frame))
    }

    fn backing(&self) -> Option<std::sync::Arc<dyn Backing>> {
        match &self.source {
            Source::Mapped(blocks) => Some(blocks.shared() as std::sync::Arc<dyn Backing>),
            Source::Chunked(blocks) => Some(blocks.shared() as std::sync::Arc<dyn Backing>),
            Source::Buffered(_) => None,
        }
    }

    fn behaviour(&self) -> Behaviour {
        Behaviour { live: false, deadlined: false }
    }

    fn stats(&mut self) -> SourceStats {
        let stats = self.state.stats;
        SourceStats { frames: stats.frames, bytes: stats.bytes, dropped_kernel: 0 }
    }
}

fn open_file(path: &Path) -> Result<File, CaptureError> {
    File::open(path).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The error of a file whose header cannot be read.
fn header_error(path: &Path, reason: &'static str) -> CaptureError {
    CaptureError::Format {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.to_string(),
    }
}

/// Why the file header could not be parsed, from pcap-parser's error.
fn header_reason<I>(error: &PcapError<I>) -> &'static str {
    match error {
        PcapError::Eof => "empty file",
        PcapError::Incomplete(_) | PcapError::UnexpectedEof => "file shorter than its header",
        PcapError::ReadError => "read error",
        _ => "not a pcap or pcapng file",
    }
}

/// Why a block is corrupt, from a pcap-parser error that is not about missing data.
fn corrupt_reason<I>(error: &PcapError<I>) -> String {
    match error {
        PcapError::ReadError => "read error".to_string(),
        PcapError::HeaderNotRecognized => "unrecognised header".to_string(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("invalid block ({kind:?})")
        }
        PcapError::Eof
        | PcapError::Incomplete(_)
        | PcapError::UnexpectedEof
        | PcapError::BufferTooSmall => "unexpected end of data".to_string(),
    }
}

/// The error of a block longer than `MAX_BLOCK_LEN`.
fn block_too_large() -> String {
    format!("block larger than {MAX_BLOCK_LEN} bytes")
}

/// Converts `units` at `units_per_sec` (plus an offset in seconds) to nanoseconds.
/// Microsecond and nanosecond units without an offset, the resolutions of nearly every
/// capture, take a multiplication instead of the 128-bit division of `to_timestamp_general`.
fn to_timestamp(units: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    if offset_secs == 0 {
        match units_per_sec {
            1_000_000_000 => return Timestamp(units),
            1_000_000 => return Timestamp(units.checked_mul(1_000).unwrap_or(u64::MAX)),
            _ => {}
        }
    }
    to_timestamp_general(units, units_per_sec, offset_secs)
}

/// `to_timestamp` for any resolution and offset, saturating at 0 and `u64::MAX`.
fn to_timestamp_general(units: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    let per_sec = u128::from(units_per_sec.max(1));
    let units = u128::from(units);
    let nanos = (units / per_sec) * NANOS_PER_SEC + (units % per_sec) * NANOS_PER_SEC / per_sec;
    let shifted = i128::try_from(nanos)
        .unwrap_or(i128::MAX)
        .saturating_add(i128::from(offset_secs) * NANOS_PER_SEC as i128);
    Timestamp(u64::try_from(shifted.max(0)).unwrap_or(u64::MAX))
}

/// Updates the interface table from header blocks and locates packet data.
fn classify<'a>(
    block: &PcapBlockOwned<'a>,
    interfaces: &mut Vec<Interface>,
    last_ts: Timestamp,
) -> BlockKind<'a> {
    match block {
        PcapBlockOwned::LegacyHeader(header) => {
            interfaces.clear();
            interfaces.push(Interface {
                link: LinkType::from_linktype(header.network.0 as u32),
                units_per_sec: if header.is_nanosecond_precision() {
                    1_000_000_000
                } else {
                    1_000_000
                },
                offset_secs: 0,
                snaplen: header.snaplen,
            });
            BlockKind::Other
        }
        PcapBlockOwned::Legacy(record) => match legacy_record(record, interfaces) {
            Ok(packet) => BlockKind::Packet(packet),
            Err(reason) => BlockKind::Invalid(reason),
        },
        PcapBlockOwned::NG(Block::SectionHeader(_)) => {
            interfaces.clear();
            BlockKind::Other
        }
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            let Some(units_per_sec) = idb.ts_resolution() else {
                return BlockKind::Invalid(format!("invalid if_tsresol {}", idb.if_tsresol));
            };
            interfaces.push(Interface {
                link: LinkType::from_linktype(idb.linktype.0 as u32),
                units_per_sec,
                offset_secs: idb.ts_offset(),
                snaplen: idb.snaplen,
            });
            BlockKind::Other
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            let Some(interface) = usize::try_from(epb.if_id)
                .ok()
                .and_then(|i| interfaces.get(i))
            else {
                return BlockKind::Invalid(format!("packet on undeclared interface {}", epb.if_id));
            };
            let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
            BlockKind::Packet(PacketBlock {
                data: leading(epb.data, epb.caplen),
                ts: to_timestamp(units, interface.units_per_sec, interface.offset_secs),
                link: interface.link,
                orig_len: epb.origlen,
            })
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(interface) = interfaces.first() else {
                return BlockKind::Invalid("simple packet before any interface".to_string());
            };
            let data = leading(spb.data, spb.origlen);
            let captured = match usize::try_from(interface.snaplen) {
                Ok(snaplen) if snaplen > 0 => data.get(..snaplen).unwrap_or(data),
                _ => data,
            };
            BlockKind::Packet(PacketBlock {
                data: captured,
                ts: last_ts,
                link: interface.link,
                orig_len: spb.origlen,
            })
        }
        PcapBlockOwned::NG(_) => BlockKind::Other,
    }
}

/// The packet of a classic pcap record, on the file header's interface.
fn legacy_record<'a>(record: &LegacyPcapBlock<'a>, interfaces: &[Interface]) -> Result<PacketBlock<'a>, String> {
    let Some(interface) = interfaces.first() else {
        return Err("record before file header".to_string());
    };
    let units = u64::from(record.ts_sec) * interface.units_per_sec + u64::from(record.ts_usec);
    Ok(PacketBlock {
        data: record.data,
        ts: to_timestamp(units, interface.units_per_sec, 0),
        link: interface.link,
        orig_len: record.origlen,
    })
}

/// The first `len` bytes of a block's padded data, all of it when shorter (pcap-parser's
/// `packet_data`, keeping the lifetime of the parsed input).
fn leading(data: &[u8], len: u32) -> &[u8] {
    usize::try_from(len)
        .ok()
        .and_then(|len| data.get(..len))
        .unwrap_or(data)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_chunked;
