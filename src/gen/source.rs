//! Frame sources and their time-ordered merge: each call is a source (prebuilt SIP frames plus
//! lazy media streams); a heap merges the active sources so memory stays bounded.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};

use super::media::MediaStream;
use super::pcap_writer::PcapWriter;
use super::scenario::ScenarioStats;
use crate::Timestamp;

/// What a frame carries, for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// Carries this many complete SIP messages (counted on the frame that ends them).
    Sip(u32),
    Rtp,
    Rtcp,
    /// TCP handshake or pure acknowledgement.
    TcpControl,
}

/// One frame with its capture time.
#[derive(Clone, Debug)]
pub struct Frame {
    pub ts: Timestamp,
    pub bytes: Vec<u8>,
    pub kind: FrameKind,
}

/// The frames of one call (or one MESSAGE exchange) in time order.
pub struct CallFrames {
    sip: VecDeque<Frame>,
    media: Vec<MediaStream>,
}

impl CallFrames {
    /// `sip` in any order (sorted here, stable); media streams expand lazily.
    pub fn new(mut sip: Vec<Frame>, media: Vec<MediaStream>) -> Self {
        sip.sort_by_key(|f| f.ts);
        CallFrames {
            sip: sip.into(),
            media,
        }
    }

    /// Time of the next frame; SIP wins ties, then media in stream order.
    pub fn peek_ts(&mut self) -> Option<Timestamp> {
        self.next_slot().map(|(ts, _)| ts)
    }

    pub fn pop(&mut self) -> Option<Frame> {
        match self.next_slot()? {
            (_, None) => self.sip.pop_front(),
            (_, Some(i)) => self.media.get_mut(i)?.pop(),
        }
    }

    fn next_slot(&mut self) -> Option<(Timestamp, Option<usize>)> {
        let mut best = self.sip.front().map(|f| (f.ts, None));
        for (i, stream) in self.media.iter_mut().enumerate() {
            if let Some(ts) = stream.peek_ts() {
                if best.is_none_or(|(b, _)| ts < b) {
                    best = Some((ts, Some(i)));
                }
            }
        }
        best
    }
}

/// Merges sources added over time; a source's frames must not precede the time it is added
/// at, and sources must be added in order of their first frame.
pub struct Merger {
    heap: BinaryHeap<Reverse<(Timestamp, u64, usize)>>,
    slots: Vec<Option<CallFrames>>,
    free: Vec<usize>,
    added: u64,
}

impl Merger {
    pub fn new() -> Self {
        Merger {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            added: 0,
        }
    }

    pub fn add(&mut self, mut source: CallFrames) {
        let Some(ts) = source.peek_ts() else { return };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(source);
                slot
            }
            None => {
                self.slots.push(Some(source));
                self.slots.len() - 1
            }
        };
        self.heap.push(Reverse((ts, self.added, slot)));
        self.added += 1;
    }

    /// Time of the earliest pending frame.
    pub fn peek_ts(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse((ts, _, _))| *ts)
    }

    pub fn pop(&mut self) -> Option<Frame> {
        let Reverse((_, order, slot)) = self.heap.pop()?;
        let source = self.slots.get_mut(slot)?.as_mut()?;
        let frame = source.pop();
        match source.peek_ts() {
            Some(ts) => self.heap.push(Reverse((ts, order, slot))),
            None => {
                self.slots[slot] = None;
                self.free.push(slot);
            }
        }
        frame
    }
}

/// Writes one frame to the pcap and counts it.
pub fn write_counted<W: Write>(
    pcap: &mut PcapWriter<W>,
    frame: &Frame,
    stats: &mut ScenarioStats,
) -> io::Result<()> {
    pcap.write_frame(frame.ts, &frame.bytes)?;
    stats.frames += 1;
    match frame.kind {
        FrameKind::Sip(n) => stats.sip_messages += u64::from(n),
        FrameKind::Rtp => stats.rtp_packets += 1,
        FrameKind::Rtcp => stats.rtcp_packets += 1,
        FrameKind::TcpControl => {}
    }
    Ok(())
}
