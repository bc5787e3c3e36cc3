//! The threaded pipeline: capture → decode and signalling → media shards (by flow hash) →
//! encoding, joined by bounded crossbeam channels. Tap controls travel in-band ahead of the
//! packets they govern; the encoder merges the stages' records back into capture order, so
//! a parallel run's output equals a single-threaded one byte for byte.

mod batch;
mod encode;
mod media;
mod records;
mod signalling;
pub mod snapshot;
mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

pub use batch::{Batch, BatchLimits, BatchReader, CaptureSummary, FrameSource, FramesView, Halt, PushedFrame};
pub use records::RecordBuf;

use crate::capture::CaptureError;
use crate::handover::sequencer::{AgencyOutput, Sequencer};
use crate::mediation::{MediationStats, Mediator, Record, RecordSink, SignallingObserver};
use crate::metrics::{LatencyRecorder, Metrics, Percentiles, Stage};
use crate::wire::{DecodeStats, Decoded, Decoder};
use crate::Timestamp;

/// The encoding stage's owner: receives every record in capture order, and the updates
/// the signalling stage's hook produced, at their place in that order.
pub trait EncodeStage {
    /// A change of what may be delivered (a new warrant snapshot, HI1 notices).
    type Update: Send;
    fn record(&mut self, record: &Record<'_>);
    fn update(&mut self, update: Self::Update);
    /// Output failed (a spool error): the pipeline stops reading.
    fn failed(&self) -> bool {
        false
    }
    /// When output held in buffers must be written out (None: nothing is held). The
    /// encoding stage flushes then even when no further record comes.
    fn held_until(&self) -> Option<Instant> {
        None
    }
    /// Writes out held output.
    fn flush(&mut self) {}
}

/// Replay's encoder: records straight into the sequencer; nothing changes while running.
impl<O: AgencyOutput> EncodeStage for Sequencer<O> {
    type Update = std::convert::Infallible;
    fn record(&mut self, record: &Record<'_>) {
        RecordSink::record(self, record);
    }
    fn update(&mut self, update: Self::Update) {
        match update {}
    }
    fn held_until(&self) -> Option<Instant> {
        self.output().held_until()
    }
    fn flush(&mut self) {
        self.output_mut().flush();
    }
}

/// Runs on the signalling stage before each packet, with the packet's time; may change
/// the mediator (a new warrant table) and return an update for the encoding stage.
pub trait PacketHook {
    type Update;
    fn before(&mut self, mediator: &mut Mediator, ts: Timestamp) -> Option<Self::Update>;

    /// Whether `update` (from [`PacketHook::before`]) takes a snapshot of the mediator: the
    /// pipeline then lets the media shards handle every earlier packet and calls
    /// [`PacketHook::snapshot`] before the packet.
    fn snapshot_due(&self, _update: &Self::Update) -> bool {
        false
    }

    /// Puts the mediator's snapshot into `update` (every earlier packet fully handled).
    fn snapshot(&mut self, _mediator: &Mediator, _update: &mut Self::Update) {}
}

/// No hook: nothing changes while running.
pub struct NoHook<U>(std::marker::PhantomData<U>);

impl<U> Default for NoHook<U> {
    fn default() -> Self {
        NoHook(std::marker::PhantomData)
    }
}

impl<U> PacketHook for NoHook<U> {
    type Update = U;
    fn before(&mut self, _: &mut Mediator, _: Timestamp) -> Option<U> {
        None
    }
}

/// Threads and queue sizes.
#[derive(Clone, Copy, Debug)]
pub struct PipelineConfig {
    /// Media shard threads; 0 runs every stage on the calling thread (the reference).
    pub media_shards: usize,
    pub batch: BatchLimits,
    /// Batches each channel holds before its sender waits (replay) or drops (live).
    pub queue_batches: usize,
    /// Show progress on stderr under this name (e.g. `replay`, see [`crate::progress`]):
    /// drawn while stderr is a terminal, then an end line with elapsed time and throughput.
    pub progress: Option<&'static str>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            media_shards: 1,
            batch: BatchLimits { frames: 512, bytes: 256 * 1024, linger: Duration::from_micros(500) },
            queue_batches: 16,
            progress: None,
        }
    }
}

impl PipelineConfig {
    pub fn single_threaded() -> Self {
        PipelineConfig { media_shards: 0, ..Self::default() }
    }
}

/// What the pipeline hands back when the source is done.
pub struct Finished<E, O> {
    pub encoder: E,
    pub observer: O,
    pub mediator: Mediator,
    /// The mediator's counts plus every shard's.
    pub mediation: MediationStats,
    pub decode: DecodeStats,
    pub capture: CaptureSummary,
}

/// Wall-clock latency from reading a packet's batch to each stage finishing with it, in
/// nanoseconds; None for a stage that handled nothing.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LatencySummary {
    /// Decode and signalling done (per batch).
    pub signalling: Option<Percentiles>,
    /// Media shard done (per batch of tapped packets).
    pub media: Option<Percentiles>,
    /// Record encoded and handed to the output (per record): capture to encoded record.
    pub encoded: Option<Percentiles>,
}

