//! Replay of classic pcap and pcapng files through pcap-parser's streaming reader.
//! Frames borrow the reader's buffer; each call to `next_frame` consumes the previous block.

use std::fs::File;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::{CaptureError, CaptureStats, Frame, LinkType};
use crate::Timestamp;

/// Initial read buffer: 1 MiB measured fastest (CRATES.md).
const BUFFER_CAPACITY: usize = 1 << 20;
/// A single block larger than this is treated as corruption rather than buffered.
const MAX_BUFFER_CAPACITY: usize = 64 << 20;
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

/// What the last parsed block turned out to be, without borrowing the buffer.
enum BlockKind {
    /// A packet at `start..end` of the buffer's data.
    Packet {
        start: usize,
        end: usize,
        ts: Timestamp,
        link: LinkType,
        orig_len: u32,
    },
    /// Headers and blocks that carry no packet.
    Other,
    /// A block that cannot be used (reason for the error).
    Invalid(String),
}

/// Outcome of one `next()` call on the underlying reader.
enum Step {
    Block(usize, BlockKind),
    NeedMoreData,
    BlockTooLarge,
    Truncated,
    End,
    Corrupt(String),
}

/// Reader of a pcap or pcapng file (detected from the magic number).
pub struct FileReader {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    interfaces: Vec<Interface>,
    /// Bytes of the block handed out by the previous `next_frame`, consumed on the next call.
    pending_consume: usize,
    capacity: usize,
    /// Timestamp of the last frame, used for pcapng simple packet blocks (which carry none).
    last_ts: Timestamp,
    finished: bool,
    stats: CaptureStats,
}

