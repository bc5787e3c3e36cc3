//! The capture stage: frames read from a capture file or a NIC, batched for the decode stage.
//! A batch of a memory-mapped file copies nothing: it is a list of (offset, length,
//! timestamp) into the shared map, which lives while any batch holds it. Frames of other
//! sources are copied into the batch's buffer (one allocation per batch, reused). Replay
//! blocks when the pipeline is full (back-pressure, nothing lost); live capture drops and
//! counts instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use memmap2::Mmap;

use crate::capture::{CaptureError, FileReader, Frame, LinkType};
use crate::metrics::{Metrics, Stage};
use crate::Timestamp;

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum FrameSource {
    /// Replay a pcap/pcapng file, at most `rate` packets per second when given.
    Pcap { path: PathBuf, rate: Option<u32> },
    /// Live capture from an interface (build with `--features live`).
    Iface(String),
    /// Frames pushed by another component (X2/X3 ingest), read until every sender is gone;
    /// on a stop request the frames already queued are still read. Never dropped: a full
    /// pipeline makes the pushers wait.
    Channel(crossbeam_channel::Receiver<PushedFrame>),
}

/// A frame handed to a [`FrameSource::Channel`], owning its bytes.
#[derive(Clone, Debug)]
pub struct PushedFrame {
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: Vec<u8>,
}

/// One frame's place in a batch: a range of the shared map, or of the batch's own buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    pub ts: Timestamp,
    pub link: LinkType,
    pub orig_len: u32,
    start: usize,
    end: usize,
    /// `start..end` is in the shared map (else in `Batch::owned`).
    in_map: bool,
}

/// Consecutive frames of the capture.
#[derive(Debug)]
pub struct Batch {
    /// Capture index of the first frame (0-based, counting every frame read).
    pub first_index: u64,
    pub frames: Vec<FrameMeta>,
    /// The mapped capture file the frames borrow (None: every frame is in `owned`).
    map: Option<Arc<Mmap>>,
    /// Copies of frames that are not in the map.
    owned: Vec<u8>,
    /// Captured bytes of the batch's frames.
    captured: usize,
    /// When the capture stage read the batch's first frame (stage latencies start here).
    pub read_at: Instant,
    /// Where the buffers go when the last stage is done with the batch.
    recycle: Option<Sender<Buffers>>,
}

/// A batch's allocations, reused so the capture stage does not fault in fresh pages.
type Buffers = (Vec<FrameMeta>, Vec<u8>);

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = self.recycle.take() {
            let _ = pool.try_send((std::mem::take(&mut self.frames), std::mem::take(&mut self.owned)));
        }
    }
}

impl Batch {
    fn new(
        first_index: u64,
        limits: &BatchLimits,
        map: Option<&Arc<Mmap>>,
        pool: &(Sender<Buffers>, crossbeam_channel::Receiver<Buffers>),
    ) -> Batch {
        let (frames, owned) = match pool.1.try_recv() {
            Ok((mut frames, mut owned)) => {
                frames.clear();
                owned.clear();
                (frames, owned)
            }
            // A mapped file's batches copy nothing (a frame outside the map grows the buffer).
            Err(_) if map.is_some() => (Vec::with_capacity(limits.frames), Vec::new()),
            Err(_) => (Vec::with_capacity(limits.frames), Vec::with_capacity(limits.bytes + 64 * 1024)),
        };
        Batch {
            first_index,
            frames,
            map: map.cloned(),
            owned,
            captured: 0,
            read_at: Instant::now(),
            recycle: Some(pool.0.clone()),
        }
    }

    fn push(&mut self, frame: &Frame<'_>) {
        if self.frames.is_empty() {
            self.read_at = Instant::now();
        }
        self.captured += frame.data.len();
        let (ts, link, orig_len) = (frame.ts, frame.link, frame.orig_len);
        if let Some(range) = self.map.as_deref().and_then(|map| within(map, frame.data)) {
            self.frames.push(FrameMeta { ts, link, orig_len, start: range.start, end: range.end, in_map: true });
            return;
        }
        let start = self.owned.len();
        self.owned.extend_from_slice(frame.data);
        self.frames.push(FrameMeta { ts, link, orig_len, start, end: self.owned.len(), in_map: false });
    }

