//! The capture stage: frames read from any [`CaptureSource`], batched for the decode
//! stage. A batch of a source that shares its memory (a memory-mapped file, an AF_PACKET
//! ring block) copies nothing: it is a list of (offset, length, timestamp) into that
//! memory, which lives (and a ring block stays out of the kernel's hands) while any batch
//! holds it. Frames of other sources are copied into the batch's buffer (one allocation per
//! batch, reused). When the pipeline is full, every source waits: replay and pushed frames
//! by back-pressure (nothing lost), live capture while its kernel buffer (libpcap's, or the
//! AF_PACKET ring's free blocks) holds the traffic and counts what it must drop, until a
//! stop request drops (and counts) the waiting batch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::capture::{
    open_live, Backing, Behaviour, CaptureError, CaptureSource, FileReader, Frame, LinkType, LiveConfig, Next, Paced,
    Pushed, Rate, Span,
};
pub use crate::capture::PushedFrame;
use crate::metrics::{Metrics, Stage};
use crate::Timestamp;

/// Where packets come from.
#[derive(Clone, Debug)]
pub enum FrameSource {
    /// Replay a pcap/pcapng file; paced at `rate` when given (each frame released at its
    /// scheduled time), else as fast as the pipeline takes it.
    Pcap { path: PathBuf, rate: Option<Rate> },
    /// Live capture from an interface (build with `--features live`).
    Iface(LiveConfig),
    /// Frames pushed by another component (X2/X3 ingest), read until every sender is gone;
    /// on a stop request the frames already queued are still read. Never dropped: a full
    /// pipeline makes the pushers wait. The feed's barriers and XID gate are the run's to
    /// serve (see `x2x3::confirm`); the pipeline only reads the frames.
    Channel(crate::x2x3::Feed),
}

impl FrameSource {
    /// Opens the source: the one table that knows every kind.
    fn open(&self, limits: &BatchLimits) -> Result<Box<dyn CaptureSource>, CaptureError> {
        Ok(match self {
            FrameSource::Pcap { path, rate: Some(rate) } => Box::new(Paced::new(FileReader::open(path)?, *rate)),
            FrameSource::Pcap { path, .. } => Box::new(FileReader::open(path)?),
            FrameSource::Iface(config) => open_live(config)?,
            FrameSource::Channel(feed) => Box::new(Pushed::new(feed.frames.clone(), limits.linger)),
        })
    }
}

/// One frame's place in a batch: a range of the shared map, or of the batch's own buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    pub ts: Timestamp,
    pub link: LinkType,
    pub orig_len: u32,
    start: usize,
    end: usize,
    /// `start..end` is in the shared backing (else in `Batch::owned`).
    in_map: bool,
}

impl FrameMeta {
    /// Whether the frame lies in the source's shared memory (a mapped file, a ring block)
    /// rather than in a copy.
    pub fn is_borrowed(&self) -> bool {
        self.in_map
    }
}

/// Consecutive frames of the capture.
#[derive(Debug)]
pub struct Batch {
    /// Capture index of the first frame (0-based, counting every frame read).
    pub first_index: u64,
    pub frames: Vec<FrameMeta>,
    /// The memory the frames borrow (None: every frame is in `owned`).
    backing: Option<Arc<dyn Backing>>,
    /// Where `backing`'s bytes lie, looked up once per batch rather than per frame.
    span: Option<Span>,
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
        backing: Option<Arc<dyn Backing>>,
        pool: &(Sender<Buffers>, crossbeam_channel::Receiver<Buffers>),
    ) -> Batch {
        let (frames, owned) = match pool.1.try_recv() {
            Ok((mut frames, mut owned)) => {
                frames.clear();
                owned.clear();
                (frames, owned)
            }
            // Shared memory's batches copy nothing (a frame outside it grows the buffer).
            Err(_) if backing.is_some() => (Vec::with_capacity(limits.frames), Vec::new()),
            Err(_) => (Vec::with_capacity(limits.frames), Vec::with_capacity(limits.bytes + 64 * 1024)),
        };
        Batch {
            first_index,
            frames,
            span: backing.as_deref().map(|backing| Span::of(backing.bytes())),
            backing,
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
        if let Some(range) = self.span.and_then(|span| span.locate(frame.data)) {
            self.frames.push(FrameMeta { ts, link, orig_len, start: range.start, end: range.end, in_map: true });
            return;
        }
        let start = self.owned.len();
        self.owned.extend_from_slice(frame.data);
        self.frames.push(FrameMeta { ts, link, orig_len, start, end: self.owned.len(), in_map: false });
    }

    /// The frame `meta` places in the batch.
    pub fn frame(&self, meta: &FrameMeta) -> Frame<'_> {
        self.view().frame(meta)
    }

    /// The batch's frames with their buffers looked up once, for a stage's per-frame loop.
    pub fn view(&self) -> FramesView<'_> {
        let shared = self.backing.as_deref().map_or(&[][..], |backing| backing.bytes());
        FramesView { metas: &self.frames, shared, owned: &self.owned }
    }

    /// The buffer most frames lie in: the shared backing, else the batch's own copies.
    /// Later stages keep ranges of it instead of copying what they decode from a frame.
    pub fn bytes(&self) -> &[u8] {
        match &self.backing {
            Some(backing) => backing.bytes(),
            None => &self.owned,
        }
    }

    /// An empty batch takes the source's new backing.
    fn rebase(&mut self, backing: Option<Arc<dyn Backing>>) {
        debug_assert!(self.frames.is_empty() && self.owned.is_empty());
        self.span = backing.as_deref().map(|backing| Span::of(backing.bytes()));
        self.backing = backing;
    }

    /// Captured bytes of the batch's frames.
    pub fn captured_bytes(&self) -> usize {
        self.captured
    }
}