impl FileReader {
    /// Opens a capture file and reads its file or section header.
    pub fn open(path: &Path) -> Result<FileReader, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = create_reader(BUFFER_CAPACITY, file).map_err(|e| CaptureError::Format {
            path: path.to_path_buf(),
            offset: 0,
            reason: match e {
                PcapError::Eof => "empty file".to_string(),
                PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    "file shorter than its header".to_string()
                }
                PcapError::ReadError => "read error".to_string(),
                _ => "not a pcap or pcapng file".to_string(),
            },
        })?;
        Ok(FileReader {
            path: path.to_path_buf(),
            reader,
            interfaces: Vec::new(),
            pending_consume: 0,
            capacity: BUFFER_CAPACITY,
            last_ts: Timestamp::default(),
            finished: false,
            stats: CaptureStats::default(),
        })
    }

    /// The next frame, `Ok(None)` at the end of the file. After an error the reader is at
    /// its end: the following call returns `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.pending_consume > 0 {
            self.reader.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        if self.finished {
            return Ok(None);
        }
        loop {
            let base = self.reader.data().as_ptr() as usize;
            let step = match self.reader.next() {
                Ok((len, block)) => Step::Block(
                    len,
                    classify(&block, base, &mut self.interfaces, self.last_ts),
                ),
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::NeedMoreData,
                Err(PcapError::BufferTooSmall) => Step::BlockTooLarge,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => Step::Corrupt("read error".to_string()),
                Err(PcapError::HeaderNotRecognized) => {
                    Step::Corrupt("unrecognised header".to_string())
                }
                Err(PcapError::NomError(_, kind)) => {
                    Step::Corrupt(format!("invalid block ({kind:?})"))
                }
                Err(PcapError::OwnedNomError(_, kind)) => {
                    Step::Corrupt(format!("invalid block ({kind:?})"))
                }
            };
            match step {
                Step::Block(len, BlockKind::Other) => self.reader.consume(len),
                Step::Block(_, BlockKind::Invalid(reason)) => {
                    return Err(self.fail(reason));
                }
                Step::Block(
                    len,
                    BlockKind::Packet {
                        start,
                        end,
                        ts,
                        link,
                        orig_len,
                    },
                ) => {
                    if self.reader.data().get(start..end).is_none() {
                        return Err(self.fail("packet data outside its block".to_string()));
                    }
                    self.pending_consume = len;
                    self.last_ts = ts;
                    self.stats.frames += 1;
                    self.stats.bytes += (end - start) as u64;
                    let data = self.reader.data().get(start..end).unwrap_or_default();
                    return Ok(Some(Frame {
                        ts,
                        link,
                        data,
                        orig_len,
                    }));
                }
                Step::NeedMoreData => self.refill()?,
                Step::BlockTooLarge => {
                    let wanted = self.capacity.saturating_mul(2);
                    if wanted > MAX_BUFFER_CAPACITY || !self.reader.grow(wanted) {
                        return Err(
                            self.fail(format!("block larger than {} bytes", MAX_BUFFER_CAPACITY))
                        );
                    }
                    self.capacity = wanted;
                    self.refill()?;
                }
                Step::Truncated => {
                    self.stats.truncated_records += 1;
                    return Err(self.fail("truncated record at end of file".to_string()));
                }
                Step::Corrupt(reason) => return Err(self.fail(reason)),
                Step::End => {
                    self.finished = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Frames and bytes handed out so far.
    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// Reads more of the file; an error if the buffer is full and cannot make progress.
    fn refill(&mut self) -> Result<(), CaptureError> {
        let before = self.reader.data().len();
        if self.reader.refill().is_err() {
            return Err(self.fail("read error".to_string()));
        }
        if self.reader.data().len() == before && !self.reader.reader_exhausted() {
            let wanted = self.capacity.saturating_mul(2);
            if wanted > MAX_BUFFER_CAPACITY || !self.reader.grow(wanted) {
                return Err(self.fail("block does not fit the read buffer".to_string()));
            }
            self.capacity = wanted;
        }
        Ok(())
    }

    /// Ends the reading and builds the error naming the file and byte offset.
    fn fail(&mut self, reason: String) -> CaptureError {
        self.finished = true;
        CaptureError::Format {
            path: self.path.clone(),
            offset: self.reader.consumed() as u64,
            reason,
        }
    }
}

/// Converts `units` at `units_per_sec` (plus an offset in seconds) to nanoseconds.
fn to_timestamp(units: u64, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    let per_sec = u128::from(units_per_sec.max(1));
    let units = u128::from(units);
    let nanos = (units / per_sec) * NANOS_PER_SEC + (units % per_sec) * NANOS_PER_SEC / per_sec;
    let shifted = i128::try_from(nanos)
        .unwrap_or(i128::MAX)
        .saturating_add(i128::from(offset_secs) * NANOS_PER_SEC as i128);
    Timestamp(u64::try_from(shifted.max(0)).unwrap_or(u64::MAX))
}

/// Byte range of `inner` within the buffer whose data starts at address `base`.
fn range_in(inner: &[u8], base: usize) -> (usize, usize) {
    let start = (inner.as_ptr() as usize).wrapping_sub(base);
    (start, start.wrapping_add(inner.len()))
}

/// Updates the interface table from header blocks and locates packet data.
fn classify(
    block: &PcapBlockOwned<'_>,
    base: usize,
    interfaces: &mut Vec<Interface>,
    last_ts: Timestamp,
) -> BlockKind {
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
        PcapBlockOwned::Legacy(record) => {
            let Some(interface) = interfaces.first() else {
                return BlockKind::Invalid("record before file header".to_string());
            };
            let units =
                u64::from(record.ts_sec) * interface.units_per_sec + u64::from(record.ts_usec);
            let (start, end) = range_in(record.data, base);
            BlockKind::Packet {
                start,
                end,
                ts: to_timestamp(units, interface.units_per_sec, 0),
                link: interface.link,
                orig_len: record.origlen,
            }
        }
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
            let (start, end) = range_in(epb.packet_data(), base);
            BlockKind::Packet {
                start,
                end,
                ts: to_timestamp(units, interface.units_per_sec, interface.offset_secs),
                link: interface.link,
                orig_len: epb.origlen,
            }
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            let Some(interface) = interfaces.first() else {
                return BlockKind::Invalid("simple packet before any interface".to_string());
            };
            let data = spb.packet_data();
            let captured = match usize::try_from(interface.snaplen) {
                Ok(snaplen) if snaplen > 0 => data.get(..snaplen).unwrap_or(data),
                _ => data,
            };
            let (start, end) = range_in(captured, base);
            BlockKind::Packet {
                start,
                end,
                ts: last_ts,
                link: interface.link,
                orig_len: spb.origlen,
            }
        }
        PcapBlockOwned::NG(_) => BlockKind::Other,
    }
}

#[cfg(test)]
mod tests;