    /// The frame `meta` places in the batch.
    pub fn frame(&self, meta: &FrameMeta) -> Frame<'_> {
        let buffer = match (&self.map, meta.in_map) {
            (Some(map), true) => &map[..],
            _ => &self.owned[..],
        };
        Frame { ts: meta.ts, link: meta.link, data: buffer.get(meta.start..meta.end).unwrap_or_default(), orig_len: meta.orig_len }
    }

    /// The buffer most frames lie in: the shared map, else the batch's own copies. Later
    /// stages keep ranges of it instead of copying what they decode from a frame.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(map) => map,
            None => &self.owned,
        }
    }

    /// Captured bytes of the batch's frames.
    pub fn captured_bytes(&self) -> usize {
        self.captured
    }
}

/// The range `inner` occupies in `outer`, if it lies there.
pub(super) fn within(outer: &[u8], inner: &[u8]) -> Option<std::ops::Range<usize>> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    let end = start.checked_add(inner.len())?;
    (end <= outer.len()).then_some(start..end)
}

/// When the capture stage stops early: a stop request, or the encoding stage failed.
#[derive(Clone, Copy, Debug)]
pub struct Halt<'a> {
    pub stop: &'a AtomicBool,
    pub failed: &'a AtomicBool,
}

impl Halt<'_> {
    pub fn is_set(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed)
    }
}

/// Limits of a batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    pub frames: usize,
    pub bytes: usize,
    /// Live capture and paced replay: a partial batch waits at most this long.
    pub linger: Duration,
}

/// What the capture stage read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CaptureSummary {
    pub frames: u64,
    pub bytes: u64,
    /// Capture file errors (the rest of a damaged file is skipped).
    pub errors: Vec<String>,
    /// Live: frames dropped because the pipeline was full.
    pub dropped_pipeline_full: u64,
    /// Live: frames the kernel or the interface dropped.
    pub dropped_kernel: u64,
    #[serde(skip)]
    pub first: Option<Timestamp>,
    #[serde(skip)]
    pub last: Option<Timestamp>,
}

enum Reader {
    File { reader: FileReader, rate: Option<u32>, started: Instant },
    #[cfg(feature = "live")]
    Live(crate::capture::LiveCapture),
    Channel {
        rx: crossbeam_channel::Receiver<PushedFrame>,
        current: Option<PushedFrame>,
        /// After a stop request: frames still to read (those queued when it came).
        drain_left: Option<usize>,
        frames: u64,
        bytes: u64,
    },
}

/// Reads a source batch by batch.
pub struct BatchReader {
    reader: Reader,
    /// The mapped file the batches borrow, when the source is one.
    map: Option<Arc<Mmap>>,
    limits: BatchLimits,
    index: u64,
    summary: CaptureSummary,
    ended: bool,
    pool: (Sender<Buffers>, crossbeam_channel::Receiver<Buffers>),
    /// When capture loss was last logged (at most every [`LOSS_LOG_EVERY`]).
    loss_logged: Option<Instant>,
    /// Progress shown on stderr, when asked for.
    progress: Option<ReadProgress>,
}

/// The progress meter of a reader, the capture file it reads (for the percent) and the
/// captured bytes read so far.
#[derive(Debug)]
struct ReadProgress {
    meter: crate::progress::Meter,
    file: Option<crate::progress::CaptureFile>,
    bytes: u64,
}

/// How often ongoing capture loss is logged.
const LOSS_LOG_EVERY: Duration = Duration::from_secs(10);

impl BatchReader {
    pub fn open(source: &FrameSource, limits: BatchLimits) -> Result<BatchReader, CaptureError> {
        let reader = match source {
            FrameSource::Pcap { path, rate } => {
                Reader::File { reader: FileReader::open(path)?, rate: *rate, started: Instant::now() }
            }
            #[cfg(feature = "live")]
            FrameSource::Iface(name) => {
                Reader::Live(crate::capture::LiveCapture::open(&crate::capture::LiveConfig::new(name))?)
            }
            #[cfg(not(feature = "live"))]
            FrameSource::Iface(_) => return Err(CaptureError::LiveUnavailable),
            FrameSource::Channel(rx) => Reader::Channel { rx: rx.clone(), current: None, drain_left: None, frames: 0, bytes: 0 },
        };
        let map = match &reader {
            Reader::File { reader, .. } => reader.shared_map(),
            #[cfg(feature = "live")]
            Reader::Live(_) => None,
            Reader::Channel { .. } => None,
        };
        Ok(BatchReader {
            reader,
            map,
            limits,
            index: 0,
            summary: CaptureSummary::default(),
            ended: false,
            pool: crossbeam_channel::bounded(64),
            loss_logged: None,
            progress: None,
        })
    }