pub(super) use crate::capture::within;

/// A batch's frames and the buffers they lie in (see [`Batch::view`]).
#[derive(Clone, Copy, Debug)]
pub struct FramesView<'a> {
    metas: &'a [FrameMeta],
    shared: &'a [u8],
    owned: &'a [u8],
}

impl<'a> FramesView<'a> {
    /// The frame `meta` places in the batch.
    #[inline]
    pub fn frame(&self, meta: &FrameMeta) -> Frame<'a> {
        let buffer = self.buffer_of(meta);
        Frame { ts: meta.ts, link: meta.link, data: buffer.get(meta.start..meta.end).unwrap_or_default(), orig_len: meta.orig_len }
    }

    /// Hints the CPU to load the headers of the frame `ahead` frames after `k` (decoding
    /// reads them first), so they are in the cache when its turn comes.
    #[inline]
    pub fn prefetch_ahead(&self, k: usize) {
        const AHEAD: usize = 4;
        if let Some(meta) = self.metas.get(k + AHEAD) {
            // Link, IP and transport headers and the payload's start: two cache lines.
            crate::capture::prefetch::prefetch(self.buffer_of(meta), meta.start, 2);
        }
    }

    /// The buffer frame `meta` lies in.
    #[inline]
    fn buffer_of(&self, meta: &FrameMeta) -> &'a [u8] {
        if meta.in_map {
            self.shared
        } else {
            self.owned
        }
    }
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

impl BatchLimits {
    /// Whether `batch` was closed by a limit (frames or bytes) rather than by its deadline,
    /// an idle source or the end.
    pub fn filled_by(&self, batch: &Batch) -> bool {
        batch.frames.len() >= self.frames || batch.captured_bytes() >= self.bytes
    }
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

/// Reads a source batch by batch.
pub struct BatchReader {
    source: Box<dyn CaptureSource>,
    behaviour: Behaviour,
    limits: BatchLimits,
    index: u64,
    summary: CaptureSummary,
    /// Kernel drops already added to the metrics.
    drops_counted: u64,
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
        let source = source.open(&limits)?;
        Ok(BatchReader {
            behaviour: source.behaviour(),
            source,
            limits,
            index: 0,
            summary: CaptureSummary::default(),
            drops_counted: 0,
            ended: false,
            pool: crossbeam_channel::bounded(64),
            loss_logged: None,
            progress: None,
        })
    }

