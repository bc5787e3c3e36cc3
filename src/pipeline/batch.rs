//! The capture stage: frames read from a capture file or a NIC, copied into batches (one
//! allocation per batch, not per frame) for the decode stage. Replay blocks when the
//! pipeline is full (back-pressure, nothing lost); live capture drops and counts instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

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

/// One frame's place in a batch.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    pub ts: Timestamp,
    pub link: LinkType,
    pub orig_len: u32,
    start: usize,
    end: usize,
}

/// Consecutive frames of the capture.
#[derive(Debug)]
pub struct Batch {
    /// Capture index of the first frame (0-based, counting every frame read).
    pub first_index: u64,
    pub frames: Vec<FrameMeta>,
    pub data: Vec<u8>,
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
            let _ = pool.try_send((std::mem::take(&mut self.frames), std::mem::take(&mut self.data)));
        }
    }
}

impl Batch {
    fn new(first_index: u64, limits: &BatchLimits, pool: &(Sender<Buffers>, crossbeam_channel::Receiver<Buffers>)) -> Batch {
        let (frames, data) = match pool.1.try_recv() {
            Ok((mut frames, mut data)) => {
                frames.clear();
                data.clear();
                (frames, data)
            }
            Err(_) => (Vec::with_capacity(limits.frames), Vec::with_capacity(limits.bytes + 64 * 1024)),
        };
        Batch { first_index, frames, data, read_at: Instant::now(), recycle: Some(pool.0.clone()) }
    }

    fn push(&mut self, frame: &Frame<'_>) {
        if self.frames.is_empty() {
            self.read_at = Instant::now();
        }
        let start = self.data.len();
        self.data.extend_from_slice(frame.data);
        self.frames.push(FrameMeta { ts: frame.ts, link: frame.link, orig_len: frame.orig_len, start, end: self.data.len() });
    }

    /// The frame `meta` places in the batch.
    pub fn frame(&self, meta: &FrameMeta) -> Frame<'_> {
        Frame { ts: meta.ts, link: meta.link, data: self.data.get(meta.start..meta.end).unwrap_or_default(), orig_len: meta.orig_len }
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
    /// Live capture: a partial batch waits at most this long.
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
    limits: BatchLimits,
    index: u64,
    summary: CaptureSummary,
    ended: bool,
    pool: (Sender<Buffers>, crossbeam_channel::Receiver<Buffers>),
}

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
        Ok(BatchReader {
            reader,
            limits,
            index: 0,
            summary: CaptureSummary::default(),
            ended: false,
            pool: crossbeam_channel::bounded(64),
        })
    }

    /// Live capture: a full pipeline drops batches rather than waiting.
    pub fn is_live(&self) -> bool {
        !matches!(self.reader, Reader::File { .. } | Reader::Channel { .. })
    }

    /// The next batch; None at the end of a file, or when `halt` is set.
    pub fn next_batch(&mut self, halt: &Halt<'_>) -> Result<Option<Batch>, CaptureError> {
        let mut batch = Batch::new(self.index, &self.limits, &self.pool);
        while !self.ended && !self.halted(halt) {
            let frame = match &mut self.reader {
                Reader::File { reader, rate, started } => {
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
                    if let Some(rate) = rate.filter(|r| *r > 0) {
                        let due = *started + Duration::from_secs_f64((self.index + 1) as f64 / f64::from(rate));
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
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
            let lingered = self.is_live() && !batch.frames.is_empty() && batch.read_at.elapsed() >= self.limits.linger;
            if batch.frames.len() >= self.limits.frames || batch.data.len() >= self.limits.bytes || lingered {
                break;
            }
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