    /// Shows progress on stderr under the name `what` (see [`crate::progress`]): ticked as
    /// batches are read, ended by [`finish`](Self::finish) with the end line.
    pub fn with_progress(mut self, what: Option<&'static str>, source: &FrameSource) -> Self {
        self.progress = what.map(|what| {
            let file = match source {
                FrameSource::Pcap { path, .. } => crate::progress::CaptureFile::of(path),
                FrameSource::Iface(_) | FrameSource::Channel(_) => None,
            };
            ReadProgress { meter: crate::progress::Meter::start(what), file, bytes: 0 }
        });
        self
    }

    /// Live capture: a full pipeline drops batches rather than waiting.
    pub fn is_live(&self) -> bool {
        !matches!(self.reader, Reader::File { .. } | Reader::Channel { .. })
    }

    /// Live capture and paced replay hand on a partial batch after `linger`.
    fn is_deadlined(&self) -> bool {
        match &self.reader {
            Reader::File { rate, .. } => rate.is_some_and(|r| r > 0),
            #[cfg(feature = "live")]
            Reader::Live(_) => true,
            Reader::Channel { .. } => true,
        }
    }

    /// The next batch; None at the end of a file, or when `halt` is set.
    pub fn next_batch(&mut self, halt: &Halt<'_>) -> Result<Option<Batch>, CaptureError> {
        let mut batch = Batch::new(self.index, &self.limits, self.map.as_ref(), &self.pool);
        while !self.ended && !self.halted(halt) {
            let frame = match &mut self.reader {
                Reader::File { reader, rate, started } => {
                    let due = rate.filter(|r| *r > 0).map(|rate| {
                        *started + Duration::from_secs_f64((self.index + 1) as f64 / f64::from(rate))
                    });
                    // Paced: a partial batch is handed on when its deadline comes before the
                    // next frame is due, not held until full.
                    if let Some(due) = due {
                        if !batch.frames.is_empty() && due > batch.read_at + self.limits.linger {
                            break;
                        }
                    }
                    let frame = match reader.next_frame() {
                        Ok(Some(f)) => f,
                        Ok(None) => {
                            self.ended = true;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "capture error; skipping");
                            self.summary.errors.push(e.to_string());
                            continue;
                        }
                    };
                    if let Some(wait) = due.and_then(|due| due.checked_duration_since(Instant::now())) {
                        std::thread::sleep(wait);
                    }
                    Some(frame)
                }
                #[cfg(feature = "live")]
                Reader::Live(capture) => capture.next_frame()?,
                Reader::Channel { rx, current, frames, bytes, .. } => {
                    let wait = if batch.frames.is_empty() { self.limits.linger } else { Duration::ZERO };
                    *current = None;
                    match rx.recv_timeout(wait) {
                        Ok(f) => {
                            *frames += 1;
                            *bytes += f.data.len() as u64;
                            *current = Some(f);
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) if batch.frames.is_empty() => {}
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                            self.ended = true;
                            break;
                        }
                    }
                    current.as_ref().map(|f| Frame { ts: f.ts, link: f.link, data: &f.data, orig_len: f.data.len() as u32 })
                }
            };
            if let Some(frame) = frame {
                self.summary.first.get_or_insert(frame.ts);
                self.summary.last = Some(frame.ts);
                batch.push(&frame);
                self.index += 1;
            }
            let lingered = self.is_deadlined() && !batch.frames.is_empty() && batch.read_at.elapsed() >= self.limits.linger;
            if batch.frames.len() >= self.limits.frames || batch.captured_bytes() >= self.limits.bytes || lingered {
                break;
            }
        }
        if let Some(p) = &mut self.progress {
            p.bytes += batch.captured_bytes() as u64;
            let (packets, bytes, file) = (self.index, p.bytes, p.file);
            p.meter.tick(|| crate::progress::Sample { packets, fraction: file.map(|f| f.fraction(packets, bytes)) });
        }
        Ok((!batch.frames.is_empty()).then_some(batch))
    }

    /// Whether reading stops here: on failure at once; on a stop request at once, except
    /// that a pushed source first reads the frames queued when the request came.
    fn halted(&mut self, halt: &Halt<'_>) -> bool {
        if halt.failed.load(Ordering::Relaxed) {
            return true;
        }
        if !halt.stop.load(Ordering::Relaxed) {
            return false;
        }
        match &mut self.reader {
            Reader::Channel { rx, drain_left, .. } => {
                let left = drain_left.get_or_insert(rx.len());
                if *left == 0 {
                    return true;
                }
                *left -= 1;
                false
            }
            _ => true,
        }
    }

    /// Counts a live batch the pipeline had no room for.
    pub fn dropped(&mut self, batch: &Batch) {
        self.summary.dropped_pipeline_full += batch.frames.len() as u64;
        if self.loss_logged.is_none_or(|t| t.elapsed() >= LOSS_LOG_EVERY) {
            self.loss_logged = Some(Instant::now());
            tracing::warn!(dropped = self.summary.dropped_pipeline_full, "capture loss: pipeline full, frames dropped");
        }
    }

    /// What was read (and, live, dropped).
    pub fn finish(mut self) -> CaptureSummary {
        match &mut self.reader {
            Reader::File { reader, .. } => {
                let stats = reader.stats();
                self.summary.frames = stats.frames;
                self.summary.bytes = stats.bytes;
            }
            Reader::Channel { frames, bytes, .. } => {
                self.summary.frames = *frames;
                self.summary.bytes = *bytes;
            }
            #[cfg(feature = "live")]
            Reader::Live(capture) => {
                if let Ok(stats) = capture.stats() {
                    self.summary.frames = stats.frames;
                    self.summary.bytes = stats.bytes;
                    self.summary.dropped_kernel = stats.dropped + stats.if_dropped;
                }
            }
        }
        if let Some(p) = self.progress.take() {
            p.meter.finish(self.summary.frames);
        }
        self.summary
    }
}

