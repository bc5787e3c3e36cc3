//! One block of a capture parsed from a byte slice with pcap-parser's slice parsers: the
//! format recognised from the file's first bytes, then each block classified. Shared by the
//! readers whose bytes lie in memory they own (the mapped file, the chunks read into).

use pcap_parser::nom::{self, IResult};
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, PcapHeader,
};
use pcap_parser::pcapng::{parse_block_be, parse_block_le, parse_sectionheaderblock, Block};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{
    block_too_large, classify, corrupt_reason, header_reason, legacy_record, BlockKind, PacketBlock,
    ReaderState, MAX_BLOCK_LEN,
};
use crate::capture::CaptureError;

/// How far ahead of the next block its bytes are prefetched into the cache: the walk is
/// bound by the first touch of each record, which the hardware prefetcher does not hide.
const PREFETCH_AHEAD: usize = 2048;
/// Cache lines prefetched per block read (blocks of RTP are about 230 bytes).
const PREFETCH_LINES: usize = 4;

/// Hints the CPU to load the blocks a little after the one at `offset` of `bytes`.
#[inline]
pub(super) fn prefetch_ahead(bytes: &[u8], offset: usize) {
    crate::capture::prefetch::prefetch(bytes, offset + PREFETCH_AHEAD, PREFETCH_LINES);
}

type RecordParser = fn(&[u8]) -> IResult<&[u8], LegacyPcapBlock<'_>, PcapError<&[u8]>>;

/// The file's format, with what parsing its next block needs.
pub(super) enum Layout {
    /// Classic pcap: the header (handed out as the first block), then records.
    Legacy {
        header: PcapHeader,
        parse_record: RecordParser,
    },
    /// pcapng: byte order of the current section.
    Ng { big_endian: bool },
}

/// What the bytes at the reading point hold.
pub(super) enum Parsed<'a> {
    /// A packet, in a block of `len` bytes.
    Packet { len: usize, packet: PacketBlock<'a> },
    /// A block of `len` bytes that carries no packet.
    Other(usize),
    /// The block goes on past the end of the bytes given.
    Incomplete,
}

impl Layout {
    /// Recognises the file header as pcap-parser's `create_reader` does: a pcapng section
    /// header first, else a classic pcap header (the reason when it is neither).
    pub(super) fn detect(head: &[u8]) -> Result<Layout, &'static str> {
        if head.is_empty() {
            return Err(header_reason(&PcapError::<()>::Eof));
        }
        if parse_sectionheaderblock(head).is_ok() {
            return Ok(Layout::Ng { big_endian: false });
        }
        let header = match parse_pcap_header(head) {
            Ok((_, header)) => header,
            Err(nom::Err::Incomplete(_)) => return Err(header_reason(&PcapError::<()>::UnexpectedEof)),
            Err(_) => return Err(header_reason(&PcapError::<()>::HeaderNotRecognized)),
        };
        let parse_record: RecordParser = if header.is_modified_format() {
            parse_pcap_frame_modified
        } else if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        Ok(Layout::Legacy { header, parse_record })
    }

    /// Parses the block `rest` starts with, at byte `offset` of the file (0: the file
    /// header of a classic pcap), updating the interfaces and the section's byte order.
    pub(super) fn parse<'a>(
        &mut self,
        rest: &'a [u8],
        offset: usize,
        state: &mut ReaderState,
    ) -> Result<Parsed<'a>, CaptureError> {
        let parsed = match &*self {
            Layout::Legacy { header, .. } if offset == 0 => {
                Ok((rest.get(header.size()..).unwrap_or_default(), PcapBlockOwned::from(header.clone())))
            }
            // A record is a packet: straight to the frame, no block to classify.
            Layout::Legacy { parse_record, .. } => {
                let (next, record) = match parse_record(rest) {
                    Ok(parsed) => parsed,
                    Err(e) => return incomplete_or_fail(state, offset, e),
                };
                let len = checked_len(state, offset, rest, next)?;
                let packet = legacy_record(&record, &state.interfaces).map_err(|r| state.fail(offset, r))?;
                return Ok(Parsed::Packet { len, packet });
            }
            Layout::Ng { big_endian: false } => parse_block_le(rest).map(|(next, block)| (next, PcapBlockOwned::from(block))),
            Layout::Ng { big_endian: true } => parse_block_be(rest).map(|(next, block)| (next, PcapBlockOwned::from(block))),
        };
        let (next, block) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => return incomplete_or_fail(state, offset, e),
        };
        let len = checked_len(state, offset, rest, next)?;
        if let (PcapBlockOwned::NG(Block::SectionHeader(shb)), Layout::Ng { big_endian }) = (&block, &mut *self) {
            *big_endian = shb.big_endian();
        }
        match classify(&block, &mut state.interfaces, state.last_ts) {
            BlockKind::Packet(packet) => Ok(Parsed::Packet { len, packet }),
            BlockKind::Other => Ok(Parsed::Other(len)),
            BlockKind::Invalid(reason) => Err(state.fail(offset, reason)),
        }
    }
}

/// A parse error at `offset`: more bytes needed, or the reason the block is corrupt.
fn incomplete_or_fail<'a>(
    state: &mut ReaderState,
    offset: usize,
    error: nom::Err<PcapError<&[u8]>>,
) -> Result<Parsed<'a>, CaptureError> {
    match error {
        nom::Err::Incomplete(_) => Ok(Parsed::Incomplete),
        nom::Err::Error(e) | nom::Err::Failure(e) => Err(state.fail(offset, corrupt_reason(&e))),
    }
}

/// The length of the block parsed from `rest` (with `next` left), at most `MAX_BLOCK_LEN`.
fn checked_len(state: &mut ReaderState, offset: usize, rest: &[u8], next: &[u8]) -> Result<usize, CaptureError> {
    let len = rest.len() - next.len();
    if len > MAX_BLOCK_LEN {
        return Err(state.fail(offset, block_too_large()));
    }
    Ok(len)
}