impl LatencySummary {
    pub fn of(metrics: &Metrics) -> LatencySummary {
        LatencySummary {
            signalling: metrics.latency(Stage::Signalling),
            media: metrics.latency(Stage::Media),
            encoded: metrics.latency(Stage::Encode),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("capture: {0}")]
    Capture(#[from] CaptureError),
    #[error("pipeline stage `{0}` panicked")]
    Panicked(&'static str),
    #[error("cannot start a pipeline thread: {0}")]
    Spawn(#[from] std::io::Error),
}

/// Feeds `source` through decoding, mediation and `encoder` until it ends or `stop` is set.
pub fn run<E, O, H>(
    source: &FrameSource,
    mediator: Mediator,
    observer: O,
    encoder: E,
    hook: H,
    stop: &AtomicBool,
    config: &PipelineConfig,
    metrics: &Metrics,
) -> Result<Finished<E, O>, PipelineError>
where
    E: EncodeStage + Send,
    O: SignallingObserver + Send,
    H: PacketHook<Update = E::Update> + Send,
{
    let reader = BatchReader::open(source, config.batch)?.with_progress(config.progress, source);
    if config.media_shards == 0 {
        return run_inline(reader, mediator, observer, encoder, hook, stop, metrics);
    }
    let n = config.media_shards;
    let depth = config.queue_batches.max(1);
    let failed = AtomicBool::new(false);
    let done: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    let (batch_tx, batch_rx) = crossbeam_channel::bounded(depth);
    let (ticket_tx, ticket_rx) = crossbeam_channel::bounded(depth);
    let (work_txs, work_rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| crossbeam_channel::bounded(depth)).unzip();
    let (out_txs, out_rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| crossbeam_channel::bounded(depth * 2)).unzip();
    let halt = batch::Halt { stop, failed: &failed };
    // Named threads: `top -H` and profiles show the stages.
    let named = |name: String| std::thread::Builder::new().name(name);
    std::thread::scope(|s| {
        let capture = named("tl-capture".into()).spawn_scoped(s, || {
            let result = batch::capture(reader, &batch_tx, &halt, metrics);
            drop(batch_tx);
            result
        })?;
        let mut shards = Vec::with_capacity(n);
        for (i, ((rx, tx), done)) in work_rxs.into_iter().zip(out_txs).zip(&done).enumerate() {
            shards.push(named(format!("tl-media-{i}")).spawn_scoped(s, move || media::run_shard(rx, tx, done, metrics))?);
        }
        let encoding =
            named("tl-encode".into()).spawn_scoped(s, || encode::run(ticket_rx, &out_rxs, encoder, &failed, metrics))?;
        let links = signalling::ShardLinks::new(work_txs, &done);
        let signalling = named("tl-signalling".into())
            .spawn_scoped(s, || signalling::run(batch_rx, mediator, observer, hook, links, ticket_tx, metrics))?;
        let (mediator, observer, decode) =
            signalling.join().map_err(|_| PipelineError::Panicked("signalling"))?;
        let mut mediation = mediator.stats();
        for shard in shards {
            let stats = shard.join().map_err(|_| PipelineError::Panicked("media shard"))?;
            mediation.add_shard(&stats);
        }
        let encoder = encoding.join().map_err(|_| PipelineError::Panicked("encoding"))?;
        let capture = capture.join().map_err(|_| PipelineError::Panicked("capture"))??;
        Ok(Finished { encoder, observer, mediator, mediation, decode, capture })
    })
}

/// Every stage on the calling thread, in capture order.
fn run_inline<E, O, H>(
    mut reader: BatchReader,
    mut mediator: Mediator,
    mut observer: O,
    mut encoder: E,
    mut hook: H,
    stop: &AtomicBool,
    metrics: &Metrics,
) -> Result<Finished<E, O>, PipelineError>
where
    E: EncodeStage,
    O: SignallingObserver,
    H: PacketHook<Update = E::Update>,
{
    let mut decoder = Decoder::new();
    let mut signalling = LatencyRecorder::new(Stage::Signalling);
    let mut encoded = LatencyRecorder::new(Stage::Encode);
    let mut published = stats::Published::default();
    let never = AtomicBool::new(false);
    let halt = batch::Halt { stop, failed: &never };
    loop {
        if encoder.failed() {
            break;
        }
        // A live capture error ends the run, as it does on the threaded pipeline.
        let Some(batch) = reader.next_batch(&halt)? else { break };
        let mut records = 0;
        let view = batch.view();
        for (k, meta) in batch.frames.iter().enumerate() {
            if let Some(mut update) = hook.before(&mut mediator, meta.ts) {
                if hook.snapshot_due(&update) {
                    hook.snapshot(&mediator, &mut update);
                }
                encoder.update(update);
            }
            view.prefetch_ahead(k);
            let frame = view.frame(meta);
            if let Decoded::Datagram(dg) = decoder.decode(&frame) {
                let mut sink = encode::Counting { encoder: &mut encoder, records: 0 };
                mediator.handle_observed(&dg, &mut sink, &mut observer);
                records += sink.records;
            }
        }
        if let Some(last) = batch.frames.last() {
            observer.on_batch(last.ts);
        }
        let elapsed = batch.read_at.elapsed();
        signalling.record(elapsed);
        signalling.flush_into(metrics);
        encoded.record_n(elapsed, records);
        encoded.flush_into(metrics);
        published.publish(metrics, &batch, &mediator.stats(), decoder.stats());
        stats::publish_calls(metrics, &mediator);
        // A partial batch: the source is idle (a paced replay's gap, quiet traffic), and the
        // next batch may be long in coming: write out what is held now.
        if !reader.limits().filled_by(&batch) {
            encoder.flush();
        } else {
            encode::flush_due(&mut encoder);
        }
    }
    let mediation = mediator.stats();
    Ok(Finished {
        encoder,
        observer,
        mediator,
        mediation,
        decode: decoder.stats().clone(),
        capture: reader.finish(metrics),
    })
}