/// The capture stage: reads batches onto `tx` until the source ends, `halt` is set or the
/// receiver is gone. Replay waits for room; live capture drops (counted) when full.
pub fn capture(
    mut reader: BatchReader,
    tx: &Sender<Batch>,
    halt: &Halt<'_>,
    metrics: &Metrics,
) -> Result<CaptureSummary, CaptureError> {
    while let Some(batch) = reader.next_batch(halt)? {
        if reader.is_live() {
            match tx.try_send(batch) {
                Ok(()) => {}
                Err(TrySendError::Full(b)) => {
                    metrics.add_drops(Stage::Decode, b.frames.len() as u64);
                    reader.dropped(&b);
                }
                Err(TrySendError::Disconnected(_)) => break,
            }
        } else if tx.send(batch).is_err() {
            break;
        }
    }
    let summary = reader.finish();
    metrics.add_drops(Stage::Capture, summary.dropped_kernel);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_replay_hands_on_partial_batches_at_their_deadline() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap");
        let limits = BatchLimits { frames: 512, bytes: 1 << 20, linger: Duration::from_millis(2) };
        let mut reader = BatchReader::open(&FrameSource::Pcap { path, rate: Some(2_000) }, limits).expect("open");
        let (stop, failed) = (AtomicBool::new(false), AtomicBool::new(false));
        let halt = Halt { stop: &stop, failed: &failed };
        for _ in 0..5 {
            let batch = reader.next_batch(&halt).expect("read").expect("a batch");
            // 2,000 packets/s: one every 0.5 ms, so a 2 ms deadline closes a batch at ~4-5
            // (more when a loaded machine falls behind schedule and catches up; never 512).
            assert!((1..100).contains(&batch.frames.len()), "{} frames in a paced batch", batch.frames.len());
            assert!(batch.frames.iter().all(|m| m.in_map), "a mapped file's frames are not copied");
        }
    }
}