    /// The limits batches are read with.
    pub fn limits(&self) -> &BatchLimits {
        &self.limits
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

    /// The next batch; None at the end of a file, or when `halt` is set.
    pub fn next_batch(&mut self, halt: &Halt<'_>) -> Result<Option<Batch>, CaptureError> {
        let mut batch = Batch::new(self.index, &self.limits, self.source.backing(), &self.pool);
        while !self.ended && !self.halted(halt) {
            let deadline =
                (self.behaviour.deadlined && !batch.frames.is_empty()).then(|| batch.read_at + self.limits.linger);
            match self.source.next_frame(deadline) {
                Ok(Next::Frame(frame)) => {
                    self.summary.first.get_or_insert(frame.ts);
                    self.summary.last = Some(frame.ts);
                    batch.push(&frame);
                    self.index += 1;
                }
                Ok(Next::Idle) => {}
                Ok(Next::Boundary) if batch.frames.is_empty() => batch.rebase(self.source.backing()),
                Ok(Next::Boundary) => break,
                Ok(Next::End) => {
                    self.ended = true;
                    break;
                }
                // A live capture error ends the run; a damaged file is skipped from there.
                Err(e) if self.behaviour.live => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "capture error; skipping");
                    self.summary.errors.push(e.to_string());
                    continue;
                }
            }
            let lingered = deadline.is_some_and(|deadline| Instant::now() >= deadline);
            if self.limits.filled_by(&batch) || lingered {
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

    /// Whether reading stops here: on failure at once; on a stop request when the source
    /// says so (a pushed source first reads the frames queued when the request came).
    fn halted(&mut self, halt: &Halt<'_>) -> bool {
        if halt.failed.load(Ordering::Relaxed) {
            return true;
        }
        halt.stop.load(Ordering::Relaxed) && self.source.stop_now()
    }

    /// Counts a live batch the pipeline had no room for.
    pub fn dropped(&mut self, batch: &Batch) {
        self.summary.dropped_pipeline_full += batch.frames.len() as u64;
        self.log_loss("capture loss: pipeline full, frames dropped");
    }

    /// Adds the kernel's drops since the last call to the capture-loss metric.
    fn count_kernel_drops(&mut self, metrics: &Metrics) {
        let stats = self.source.stats();
        self.summary.dropped_kernel = stats.dropped_kernel;
        let new = stats.dropped_kernel.saturating_sub(self.drops_counted);
        metrics.add_drops(Stage::Capture, new);
        self.drops_counted = self.drops_counted.max(stats.dropped_kernel);
        if new > 0 {
            self.log_loss("capture loss: frames dropped by the kernel");
        }
    }

    /// Logs ongoing capture loss at WARN, at most every [`LOSS_LOG_EVERY`].
    fn log_loss(&mut self, what: &'static str) {
        if self.loss_logged.is_none_or(|t| t.elapsed() >= LOSS_LOG_EVERY) {
            self.loss_logged = Some(Instant::now());
            let (kernel, pipeline) = (self.summary.dropped_kernel, self.summary.dropped_pipeline_full);
            tracing::warn!(dropped_kernel = kernel, dropped_pipeline_full = pipeline, "{what}");
        }
    }

    /// What was read (and, live, dropped); kernel drops not counted yet go to `metrics`.
    pub fn finish(mut self, metrics: &Metrics) -> CaptureSummary {
        self.count_kernel_drops(metrics);
        let stats = self.source.stats();
        self.summary.frames = stats.frames;
        self.summary.bytes = stats.bytes;
        if let Some(p) = self.progress.take() {
            p.meter.finish(self.summary.frames);
        }
        self.summary
    }
}

/// Hands a live batch on, waiting for room; false when the receiver is gone. A stop or
/// failure while waiting drops the batch (counted): a held pipeline must not keep the
/// capture from stopping.
fn send_live(reader: &mut BatchReader, tx: &Sender<Batch>, mut batch: Batch, halt: &Halt<'_>, metrics: &Metrics) -> bool {
    loop {
        match tx.send_timeout(batch, LIVE_SEND_WAIT) {
            Ok(()) => return true,
            Err(SendTimeoutError::Timeout(b)) if halt.is_set() => {
                metrics.add_drops(Stage::Decode, b.frames.len() as u64);
                reader.dropped(&b);
                return true;
            }
            Err(SendTimeoutError::Timeout(b)) => batch = b,
            Err(SendTimeoutError::Disconnected(_)) => return false,
        }
    }
}

/// How long a live batch waits for room before the stop request is checked again.
const LIVE_SEND_WAIT: Duration = Duration::from_millis(100);

/// How often a live capture's kernel drops are read while it runs.
const DROPS_INTERVAL: Duration = Duration::from_secs(1);

/// The capture stage: reads batches onto `tx` until the source ends, `halt` is set or the
/// receiver is gone. Every source waits for room; a live one gives up its waiting batch
/// (counted) at a stop request.
pub fn capture(
    mut reader: BatchReader,
    tx: &Sender<Batch>,
    halt: &Halt<'_>,
    metrics: &Metrics,
) -> Result<CaptureSummary, CaptureError> {
    let mut drops_read = Instant::now();
    while let Some(batch) = reader.next_batch(halt)? {
        if reader.behaviour.live && drops_read.elapsed() >= DROPS_INTERVAL {
            reader.count_kernel_drops(metrics);
            drops_read = Instant::now();
        }
        let sent = if reader.behaviour.live { send_live(&mut reader, tx, batch, halt, metrics) } else { tx.send(batch).is_ok() };
        if !sent {
            break;
        }
    }
    Ok(reader.finish(metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_replay_hands_on_partial_batches_at_their_deadline() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.pcap");
        let limits = BatchLimits { frames: 512, bytes: 1 << 20, linger: Duration::from_millis(2) };
        let mut reader = BatchReader::open(&FrameSource::Pcap { path, rate: Some(Rate::PacketsPerSecond(2_000)) }, limits).expect("open");
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
